# One image for both Fenix processes: the worker (default CMD) and the API
# (`uvicorn api.app:create_app --factory ...`, set by docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not re-download temporalio and
# openstacksdk. The list comes from pyproject.toml itself, so it cannot go stale.
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--no-cache-dir', *deps])"

COPY . .
RUN pip install --no-cache-dir .

# Run unprivileged. /data is the state directory (simulated cloud, default tokens file); compose mounts
# a named volume there, which starts out with this ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin fenix \
    && mkdir -p /data \
    && chown fenix:fenix /data
USER fenix
ENV FENIX_DATA_DIR=/data

EXPOSE 12347
CMD ["fenix-worker"]

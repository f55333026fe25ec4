# One image for both Fenix processes: the worker (default CMD) and the API
# (`uvicorn api.app:create_app --factory ...`, set by docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not re-download temporalio and
# openstacksdk. The list comes from pyproject.toml itself (runtime dependencies only, not the test extra), and
# requirements.lock pins each of them and everything they pull in: the same versions as `make test` ran with.
COPY pyproject.toml requirements.lock ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--no-cache-dir', '-c', 'requirements.lock', *deps])"

# --no-deps: everything is installed above, at the locked versions; nothing may come in unpinned here.
COPY . .
RUN pip install --no-cache-dir --no-deps .

# Run unprivileged. /data is the state directory (simulated cloud, default tokens file); compose mounts
# a named volume there, which starts out with this ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin fenix \
    && mkdir -p /data \
    && chown fenix:fenix /data
USER fenix
ENV FENIX_DATA_DIR=/data

# The API; the worker's metrics and health (FENIX_WORKER_METRICS_PORT, FENIX_WORKER_HEALTH_PORT).
EXPOSE 12347 9464 9465
CMD ["fenix-worker"]

# The two commands a fresh machine needs: `make demo` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every dependency (runtime and the test extra), for any platform and Python >= 3.11; pyproject.toml
# keeps the ranges. The venv, CI and the Dockerfile install through it, so a new release upstream cannot change what
# runs without a commit. Change it with `make lock` (after editing pyproject.toml) or `make lock-upgrade`.
LOCK := requirements.lock
LOCK_PYTHON := 3.11
# promtool and caddy, which check deploy/prometheus and deploy/proxy (tests/deploy): unpacked from Debian's
# prometheus and caddy packages into the venv, not installed (no service starts, nothing changes on the system).
TOOLS := $(VENV)/deploy-tools
TOOL_PACKAGES := prometheus caddy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEVCLOUD_DIR ?= /tmp/fenix-devcloud
DEVCLOUD_VENV ?= /tmp/fenix-devcloud-venv
DEVCLOUD_ENV := OS_CLIENT_CONFIG_FILE=$(DEVCLOUD_DIR)/clouds.yaml OS_CLOUD=minicloud

.PHONY: demo up test lint lock lock-upgrade deploy-tools bench bench-burst bench-hosts bench-scale drill fuzz clean devcloud-up devcloud-down test-openstack

# The lock as constraints: pip installs exactly its versions (and fails if they conflict with pyproject's ranges).
# A dependency just added to pyproject.toml and not locked yet installs unpinned until `make lock`.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(LOCK) -e '.[test]'
	touch $(STAMP)

# Re-lock after changing pyproject.toml: keeps every pin that still fits, resolves only what changed.
# `--universal` writes one file for every platform (markers where they differ), so a lock made on a laptop
# installs the same on CI's Linux and in the image. tests/deploy/test_lock.py fails if it no longer covers pyproject.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version $(LOCK_PYTHON) -q -o $(LOCK)

# Every dependency to its newest release within pyproject's ranges (then run `make test` and commit the diff).
lock-upgrade: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version $(LOCK_PYTHON) -q -o $(LOCK) --upgrade

demo: $(STAMP)
	$(BIN)/python -m demo.run

up: $(STAMP)
	$(BIN)/python -m demo.run --keep-running

# The vnf workflow's makespan on the 24-host reference cloud (docs/benchmarks.md); prints a table.
bench: $(STAMP)
	$(BIN)/python -m bench

# Infrastructure services' view of a 2,000-host session: host events and GET /v1/hosts (docs/benchmarks.md).
bench-hosts: $(STAMP)
	$(BIN)/python -m bench.hosts $(HOSTS)

# A burst of replies: every project answers MAINTENANCE at once (docs/benchmarks.md); SIZES="50 200 1000" by default.
bench-burst: $(STAMP)
	$(BIN)/python -m bench.burst $(SIZES)

# One session per cloud size and flow on separate dev server, worker and API processes, instant moves; reads timed
# while it runs (docs/benchmarks.md#scale). HOSTS="100 300" by default; FLOWS="default vnf".
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale --hosts $(or $(HOSTS),100 300) --flows $(or $(FLOWS),default vnf)

# The long crash drill (docs/reliability.md): 20 sessions of each flow with workers killed at random moments, 10
# aborts of each at random moments; every history replayed. Prints a table. SEED=n repeats a run.
drill: $(STAMP)
	$(BIN)/python -m tests.drill --sessions 20 --aborts 10 $(if $(SEED),--seed $(SEED),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# FENIX_REQUIRE_LOCKED: the venv must hold exactly the locked versions (tests/deploy/test_lock.py).
# In parallel (pytest-xdist): most tests wait on Temporal, on timers and on real processes, not on the CPU, so three
# at a time halve the suite's wall time on two cores (14 -> 7 min). Each runner starts its own Temporal servers.
PYTEST_WORKERS ?= 3
test: lint deploy-tools
	FENIX_REQUIRE_LOCKED=1 $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup tests

# Schemathesis over the live OpenAPI of an embedded stack, every check, 100 examples per operation and phase, as the
# admin and as a project (docs/security.md). `make test` runs a bounded form (tests/api/test_fuzz.py). SEED=n repeats.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --max-examples 100 $(if $(SEED),--seed $(SEED),)

# A real OpenStack (Keystone, Glance, Placement, Nova with fake compute hosts) on loopback: see devcloud/README.md.
devcloud-up:
	devcloud/start.sh -d $(DEVCLOUD_DIR) -v $(DEVCLOUD_VENV) -n 3

devcloud-down:
	devcloud/stop.sh -d $(DEVCLOUD_DIR) -p

# The integration suite on a devcloud of its own, always stopped afterwards. FENIX_REQUIRE_OPENSTACK turns
# "no cloud reachable" from a skip into a failure, so CI cannot pass without really running it.
test-openstack: $(STAMP)
	bash -c 'trap "devcloud/stop.sh -d $(DEVCLOUD_DIR) -p >/dev/null 2>&1" EXIT; \
	  devcloud/start.sh -d $(DEVCLOUD_DIR) -v $(DEVCLOUD_VENV) -n 3 && \
	  $(DEVCLOUD_ENV) FENIX_REQUIRE_OPENSTACK=1 $(BIN)/pytest -q tests/openstack tests/keystone'

# Without apt (not Debian or Ubuntu) this only says so, and the checks that need the tools skip; CI requires them
# (FENIX_REQUIRE_DEPLOY_TOOLS in .ci/run). The package lists are refreshed only if the download fails without.
deploy-tools: $(TOOLS)/.fetched

$(TOOLS)/.fetched:
	@if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then \
	  echo "deploy-tools: no apt-get/dpkg-deb here; the promtool and caddy checks in tests/deploy will skip"; \
	else \
	  rm -rf $(TOOLS) && mkdir -p $(TOOLS)/debs && ( cd $(TOOLS)/debs \
	    && { apt-get download -q $(TOOL_PACKAGES) 2>/dev/null \
	         || { $(SUDO) apt-get update -q && apt-get download -q $(TOOL_PACKAGES); }; } \
	    && for deb in *.deb; do dpkg-deb -x "$$deb" .. || exit 1; done && touch ../.fetched ) \
	  || echo "deploy-tools: could not fetch $(TOOL_PACKAGES); the promtool and caddy checks in tests/deploy will skip"; \
	  rm -rf $(TOOLS)/debs; \
	fi

clean:
	rm -rf $(VENV) .fenix

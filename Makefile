# The two commands a fresh machine needs: `make demo` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEVCLOUD_DIR ?= /tmp/fenix-devcloud
DEVCLOUD_VENV ?= /tmp/fenix-devcloud-venv
DEVCLOUD_ENV := OS_CLIENT_CONFIG_FILE=$(DEVCLOUD_DIR)/clouds.yaml OS_CLOUD=minicloud

.PHONY: demo up test lint bench drill fuzz clean devcloud-up devcloud-down test-openstack

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m demo.run

up: $(STAMP)
	$(BIN)/python -m demo.run --keep-running

# The vnf workflow's makespan on the 24-host reference cloud (docs/benchmarks.md); prints a table.
bench: $(STAMP)
	$(BIN)/python -m bench

# The long crash drill (docs/reliability.md): 20 sessions of each flow with workers killed at random moments, 10
# aborts of each at random moments; every history replayed. Prints a table. SEED=n repeats a run.
drill: $(STAMP)
	$(BIN)/python -m tests.drill --sessions 20 --aborts 10 $(if $(SEED),--seed $(SEED),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

test: lint
	$(BIN)/pytest -q tests

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

clean:
	rm -rf $(VENV) .fenix

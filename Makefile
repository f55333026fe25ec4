# The two commands a fresh machine needs: `make demo` and `make test`. Both create .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo up test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m demo.run

up: $(STAMP)
	$(BIN)/python -m demo.run --keep-running

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

test: lint
	$(BIN)/pytest -q tests

clean:
	rm -rf $(VENV) .fenix

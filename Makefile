# The two commands: `make run` starts the whole platform; `make test` runs the suite.
# `make test-unit` runs the tests that need no service (no Redis, FerretDB, SMTP or Chromium).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-unit install ferretdb system-deps lint clean

run: install ferretdb
	$(BIN)/jobplatform run

test: install ferretdb system-deps
	scripts/run-tests.sh $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest -m 'not services' $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml plugins/email/pyproject.toml plugins.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e clients/python -e '.[dev]'
	$(BIN)/jobplatform plugins sync
	touch $@

ferretdb: install
	scripts/build-ferretdb.sh

system-deps:
	scripts/system-deps.sh

lint: install
	$(BIN)/ruff check jobplatform plugins tests bench clients
	$(BIN)/ruff format --check jobplatform plugins tests bench clients

clean:
	rm -rf var .pytest_cache

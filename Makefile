# Two commands do everything on a fresh machine:
#   make run    the whole app locally (Azurite, the ACS sandbox, the function host)
#   make test   ruff, mypy and pytest against real Azurite and the sandbox
# Every target installs what it needs first (a virtualenv, pip and npm packages).

# The interpreter the virtualenv is built with: Python 3.13, found by scripts/find-python
# (`make PYTHON=/path/to/python3.13 test` chooses one).
PYTHON ?=
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# The stamp names the Python version, so a virtualenv of another version is rebuilt.
STAMP  := $(VENV)/.installed-py313

.DEFAULT_GOAL := help
.PHONY: help deps run demo test bench lint typecheck sandbox clean

help:
	@echo "make run     start Azurite, the ACS sandbox and the function host"
	@echo "make demo    against a running stack: bulk send, reports, STOP, the thread"
	@echo "make test    lint, type-check and run every test (starts and stops what it needs)"
	@echo "make bench   throughput, requests per operation, cold start and memory"
	@echo "make sandbox run only the ACS sandbox on 127.0.0.1:7072 (HTTPS on 7073)"
	@echo "make clean   remove the virtualenv, node_modules and local data"

$(STAMP): requirements.txt requirements-dev.txt scripts/find-python
	@python=$$(PYTHON="$(PYTHON)" bash scripts/find-python) && \
	  if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	    echo "make: $(VENV) is not Python 3.13; rebuilding it"; rm -rf $(VENV); fi && \
	  echo "make: $(VENV) with $$python" && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(STAMP) node_modules/.installed

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: deps lint typecheck
	bash scripts/ensure-chromium
	$(BIN)/pytest

run: deps
	$(PY) -m local.run

demo: $(STAMP)
	$(PY) -m local.demo

bench: deps
	$(PY) -m bench

sandbox: $(STAMP)
	$(PY) -m local.acs_sandbox --host 127.0.0.1 --port $${ACS_SANDBOX_PORT:-7072} \
		--https-port $${ACS_SANDBOX_HTTPS_PORT:-7073}

clean:
	rm -rf $(VENV) node_modules .azurite .artifacts .mypy_cache .pytest_cache .ruff_cache

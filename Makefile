# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Both create .venv when missing, install the project and the system packages
# they need (as root: apt-get), and are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
TASK ?= sorting_network
PYTEST_ARGS ?=

.PHONY: demo test lint bench system-packages clean
BENCH_ARGS ?=

$(SYSTEM_STAMP):
	@bash scripts/install-system-packages.sh
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,eval,integrations]'
	@touch $@

system-packages: $(SYSTEM_STAMP)

demo: $(STAMP)
	@$(PY) -m clients.demo --task $(TASK)

test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@$(PY) -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	@$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache

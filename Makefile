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

.PHONY: demo test test-attacks-docker lint lint-imports bench system-packages clean
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

# the attack suite runs twice: with bwrap (in the full run) and again with the docker backend, whose
# episodes and scorer use containers; without a container engine (no DOCKER_HOST) the second run is
# skipped, except under CI, where a missing engine fails.
test: $(STAMP)
	@$(MAKE) --no-print-directory lint-imports
	@$(PY) -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-attacks-docker

test-attacks-docker: $(STAMP)
	@if [ -n "$$DOCKER_HOST" ] || [ -n "$$CI" ]; then \
	  AUTOLAB_TEST_BACKEND=docker $(PY) -m pytest tests/attacks $(PYTEST_ARGS); \
	else echo "test-attacks-docker: skipped (no DOCKER_HOST; start podman: scripts/podman-service.sh)"; fi

bench: $(STAMP)
	@$(PY) -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	@$(VENV)/bin/ruff check .

# the trust boundary as import contracts (pyproject.toml [tool.importlinter]); a wrong import fails the build
lint-imports: $(STAMP)
	@$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) runs .pytest_cache

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
# SCORER=container: the demo's scorer runs in its own container (podman), not as the server's child
SCORER ?=
# the tasks `make scorer-image` puts in the image ("all", or names)
SCORER_TASKS ?= all
PYTEST_ARGS ?=

.PHONY: demo test test-fast test-tasks test-attacks-docker lint lint-imports bench system-packages scorer-image clean
BENCH_ARGS ?=

$(SYSTEM_STAMP):
	@bash scripts/install-system-packages.sh
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,eval,integrations,harbor]'
	@touch $@

system-packages: $(SYSTEM_STAMP)

demo: $(STAMP)
ifeq ($(SCORER),container)
	@bash scripts/demo-container.sh $(TASK)
else ifeq ($(SCORER),)
	@$(PY) -m clients.demo --task $(TASK)
else
	@echo "SCORER must be empty (the scorer as the server's child process) or container, not '$(SCORER)'" >&2; exit 2
endif

# the trusted scorer's image (localhost/autolab-scorer:latest), built offline on a Debian base made here
scorer-image: $(STAMP)
	@TASKS="$(SCORER_TASKS)" bash scripts/build-scorer-image.sh

# the attack suite runs twice: with bwrap (in the full run) and again with the docker backend, whose
# episodes and scorer use containers; without a container engine (no DOCKER_HOST) the second run is
# skipped, except under CI, where a missing engine fails.
test: $(STAMP)
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory lint-imports
	@$(PY) -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-attacks-docker

# the fast unit tests: fakes (FakeBackend, FakeScorer) instead of sandboxes and a scorer process; well
# under a minute on 2 cores. `make test` runs them too, with everything else.
FAST_TESTS := tests/episode/test_episode_fast.py tests/episode/test_budget.py tests/episode/test_runlog.py \
	tests/sandbox/test_fake.py tests/sandbox/test_conformance.py tests/core/test_rundir_files.py \
	tests/core/test_safedir.py tests/core/test_taskspec.py tests/core/test_editable_policy.py tests/workspace \
	tests/scoring/test_scoring_math.py
test-fast: $(STAMP)
	@$(PY) -m pytest $(FAST_TESTS) -k "fake or not conformance" $(PYTEST_ARGS)

# the task conformance suite over the tasks in TASKS_DIR only (a list like PATH): an author's check
TASKS_DIR ?=
test-tasks: $(STAMP)
	@if [ -z "$(TASKS_DIR)" ]; then echo "usage: make test-tasks TASKS_DIR=DIR[:DIR...]"; exit 2; fi
	@AUTOLAB_TASKS_DIR="$(TASKS_DIR)" AUTOLAB_CONFORMANCE_EXTERNAL_ONLY=1 \
	  $(PY) -m pytest tests/tasks/test_task_conformance.py $(PYTEST_ARGS)

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

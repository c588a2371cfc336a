"""Shared fixtures: real episodes (real bwrap sandboxes, a real scorer process) behind a real MCP client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.core.taskspec import Task
from autolab_mcp.episode import BudgetOverrides, Episode
from autolab_mcp.scorer_client import ScorerProcess
from tests.helpers import DEFAULT_TEST_BACKEND, sandbox_backend


@pytest.fixture(scope="session", autouse=True)
def _isolated_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests sign with their own scorer key and seed secret, never the machine's."""
    directory = tmp_path_factory.mktemp("key")
    names = {"AUTOLAB_SCORER_SIGNING_KEY": directory / "scorer.ed25519",  # its public key: scorer.ed25519.pub
             "AUTOLAB_SCORER_KEY_FILE": directory / "scorer.key", "AUTOLAB_SCORER_SEED_FILE": directory / "scorer.seed"}
    old = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(path) for name, path in names.items()})
    yield
    for name, value in old.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class Scorers:
    """One scorer process per task for the whole session (they are stateless between calls)."""

    def __init__(self) -> None:
        self._by_task: dict[str, ScorerProcess] = {}

    def get(self, task: Task, backend: str = "bwrap") -> ScorerProcess:
        key = f"{task.name}/{backend}"
        if key not in self._by_task:
            process = ScorerProcess(task.root, backend, eval_timeout=600)
            process.start()
            self._by_task[key] = process
        return self._by_task[key]

    def close(self) -> None:
        for process in self._by_task.values():
            process.stop()


@pytest.fixture(scope="session")
def scorers() -> Iterator[Scorers]:
    registry = Scorers()
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def timed_task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sorting_network with `timing_core = true`: a fast task whose evaluations lease the timing core,
    for tests of the queue (the real timed tasks take tens of seconds to evaluate)."""
    root = tmp_path_factory.mktemp("tasks") / "sorting_network_timed"
    shutil.copytree(find_task("sorting_network").root, root)
    toml = root / "task.toml"
    toml.write_text(toml.read_text().replace("[autolab]\n", "[autolab]\ntiming_core = true\n", 1))
    os.chmod(root.parent, 0o755)
    return root


@pytest.fixture
def make_episode(tmp_path: Path, scorers: Scorers, timed_task_root: Path):
    episodes: list[Episode] = []

    def make(task_name: str = "sorting_network", backend: str | None = None, **overrides: Any) -> Episode:
        """An episode on `backend` (default: $AUTOLAB_TEST_BACKEND, else bwrap; `make test` runs the attack
        suite once more with docker), its scorer on the same backend."""
        backend = backend or DEFAULT_TEST_BACKEND
        task = find_task(str(timed_task_root) if task_name == "sorting_network_timed" else task_name)
        sandbox = sandbox_backend(backend)
        episode = Episode.create(task, tmp_path / "runs", backend=sandbox, backend_name=backend,
                                 scorer=scorers.get(task, backend), overrides=BudgetOverrides(**overrides))
        episodes.append(episode)
        return episode

    yield make
    for episode in episodes:
        episode.close()



"""Shared fixtures: real episodes (real bwrap sandboxes, a real scorer process) behind a real MCP client."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.taskspec import Task, find_task
from autolab_mcp.episode import BudgetOverrides, Episode
from autolab_mcp.scorer_client import ScorerProcess
from autolab_mcp.server import build_server

REPO = Path(__file__).resolve().parent.parent


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Block until a spawned `serve --http` answers at `url` (any HTTP status), or fail with its stderr."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "the server exited") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"the HTTP server did not come up within {timeout:.0f} s") from None
            time.sleep(0.2)


def live_pids(marker: str) -> list[int]:
    """Live (non-zombie) host processes whose command line carries `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
                if state != "Z":
                    found.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


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


#: the backend episodes use unless a test names one (the attack suite runs on both: see the Makefile)
DEFAULT_TEST_BACKEND = os.environ.get("AUTOLAB_TEST_BACKEND", "bwrap")


def sandbox_backend(name: str) -> Any:
    """The named backend; docker needs an engine (DOCKER_HOST: CI starts podman), else the test skips."""
    if name == "bwrap":
        return BwrapBackend()
    if not os.environ.get("DOCKER_HOST"):
        if os.environ.get("CI"):
            pytest.fail("CI must run the docker backend: DOCKER_HOST is unset (see .ci/run)")
        pytest.skip("no container engine: DOCKER_HOST is unset")
    from autolab_mcp.core.sandbox.docker import DockerBackend

    return DockerBackend()


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


@contextlib.asynccontextmanager
async def connect(episode: Episode) -> AsyncIterator[Client]:
    async with Client(build_server(episode), read_timeout_seconds=600) as client:
        yield client


async def tool(client: Client, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed; returns its structured output. A scoring call that answers
    `pending` is polled with score_status until it ends, as an agent would."""
    result = await client.call_tool(name, args or {})
    assert not result.is_error, f"{name} failed: {result.content}"
    out = result.structured_content or {}
    while name in ("get_metric", "submit", "score_status") and out.get("status") == "pending":
        result = await client.call_tool("score_status", {"id": out["id"], "wait_sec": 50})
        assert not result.is_error, f"score_status failed: {result.content}"
        out = result.structured_content or {}
    return out


async def refused(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    """Call a tool that must be refused; returns the refusal text the model would see."""
    result = await client.call_tool(name, args or {})
    assert result.is_error, f"{name} should have been refused: {result.structured_content}"
    return " ".join(getattr(c, "text", "") for c in result.content)

"""Helpers shared by the attack modules (imported; the fixtures come from tests/conftest.py).

Every attack ends by checking that the episode is still consistent: the budget is exact (compute used equals
the seconds reported per experiment, nothing left reserved, counts match), budget.json agrees with the
ledger, and the server still answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from autolab_mcp.episode import Episode
from tests.helpers import REPO, tool

#: Text that occurs only in hidden files (tests/ or solution/), never in an agent's workspace.
HIDDEN_MARKERS = {
    "sorting_network": ["Hidden evaluation of sorting_network", "Batcher's merge exchange (Algorithm M)"],
    "edit_distance": ["Hidden evaluation of edit_distance", "Scorer-side helpers for edit_distance",
                      "def hidden_pairs(seed: int", "PUBLIC_SEEDS = frozenset"],
}


async def run(client: Client, command: str, timeout_sec: float = 30, wait_sec: float = 50) -> dict[str, Any]:
    """Run an experiment to its end (polling past wait_sec) and return its final info."""
    info = await tool(client, "run_experiment", {"command": command, "timeout_sec": timeout_sec,
                                                 "wait_sec": wait_sec})
    deadline = time.monotonic() + timeout_sec + 60
    while info["status"] == "running" and time.monotonic() < deadline:
        info = await tool(client, "experiment_status", {"id": info["id"], "wait_sec": 10})
    assert info["status"] != "running", f"experiment never ended: {info}"
    return info


def leaks(text: str, task: str = "sorting_network") -> list[str]:
    """Hidden markers that appear in `text` (should be none)."""
    return [m for m in HIDDEN_MARKERS[task] if m in text]


def workspace_files(episode: Episode) -> dict[str, bytes]:
    """Every regular file of the workspace (host side), for before/after comparisons."""
    root = episode.workspace.root
    out: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


async def assert_consistent(client: Client, episode: Episode, *, experiments: list[dict[str, Any]] | None = None,
                            experiments_used: int | None = None, score_calls: int | None = None) -> dict[str, Any]:
    """The server answers, nothing is reserved, and the budget matches what was reported to the agent."""
    started = time.monotonic()
    budget = await tool(client, "remaining_budget")
    await tool(client, "list_files")
    assert time.monotonic() - started < 5, "the server was slow to answer simple calls"
    assert budget["compute_sec"]["reserved"] == 0, budget
    history = (await tool(client, "history"))["experiments"]
    assert all(e["status"] != "running" for e in history), history
    charged = sum(e["seconds"] for e in history)
    assert budget["compute_sec"]["used"] == pytest.approx(charged, abs=0.002 * len(history) + 0.002), (budget, history)
    if experiments is not None:
        reported = {e["id"]: e["seconds"] for e in experiments}
        assert {e["id"]: e["seconds"] for e in history if e["id"] in reported} == reported
    if experiments_used is not None:
        assert budget["experiments"]["used"] == experiments_used, budget
    assert budget["experiments"]["used"] == len(history), (budget, history)
    if score_calls is not None:
        assert budget["score_calls"]["used"] == score_calls, budget
    stored = json.loads((episode.run_dir / "budget.json").read_text())
    assert stored["experiments_used"] == budget["experiments"]["used"]
    assert stored["score_calls_used"] == budget["score_calls"]["used"]
    assert stored["compute_used"] == pytest.approx(budget["compute_sec"]["used"], abs=0.002)
    assert stored["reservations"] == {}
    return budget


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line (`autolab-mcp ...`), with this session's scorer key in the environment."""
    return subprocess.run([sys.executable, "-m", "autolab_mcp.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=dict(os.environ), timeout=120)


def verify(episode: Episode) -> tuple[int, dict[str, Any]]:
    """`autolab-mcp runs RUN_ID --verify --json`: (exit code, summary)."""
    proc = cli("runs", episode.meta.run_id, "--run-dir", str(episode.run_dir.parent), "--verify", "--json")
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


def baseline_network(episode: Episode) -> str:
    return (episode.task.environment_dir / "network.py").read_text()


def reference_network(episode: Episode) -> str:
    return (episode.task.solution_dir / "network.py").read_text()


def network_printing(data_expr: str) -> str:
    """A network.py that writes, as its output file, exactly the str or bytes the Python expression evaluates to."""
    return (
        "import sys, os\n"
        "def main():\n"
        "    out = sys.argv[1] if len(sys.argv) > 1 else 'network.json'\n"
        f"    data = {data_expr}\n"
        "    mode = 'wb' if isinstance(data, bytes) else 'w'\n"
        "    with open(out, mode) as f:\n"
        "        f.write(data)\n"
        "main()\n"
    )

"""`autolab-mcp call` as a shell script uses it: the real command in a subprocess, a server per call over
stdio (--new, then --resume), and one call against a real `serve --http`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autolab_mcp.call_cli import parse_value
from tests.helpers import REPO, free_port, wait_for_http

TASK = "sorting_network"


def call(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "call", *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env=env)


def ok(*argv: str, env: dict[str, str] | None = None) -> dict:
    proc = call(*argv, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_values_are_json_when_they_parse(tmp_path):
    assert [parse_value(v) for v in ("30", "0", "null", "true", '{"a": 1}', "[1]")] == [30, 0, None, True,
                                                                                        {"a": 1}, [1]]
    assert parse_value("python check.py") == "python check.py"
    assert parse_value('"42"') == "42"  # quoted: a string
    assert parse_value("42", {"type": "string"}) == "42"  # a string-only parameter keeps its text
    (tmp_path / "f.py").write_text("x = 1\n")
    assert parse_value(f"@{tmp_path / 'f.py'}") == "x = 1\n" and parse_value("@@home") == "@home"


@pytest.mark.slow
def test_a_shell_script_drives_one_episode_call_by_call(tmp_path):
    runs = tmp_path / "runs"
    new = call("--new", "--task", TASK, "--run-dir", str(runs))
    assert new.returncode == 0, new.stderr
    run_id = new.stdout.strip()
    assert [p.name for p in runs.iterdir() if (p / "meta.json").exists()] == [run_id]
    on = ["--resume", run_id, "--run-dir", str(runs)]

    listing = ok(*on, "list_files")
    assert {e["path"] for e in listing["entries"]} >= {"network.py", "check.py"}
    original = ok(*on, "read_file", "path=network.py")["content"]
    edited = tmp_path / "network.py"
    edited.write_text(original + "# tuned\n")
    ok(*on, "write_file", "path=network.py", f"content=@{edited}")
    assert ok(*on, "read_file", "--json", '{"path": "network.py"}', "--raw")["content"].endswith("# tuned\n")

    run = ok(*on, "run_experiment", "command=echo hi")
    assert run["status"] == "finished" and run["output_tail"] == "hi\n"
    metric = call(*on, "get_metric", "wait_sec=0")  # answers `pending` at once: the command polls score_status
    assert metric.returncode == 0, metric.stderr
    assert json.loads(metric.stdout)["status"] == "scored" and "pending" in metric.stderr
    budget = ok(*on, "remaining_budget")
    assert budget["experiments"]["used"] == 1 and budget["score_calls"]["used"] == 1
    assert budget["wall_mode"] == "real"
    assert "sorting" in call(*on, "resource", "autolab://instruction").stdout.lower()

    refused = call(*on, "read_file", "path=missing.py")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "missing.py does not exist" in refused.stderr
    for argv, says in (([*on, "read_file", "pth=x"], "its arguments: path, offset?, limit?"),
                       ([*on, "no_such_tool"], "tools: apply_patch"),
                       (["list_files"], "give exactly one of --url"),
                       (["--resume", "nope", "--run-dir", str(runs), "history"], f"runs there: {run_id}")):
        bad = call(*argv)
        assert bad.returncode == 2 and says in bad.stderr, (argv, bad.stderr)
    assert len([p for p in runs.iterdir() if (p / "meta.json").exists()]) == 1, "every call hit one episode"


@pytest.fixture
def http_episode(tmp_path: Path) -> Iterator[tuple[str, str, list[str]]]:
    """A run made with `call --new`, served by `serve --resume --http` (a 48-hex-digit token)."""
    runs = tmp_path / "runs"
    run_id = call("--new", "--task", TASK, "--run-dir", str(runs)).stdout.strip()
    port, token = free_port(), secrets.token_hex(24)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolab_mcp.cli", "serve", "--resume", run_id, "--run-dir", str(runs), "--http",
         "--port", str(port)],
        env={**os.environ, "AUTOLAB_TOKEN": token}, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/mcp"
    wait_for_http(url, proc)
    yield url, token, ["--resume", run_id, "--run-dir", str(runs)]
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_call_a_running_http_server(http_episode):
    url, token, on_disk = http_episode
    env = {**os.environ, "AUTOLAB_TOKEN": token}
    run = call("--url", url, "run_experiment", "command=sleep 2; echo done", "wait_sec=0", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["output_tail"] == "done\n" and "running" in run.stderr  # polled
    assert ok("--url", url, "remaining_budget", env=env)["experiments"]["used"] == 1
    wrong = call("--url", url, "--token", "0" * 48, "history", env=env)
    assert wrong.returncode == 1 and "refused the bearer token" in wrong.stderr
    locked = call(*on_disk, "history")  # a second server on the served run is refused: said plainly
    assert locked.returncode == 1 and "already being served by another process" in locked.stderr

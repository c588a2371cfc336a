"""Whole episodes over the real transports: stdio (subprocess) and streamable HTTP with a bearer token;
a server killed mid-episode resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from autolab_mcp.core.taskdirs import find_task
from clients.scripted import run_episode, server_params
from tests.helpers import REPO, free_port, tool, wait_for_http

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_full_episode_over_stdio(tmp_path):
    lines: list[str] = []
    async with Client(server_params("sorting_network", tmp_path / "runs"), read_timeout_seconds=600) as client:
        result = await run_episode(client, find_task("sorting_network"), out=lines.append)
    assert result["valid"] and result["score"] >= 0.9
    assert any("apply_patch" in ln for ln in lines) and any("get_metric" in ln for ln in lines)
    run_dir = Path(result["result_file"]).parent
    verify = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", run_dir.name, "--run-dir",
                             str(tmp_path / "runs"), "--verify", "--json"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["verified"] is True


@pytest.fixture
def http_server(tmp_path):
    port = free_port()
    token = "test-token-" + "x" * 20
    env = {**os.environ, "AUTOLAB_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolab_mcp.cli", "serve", "--task", "sorting_network", "--run-dir",
         str(tmp_path / "runs"), "--http", "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    wait_for_http(url, proc)
    yield url, token
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_full_episode_over_http_with_token(http_server):
    url, token = http_server
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(url, http_client=http), read_timeout_seconds=600) as client:
        result = await run_episode(client, find_task("sorting_network"), out=lambda _: None)
    assert result["valid"] and result["score"] >= 0.9


async def test_http_refuses_requests_without_the_token(http_server):
    url, _token = http_server
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer wrong-token-wrong-token"):
        sent = headers | ({"authorization": auth} if auth else {})
        response = httpx.post(url, json=init, headers=sent, timeout=10)
        assert response.status_code == 401
        assert "bearer token" in response.text
    # DNS-rebinding protection: a foreign Host header is refused even with the token
    bad_host = httpx.post(url, json=init, headers=headers | {"authorization": f"Bearer {_token}",
                                                             "host": "evil.example:80"}, timeout=10)
    assert bad_host.status_code in (400, 403, 421)


def _server_pids(run_dir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"autolab_mcp.cli serve .*--run-dir {run_dir}"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def test_killed_server_resumes_where_it_stopped(tmp_path):
    runs = tmp_path / "runs"
    async with Client(server_params("sorting_network", runs), read_timeout_seconds=600) as client:
        original = (await tool(client, "read_file", {"path": "network.py"}))["content"]
        await tool(client, "write_file", {"path": "network.py", "content": original + "# edit 1\n"})
        await tool(client, "run_experiment", {"command": "true"})
        running = await tool(client, "run_experiment", {"command": "sleep 60", "wait_sec": 3})
        assert running["status"] == "running"
        await anyio.sleep(2.5)  # let the ledger note the experiment's progress
        pids = _server_pids(runs)
        assert pids, "server process not found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        await anyio.sleep(0.5)
    run_id = next(p.name for p in runs.iterdir() if (p / "meta.json").exists())
    resume = server_params("sorting_network", runs)
    resume.args = ["-m", "autolab_mcp.cli", "serve", "--resume", run_id, "--run-dir", str(runs)]
    async with Client(resume, read_timeout_seconds=600) as client:
        content = (await tool(client, "read_file", {"path": "network.py"}))["content"]
        assert content.endswith("# edit 1\n")
        history = await tool(client, "history")
        assert len(history["snapshots"]) == 2
        statuses = {e["id"]: e["status"] for e in history["experiments"]}
        assert statuses == {"exp-0001": "finished", "exp-0002": "interrupted"}
        budget = await tool(client, "remaining_budget")
        assert budget["experiments"]["used"] == 2
        assert budget["compute_sec"]["reserved"] == 0
        assert budget["compute_sec"]["used"] >= 2.0, "the interrupted run's seconds are charged"
        again = await tool(client, "run_experiment", {"command": "echo alive"})
        assert again["id"] == "exp-0003" and "alive" in again["output_tail"]
    events = [json.loads(ln) for ln in (runs / run_id / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "episode_resumed" and e["interrupted_experiments"] == ["exp-0002"] for e in events)


def test_scorer_stops_when_its_server_is_killed(tmp_path):
    """A SIGKILLed server cannot clean up; its scorer notices stdin closing and exits by itself."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "autolab_mcp.cli", "serve", "--task", "sorting_network", "--run-dir",
         str(tmp_path / "runs"), "--http", "--port", str(free_port())],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "AUTOLAB_TOKEN": "t" * 32},
    )
    deadline = time.monotonic() + 120
    scorer_pids: list[int] = []
    while not scorer_pids and time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "scorer --task"], capture_output=True, text=True)
        scorer_pids = [int(p) for p in out.stdout.split()]
        time.sleep(0.2)
    assert scorer_pids, "scorer process not found"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in scorer_pids):
        time.sleep(0.2)
    alive = [p for p in scorer_pids
             if os.path.exists(f"/proc/{p}") and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
    assert not alive, f"scorer {alive} outlived its server"

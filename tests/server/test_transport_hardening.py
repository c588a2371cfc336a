"""`autolab-mcp serve` transports against hostile or sloppy clients: weak tokens, duplicate auth headers,
probes of other paths, request ids the SDK would swallow, and lone surrogates on stdio."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCResponse

from autolab_mcp.transport import _ScrubbingWriteStream, message_problem, new_token, token_problem
from tests.helpers import REPO

SERVE = [str(REPO / ".venv" / "bin" / "autolab-mcp"), "serve", "--task", "sorting_network"]
GOOD_TOKEN = "k" * 40
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "hardening", "version": "0"}}}
SURROGATE_CALL = ('{"jsonrpc":"2.0","id":7,"method":"tools/call",'
                  '"params":{"name":"read_file","arguments":{"path":"\\ud800"}}}')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the token rule -----------------------------------------------------------------------------


def test_token_rule() -> None:
    assert token_problem("0123456789abcdef" * 2) is None  # 32 hex chars = 16 bytes
    assert "too short" in (token_problem("ab" * 15) or "")  # 30 hex chars: 15 bytes, even though >= 22
    assert token_problem("Z" * 22) is None and token_problem("Z" * 21) is not None
    for bad in ("a" * 30 + " b", "a" * 30 + "\t", "a" * 30 + "\x01", "é" * 30):
        assert "printable ASCII" in (token_problem(bad) or "")
    for _ in range(50):
        assert token_problem(new_token()) is None


@pytest.mark.parametrize("token", ["a", "abc def ghi jkl mno pqr stu", "x" * 30 + "\x07"])
def test_weak_token_refused_before_anything_starts(tmp_path: Path, token: str) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.run([*SERVE, "--http", "--port", str(free_port()), "--run-dir", str(runs)],
                          env={**os.environ, "AUTOLAB_TOKEN": token}, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "openssl rand -hex 24" in lines[0] and "token_urlsafe(24)" in lines[0]
    if token == "a":
        assert "too short" in lines[0] and "32 hex" in lines[0] and "22 URL-safe" in lines[0]
    assert not runs.exists()  # refused before the run directory, the scorer or the episode


# -- HTTP -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    port = free_port()
    proc = subprocess.Popen([*SERVE, "--http", "--port", str(port), "--run-dir", str(tmp_path_factory.mktemp("runs"))],
                            env={**os.environ, "AUTOLAB_TOKEN": GOOD_TOKEN}, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/mcp")
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "Authorization": f"Bearer {GOOD_TOKEN}"}


@pytest.fixture(scope="module")
def session(http: httpx.Client) -> dict[str, str]:
    """Headers of an initialized MCP session."""
    r = http.post("/mcp", headers=HEADERS, json=INIT)
    assert r.status_code == 200, r.text
    headers = {**HEADERS, "mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    r = http.post("/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status_code == 202
    return headers


@pytest.mark.parametrize("path", ["/", "/.well-known/oauth-protected-resource", "/mcpx", "/sse"])
def test_other_paths_are_404_before_the_token_check(http: httpx.Client, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, HEADERS):
        r = http.get(path, headers=headers)
        assert r.status_code == 404, (path, r.status_code)
        assert "/mcp" in r.json()["error"]


@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"bearer {GOOD_TOKEN}x", GOOD_TOKEN])
def test_wrong_or_missing_token_on_mcp_is_401(http: httpx.Client, auth: str | None) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    if auth is not None:
        headers["Authorization"] = auth
    for path in ("/mcp", "/mcp/"):
        r = http.post(path, headers=headers, json=INIT)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("order", ["right-first", "right-last", "both-right"])
def test_two_authorization_headers_are_refused(http: httpx.Client, order: str) -> None:
    right, wrong = f"Bearer {GOOD_TOKEN}", "Bearer wrong"
    pair = {"right-first": [right, wrong], "right-last": [wrong, right], "both-right": [right, right]}[order]
    headers = [(k, v) for k, v in HEADERS.items() if k != "Authorization"]
    headers += [("Authorization", value) for value in pair]
    r = http.post("/mcp", headers=headers, json=INIT)
    assert r.status_code == 400
    assert "exactly one Authorization header" in r.json()["error"]


@pytest.mark.parametrize("request_id", [{"a": 1}, [1], True, 1.5, None])
def test_odd_ids_get_a_jsonrpc_error_not_an_empty_202(http: httpx.Client, session: dict[str, str],
                                                      request_id: Any) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/list"})
    started = time.monotonic()
    r = http.post("/mcp", headers=session, content=body, timeout=1)
    assert time.monotonic() - started < 1
    assert r.status_code == 400, (r.status_code, r.text)
    error = r.json()
    assert error["id"] is None and error["error"]["code"] == -32600


def test_lone_surrogate_and_good_ids_over_http(http: httpx.Client, session: dict[str, str]) -> None:
    """The SDK already answered these correctly (a 400 Parse error for the surrogate); kept as a guard."""
    r = http.post("/mcp", headers=session, content=SURROGATE_CALL, timeout=1)
    assert r.status_code == 400 and "error" in r.json()
    for request_id in (2, "two"):
        r = http.post("/mcp", headers=session, json={"jsonrpc": "2.0", "id": request_id, "method": "tools/list"})
        assert r.status_code == 200 and f'"id":{json.dumps(request_id)}' in r.text and '"tools"' in r.text


# -- stdio --------------------------------------------------------------------------------------


def test_stdio_lone_surrogate_gets_an_answer_and_serving_goes_on(tmp_path: Path) -> None:
    proc = subprocess.Popen([*SERVE, "--run-dir", str(tmp_path / "runs")], cwd=REPO, env=dict(os.environ),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    replies: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=lambda: [replies.put(json.loads(line)) for line in proc.stdout], daemon=True).start()

    def send(line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()

    try:
        send(json.dumps(INIT))
        assert replies.get(timeout=60)["id"] == 1
        send('{"jsonrpc":"2.0","method":"notifications/initialized"}')
        send(SURROGATE_CALL)
        reply = replies.get(timeout=10)
        assert reply["id"] in (7, None) and reply["error"]["code"] == -32600
        send('{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}')
        reply = replies.get(timeout=10)
        assert reply["id"] is None and reply["error"]["code"] == -32600
        send('{"jsonrpc":"2.0","id":8,"method":"tools/list"}')
        reply = replies.get(timeout=10)
        assert reply["id"] == 8 and reply["result"]["tools"]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_message_problem_answers_what_the_sdk_drops() -> None:
    assert message_problem('{"jsonrpc":"2.0","id":3,"method":"tools/list"}', validate=True) is None
    assert message_problem('{"jsonrpc":"2.0","method":"notifications/initialized"}', validate=True) is None
    assert message_problem('{"jsonrpc":"2.0","id":3,"method":"x","params":{"p":"\\ud83d\\ude00"}}') is None
    assert message_problem(SURROGATE_CALL)["id"] == 7  # type: ignore[index]
    wrong_version = message_problem('{"jsonrpc":"1.0","id":5,"method":"tools/list"}', validate=True)
    assert wrong_version is not None and wrong_version["id"] == 5 and wrong_version["error"]["code"] == -32600
    assert message_problem("[1, 2]")["error"]["code"] == -32600  # type: ignore[index]
    assert message_problem("{")["error"]["code"] == -32700  # type: ignore[index]


def test_outgoing_lone_surrogates_are_scrubbed() -> None:
    """A file name that is not UTF-8 comes back with a lone surrogate; it must not kill the writer."""

    async def main() -> SessionMessage:
        send, receive = anyio.create_memory_object_stream[SessionMessage](1)
        message = JSONRPCResponse(jsonrpc="2.0", id=1, result={"files": ["ok\udcff.py", "\ud83d\ude00"]})
        await _ScrubbingWriteStream(send).send(SessionMessage(message))
        return await receive.receive()

    out = anyio.run(main)
    assert json.loads(out.message.model_dump_json())["result"]["files"] == ["ok\ufffd.py", "\U0001f600"]

"""Helpers the tests share (imported, never through conftest.py): MCP calls as an agent makes them,
host-process checks, and the sandbox backend under test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.episode import Episode
from autolab_mcp.server import build_server

__all__ = ["DEFAULT_TEST_BACKEND", "REPO", "connect", "free_port", "live_pids", "refused", "sandbox_backend", "tool",
           "wait_for_http"]

REPO = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

"""Fixtures of the sandbox tests: the backends (made once for the package) and a fresh workspace.

Helpers are in tests/sandbox/helpers.py (import them from there, never from here).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from autolab_mcp.core.sandbox.base import SandboxError
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.sandbox.docker import DockerBackend
from autolab_mcp.core.sandbox.fake import FakeBackend
from tests.sandbox.helpers import SERVICE, Sandbox, fake_shell, podman_service, sandbox_dir, skip_with_warning


@pytest.fixture(scope="package")
def bwrap_backend() -> BwrapBackend:
    return BwrapBackend()


@pytest.fixture(scope="package")
def docker_backend() -> Iterator[DockerBackend]:
    """A docker backend on DOCKER_HOST when set; otherwise scripts/podman-service.sh is started here
    (and stopped afterwards if it was started here). Without an engine every test using it skips,
    with the reason shown as a warning too."""
    old_host = os.environ.get("DOCKER_HOST")
    started_here = False
    if not old_host:
        already = podman_service("status").returncode == 0
        started = podman_service("start")
        line = next((x for x in started.stdout.splitlines() if x.startswith("export DOCKER_HOST=")), None)
        if started.returncode != 0 or line is None:
            skip_with_warning(f"DOCKER_HOST is unset and {SERVICE.name} could not start podman: "
                              f"{(started.stderr or started.stdout).strip()[-500:]}")
        os.environ["DOCKER_HOST"] = line.split("=", 1)[1].strip()
        started_here = not already
    try:
        try:
            b = DockerBackend()
        except SandboxError as e:
            skip_with_warning(str(e))
        yield b
    finally:
        if started_here:
            podman_service("stop")
        if old_host is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old_host


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend(fake_shell)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """The backend a conformance test is parametrized with (indirect: "bwrap", "docker" or "fake")."""
    kind = request.param
    return Sandbox(kind, request.getfixturevalue(f"{kind}_backend"))


@pytest.fixture
def ws() -> Iterator[Path]:
    d = sandbox_dir("ws")
    yield d
    shutil.rmtree(d, ignore_errors=True)

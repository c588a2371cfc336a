"""Helpers shared by the sandbox tests (fixtures that use them live in tests/sandbox/conftest.py).

Directories live under /tmp (world-traversable) because the sandbox runs as AGENT_UID when the
tests run as root.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, RunningSandbox
from autolab_mcp.core.sandbox.fake import FakeCommand, FakeProcess, scripted
from tests.helpers import REPO, live_pids

SERVICE = REPO / "scripts" / "podman-service.sh"
ROOT = os.geteuid() == 0
UID = AGENT_UID if ROOT else None


@functools.cache
def bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


#: Why bwrap tests skip (module pytestmark in test_bwrap.py, the bwrap parameter of the conformance suite).
NO_BWRAP = "bubblewrap missing or user namespaces disabled"


def sandbox_dir(prefix: str) -> Path:
    """A fresh directory the sandbox uid can reach and write (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix=f"autolab-test-{prefix}-", dir="/tmp"))
    d.chmod(0o755)
    if ROOT:
        os.chown(d, AGENT_UID, AGENT_UID)
    return d


def req(ws: Path, command: str, **kw: object) -> ExecRequest:
    return ExecRequest(command=command, workspace=ws, uid=UID, **kw)  # type: ignore[arg-type]


def survivors(marker: str) -> list[int]:
    """Host processes still alive whose command line carries `marker` (none may outlive a sandbox)."""
    return live_pids(marker)


def tree_command(marker: str) -> str:
    """A foreground sleep plus a background child and a double-forked, setsid'd daemon."""
    bg = f"python3 -c 'import time; print(\"bg up\", flush=True); time.sleep(1000)' {marker} &"
    daemon = (
        "python3 -c 'import os, time\n"
        "if os.fork(): os._exit(0)\n"
        "os.setsid()\n"
        "if os.fork(): os._exit(0)\n"
        f'print("daemon up", flush=True); time.sleep(1000)\' {marker}'
    )
    return f"{bg}\n{daemon}\nsleep 1000"


# --------------------------------------------------------------------------- docker


def skip_with_warning(reason: str) -> None:
    """Skip, with the reason shown as a warning too, so a missing engine is never silent."""
    warnings.warn(f"docker backend tests skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


def podman_service(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SERVICE), *args], capture_output=True, text=True, timeout=timeout, check=False)


def container_exists(backend: Any, container_id: str | None) -> bool:
    assert container_id
    try:
        backend._api.inspect_container(container_id)
    except backend._errors.NotFound:
        return False
    return True


def our_containers(backend: Any) -> list[str]:
    return [c["Id"] for c in backend._api.containers(all=True, filters={"label": "org.autolab-mcp.sandbox"})]


# --------------------------------------------------------------------------- the fake, as bash


def _seq_output() -> bytes:
    return "".join(f"{i}\n" for i in range(1, 20001)).encode() + b"caf\xc3\xa9 \xff\n"


#: What the conformance suite's protocol-level commands print and how they end, for FakeBackend.
FAKE_SHELL = {
    "true": FakeCommand(duration=0.001),
    "echo to-out; echo to-err >&2; exit 7": FakeCommand(exit_code=7, output="to-out\nto-err\n", duration=0.001),
    "yes | head -c 50M; echo done": FakeCommand(output=b"y\n" * (25 << 20) + b"done\n", duration=0.001),
    "seq 1 20000; printf 'caf\\xc3\\xa9 \\xff\\n'": FakeCommand(output=_seq_output(), duration=0.001),
}
_fake_table = scripted(FAKE_SHELL)


def fake_shell(request: ExecRequest) -> FakeCommand:
    """FakeBackend's handler in the conformance suite: bash, as far as its commands go."""
    command = request.command
    if command.startswith("echo started; ") and "daemon up" in command:  # "echo started; " + tree_command()
        return FakeCommand(output="started\nbg up\ndaemon up\n", duration=1000)
    if command.endswith(" >/dev/null 2>&1 & exit 0"):  # a background job left behind, then exit 0
        return FakeCommand(duration=0.001)
    return _fake_table(request)


# --------------------------------------------------------------------------- one backend under test


@dataclass
class Sandbox:
    """A backend under test in the conformance suite: `kind` is "bwrap", "docker" or "fake"."""

    kind: str
    backend: Any

    def pick(self, **by_kind: Any) -> Any:
        """The value given for this backend (e.g. a timeout that differs per backend)."""
        return by_kind[self.kind]

    def gone(self, proc: RunningSandbox) -> None:
        """Nothing of an ended run is left where the backend would keep it."""
        if self.kind == "docker":
            assert not container_exists(self.backend, getattr(proc, "container_id", None))
        elif self.kind == "fake":
            assert isinstance(proc, FakeProcess) and proc not in self.backend.live()

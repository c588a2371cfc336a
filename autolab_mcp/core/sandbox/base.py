"""The one way untrusted code runs: a small protocol every backend implements.

The server (experiments) and the scorer (evaluations) both go through it, so a
new backend (docker, Kubernetes) is a new class, not a rewrite. A request names
everything the sandbox may see; anything not named is not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from autolab_mcp.core.errors import AutolabError

#: Where the workspace appears inside every sandbox.
WORKSPACE_MOUNT = "/workspace"
#: Where the task's runtime environment (a venv) appears inside every sandbox.
RUNTIME_MOUNT = "/opt/runtime"


#: Why we kill a running sandbox ourselves.
KillReason = Literal["timeout", "cancelled", "disk", "shutdown"]
#: Who ended a sandbox that did not exit by itself: its wall limit, the OOM killer, a cancel, its disk
#: limit, the server shutting down, or something outside our control (a signal nobody here sent).
KilledBy = Literal["timeout", "oom", "cancel", "disk", "shutdown", "unknown"]


class Limits(BaseModel):
    """Resource limits for one sandboxed command."""

    wall_sec: float = Field(60.0, gt=0, description="killed (with its whole tree) after this many seconds")
    memory_mb: int = Field(2048, gt=0)
    pids: int = Field(256, gt=0, description="processes and threads at once")
    cpus: float = Field(1.0, gt=0)
    output_bytes: int = Field(8 * 1024 * 1024, gt=0, description="log kept up to this size; the rest dropped")
    tmp_mb: int = Field(512, gt=0, description="size of the private /tmp")
    file_mb: int = Field(1024, gt=0, description="largest single file the command may write")
    disk_mb: int = Field(2048, gt=0, description="total size of the writable mounts (workspace, /output)")


class Mount(BaseModel):
    """A host path made visible inside the sandbox."""

    source: Path
    target: str
    read_only: bool = True


class ExecRequest(BaseModel):
    """Everything one sandboxed command may see and use."""

    command: str = Field(description="run as `bash -c command` inside the sandbox")
    workspace: Path = Field(description="host directory mounted read-write at `workdir`")
    workdir: str = Field(WORKSPACE_MOUNT, description="where the workspace is mounted and the command starts: "
                         "/workspace, or a task's own (`[autolab] workdir`, e.g. /app for imported Harbor tasks)")
    read_only_paths: list[str] = Field(
        default_factory=list,
        description="workspace-relative files mounted read-only over the workspace (non-editable files)",
    )
    read_only_root: Path | None = Field(
        None,
        description="where read_only_paths are taken from: the pristine task, trusted and never agent-writable "
        "(backends may bind it by path); default: the workspace",
    )
    mounts: list[Mount] = Field(default_factory=list)
    runtime: Path | None = Field(None, description="venv mounted read-only at /opt/runtime, first on PATH")
    env: dict[str, str] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    uid: int | None = Field(
        None,
        description="host uid to run as when the server is root (AGENT_UID, SCORER_UID); None keeps the "
        "server's uid, which for a root server means root without capabilities: always set it for untrusted code",
    )
    cpu: int | None = Field(None, description="pin to this core (timing); no CPU quota is applied then")
    fake_file_locks: bool = Field(
        False, description="file locks (flock, fcntl record locks) succeed without effect: evaluation sandboxes, "
        "so locks on the host inodes every sandbox sees cannot carry data to or from an experiment",
    )
    forbid_threads: bool = Field(
        False, description="no new threads (clone with CLONE_THREAD or CLONE_VM fails with EPERM, clone3 with "
        "ENOSYS): timed runs of tasks whose rules forbid threads, enforced by seccomp rather than by reading source",
    )
    log_path: Path | None = Field(None, description="full combined stdout+stderr kept here")


class ExecResult(BaseModel):
    """How a sandboxed command ended."""

    exit_code: int | None = Field(description="None when killed before it could exit")
    output_tail: str = Field(description="last part of combined stdout and stderr")
    output_bytes: int = 0
    output_truncated: bool = False
    duration_sec: float
    timed_out: bool = False
    oom_killed: bool = False
    cancelled: bool = False
    disk_exceeded: bool = Field(False, description="killed for writing more than limits.disk_mb")
    killed_by: KilledBy | None = Field(
        None, description="set when the sandbox did not end by its own exit: who killed it (None: it exited)"
    )
    signal: str | None = Field(None, description="the signal that ended it (e.g. SIGKILL), when one did")
    limits_mode: Literal["cgroup", "rlimit", "container"] = "rlimit"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.oom_killed or self.cancelled)


class SandboxError(AutolabError):
    """The sandbox itself could not be set up (not a failure of the command)."""


@runtime_checkable
class RunningSandbox(Protocol):
    """A command that was started and may still be running."""

    def poll(self) -> ExecResult | None:
        """The result once finished, else None (never blocks)."""

    def wait(self, timeout: float | None = None) -> ExecResult | None:
        """Block up to `timeout` seconds; the result, or None if still running."""

    def kill(self, reason: KillReason = "cancelled") -> None:
        """Kill the whole process tree; the result reports `cancelled` (or `killed_by="shutdown"`)."""

    def elapsed(self) -> float:
        """Seconds it has run (or its total duration once finished), time spent frozen excluded."""

    def freeze(self) -> bool:
        """Stop every process in place while its episode is evaluated; whether it is frozen now."""

    def thaw(self) -> None:
        """Resume a frozen sandbox; its deadline moves back by the time it was frozen."""

    def frozen_sec(self) -> float:
        """Seconds spent frozen so far."""

    def output_tail(self, max_bytes: int = 4096) -> str:
        """What the command has printed so far (last part)."""


@runtime_checkable
class SandboxBackend(Protocol):
    """Starts sandboxed commands."""

    name: str

    def start(self, request: ExecRequest) -> RunningSandbox: ...

    def run(self, request: ExecRequest) -> ExecResult:
        """Start and wait to the end (the request's wall limit bounds it)."""


#: Host uid/gid that agent experiments run as when the server runs as root.
AGENT_UID = 64000
#: Host uid/gid for the scorer's evaluation sandboxes (distinct from the agent's).
SCORER_UID = 64001

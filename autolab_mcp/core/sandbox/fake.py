"""A fake sandbox backend for fast unit tests (TEST-ONLY: it runs nothing and isolates nothing).

In the spirit of httpx's MockTransport: `FakeBackend(handler)` honours the SandboxBackend and
RunningSandbox protocols, and `handler(request)` decides what each command does by returning a
FakeCommand (exit code, output, how long it "runs", how it ends). Nothing is executed: no
bubblewrap, no process, no namespace; the handler may write into `request.workspace` itself,
and a command's `files` are written there when it exits by itself, so experiments that change
the editable files can be faked.

    def handler(request: ExecRequest) -> FakeCommand:
        if request.command == "python train.py":
            return FakeCommand(output="loss 0.1\\n", duration=0.05, files={"model.txt": "weights"})
        return FakeCommand(exit_code=127, output="bash: command not found\\n")

    backend = FakeBackend(handler)
    result = backend.run(ExecRequest(command="python train.py", workspace=ws))
    assert result.exit_code == 0 and (ws / "model.txt").read_text() == "weights"

What it honours, as the real backends do: the request checks (checks.py) and a SandboxError for
them, wall_sec (a run that would last longer is killed at wall_sec, timed_out), kill() from any
thread (cancelled, or killed_by="shutdown"), freeze()/thaw() (frozen time is neither run time nor
counted to the wall limit), output capture (tail, output_bytes kept in log_path, truncation),
memory_mb and disk_mb (a command declaring more is OOM-killed / disk-killed when it gets there),
read_only_paths (a command's `files` on them are not written), and kill_live_sandboxes().

Deterministic: outcomes depend on the FakeCommand and the request only, never on timing; the
reported duration_sec is exactly `duration` for a run that ends by itself (OOM, disk and signal
ends included) and exactly wall_sec for a timeout; only a kill from outside depends on when it
came. Durations are real seconds (waits block like a real run would), so keep them small.
Thread-safe: start, poll, wait, kill, freeze and thaw may be called from any thread; the handler
itself is called on the thread that calls start(), possibly several at once.
"""

from __future__ import annotations

import itertools
import logging
import os
import posixpath
import signal as signals
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult, SandboxError
from autolab_mcp.core.sandbox.checks import PROVIDED, check_request
from autolab_mcp.core.sandbox.common import KillReason, RunningSandboxBase, killed_by

__all__ = ["FakeBackend", "FakeCommand", "FakeProcess", "Handler", "scripted"]

log = logging.getLogger(__name__)

_run_ids = itertools.count(1)
#: How a fake run ended by itself (at `duration`): exit, OOM kill, disk watchdog, or an outside signal.
_Ending = Literal["exit", "oom", "disk", "signal"]
Chunk = str | bytes


def _bytes(chunk: Chunk) -> bytes:
    return chunk.encode() if isinstance(chunk, str) else bytes(chunk)


def _rel(path: str) -> str | None:
    """`path` normalized, if it names something inside the workspace."""
    norm = posixpath.normpath(path)
    if path.startswith("/") or norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


@dataclass(frozen=True)
class FakeCommand:
    """What one faked command does: it prints `output` at once and each `progress` chunk at its
    second of run time, runs for `duration` seconds (frozen time excluded), then ends.

    It ends by exiting with `exit_code` and writing `files` (workspace-relative path -> content;
    read-only paths are skipped with bash's complaint in the output), unless it declared more
    memory than limits.memory_mb (OOM-killed), more disk than limits.disk_mb (disk watchdog) or a
    `signal` (killed by a signal nobody here sent): those end it at `duration` without writing.
    A `duration` of limits.wall_sec or more makes it time out at wall_sec instead.
    """

    exit_code: int = 0
    output: Chunk = ""
    duration: float = 0.0
    progress: tuple[tuple[float, Chunk], ...] = ()
    files: Mapping[str, Chunk] = field(default_factory=dict)
    memory_mb: int = 0
    disk_mb: int = 0
    signal: int | None = None

    def __post_init__(self) -> None:
        if self.duration < 0 or any(at < 0 for at, _ in self.progress):
            raise ValueError("a fake command's duration and progress times must be >= 0")
        if bad := [p for p in self.files if _rel(p) is None]:
            raise ValueError(f"fake command files must be workspace-relative without '..': {bad}")
        object.__setattr__(self, "progress", tuple(sorted(self.progress, key=lambda chunk: chunk[0])))

    def ending(self, request: ExecRequest) -> _Ending:
        if self.memory_mb > request.limits.memory_mb:
            return "oom"
        if self.disk_mb > request.limits.disk_mb:
            return "disk"
        return "exit" if self.signal is None else "signal"


#: Decides what a command does; may write into request.workspace; an exception fails start().
Handler = Callable[[ExecRequest], FakeCommand]


def scripted(table: Mapping[str, FakeCommand], default: FakeCommand | None = None) -> Handler:
    """A handler answering each command from `table` (its exact text); any other command gets
    `default`, or bash's answer for an unknown command (exit 127)."""

    def handler(request: ExecRequest) -> FakeCommand:
        if request.command in table:
            return table[request.command]
        if default is not None:
            return default
        word = request.command.split()[0] if request.command.split() else ""
        return FakeCommand(exit_code=127, output=f"bash: line 1: {word}: command not found\n")

    return handler


class FakeBackend:
    """A SandboxBackend whose commands are answered by `handler` (default: every command exits 0 at once).

    `limits_mode`: what results report; `can_freeze`: whether freeze() works (False: like rlimit-mode
    bwrap, which has no freezer). `requests` and `processes` list every start, in order.
    """

    name = "fake"

    def __init__(self, handler: Handler | None = None, *,
                 limits_mode: Literal["cgroup", "rlimit", "container"] = "rlimit",
                 can_freeze: bool = True, tail_bytes: int = 4096) -> None:
        self.handler: Handler = handler or (lambda request: FakeCommand())
        self.limits_mode = limits_mode
        self.can_freeze = can_freeze
        self.tail_bytes = tail_bytes
        self._lock = threading.Lock()
        self.requests: list[ExecRequest] = []
        self.processes: list[FakeProcess] = []

    def start(self, request: ExecRequest) -> FakeProcess:
        """Check the request as a real backend would, ask the handler, and "start" the command."""
        check_request(request, PROVIDED)
        if request.cpu is not None and request.cpu not in os.sched_getaffinity(0):
            raise SandboxError(f"cpu {request.cpu} is not available (have {sorted(os.sched_getaffinity(0))})")
        if os.geteuid() == 0 and request.uid == 0:
            raise SandboxError("refusing to run as uid 0; pass uid=None to keep the server's uid")
        with self._lock:
            self.requests.append(request)
        command = self.handler(request)
        if not isinstance(command, FakeCommand):
            raise TypeError(f"a FakeBackend handler must return a FakeCommand, not {type(command).__name__}")
        process = FakeProcess(self, request, command)
        with self._lock:
            self.processes.append(process)
        return process

    def run(self, request: ExecRequest) -> ExecResult:
        result = self.start(request).wait()
        assert result is not None
        return result

    def live(self) -> list[FakeProcess]:
        """The runs that have not ended yet."""
        with self._lock:
            return [p for p in self.processes if p.poll() is None]


class FakeProcess(RunningSandboxBase):
    """One faked run: a watcher thread lets run time pass, prints progress, and ends it."""

    def __init__(self, backend: FakeBackend, request: ExecRequest, command: FakeCommand) -> None:
        super().__init__(request, backend.tail_bytes)
        self.command = command
        self.run_id = f"fake-{next(_run_ids)}"
        self.limits_mode = backend.limits_mode
        self._can_freeze = backend.can_freeze
        self._wake = threading.Condition()
        #: run time at which it ends by itself or times out
        self._stop = min(command.duration, request.limits.wall_sec)
        self._killed_at: float | None = None  # run time when it was killed (by kill(), or at wall_sec)
        if request.log_path is not None:
            request.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(request.log_path, "wb")  # noqa: SIM115 (closed by the watcher)
        self._t0 = time.monotonic()
        self._feed(_bytes(command.output))  # printed at once: visible as soon as start() returns
        self._went_live()
        threading.Thread(target=self._watch, name=f"fake-wait-{self.run_id}", daemon=True).start()

    # -- control

    def _ran(self) -> float:
        return time.monotonic() - self._t0 - self.frozen_sec()

    def _terminate(self, reason: KillReason) -> None:
        with self._lock:
            if self._exited or self._ran() >= self._stop:  # it has ended (on schedule) already
                return
            if self._kill_reason is None:
                self._kill_reason = reason
                self._killed_at = self._ran()
        self.thaw()
        self._notify()

    def _set_frozen(self, frozen: bool) -> bool:
        return self._can_freeze

    def freeze(self) -> bool:
        frozen = super().freeze()
        self._notify()
        return frozen

    def thaw(self) -> None:
        super().thaw()
        self._notify()

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- the watcher

    def _watch(self) -> None:
        try:
            ran = self._run()
            self._result = self._ended(ran)
        except BaseException as e:  # never leave waiters hanging
            log.exception("sandbox %s: watcher failed", self.run_id)
            tail = f"{self.output_tail(self._tail_bytes)}\n[sandbox watcher failed: {e}]"
            self._result = ExecResult(exit_code=None, output_tail=tail, output_bytes=self._seen,
                                      duration_sec=self.elapsed(), limits_mode=self.limits_mode)
        finally:
            self._close_log()
            self._finished()

    def _run(self) -> float:
        """Let run time pass until the command ends, times out or is killed; its run time then."""
        wall = self._request.limits.wall_sec
        stop = self._stop
        chunks = list(self.command.progress)
        with self._wake:
            while True:
                if self._kill_reason is not None:
                    break
                ran = self._ran()
                while chunks and chunks[0][0] <= ran and chunks[0][0] < stop:
                    self._feed(_bytes(chunks.pop(0)[1]))
                if ran >= stop:
                    break
                if self._frozen_since is not None:
                    self._wake.wait()  # until thaw() or kill()
                    continue
                self._wake.wait(min(stop, chunks[0][0] if chunks else stop) - ran)
        with self._lock:
            if self._kill_reason is None and self.command.duration >= wall:
                self._kill_reason = "timeout"
                self._killed_at = wall
            self._exited = True
            end = self._killed_at if self._kill_reason is not None else None
        if end is None:  # its own end: what it printed up to then
            end = self.command.duration
            chunks = [(at, chunk) for at, chunk in chunks if at <= end]
        else:  # killed: what it printed before
            chunks = [(at, chunk) for at, chunk in chunks if at < end]
        for _at, chunk in chunks:
            self._feed(_bytes(chunk))
        return end

    def _ended(self, ran: float) -> ExecResult:
        ending = self.command.ending(self._request) if self._kill_reason is None else "exit"
        if ending == "disk":
            self._kill_reason = "disk"
        elif ending == "exit" and self._kill_reason is None:
            self._write_files()
        signum = self.command.signal if ending == "signal" else signals.SIGKILL if ending == "oom" else None
        who, sig = killed_by(self._kill_reason, ending == "oom", signum, self.command.exit_code)
        self.thaw()
        self._t_end = self._t0 + self._frozen_total + ran
        return self._final_result(exit_code=None if who is not None else self.command.exit_code,
                                  tail=self.output_tail(self._tail_bytes), oom=ending == "oom", who=who, sig=sig,
                                  limits_mode=self.limits_mode, duration=ran)

    def _write_files(self) -> None:
        """The command's `files`, written into the workspace as it exits (read-only ones refused)."""
        read_only = {posixpath.normpath(p) for p in self._request.read_only_paths}
        for path, content in self.command.files.items():
            rel = _rel(path)
            assert rel is not None  # checked by FakeCommand
            if rel in read_only:
                self._feed(f"bash: line 1: {rel}: Read-only file system\n".encode())
                continue
            target = self._request.workspace / rel
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_bytes(content))
            except OSError as e:
                self._feed(f"bash: line 1: {rel}: {e.strerror}\n".encode())

    def _close_log(self) -> None:
        with self._lock:
            log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()

"""What every sandbox backend shares: mount-target checks, symlink-free opens, output capture, disk use,
and the RunningSandbox protocol methods over the state a backend's reader and watcher threads keep."""

from __future__ import annotations

import logging
import os
import posixpath
import signal
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO

from autolab_mcp.core.safedir import SafeDir, SafeDirError
from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult, KilledBy, KillReason, SandboxError

log = logging.getLogger("autolab.sandbox")

#: How often a running sandbox's writable mounts are measured against limits.disk_mb.
DISK_CHECK_SEC = 2.0
#: How much of the output's end a running sandbox keeps in memory (the full log goes to log_path).
TAIL_KEEP = 16 * 1024

_KILLED_BY: dict[KillReason, KilledBy] = {"timeout": "timeout", "cancelled": "cancel", "disk": "disk",
                                          "shutdown": "shutdown"}


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def killed_by(reason: KillReason | None, oom: bool, signum: int | None,
              exit_code: int | None = None) -> tuple[KilledBy | None, str | None]:
    """(who killed it, which signal) for a sandbox that ended: our own kill first, then the OOM killer
    (when the command itself ended by SIGKILL: a child's OOM kill that the command survived is its own
    business), then a signal that reached the sandbox's outermost process from elsewhere; (None, None)
    for an exit."""
    if reason is not None:
        return _KILLED_BY[reason], "SIGKILL"
    if oom and (signum is not None or exit_code == 128 + signal.SIGKILL):
        return "oom", "SIGKILL"
    if signum is not None:
        return "unknown", signal_name(signum)
    return None, None


def check_target(target: str) -> None:
    if not target.startswith("/") or posixpath.normpath(target) != target or target == "/":
        raise SandboxError(f"mount target must be a normalized absolute path other than /: {target!r}")


def open_no_symlinks(root: Path, rel: str) -> int | None:
    """An O_PATH fd for root/rel if it is a regular file reached without any symlink, else None.

    Binding the fd (not the path) means a file swapped for a symlink after this check still
    cannot redirect the bind to something outside the workspace.
    """
    try:
        return SafeDir(root, follow_root=False).open_path(rel)
    except (OSError, SafeDirError):
        return None


def tail_text(buf: bytes | bytearray, max_bytes: int) -> str:
    chunk = bytes(buf[-max_bytes:]) if max_bytes > 0 else b""
    if len(chunk) < len(buf):  # cut may fall inside a UTF-8 sequence: skip its continuation bytes
        i = 0
        while i < min(3, len(chunk)) and chunk[i] & 0xC0 == 0x80:
            i += 1
        chunk = chunk[i:]
    return chunk.decode("utf-8", errors="replace")


def usage_exceeds(roots: list[Path], limit: int) -> bool:
    """True once the files under `roots` add up to more than `limit` bytes (stops counting there)."""
    total = 0
    stack = [str(r) for r in roots]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
                if total > limit:
                    return True
    return False


_live: set[RunningSandboxBase] = set()
_live_lock = threading.Lock()


def kill_live_sandboxes(reason: KillReason = "shutdown", wait_sec: float = 1.5) -> int:
    """Kill every sandbox this process still runs (a scorer whose server is gone, a server shutting
    down) and wait up to `wait_sec` for them to be reaped; returns how many were running."""
    with _live_lock:
        running = list(_live)
    for sandbox in running:
        try:
            sandbox.kill(reason)
        except Exception:  # one that cannot be killed must not keep the others alive
            log.exception("sandbox %s: kill on shutdown failed", getattr(sandbox, "run_id", "?"))
    deadline = time.monotonic() + wait_sec
    for sandbox in running:
        sandbox.wait(max(0.0, deadline - time.monotonic()))
    return len(running)


class RunningSandboxBase(ABC):
    """The RunningSandbox protocol (poll, wait, kill, elapsed, output_tail) and output capture.

    A backend's subclass starts the sandbox, runs a reader thread that hands every chunk of
    output to `_feed`, and a watcher thread that sets `_t_end`, then `_result`, then `_done`.
    """

    run_id: str

    def __init__(self, request: ExecRequest, tail_bytes: int) -> None:
        self._request = request
        self._tail_bytes = tail_bytes
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop_reading = threading.Event()
        self._result: ExecResult | None = None
        self._kill_reason: KillReason | None = None
        self._exited = False
        self._tail = bytearray()
        self._seen = 0
        self._logged = 0
        self._log: IO[bytes] | None = None
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self._frozen_total = 0.0
        self._frozen_since: float | None = None
        self._freeze_lock = threading.Lock()

    def _claim_kill(self, reason: KillReason, pgid: int | None = None) -> bool:
        """Record why the run is being killed (the first reason wins) and SIGKILL process group `pgid`
        under the same lock the watcher takes to mark the exit, so a reaped (reusable) pid is never hit;
        False when the run had already exited."""
        with self._lock:
            if self._exited:
                return False
            if self._kill_reason is None:
                self._kill_reason = reason
            if pgid is not None:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return True

    def _final_result(self, *, exit_code: int | None, tail: str, oom: bool, who: KilledBy | None, sig: str | None,
                      limits_mode: str, duration: float | None = None) -> ExecResult:
        """How the run ended, from what every backend tracks the same way (output counts, kill reason,
        frozen time); `duration` defaults to the wall time it ran, frozen time excluded."""
        assert self._t_end is not None or duration is not None
        return ExecResult(
            exit_code=exit_code,
            output_tail=tail,
            output_bytes=self._seen,
            output_truncated=self._seen > self._logged,
            duration_sec=duration if duration is not None else self._t_end - self._t0 - self._frozen_total,
            timed_out=self._kill_reason == "timeout",
            cancelled=self._kill_reason == "cancelled",
            disk_exceeded=self._kill_reason == "disk",
            oom_killed=oom,
            killed_by=who,
            signal=sig,
            limits_mode=limits_mode,  # type: ignore[arg-type]
        )

    def _went_live(self) -> None:
        """Called once the sandbox runs and its watcher is up (a failed start never counts as live)."""
        with _live_lock:
            _live.add(self)

    def _finished(self) -> None:
        """Called by the watcher once the result is set: the sandbox no longer counts as live."""
        self._done.set()
        with _live_lock:
            _live.discard(self)

    @abstractmethod
    def _terminate(self, reason: KillReason) -> None:
        """Kill everything the sandbox runs, recording why (first reason wins)."""

    def _set_frozen(self, frozen: bool) -> bool:
        """Freeze (stop scheduling) or thaw every process of the sandbox; False where the backend cannot."""
        return False

    def freeze(self) -> bool:
        """Stop the sandbox in place (its episode is being evaluated): no CPU, no progress, no deadline
        passing; frozen time is not part of elapsed(). Returns whether it is frozen now."""
        with self._freeze_lock:
            if self._frozen_since is not None:
                return True
            if self._done.is_set() or self._exited or not self._set_frozen(True):
                return False
            self._frozen_since = time.monotonic()
            return True

    def thaw(self) -> None:
        with self._freeze_lock:
            if self._frozen_since is None:
                return
            self._set_frozen(False)
            self._frozen_total += time.monotonic() - self._frozen_since
            self._frozen_since = None

    @property
    def frozen(self) -> bool:
        return self._frozen_since is not None

    def frozen_sec(self) -> float:
        since = self._frozen_since
        return self._frozen_total + (time.monotonic() - since if since is not None else 0.0)

    def _deadline(self) -> float:
        """The wall limit, pushed back by the time spent frozen (never passes while frozen)."""
        if self._frozen_since is not None:
            return time.monotonic() + self._request.limits.wall_sec
        return self._t0 + self._request.limits.wall_sec + self._frozen_total

    def poll(self) -> ExecResult | None:
        return self._result if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> ExecResult | None:
        return self._result if self._done.wait(timeout) else None

    def kill(self, reason: KillReason = "cancelled") -> None:
        self._terminate(reason)

    def elapsed(self) -> float:
        """Seconds the sandbox has run, frozen time excluded (what the agent is charged)."""
        end = self._t_end
        return (end if end is not None else time.monotonic()) - self._t0 - self.frozen_sec()

    def output_tail(self, max_bytes: int = 4096) -> str:
        with self._lock:
            return tail_text(self._tail, min(max_bytes, TAIL_KEEP))

    def _feed(self, data: bytes) -> None:
        """Count a chunk of output, keep the tail, and log it up to limits.output_bytes."""
        if not data:
            return
        limit = self._request.limits.output_bytes
        with self._lock:
            self._seen += len(data)
            self._tail += data
            if len(self._tail) > TAIL_KEEP:
                del self._tail[:-TAIL_KEEP]
            keep = max(0, min(len(data), limit - self._logged))
            self._logged += keep
            log_file = self._log
        if log_file is not None and keep:
            try:
                log_file.write(data[:keep])
            except (OSError, ValueError) as e:
                log.warning("sandbox %s: cannot write log: %s", self.run_id, e)

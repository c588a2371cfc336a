"""One running bubblewrap sandbox (bwrap.py starts it): spawn, wait for the set-up, drain output, watch.

A reader thread drains the combined output; a watcher thread enforces the wall and disk limits,
waits until nothing of the sandbox's pid namespace is left, and builds the result. The process
is forked from the spawner thread (spawn.py), never with a preexec_fn, because the server starts
sandboxes from many threads.
"""

from __future__ import annotations

import itertools
import logging
import os
import posixpath
import secrets
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from autolab_mcp.core.sandbox import spawn
from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult, SandboxError
from autolab_mcp.core.sandbox.bwrap_argv import HOST_ENV, MiB, args_memfd, cores_for
from autolab_mcp.core.sandbox.cgroups import RunCgroup
from autolab_mcp.core.sandbox.common import (
    DISK_CHECK_SEC,
    KillReason,
    RunningSandboxBase,
    killed_by,
    open_no_symlinks,
    usage_exceeds,
)

if TYPE_CHECKING:
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend, LimitsMode

log = logging.getLogger("autolab_mcp.core.sandbox.bwrap")

#: bwrap reports the sandbox is up within milliseconds; this only bounds a wedged start.
_SETUP_TIMEOUT = 10.0
_run_ids = itertools.count(1)


def _readable(fd: int, timeout: float) -> bool:
    """poll(), not select(): a busy server easily holds more than 1024 fds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0, int(timeout * 1000))))


class _Popen(subprocess.Popen):  # type: ignore[type-arg]
    """Popen whose timed wait blocks on a pidfd: the stock one polls with sleeps up to 50 ms, which the
    agent would pay in compute seconds and the scorer would see as timing noise."""

    def wait(self, timeout: float | None = None) -> int:
        if timeout is not None and self.returncode is None:
            fd = os.pidfd_open(self.pid)
            try:
                if not _readable(fd, timeout):
                    raise subprocess.TimeoutExpired(self.args, timeout)
            finally:
                os.close(fd)
        return super().wait()


class BwrapProcess(RunningSandboxBase):
    """One running sandbox: a reader thread drains output, a waiter thread enforces the wall limit."""

    def __init__(self, backend: BwrapBackend, request: ExecRequest) -> None:
        cmdline = backend._cmdline
        cmdline.validate(request)
        super().__init__(request, backend.tail_bytes)
        self._init_pidfd: int | None = None
        self.run_id = f"{os.getpid()}-{next(_run_ids)}-{secrets.token_hex(3)}"

        ro_fds: list[tuple[int, str]] = []
        args_fd: int | None = None
        seccomp_fd: int | None = None
        self._cgroup: RunCgroup | None = None
        ready_r, ready_w = os.pipe()
        try:
            for rel in dict.fromkeys(request.read_only_paths):
                fd = open_no_symlinks(request.read_only_root or request.workspace, rel)
                if fd is not None:
                    ro_fds.append((fd, posixpath.normpath(rel)))
            if backend._cgroups is not None:
                try:
                    self._cgroup = backend._cgroups.create(self.run_id, request.limits, request.cpu is None,
                                                           cores_for(request))
                except OSError as e:
                    if backend._require_cgroups:
                        raise SandboxError(f"could not create the cgroup of sandbox {self.run_id}: {e} "
                                           "(cgroups are required; no fallback to rlimits)") from e
                    log.warning("could not create cgroup for %s (%s); using rlimits", self.run_id, e)
            self.limits_mode: LimitsMode = "cgroup" if self._cgroup is not None else "rlimit"
            seccomp_fd = cmdline.seccomp_fd(request)
            bwrap_args = cmdline.bwrap_args(request, ready_w, ro_fds, seccomp_fd)
            split = bwrap_args.index("--")
            args_fd = args_memfd(bwrap_args[:split])  # options only: bwrap takes the command from argv
            argv = [*cmdline.wrappers(request, self._cgroup), cmdline.tools["bwrap"], "--args", str(args_fd),
                    *bwrap_args[split:]]
            if request.log_path is not None:
                request.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(request.log_path, "wb")  # noqa: SIM115 (closed by the waiter)
            self._t0 = time.monotonic()
            self._proc = spawn.popen(
                argv,
                popen_class=_Popen,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=HOST_ENV,
                pass_fds=(ready_w, args_fd, *(fd for fd, _ in ro_fds), *([seccomp_fd] if seccomp_fd else [])),
                start_new_session=True,
            )
        except BaseException as e:
            os.close(ready_r)
            self._cleanup_cgroup()
            if self._log is not None:
                self._log.close()
            if isinstance(e, OSError):
                raise SandboxError(f"could not start the sandbox: {e}") from e
            raise
        finally:
            os.close(ready_w)
            for owned in (args_fd, seccomp_fd):
                if owned is not None:
                    os.close(owned)
            for fd, _ in ro_fds:
                os.close(fd)

        assert self._proc.stdout is not None
        self._out_fd = self._proc.stdout.fileno()
        self._reader = threading.Thread(target=self._read_output, name=f"bwrap-out-{self.run_id}", daemon=True)
        self._reader.start()
        try:
            self._await_setup(ready_r)
        finally:
            os.close(ready_r)
        self._went_live()
        threading.Thread(target=self._watch, name=f"bwrap-wait-{self.run_id}", daemon=True).start()

    # -- internals

    def _await_setup(self, ready_r: int) -> None:
        """Block until the sandbox is up; a failed setup is a SandboxError, not a command result."""
        if _readable(ready_r, _SETUP_TIMEOUT) and os.read(ready_r, 1):
            self._init_pidfd = self._open_init_pidfd()
            return
        if self._proc.poll() is None:
            self._terminate("cancelled")
        self._proc.wait()
        self._stop_reading.set()
        self._reader.join(timeout=2)
        self._cleanup_cgroup()
        self._close_output()
        raise SandboxError(f"bwrap could not set up the sandbox: {self.output_tail(2000).strip()}")

    def _open_init_pidfd(self) -> int | None:
        """A pidfd for the sandbox's pid 1 (the outer bwrap's only child). It turns readable only
        after the kernel has killed and reaped every process of the pid namespace, so waiting on
        it means nothing of the sandbox is left, with or without a cgroup."""
        outer = self._proc.pid
        children = Path(f"/proc/{outer}/task/{outer}/children")
        try:
            pids = children.read_text().split()
            if len(pids) != 1:
                return None
            fd = os.pidfd_open(int(pids[0]))
        except (OSError, AttributeError, ValueError):
            return None
        try:
            if children.read_text().split() == pids:  # still that child: the fd is not a recycled pid
                return fd
        except OSError:
            pass
        os.close(fd)
        return None

    def _await_init_exit(self, timeout: float = 5.0) -> None:
        fd, self._init_pidfd = self._init_pidfd, None
        if fd is None:
            return
        try:
            if not _readable(fd, timeout):
                log.warning("sandbox %s: pid namespace still alive %.0fs after the end", self.run_id, timeout)
        finally:
            os.close(fd)

    def _read_output(self) -> None:
        fd = self._out_fd
        while True:
            try:
                if not _readable(fd, 0.2):
                    if self._stop_reading.is_set():
                        return  # nothing left and every process is gone: a stray writer must not hang us
                    continue
                data = os.read(fd, 65536)
            except (OSError, ValueError):
                return
            if not data:
                return
            self._feed(data)

    def _terminate(self, reason: KillReason) -> None:
        """Kill the whole tree: the outer bwrap (its pid-1 child dies with it, taking the pid
        namespace along) and, belt and braces, every task in the cgroup."""
        self.thaw()  # frozen tasks take a SIGKILL only once thawed
        if not self._claim_kill(reason, pgid=self._proc.pid):
            return
        if self._cgroup is not None:
            self._cgroup.kill_all()

    def _set_frozen(self, frozen: bool) -> bool:
        return self._cgroup is not None and self._cgroup.set_frozen(frozen)

    def _watch(self) -> None:
        disk_limit = self._request.limits.disk_mb * MiB
        writable = [self._request.workspace, *(m.source for m in self._request.mounts if not m.read_only)]
        try:
            while True:
                try:
                    wait = min(DISK_CHECK_SEC, self._deadline() - time.monotonic())
                    self._proc.wait(timeout=max(0.0, wait))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= self._deadline():
                        self._terminate("timeout")
                        self._proc.wait()
                        break
                    if usage_exceeds(writable, disk_limit):
                        self._terminate("disk")
                        self._proc.wait()
                        break
            self.thaw()
            self._t_end = time.monotonic()
            with self._lock:
                self._exited = True
            self._await_init_exit()
            oom = False
            if self._cgroup is not None:
                self._cgroup.kill_all()
                oom = self._cgroup.oom_killed()
            self._cleanup_cgroup()
            self._stop_reading.set()
            self._reader.join(timeout=5)
            self._close_output()
            rc = self._proc.returncode
            tail = self.output_tail(self._tail_bytes)
            if self._cgroup is None and rc != 0 and "MemoryError" in tail:
                oom = True  # rlimit mode: an address-space limit hit surfaces as MemoryError (best effort)
            # rc < 0: the outermost wrapper itself died by a signal that we did not send: nothing inside
            # the sandbox can do that (it cannot see or signal it), so the run did not end by its own exit
            who, sig = killed_by(self._kill_reason, oom, -rc if rc < 0 else None, rc)
            code = None if who is not None else rc
            self._result = self._final_result(exit_code=code, tail=tail, oom=oom, who=who, sig=sig,
                                              limits_mode=self.limits_mode)
        except BaseException as e:  # never leave waiters hanging
            log.exception("sandbox %s: watcher failed", self.run_id)
            self._result = ExecResult(
                exit_code=None,
                output_tail=f"{self.output_tail(self._tail_bytes)}\n[sandbox watcher failed: {e}]",
                output_bytes=self._seen,
                duration_sec=self.elapsed(),
                limits_mode=self.limits_mode,
            )
        finally:
            self._finished()

    def _cleanup_cgroup(self) -> None:
        if self._cgroup is not None:
            self._cgroup.kill_all()
            self._cgroup.remove()

    def _close_output(self) -> None:
        with self._lock:
            log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

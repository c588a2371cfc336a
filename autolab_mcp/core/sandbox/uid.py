"""The uid backend: a command as an unprivileged uid in THIS (disposable) container, no namespaces.

Why it exists: a Harbor verifier container (`autolab-mcp export harbor`) usually cannot create
namespaces (no CAP_SYS_ADMIN, no user namespaces under the engine's seccomp profile), so bubblewrap
fails there, yet the candidate's code must still not run as root next to the hidden tests and the
reward file. This backend is the fallback the export's shim (scorer/harbor_shim.py) picks then.

What it does, per run (root only; the command never runs as root):
- the request's paths are made by symlinks in the container's own tree: the workdir (/workspace or
  /app) -> the workspace, each mount target (/output, /inputs/NAME, ...) -> its source, /opt/runtime
  -> the runtime; a path that exists as a real file or non-empty directory is refused, and what was
  there (a symlink, an empty directory) is put back after the run;
- chain, each exec'ing the next (one pid, its own session and process group): `prlimit` (address
  space, processes, file size, no core) -> `taskset` (off the timing core, or pinned) -> `setpriv`
  (real uid/gid, no groups, no capabilities, no_new_privs) -> a python launcher that installs the
  seccomp filter (seccomp.py: fake locks, no threads, no user namespaces) -> `bash -c command`;
- the wall limit kills the process group and then every process of the run's uid descending from
  this process (this process is a child subreaper, so double-forked orphans stay below it);
- read_only_paths become root-owned 0444 copies from the pristine tree, in root-owned sticky (1777)
  directories, so the uid can neither write, rename nor delete them.

What it does NOT give (hence only for a container that is thrown away after one verification):
no mount, pid, network or IPC isolation beyond what the container has, the container's shared /tmp,
no cgroups (rlimits only; RLIMIT_NPROC counts every process of the uid), no freezer; a read-only
mount is read-only only because its source is not the uid's to write (checked at the top only).
Sources must be reachable by the uid (every parent searchable), which is checked. One run at a time
per process: the kill by uid must not hit a neighbour.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import posixpath
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

from autolab_mcp.core.sandbox.base import RUNTIME_MOUNT, ExecRequest, ExecResult, SandboxError
from autolab_mcp.core.sandbox.bwrap_argv import HOST_ENV, MiB, cores_for
from autolab_mcp.core.sandbox.checks import PROVIDED, check_request
from autolab_mcp.core.sandbox.common import DISK_CHECK_SEC, KillReason, RunningSandboxBase, killed_by, usage_exceeds
from autolab_mcp.core.sandbox.seccomp import sandbox_program

__all__ = ["NOBODY_UID", "UidBackend", "UidProcess"]

log = logging.getLogger("autolab_mcp.core.sandbox.uid")

#: the default uid (nobody): used when the request names none
NOBODY_UID = 65534
_PYTHON = "/usr/bin/python3"
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
_PR_SET_CHILD_SUBREAPER = 36
#: runs as the uid, after setpriv (no_new_privs is set, so an unprivileged filter may be installed)
_LAUNCHER = r"""
import ctypes, os, sys
prog = bytes.fromhex(sys.argv[1])
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
libc = ctypes.CDLL(None, use_errno=True)
u = ctypes.c_ulong
fprog = Fprog(len(prog) // 8, prog)
if libc.prctl(38, u(1), u(0), u(0), u(0)) or libc.prctl(22, u(2), ctypes.byref(fprog), u(0), u(0)):
    os.write(2, b"autolab sandbox: could not install the seccomp filter; the command did not run\n")
    os._exit(121)
os.execv("/bin/bash", ["/bin/bash", "-c", sys.argv[2]])
"""
_run_ids = itertools.count(1)
_one_run = threading.Lock()


def _make_subreaper() -> None:
    """Orphans of a sandbox (double forks, setsid) are reparented here rather than to pid 1, so the
    sweep below still finds them by ancestry."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)):
        raise SandboxError(f"uid backend: cannot become a child subreaper: {os.strerror(ctypes.get_errno())}")


def _processes() -> dict[int, tuple[int, set[int]]]:
    """pid -> (parent pid, {real, effective uid}) of every process visible here (no uid for a zombie: it
    is dead already, and stays listed only until its parent reaps it)."""
    table: dict[int, tuple[int, set[int]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            uids = fields["Uid"].split()
            zombie = fields["State"].split()[0] in ("Z", "X")
            table[int(entry)] = (int(fields["PPid"]), set() if zombie else {int(uids[0]), int(uids[1])})
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return table


def kill_descendants(uid: int, root: int | None = None) -> list[int]:
    """SIGKILL every process running as `uid` that descends from `root` (default: this process);
    returns their pids. Repeated until none is left (a fork racing the kill)."""
    root = os.getpid() if root is None else root
    killed: list[int] = []
    for _ in range(50):
        table = _processes()
        mine = []
        for pid, (ppid, uids) in table.items():
            seen = set()
            while ppid not in (root, 0, 1) and ppid in table and ppid not in seen:
                seen.add(ppid)
                ppid = table[ppid][0]
            if ppid == root and uid in uids:
                mine.append(pid)
        if not mine:
            break
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    return killed


def _reachable(path: Path, uid: int) -> bool:
    """Whether `uid` (gid = uid, no groups) can search every directory down to `path` and reach it."""
    real = Path(os.path.realpath(path))
    for directory in [*reversed(real.parents), *([real] if real.is_dir() else [])]:
        st = os.stat(directory)
        bits = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == uid else stat.S_IXOTH
        if not st.st_mode & bits:
            return False
    return True


def _writable_by(path: Path, uid: int) -> bool:
    st = os.stat(path)
    return st.st_uid == uid or bool(st.st_mode & stat.S_IWOTH) or (st.st_gid == uid and bool(st.st_mode & stat.S_IWGRP))


class UidBackend:
    """Runs each command as an unprivileged uid in this container (see the module's limits)."""

    name = "uid"
    limits_mode = "rlimit"

    def __init__(self, *, uid: int = NOBODY_UID, tail_bytes: int = 4096) -> None:
        if os.geteuid() != 0:
            raise SandboxError("uid backend needs root: it runs each command as another, unprivileged uid")
        if uid == 0:
            raise SandboxError("uid backend: refusing to run commands as uid 0")
        tools = {t: shutil.which(t, path=HOST_ENV["PATH"]) for t in ("prlimit", "setpriv", "taskset")}
        if missing := [t for t, p in tools.items() if p is None]:
            raise SandboxError(f"uid backend needs {', '.join(missing)} on PATH (apt: util-linux)")
        self.tools: dict[str, str] = {t: str(p) for t, p in tools.items()}
        self.uid = uid
        self.tail_bytes = tail_bytes
        _make_subreaper()

    def start(self, request: ExecRequest) -> UidProcess:
        return UidProcess(self, request)

    def run(self, request: ExecRequest) -> ExecResult:
        result = self.start(request).wait()
        assert result is not None
        return result

    def uid_for(self, request: ExecRequest) -> int:
        uid = self.uid if request.uid is None else request.uid
        if uid == 0:
            raise SandboxError("refusing to run as uid 0")
        return uid

    def argv(self, request: ExecRequest, uid: int) -> list[str]:
        """The chain prlimit -> taskset -> setpriv -> [seccomp launcher] -> bash -c command."""
        lim = request.limits
        argv = [self.tools["prlimit"], f"--as={lim.memory_mb * MiB}", f"--nproc={lim.pids}",
                f"--fsize={lim.file_mb * MiB}", "--core=0", "--"]
        cores = cores_for(request)
        if cores is not None:
            argv += [self.tools["taskset"], "-c", ",".join(map(str, cores))]
        argv += [self.tools["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--"]
        program = sandbox_program(fake_file_locks=request.fake_file_locks, forbid_threads=request.forbid_threads)
        if program is None or not os.access(_PYTHON, os.X_OK):
            if request.fake_file_locks or request.forbid_threads:
                raise SandboxError("uid backend: no seccomp filter here (unknown ABI or no /usr/bin/python3): "
                                   "cannot fake file locks or forbid threads")
            return [*argv, "/bin/bash", "-c", request.command]
        return [*argv, _PYTHON, "-I", "-S", "-c", _LAUNCHER, program.hex(), request.command]


class _Links:
    """The request's paths as symlinks in this container, and what they replaced (put back by undo)."""

    def __init__(self) -> None:
        self._made: list[tuple[str, str | None]] = []  # (target, previous symlink text or "" for an empty dir)

    def link(self, target: str, source: Path) -> None:
        if os.path.lexists(target):
            if os.path.islink(target):
                previous: str | None = os.readlink(target)
                os.unlink(target)
            elif os.path.isdir(target) and not os.listdir(target):
                previous = ""
                os.rmdir(target)
            else:
                raise SandboxError(f"uid backend: {target} exists in this container; it maps paths by symlinks "
                                   "and never replaces a real file or a non-empty directory")
        else:
            previous = None
            os.makedirs(posixpath.dirname(target), mode=0o755, exist_ok=True)
        self._made.append((target, previous))
        os.symlink(os.path.abspath(source), target)

    def undo(self) -> None:
        for target, previous in reversed(self._made):
            try:
                os.unlink(target)
                if previous == "":
                    os.mkdir(target, 0o755)
                elif previous is not None:
                    os.symlink(previous, target)
            except OSError as e:
                log.warning("uid backend: could not restore %s: %s", target, e)
        self._made.clear()


def _seal_read_only(request: ExecRequest) -> None:
    """Each read-only path: a root-owned 0444 copy of the pristine file, in root-owned 1777 directories."""
    source_root = request.read_only_root or request.workspace
    for rel in dict.fromkeys(posixpath.normpath(p) for p in request.read_only_paths):
        if rel.startswith(("/", "../")) or rel in (".", ".."):
            raise SandboxError(f"read-only path {rel!r} is not inside the workspace")
        source = source_root / rel
        if source.is_symlink() or not source.is_file():
            continue
        target = request.workspace / rel
        parts = Path(rel).parts
        for depth in range(len(parts)):
            directory = request.workspace.joinpath(*parts[:depth])
            if directory.is_symlink():
                raise SandboxError(f"read-only path {rel!r} lies under a link")
            directory.mkdir(exist_ok=True)
            os.chown(directory, 0, 0)
            os.chmod(directory, 0o1777)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(source, target, follow_symlinks=False)
        os.chown(target, 0, 0)
        os.chmod(target, 0o444)


class UidProcess(RunningSandboxBase):
    """One run: a reader thread drains the output, a watcher enforces the wall and disk limits."""

    def __init__(self, backend: UidBackend, request: ExecRequest) -> None:
        check_request(request, PROVIDED)
        super().__init__(request, backend.tail_bytes)
        self.run_id = f"uid-{os.getpid()}-{next(_run_ids)}-{secrets.token_hex(3)}"
        self.limits_mode = "rlimit"
        self._uid = backend.uid_for(request)
        if request.cpu is not None and request.cpu not in os.sched_getaffinity(0):
            raise SandboxError(f"cpu {request.cpu} is not available (have {sorted(os.sched_getaffinity(0))})")
        if not _one_run.acquire(blocking=False):
            raise SandboxError("uid backend runs one sandbox at a time per process (it kills by uid)")
        self._holding = True
        self._links = _Links()
        try:
            argv = backend.argv(request, self._uid)
            self._map_paths(request)
            _seal_read_only(request)
            if request.log_path is not None:
                request.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(request.log_path, "wb")  # noqa: SIM115 (closed by the watcher)
            path = f"{RUNTIME_MOUNT}/bin:{_SANDBOX_PATH}" if request.runtime is not None else _SANDBOX_PATH
            env = {"PATH": path, "HOME": "/tmp", **request.env, "PWD": request.workdir}
            self._t0 = time.monotonic()
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, env=env, cwd=request.workdir,
                                          start_new_session=True)
        except BaseException as e:
            self._release()
            if self._log is not None:
                self._log.close()
            if isinstance(e, OSError):
                raise SandboxError(f"uid backend: could not start the command: {e}") from e
            raise
        assert self._proc.stdout is not None
        self._reader = threading.Thread(target=self._read, name=f"uid-out-{self.run_id}", daemon=True)
        self._reader.start()
        self._went_live()
        threading.Thread(target=self._watch, name=f"uid-wait-{self.run_id}", daemon=True).start()

    def _map_paths(self, request: ExecRequest) -> None:
        pairs = [(request.workdir, request.workspace)]
        pairs += [(RUNTIME_MOUNT, request.runtime)] if request.runtime is not None else []
        pairs += [(m.target, m.source) for m in request.mounts]
        for target, source in pairs:
            if not _reachable(source, self._uid):
                raise SandboxError(f"uid backend: {source} (for {target}) is not reachable by uid {self._uid}: "
                                   "a parent directory is not searchable")
        for m in request.mounts:
            if m.read_only and _writable_by(m.source, self._uid):
                raise SandboxError(f"uid backend: read-only mount {m.target} has a source that uid {self._uid} "
                                   "can write; it cannot be made read-only here")
        for target, source in pairs:
            self._links.link(target, source)

    def _release(self) -> None:
        self._links.undo()
        if self._holding:
            self._holding = False
            _one_run.release()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            self._feed(data)

    def _terminate(self, reason: KillReason) -> None:
        if self._claim_kill(reason, pgid=self._proc.pid):
            self._sweep()

    def _sweep(self) -> None:
        """Kill what is left of the run (background jobs, escaped sessions) and reap the orphans."""
        for pid in kill_descendants(self._uid):
            if pid != self._proc.pid:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass  # not our child (its parent reaps it) or already reaped

    def _watch(self) -> None:
        disk_limit = self._request.limits.disk_mb * MiB
        writable = [self._request.workspace, *(m.source for m in self._request.mounts if not m.read_only)]
        try:
            while True:
                try:
                    self._proc.wait(timeout=max(0.0, min(DISK_CHECK_SEC, self._deadline() - time.monotonic())))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= self._deadline():
                        self._terminate("timeout")
                    elif usage_exceeds(writable, disk_limit):
                        self._terminate("disk")
            self._t_end = time.monotonic()
            with self._lock:
                self._exited = True
            self._sweep()
            self._reader.join(timeout=5)
            rc = self._proc.returncode
            tail = self.output_tail(self._tail_bytes)
            oom = rc != 0 and "MemoryError" in tail  # an address-space limit hit (best effort, as rlimit bwrap)
            who, sig = killed_by(self._kill_reason, oom, -rc if rc < 0 else None, rc)
            self._result = self._final_result(exit_code=None if who is not None else rc, tail=tail, oom=oom,
                                              who=who, sig=sig, limits_mode=self.limits_mode)
        except BaseException as e:  # never leave waiters hanging
            log.exception("sandbox %s: watcher failed", self.run_id)
            self._result = ExecResult(exit_code=None, output_tail=f"{self.output_tail()}\n[watcher failed: {e}]",
                                      output_bytes=self._seen, duration_sec=self.elapsed(), limits_mode="rlimit")
        finally:
            self._close()
            self._finished()

    def _close(self) -> None:
        with self._lock:
            log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._release()

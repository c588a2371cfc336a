"""Docker backend: untrusted commands in throwaway containers of a Docker-API engine.

One container per request, talking to whatever `DOCKER_HOST` names (Docker Engine, or
podman's compatible API: `eval "$(scripts/podman-service.sh start)"`). The image is an
empty root (mount points only) that the backend imports itself when missing; the host's
/usr, /etc and /bin, /lib... are bound read-only over it, so the runtime venvs built on
/usr/bin/python3 (autolab_mcp/core/runtime.py) run inside unchanged: the same view of the
system a bwrap sandbox has. The container gets no network, a read-only root, no
capabilities, no_new_privs, memory (no swap), pids and CPU limits, a sized private /tmp,
and runs as the request's uid.

Semantics follow the bwrap backend (bwrap.py): `bash -c command` in /workspace, combined
output logged up to a limit with a tail in memory, a wall limit that kills everything,
kill() from any thread, exit codes as bash reports them.

pid 1 is a small launcher run by the host's /usr/bin/python3 (bound with /usr; -I -S: no
site, no PYTHON* variables, nothing from the workspace). It installs our seccomp program
(seccomp.py, passed as hex in argv: the filter a bwrap sandbox gets, so fake_file_locks and
forbid_threads mean the same here), makes itself non-dumpable, forks `bash -c command` and
waits for it, exiting with its status as bash reports it (128+n for a signal). So the command
is not the namespace's init and its signals behave as on a host (`kill -TERM $$` -> 143);
whatever it leaves behind dies with pid 1 when it ends; and although pid 1 runs as the
command's uid, the command cannot ptrace it or read its /proc entries (root, cwd, environ),
Yama or not: in bwrap, pid 1 is root's. The filter is installed in every container, not only
those asking for the extra rules, so one code path runs for all (one Python start, small next
to a container's), and 32-bit/x32 syscalls are refused, which the engine's default profile
allows. Filters stack on the engine's own profile (the strictest answer wins), so that profile
still applies. If the filter cannot be installed the command does not run: pid 1 exits with
SECCOMP_FAILED_EXIT and says why.

Output comes over the attach stream, opened before the container starts (nothing is
missed, nothing is kept by the engine: the log driver is "none"). Read-only files come
from request.read_only_root (the pristine task) when given; taken from the workspace,
they are bound from hard links (or copies) made from an fd opened without following
symlinks, so a file swapped for a symlink after the check cannot redirect the bind.
Like bwrap, a watchdog measures the writable mounts every few seconds and kills a run
past limits.disk_mb (disk_exceeded).
podman 4 on cgroup v1 does not report OOM kills (its conmon misses the event when the
killed process ends the container), so on this host the backend also listens on the
container's memory.oom_control itself, registered before the command starts.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import posixpath
import secrets
import shutil
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from autolab_mcp.core.cores import work_cores
from autolab_mcp.core.sandbox.base import (
    RUNTIME_MOUNT,
    WORKSPACE_MOUNT,
    ExecRequest,
    ExecResult,
    SandboxError,
)
from autolab_mcp.core.sandbox.common import (
    DISK_CHECK_SEC,
    KillReason,
    RunningSandboxBase,
    check_target,
    killed_by,
    open_no_symlinks,
    usage_exceeds,
)
from autolab_mcp.core.sandbox.docker_reaper import OWNER_LABEL, owner_id
from autolab_mcp.core.sandbox.seccomp import sandbox_program

log = logging.getLogger(__name__)

_MiB = 1024 * 1024
#: Bytes of recent output kept in memory for output_tail().
#: The base image: an empty root with mount points; imported by the backend when missing.
DEFAULT_IMAGE = "localhost/autolab-hostbind:latest"
IMAGE_ENV = "AUTOLAB_DOCKER_IMAGE"
_IMAGE_DIRS = ("bin", "sbin", "lib", "lib64", "usr", "etc", "tmp", "proc", "dev", "sys", "opt", "opt/runtime",
               WORKSPACE_MOUNT.lstrip("/"))
#: Host directories bound read-only at the same place (symlinked ones, e.g. merged-/usr /bin, bind their target).
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_RESERVED = ("/proc", "/dev", "/sys", "/tmp", WORKSPACE_MOUNT, RUNTIME_MOUNT)
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Engines refuse to start a container whose rlimits exceed their own hard limits; these fit any usual host.
_NOFILE = 4096
_NPROC = 16384  # per uid across all its sandboxes; the pids limit bounds each one
#: Exit status of pid 1 when the seccomp program could not be installed (the command never ran).
SECCOMP_FAILED_EXIT = 121
_PYTHON = "/usr/bin/python3"
#: pid 1; argv: [program hex ("": no filter known for this ABI), command]. prctl(PR_SET_NO_NEW_PRIVS)
#: (the engine sets it already; a filter needs it), prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
#: &sock_fprog), prctl(PR_SET_DUMPABLE, 0). Python ignores SIGPIPE and SIGXFSZ and handles SIGINT;
#: all three go back to the default (ignored signals survive exec; a namespace init ignores
#: default-action signals from inside, as a bash pid 1 did). Orphans are reaped while waiting.
_LAUNCHER = r"""
import os, signal, sys
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    u = ctypes.c_ulong
    def prctl(*args):
        if libc.prctl(*args):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    prog = bytes.fromhex(sys.argv[1])
    if prog:
        class Fprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
        fprog = Fprog(len(prog) // 8, prog)
        prctl(38, u(1), u(0), u(0), u(0))
        prctl(22, u(2), ctypes.byref(fprog), u(0), u(0))
    prctl(4, u(0), u(0), u(0), u(0))
except BaseException as e:
    os.write(2, f"autolab sandbox: could not install the seccomp filter ({e!r}); the command did not run\n".encode())
    os._exit(SECCOMP_FAILED_EXIT)
for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
    signal.signal(sig, signal.SIG_DFL)
child = os.fork()
if child == 0:
    try:
        os.execv("/bin/bash", ["/bin/bash", "-c", sys.argv[2]])
    finally:
        os._exit(127)
while True:
    pid, status = os.wait()
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
""".replace("SECCOMP_FAILED_EXIT", str(SECCOMP_FAILED_EXIT))
_LABEL = "org.autolab-mcp.sandbox"
_STATE_TIMEOUT = 15.0
_run_ids = itertools.count(1)


def _engine_hint() -> str:
    host = os.environ.get("DOCKER_HOST") or "unset, so the default unix:///var/run/docker.sock"
    return (
        f"DOCKER_HOST={host}. Start an engine with `eval \"$(scripts/podman-service.sh start)\"` "
        "(rootful podman serving the Docker API; as root), or point DOCKER_HOST at a Docker engine"
    )


def _image_tar() -> bytes:
    """An image with nothing but the mount points (the host's system dirs are bound over them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in _IMAGE_DIRS:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
    return buffer.getvalue()


def _bind(source: str | Path, target: str, read_only: bool) -> Any:
    from docker.types import Mount as DockerMount

    return DockerMount(target=target, source=str(source), type="bind", read_only=read_only)


def _ulimit(name: str, value: int) -> Any:
    from docker.types import Ulimit

    return Ulimit(name=name, soft=value, hard=value)


def _api_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


class _OomWatch:
    """An eventfd on a cgroup v1 memory.oom_control (cgroup.event_control), on this host.

    The kernel signals it on every OOM in the cgroup and once more when the cgroup is
    removed, so: count >= 2, or count 1 while the cgroup still exists, means an OOM.
    """

    def __init__(self, cgroup_dir: Path) -> None:
        self._dir = cgroup_dir
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            self._ofd = os.open(cgroup_dir / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(self._efd)
            raise
        try:
            (cgroup_dir / "cgroup.event_control").write_text(f"{self._efd} {self._ofd}")
        except OSError:
            self.close()
            raise
        self._count = 0

    @classmethod
    def for_container(cls, pid: int, container_id: str) -> _OomWatch | None:
        """The watch for a container whose (init) process is `pid` here, if it runs on this host under v1."""
        if pid <= 0 or os.geteuid() != 0:
            return None
        try:
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                _, ctrls, path = line.split(":", 2)
                if "memory" not in ctrls.split(","):
                    continue
                if container_id not in path:  # a pid of another host (remote engine) or a recycled one
                    return None
                cgroup_dir = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
                if not (cgroup_dir / "cgroup.event_control").exists():
                    return None
                return cls(cgroup_dir)
        except (OSError, ValueError) as e:
            log.debug("no OOM watch for %s: %s", container_id[:12], e)
        return None

    def fired(self) -> bool:
        with contextlib.suppress(BlockingIOError, OSError):
            self._count += os.eventfd_read(self._efd)
        if self._count == 0:
            return False
        return self._count >= 2 or (self._dir / "cgroup.event_control").exists()

    def close(self) -> None:
        for fd in (self._efd, getattr(self, "_ofd", -1)):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._efd = self._ofd = -1


# --------------------------------------------------------------------------- backend


class DockerBackend:
    """Runs each command in a fresh container of a Docker-API engine (Docker Engine or podman)."""

    name = "docker"
    limits_mode: Literal["container"] = "container"

    def __init__(self, *, image: str | None = None, client: Any = None, tail_bytes: int = 4096,
                 api_timeout: float = 120.0) -> None:
        """`image`: the base image (default $AUTOLAB_DOCKER_IMAGE, else DEFAULT_IMAGE, imported when missing).
        `client`: a docker.DockerClient (default: docker.from_env(), which honours DOCKER_HOST)."""
        try:
            import docker
            import docker.errors
        except ImportError as e:  # pragma: no cover - a dependency of the project
            raise SandboxError("the docker backend needs the `docker` Python package (pip install docker)") from e
        self._errors = docker.errors
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.tail_bytes = tail_bytes
        try:
            self._client = client or docker.from_env(timeout=int(api_timeout), max_pool_size=64)
            self._client.ping()
            info = self._client.info()
        except Exception as e:  # DockerException, requests' ConnectionError, socket errors...
            raise SandboxError(f"docker backend: no container engine reachable ({_api_message(e)}). "
                               f"{_engine_hint()}") from e
        self._api = self._client.api
        #: what serves DOCKER_HOST, for logs (e.g. "debian, 4.3.1" for podman)
        self.engine = f"{info.get('OperatingSystem') or '?'}, {info.get('ServerVersion') or '?'}"
        self._ncpu = int(info.get("NCPU") or os.cpu_count() or 1)
        #: the engine's machine (whose syscall numbers the filter needs): "amd64" from podman, "x86_64" from Docker
        self._machine = str(info.get("Architecture") or "") or None
        if sandbox_program(self._machine) is None:
            log.warning("no seccomp filter for %s: containers run under the engine's profile only", self._machine)
        self._root = os.geteuid() == 0
        self._image_lock = threading.Lock()
        self._image_ok = False
        self._ensure_image()

    # -- protocol

    def start(self, request: ExecRequest) -> DockerProcess:
        return DockerProcess(self, request)

    def run(self, request: ExecRequest) -> ExecResult:
        result = self.start(request).wait()
        assert result is not None
        return result

    # -- helpers (used by DockerProcess)

    def _ensure_image(self) -> None:
        with self._image_lock:
            if self._image_ok:
                return
            try:
                self._api.inspect_image(self.image)
            except self._errors.ImageNotFound:
                if "autolab-hostbind" not in self.image:  # only our own empty image is made here
                    raise SandboxError(f"docker image {self.image} not found on the engine") from None
                self._import_image()
            except self._errors.DockerException as e:
                raise SandboxError(f"docker backend: cannot inspect image {self.image}: {_api_message(e)}") from e
            self._image_ok = True

    def _import_image(self) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(self.image)
        log.info("importing the empty base image %s", self.image)
        try:
            self._api.import_image_from_data(_image_tar(), repository=repository, tag=tag or "latest")
            self._api.inspect_image(self.image)
        except self._errors.DockerException as e:
            raise SandboxError(f"docker backend: could not create the base image {self.image}: "
                               f"{_api_message(e)}") from e

    def _uid(self, request: ExecRequest) -> int:
        return request.uid if self._root and request.uid is not None else os.geteuid()

    def _validate(self, request: ExecRequest) -> None:
        if not request.workspace.is_dir():
            raise SandboxError(f"workspace {request.workspace} is not a directory")
        if request.runtime is not None and not request.runtime.is_dir():
            raise SandboxError(f"runtime {request.runtime} is not a directory")
        for m in request.mounts:
            check_target(m.target)
            for reserved in (*_SYSTEM_DIRS, *_RESERVED):
                if m.target == reserved or (reserved not in ("/tmp", WORKSPACE_MOUNT)
                                            and m.target.startswith(reserved + "/")):
                    raise SandboxError(f"mount target {m.target} overlaps {reserved}, which the sandbox provides")
            if not m.source.exists():
                raise SandboxError(f"mount source {m.source} does not exist")
        for k, v in request.env.items():
            if not k or "=" in k or "\0" in k or "\0" in v:
                raise SandboxError(f"invalid environment variable {k!r}")
        if request.cpu is not None and not 0 <= request.cpu < self._ncpu:
            raise SandboxError(f"cpu {request.cpu} is not available (the engine has cpus 0-{self._ncpu - 1})")
        if self._root and request.uid == 0:
            raise SandboxError("refusing to run as uid 0; pass uid=None to keep the server's uid")
        if (request.fake_file_locks or request.forbid_threads) and self._program(request) is None:
            raise SandboxError(f"no seccomp filter for {self._machine}: cannot fake file locks or forbid threads")

    def _program(self, request: ExecRequest) -> bytes | None:
        return sandbox_program(self._machine, fake_file_locks=request.fake_file_locks,
                               forbid_threads=request.forbid_threads)

    def _command(self, request: ExecRequest) -> list[str]:
        """pid 1's argv: the launcher, the filter (none where the ABI is unknown: _validate refused the
        requests that need one), the command."""
        program = self._program(request) or b""
        return [_PYTHON, "-I", "-S", "-c", _LAUNCHER, program.hex(), request.command]

    def _container_config(self, request: ExecRequest, ro_binds: list[tuple[Path, str]],
                          run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(create_container kwargs, create_host_config kwargs) for one request."""
        lim = request.limits
        mounts = []
        for d in _SYSTEM_DIRS:
            if os.path.isdir(d):
                mounts.append(_bind(d, d, True))
        mounts.append(_bind(request.workspace.absolute(), WORKSPACE_MOUNT, False))
        for source, rel in ro_binds:
            mounts.append(_bind(source, posixpath.join(WORKSPACE_MOUNT, rel), True))
        if request.runtime is not None:
            mounts.append(_bind(request.runtime.absolute(), RUNTIME_MOUNT, True))
        for m in request.mounts:
            mounts.append(_bind(m.source.absolute(), m.target, m.read_only))
        path = f"{RUNTIME_MOUNT}/bin:{_SANDBOX_PATH}" if request.runtime is not None else _SANDBOX_PATH
        env = {"PATH": path, "HOME": "/tmp", **request.env}
        uid = self._uid(request)
        host: dict[str, Any] = {
            "mounts": mounts,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": lim.memory_mb * _MiB,
            "memswap_limit": lim.memory_mb * _MiB,
            "pids_limit": lim.pids,
            # /sys masked by an empty read-only tmpfs (bwrap gives none): the engine would bind the host's
            # sysfs; what stays is the engine's read-only view of the container's own cgroups
            "tmpfs": {"/tmp": f"size={lim.tmp_mb}m,mode=1777", "/sys": "size=4k,mode=0555,ro"},
            "shm_size": min(lim.tmp_mb, 64) * _MiB,
            "ulimits": [_ulimit("fsize", lim.file_mb * _MiB), _ulimit("core", 0),
                        _ulimit("nofile", _NOFILE), _ulimit("nproc", max(_NPROC, lim.pids))],
            "log_config": {"Type": "none", "Config": {}},
        }
        if request.cpu is not None:
            host["cpuset_cpus"] = str(request.cpu)  # timing: pinned, no quota
        else:
            host["nano_cpus"] = int(lim.cpus * 1e9)
            if (cores := work_cores(lim.cpus)) is not None:
                host["cpuset_cpus"] = ",".join(map(str, cores))  # off the timing core (autolab_mcp.core.cores)
        create: dict[str, Any] = {
            "image": self.image,
            "command": self._command(request),
            "user": f"{uid}:{uid}",
            "working_dir": WORKSPACE_MOUNT,
            "environment": env,
            "hostname": "sandbox",
            "network_disabled": True,
            "stdin_open": False,
            "tty": False,
            "labels": {_LABEL: run_id, OWNER_LABEL: owner_id()},
            "name": f"autolab-{run_id}",
        }
        return create, host


class DockerProcess(RunningSandboxBase):
    """One running container: a reader thread drains the attach stream, a watcher enforces the wall limit."""

    def __init__(self, backend: DockerBackend, request: ExecRequest) -> None:
        backend._validate(request)
        super().__init__(request, backend.tail_bytes)
        self._backend = backend
        self._api = backend._api
        self._errors = backend._errors
        self._eof = threading.Event()
        self._sock: Any = None
        self._oom: _OomWatch | None = None
        self._staging: Path | None = None
        self.container_id: str | None = None
        self.run_id = f"{os.getpid()}-{next(_run_ids)}-{secrets.token_hex(3)}"
        self._eof_at: float | None = None  # when the attach stream ended cleanly (the command's end)

        backend._ensure_image()
        try:
            try:
                ro_binds = self._stage_read_only(request)
            except OSError as e:
                raise SandboxError(f"docker backend could not stage the read-only files: {e}") from e
            create, host = backend._container_config(request, ro_binds, self.run_id)
            try:
                host_config = self._api.create_host_config(**host)
                try:
                    self.container_id = self._api.create_container(host_config=host_config, **create)["Id"]
                except self._errors.ImageNotFound:  # removed from the engine since: import it again, once
                    backend._image_ok = False
                    backend._ensure_image()
                    self.container_id = self._api.create_container(host_config=host_config, **create)["Id"]
                # Attach before start: podman sets the container up here (runc create), Docker at start.
                self._sock = self._attach()
                self._oom = _OomWatch.for_container(self._pid(), self.container_id)
                if request.log_path is not None:
                    request.log_path.parent.mkdir(parents=True, exist_ok=True)
                    self._log = open(request.log_path, "wb")  # noqa: SIM115 (closed by the watcher)
                self._t0 = time.monotonic()
                self._api.start(self.container_id)
            except self._errors.DockerException as e:
                raise SandboxError(f"docker backend could not start the sandbox: {_api_message(e)}") from e
            except OSError as e:
                raise SandboxError(f"docker backend could not start the sandbox: {e}") from e
            if self._oom is None:  # Docker Engine creates the process only at start
                self._oom = _OomWatch.for_container(self._pid(), self.container_id)
        except BaseException:
            self._cleanup()
            raise
        self._reader = threading.Thread(target=self._read_output, name=f"docker-out-{self.run_id}", daemon=True)
        self._reader.start()
        self._went_live()
        threading.Thread(target=self._watch, name=f"docker-wait-{self.run_id}", daemon=True).start()

    # -- setup

    def _stage_read_only(self, request: ExecRequest) -> list[tuple[Path, str]]:
        """(host file, workspace-relative target) for each read-only file that is a regular file
        reached without symlinks. Taken from request.read_only_root (the pristine task, which the
        agent cannot change) as is; taken from the workspace through hard links (or copies) made
        from the checked fd, in a private directory, so what gets bound is what was checked."""
        binds: list[tuple[Path, str]] = []
        root = request.read_only_root or request.workspace
        for rel in dict.fromkeys(request.read_only_paths):
            fd = open_no_symlinks(root, rel)
            if fd is None:
                continue
            try:
                if request.read_only_root is not None:
                    binds.append((request.read_only_root.absolute() / posixpath.normpath(rel), posixpath.normpath(rel)))
                    continue
                if self._staging is None:
                    self._staging = self._make_staging(request.workspace)
                dest = self._staging / str(len(binds))
                try:
                    os.link(f"/proc/self/fd/{fd}", dest, follow_symlinks=True)
                except OSError:  # another filesystem, or not allowed to link: copy what the fd holds
                    with open(f"/proc/self/fd/{fd}", "rb") as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
                    os.chmod(dest, os.fstat(fd).st_mode & 0o7777)
                binds.append((dest, posixpath.normpath(rel)))
            finally:
                os.close(fd)
        return binds

    @staticmethod
    def _make_staging(workspace: Path) -> Path:
        # Next to the workspace (same filesystem, so links work); the temp dir when that is not writable.
        for parent in (workspace.absolute().parent, None):
            try:
                return Path(tempfile.mkdtemp(prefix=".autolab-ro-", dir=parent))
            except OSError:
                if parent is None:
                    raise
        raise AssertionError("unreachable")

    def _attach(self) -> Any:
        raw = self._api.attach_socket(self.container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
        sock = getattr(raw, "_sock", raw)
        sock.settimeout(0.2)
        return sock

    def _pid(self) -> int:
        try:
            return int(self._api.inspect_container(self.container_id)["State"].get("Pid") or 0)
        except self._errors.DockerException:
            return 0

    # -- running

    def _read_output(self) -> None:
        """Demultiplex the attach stream (8-byte frame headers) into the log and the tail."""
        buf = bytearray()
        try:
            while True:
                try:
                    data = self._sock.recv(65536)
                except TimeoutError:  # socket.timeout: nothing arrived within 0.2 s
                    if self._stop_reading.is_set():
                        return
                    continue
                except (OSError, ValueError, AttributeError):
                    return
                if not data:
                    self._eof_at = time.monotonic()
                    return
                buf += data
                pos = 0
                while len(buf) - pos >= 8:
                    size = int.from_bytes(buf[pos + 4:pos + 8], "big")
                    if len(buf) - pos - 8 < size:
                        break
                    self._feed(bytes(buf[pos + 8:pos + 8 + size]))
                    pos += 8 + size
                del buf[:pos]
        finally:
            self._eof.set()

    def _terminate(self, reason: KillReason) -> None:
        with self._lock:
            if self._exited:
                return
            if self._kill_reason is None:
                self._kill_reason = reason
        self.thaw()  # a paused container cannot be killed on every engine
        try:
            self._api.kill(self.container_id)  # SIGKILL to pid 1 takes the whole pid namespace along
        except self._errors.NotFound:
            pass
        except Exception as e:  # already stopped (409), or the engine is unreachable: the watcher reports it
            log.debug("sandbox %s: kill: %s", self.run_id, _api_message(e))

    def _state(self) -> dict[str, Any] | None:
        """The container's state once it has stopped, else None."""
        st = self._api.inspect_container(self.container_id)["State"]
        if st.get("Running") or st.get("Status") not in ("exited", "stopped", "dead"):
            return None
        return st

    def _set_frozen(self, frozen: bool) -> bool:
        """`docker pause` / `unpause` (the cgroup freezer under the engine; podman does it on cgroups v1)."""
        try:
            (self._api.pause if frozen else self._api.unpause)(self.container_id)
            return True
        except Exception as e:  # not running any more, or the engine cannot pause: then it is not frozen
            log.warning("sandbox %s: could not %s: %s", self.run_id, "pause" if frozen else "unpause",
                        _api_message(e))
            return False

    def _watch(self) -> None:
        state: dict[str, Any] | None = None
        try:
            # The attach stream ends when pid 1 exits (and with it every process of the container);
            # meanwhile the writable mounts are measured every few seconds, like bwrap does.
            disk_limit = self._request.limits.disk_mb * _MiB
            writable = [self._request.workspace, *(m.source for m in self._request.mounts if not m.read_only)]
            while not self._eof.wait(max(0.0, min(DISK_CHECK_SEC, self._deadline() - time.monotonic()))):
                if time.monotonic() >= self._deadline():
                    self._terminate("timeout")
                    break
                if usage_exceeds(writable, disk_limit):
                    self._terminate("disk")
                    break
            self.thaw()
            deadline = self._deadline()
            delay = 0.005
            while True:
                try:
                    state = self._state()
                except self._errors.NotFound:
                    break
                except Exception as e:  # a hiccup of the engine: retry until well past the deadline
                    if time.monotonic() > deadline + 4 * _STATE_TIMEOUT:
                        raise
                    log.warning("sandbox %s: cannot inspect the container: %s", self.run_id, _api_message(e))
                if state is not None:
                    break
                now = time.monotonic()
                if now >= deadline and self._kill_reason is None:
                    self._terminate("timeout")
                elif now >= deadline + _STATE_TIMEOUT:
                    self._terminate(self._kill_reason or "timeout")
                    log.warning("sandbox %s: container still running %.0fs after its kill", self.run_id,
                                now - deadline)
                    if now >= deadline + 4 * _STATE_TIMEOUT:
                        break
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
            self._t_end = self._eof_at or time.monotonic()
            with self._lock:
                self._exited = True
            oom = bool(state and state.get("OOMKilled"))
            if self._oom is not None and self._oom.fired():
                oom = True
            self._stop_reading.set()
            self._reader.join(timeout=5)
            exit_code = int(state.get("ExitCode", -1)) if state is not None else None
            who, sig = killed_by(self._kill_reason, oom, None, exit_code)
            code = None
            if who is None and state is not None:
                code = exit_code
            elif who is None:  # the container vanished without a state: removed behind our back
                who, sig = "unknown", None
            self._cleanup()
            self._result = ExecResult(
                exit_code=code,
                output_tail=self.output_tail(self._tail_bytes),
                output_bytes=self._seen,
                output_truncated=self._seen > self._logged,
                duration_sec=self._t_end - self._t0 - self._frozen_total,
                timed_out=self._kill_reason == "timeout",
                cancelled=self._kill_reason == "cancelled",
                disk_exceeded=self._kill_reason == "disk",
                oom_killed=oom,
                killed_by=who,
                signal=sig,
                limits_mode="container",
            )
        except BaseException as e:  # never leave waiters hanging
            log.exception("sandbox %s: watcher failed", self.run_id)
            self._cleanup()
            self._result = ExecResult(
                exit_code=None,
                output_tail=f"{self.output_tail(self._tail_bytes)}\n[sandbox watcher failed: {e}]",
                output_bytes=self._seen,
                duration_sec=self.elapsed(),
                limits_mode="container",
            )
        finally:
            self._finished()

    def _cleanup(self) -> None:
        """Remove the container (forced: it may still run after a failed setup), close everything."""
        if self.container_id is not None:
            try:
                self._api.remove_container(self.container_id, force=True, v=True)
            except self._errors.NotFound:
                pass
            except Exception as e:  # never let cleanup hide the result; the label finds leftovers
                log.warning("sandbox %s: could not remove container %s: %s", self.run_id, self.container_id[:12],
                            _api_message(e))
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()
        if self._oom is not None:
            self._oom.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

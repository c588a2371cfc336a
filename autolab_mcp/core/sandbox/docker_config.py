"""What a container is made of, for one request: checks, pid 1's launcher, mounts, limits (docker.py).

The host's /usr, /etc and /bin, /lib... are bound read-only over an empty image, with the
workspace read-write, read-only files over it, the runtime venv and the request's mounts; no
network, a read-only root, no capabilities, no_new_privs, memory (no swap), pids and CPU limits,
a sized private /tmp and /dev/shm, the request's uid. pid 1 is the launcher below (see docker.py
for why it exists and what it guarantees).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autolab_mcp.core.cores import work_cores
from autolab_mcp.core.sandbox.base import RUNTIME_MOUNT, ExecRequest, SandboxError
from autolab_mcp.core.sandbox.checks import PROVIDED, SYSTEM_DIRS, check_request
from autolab_mcp.core.sandbox.docker_reaper import OWNER_LABEL, owner_id
from autolab_mcp.core.sandbox.seccomp import sandbox_program

MiB = 1024 * 1024
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
#: Label carrying the run id of every container the backend starts (leftovers are found by it).
LABEL = "org.autolab-mcp.sandbox"


def _bind(source: str | Path, target: str, read_only: bool) -> Any:
    from docker.types import Mount as DockerMount

    return DockerMount(target=target, source=str(source), type="bind", read_only=read_only)


def _ulimit(name: str, value: int) -> Any:
    from docker.types import Ulimit

    return Ulimit(name=name, soft=value, hard=value)



class ContainerSpec:
    """Checks requests and makes their container configuration, for one engine and base image.

    `ncpu` and `machine`: what the engine reports (its cpus; its architecture, whose syscall numbers
    the seccomp filter needs); `root`: whether the server is root (then the request's uid is used).
    """

    def __init__(self, image: str, *, ncpu: int, machine: str | None, root: bool,
                 program: Callable[[ExecRequest], bytes | None] | None = None) -> None:
        """`program`: where a request's seccomp program comes from (default: default_program)."""
        self.image = image
        self.ncpu = ncpu
        self.machine = machine
        self.root = root
        self._program = program or self.default_program

    def uid(self, request: ExecRequest) -> int:
        return request.uid if self.root and request.uid is not None else os.geteuid()

    def validate(self, request: ExecRequest) -> None:
        check_request(request, PROVIDED)
        if request.cpu is not None and not 0 <= request.cpu < self.ncpu:
            raise SandboxError(f"cpu {request.cpu} is not available (the engine has cpus 0-{self.ncpu - 1})")
        if self.root and request.uid == 0:
            raise SandboxError("refusing to run as uid 0; pass uid=None to keep the server's uid")
        if (request.fake_file_locks or request.forbid_threads) and self.program(request) is None:
            raise SandboxError(f"no seccomp filter for {self.machine}: cannot fake file locks or forbid threads")

    def default_program(self, request: ExecRequest) -> bytes | None:
        """The filter a bwrap sandbox gets, for the engine's machine (None: no filter for that ABI)."""
        return sandbox_program(self.machine, fake_file_locks=request.fake_file_locks,
                               forbid_threads=request.forbid_threads)

    def program(self, request: ExecRequest) -> bytes | None:
        return self._program(request)

    def command(self, request: ExecRequest) -> list[str]:
        """pid 1's argv: the launcher, the filter (none where the ABI is unknown: validate() refused the
        requests that need one), the command."""
        program = self.program(request) or b""
        return [_PYTHON, "-I", "-S", "-c", _LAUNCHER, program.hex(), request.command]

    def container_config(self, request: ExecRequest, ro_binds: list[tuple[Path, str]],
                          run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(create_container kwargs, create_host_config kwargs) for one request."""
        lim = request.limits
        mounts = []
        for d in SYSTEM_DIRS:
            if os.path.isdir(d):
                mounts.append(_bind(d, d, True))
        mounts.append(_bind(request.workspace.absolute(), request.workdir, False))
        for source, rel in ro_binds:
            mounts.append(_bind(source, posixpath.join(request.workdir, rel), True))
        if request.runtime is not None:
            mounts.append(_bind(request.runtime.absolute(), RUNTIME_MOUNT, True))
        for m in request.mounts:
            mounts.append(_bind(m.source.absolute(), m.target, m.read_only))
        path = f"{RUNTIME_MOUNT}/bin:{_SANDBOX_PATH}" if request.runtime is not None else _SANDBOX_PATH
        env = {"PATH": path, "HOME": "/tmp", **request.env}
        uid = self.uid(request)
        host: dict[str, Any] = {
            "mounts": mounts,
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": lim.memory_mb * MiB,
            "memswap_limit": lim.memory_mb * MiB,
            "pids_limit": lim.pids,
            # /sys masked by an empty read-only tmpfs (bwrap gives none): the engine would bind the host's
            # sysfs; what stays is the engine's read-only view of the container's own cgroups
            "tmpfs": {"/tmp": f"size={lim.tmp_mb}m,mode=1777", "/sys": "size=4k,mode=0555,ro"},
            "shm_size": min(lim.tmp_mb, 64) * MiB,
            "ulimits": [_ulimit("fsize", lim.file_mb * MiB), _ulimit("core", 0),
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
            "command": self.command(request),
            "user": f"{uid}:{uid}",
            "working_dir": request.workdir,
            "environment": env,
            "hostname": "sandbox",
            "network_disabled": True,
            "stdin_open": False,
            "tty": False,
            "labels": {LABEL: run_id, OWNER_LABEL: owner_id()},
            "name": f"autolab-{run_id}",
        }
        return create, host

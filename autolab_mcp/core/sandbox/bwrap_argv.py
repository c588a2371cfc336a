"""How a request becomes the host-side command line of a bubblewrap sandbox (bwrap.py).

The chain, outermost first: `sh` (joins the cgroup) -> `prlimit` -> `taskset` -> `bwrap` ->
[`setpriv`] -> `bash -c`. bwrap's options travel in a memfd (`--args FD`), so /proc/1/cmdline
inside shows no host paths; only the command after `--` stays on its argv.
"""

from __future__ import annotations

import os
import platform
import posixpath
import shlex
from pathlib import Path

from autolab_mcp.core.cores import work_cores
from autolab_mcp.core.sandbox.base import RUNTIME_MOUNT, WORKSPACE_MOUNT, ExecRequest, SandboxError
from autolab_mcp.core.sandbox.cgroups import RunCgroup
from autolab_mcp.core.sandbox.checks import check_request
from autolab_mcp.core.sandbox.seccomp import program_memfd, sandbox_program

MiB = 1024 * 1024
#: Environment of the host-side wrapper chain (bwrap clears it for the command).
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


def system_args() -> list[str]:
    """Read-only system dirs; /bin, /lib... mirror the host (symlinks on merged-/usr systems)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/", name)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    return [*args, "--ro-bind", "/etc", "/etc"]


def args_memfd(args: list[str]) -> int:
    """bwrap's arguments as NUL-separated text in a memfd (read with --args FD)."""
    fd = os.memfd_create("bwrap-args", 0)
    os.write(fd, b"".join(a.encode() + b"\0" for a in args))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def cores_for(request: ExecRequest) -> list[int] | None:
    """A timed run's one core, else the work cores (never the timing core); None: no restriction."""
    return [request.cpu] if request.cpu is not None else work_cores(request.limits.cpus)


class BwrapCommandLine:
    """Checks requests and builds their command lines, for one backend's tools and privileges.

    `tools`: absolute paths of bwrap, prlimit, taskset and setpriv; `root`: whether the server is
    root (bwrap then runs privileged and setpriv drops the command's uid); `system`: system_args().
    """

    def __init__(self, tools: dict[str, str], root: bool, system: list[str]) -> None:
        self.tools = tools
        self.root = root
        self.system = system

    def drop_uid(self, request: ExecRequest) -> int | None:
        return request.uid if self.root and request.uid is not None else None

    def validate(self, request: ExecRequest) -> None:
        check_request(request)
        if request.cpu is not None and request.cpu not in os.sched_getaffinity(0):
            raise SandboxError(f"cpu {request.cpu} is not available (have {sorted(os.sched_getaffinity(0))})")
        if self.drop_uid(request) == 0:
            raise SandboxError("refusing to drop to uid 0; pass uid=None to keep the server's uid")

    def seccomp_fd(self, request: ExecRequest) -> int | None:
        """A memfd with the request's filter (seccomp.py; its variants are cached there). Root mode
        always needs it (no user namespace of ours, so bwrap's --disable-userns cannot apply);
        unprivileged mode has --disable-userns, and takes the filter when the request asks for fake
        locks or no threads. None where no filter applies."""
        wanted = request.fake_file_locks or request.forbid_threads
        if self.drop_uid(request) is None and not wanted:
            return None
        program = sandbox_program(fake_file_locks=request.fake_file_locks, forbid_threads=request.forbid_threads)
        if program is None:
            if wanted:
                raise SandboxError(f"no seccomp filter for {platform.machine()}: cannot fake file locks or "
                                   "forbid threads here")
            return None
        return program_memfd(program)

    def bwrap_args(self, request: ExecRequest, ready_fd: int, ro_fds: list[tuple[int, str]],
                   seccomp_fd: int | None = None) -> list[str]:
        """bwrap's options, then `--` and the command (what runs inside, setpriv first when dropping)."""
        lim = request.limits
        uid = self.drop_uid(request)
        if uid is None:  # unprivileged bwrap: a user namespace of its own, no nested ones
            args = ["--unshare-all", "--unshare-user", "--disable-userns"]
        else:  # privileged bwrap: no user namespace, the command becomes a real unprivileged uid
            args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox", *self.system]
        args += ["--proc", "/proc", "--dev", "/dev"]
        # 1777 like a real /tmp: root-owned 0755 would leave the sandbox uid without a writable HOME
        args += ["--perms", "1777", "--size", str(lim.tmp_mb * MiB), "--tmpfs", "/tmp"]
        args += ["--perms", "1777", "--size", str(min(lim.tmp_mb, 64) * MiB), "--tmpfs", "/dev/shm"]
        workdir = request.workdir
        if workdir != WORKSPACE_MOUNT:  # parents of a task's own workdir (/srv/app): world-readable
            for parent in _parents(workdir):
                args += ["--perms", "0755", "--dir", parent]
        args += ["--bind", str(request.workspace), workdir]
        for fd, rel in ro_fds:
            args += ["--ro-bind-fd", str(fd), posixpath.join(workdir, rel)]
        # parents of mount points bwrap would otherwise create 0700 (root-owned in privileged mode)
        targets = [RUNTIME_MOUNT] if request.runtime is not None else []
        for parent in dict.fromkeys(posixpath.dirname(t) for t in [*targets, *(m.target for m in request.mounts)]):
            if parent not in ("/", "/tmp", workdir) and not parent.startswith(workdir + "/"):
                args += ["--perms", "0755", "--dir", parent]
        if request.runtime is not None:
            args += ["--ro-bind", str(request.runtime), RUNTIME_MOUNT]
        for m in request.mounts:
            args += ["--ro-bind" if m.read_only else "--bind", str(m.source), m.target]
        path = f"{RUNTIME_MOUNT}/bin:{_SANDBOX_PATH}" if request.runtime is not None else _SANDBOX_PATH
        args += ["--chdir", workdir, "--clearenv"]
        for k, v in {"PATH": path, "HOME": "/tmp", **request.env}.items():
            args += ["--setenv", k, v]
        # The preamble tells the server the sandbox is set up (bwrap's own info fd is written before
        # the mounts are made), closes that fd, and hands over to `bash -c command` unchanged.
        ready = f'printf . >&{ready_fd}; exec {ready_fd}>&-; exec /bin/bash -c "$0"'
        drop: list[str] = []
        if uid is not None:
            drop = [self.tools["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        return [*args, "--", *drop, "/bin/bash", "-c", ready, request.command]

    def wrappers(self, request: ExecRequest, cgroup: RunCgroup | None) -> list[str]:
        """The host-side chain in front of bwrap: join the cgroup, rlimits, cpu affinity."""
        lim = request.limits
        argv: list[str] = []
        if cgroup is not None:
            joins = " && ".join(f"echo $$ > {shlex.quote(str(f))}" for f in cgroup.procs_files)
            argv += ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh"]
        argv += [self.tools["prlimit"], f"--fsize={lim.file_mb * MiB}", "--core=0"]
        if cgroup is None:
            argv += [f"--as={lim.memory_mb * MiB}", f"--nproc={lim.pids}"]
        argv.append("--")
        cores = cores_for(request)
        if cores is not None:  # pinned timing, or kept off the timing core (autolab_mcp.core.cores)
            argv += [self.tools["taskset"], "-c", ",".join(map(str, cores))]
        return argv


def _parents(path: str) -> list[str]:
    """The ancestors of `path` below /, outermost first: /a/b/c -> [/a, /a/b]."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]

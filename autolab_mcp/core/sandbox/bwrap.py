"""Bubblewrap backend: untrusted commands in fresh namespaces on this host.

Each command gets its own mount, pid, net, ipc and uts namespaces: a root made
of read-only /usr and /etc, a private /tmp, the workspace and what the request
names, and no network beyond its own loopback. When the server is root, bwrap
itself runs as root (so it can bind any host path, wherever the run directory
lives) and `setpriv` inside the sandbox drops the command to a real
unprivileged host uid with no capabilities and no_new_privs, inside a per-run
cgroup (memory, pids, cpu quota). Otherwise bwrap runs unprivileged in its own
user namespace and rlimits are the fallback.

Process chain, outermost first (each one execs the next, so one pid remains):
`sh` (joins the cgroup) -> `prlimit` -> `taskset` -> `bwrap` -> [`setpriv`] -> `bash -c`.
bwrap reads its arguments from a memfd, so /proc/1/cmdline inside shows no host paths.
The cgroup is joined before anything untrusted runs; no preexec_fn is used
because the server starts sandboxes from many threads.

Here: the backend (tools, cgroups, privileges). bwrap_argv.py turns a request into the
command line; bwrap_process.py runs one sandbox (BwrapProcess) and reports how it ended.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
from typing import Literal

from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult, SandboxError
from autolab_mcp.core.sandbox.bwrap_argv import HOST_ENV, BwrapCommandLine, system_args
from autolab_mcp.core.sandbox.bwrap_process import BwrapProcess
from autolab_mcp.core.sandbox.cgroups import (
    REQUIRE_ENV,
    cgroups_required,
    detect_cgroups,
    has_cpuset,
    unavailable_reason,
)
from autolab_mcp.core.sandbox.seccomp import sandbox_program

__all__ = ["BwrapBackend", "BwrapProcess", "LimitsMode"]

log = logging.getLogger(__name__)

LimitsMode = Literal["cgroup", "rlimit"]


class BwrapBackend:
    """Runs each command in a fresh bubblewrap sandbox on this host."""

    name = "bwrap"

    def __init__(self, *, cgroups: bool | None = None, tail_bytes: int = 4096) -> None:
        """`cgroups`: None = use them when manageable here (required, with a cpuset, when
        $AUTOLAB_REQUIRE_CGROUPS=1), False = rlimits only, True = required."""
        tools = {t: shutil.which(t, path=HOST_ENV["PATH"]) for t in ("bwrap", "prlimit", "taskset", "setpriv")}
        if missing := [t for t, p in tools.items() if p is None]:
            raise SandboxError(f"bwrap backend needs {', '.join(missing)} on PATH (apt: bubblewrap util-linux)")
        self._root = os.geteuid() == 0
        self._cgroups = None if cgroups is False else detect_cgroups()
        by_env = cgroups is None and cgroups_required()
        #: no silent fallback to rlimits: a run whose cgroup cannot be made fails (SandboxError)
        self._require_cgroups = bool(cgroups) or by_env
        why = f" ({REQUIRE_ENV}=1)" if by_env else ""
        if self._require_cgroups and self._cgroups is None:
            raise SandboxError(
                f"cgroups were required{why} but cannot be managed here: {unavailable_reason() or 'unknown'}; "
                "needs root and a writable cgroupfs (in a container: --privileged, or CAP_SYS_ADMIN with "
                "/sys/fs/cgroup remounted read-write)")
        if by_env and not has_cpuset(self._cgroups):
            raise SandboxError(f"cgroups were required ({REQUIRE_ENV}=1) but there is no usable cpuset cgroup: "
                               "sandboxes could move onto the timing core")
        self._tools: dict[str, str] = {t: str(p) for t, p in tools.items()}
        self._cmdline = BwrapCommandLine(self._tools, self._root, system_args())
        if self._root and sandbox_program() is None:
            log.warning("no seccomp filter for %s: sandboxes may create nested user namespaces", platform.machine())
        self.tail_bytes = tail_bytes

    @property
    def limits_mode(self) -> LimitsMode:
        """What enforces memory/pids/cpu limits for new sandboxes."""
        return "cgroup" if self._cgroups else "rlimit"

    def start(self, request: ExecRequest) -> BwrapProcess:
        return BwrapProcess(self, request)

    def run(self, request: ExecRequest) -> ExecResult:
        result = self.start(request).wait()
        assert result is not None
        return result

    def _bwrap_args(self, request: ExecRequest, ready_fd: int, ro_fds: list[tuple[int, str]],
                    seccomp_fd: int | None = None) -> list[str]:
        """bwrap's options and the command (BwrapCommandLine.bwrap_args; bench/experiments.py times them raw)."""
        return self._cmdline.bwrap_args(request, ready_fd, ro_fds, seccomp_fd)


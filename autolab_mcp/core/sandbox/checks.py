"""The checks every backend makes on a request before it starts anything.

A workspace and a runtime that are directories, mount targets that are normalized absolute
paths (and, where a backend names them, clear of the places the sandbox provides itself) with
sources that exist, environment variables a process can hold. What differs per backend (which
cpus exist, whose uid may be used) stays with the backend.
"""

from __future__ import annotations

from autolab_mcp.core.sandbox.base import RUNTIME_MOUNT, WORKSPACE_MOUNT, ExecRequest, SandboxError
from autolab_mcp.core.sandbox.common import check_target

#: Host directories bound read-only at the same place (symlinked ones, e.g. merged-/usr /bin, bind their target).
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: What a sandbox has from the backend itself, where no mount may go (docker, fake; bwrap's own set-up refuses).
PROVIDED = (*SYSTEM_DIRS, "/proc", "/dev", "/sys", "/tmp", WORKSPACE_MOUNT, RUNTIME_MOUNT)
#: Provided directories under which a mount may still go (the mount then lands inside them).
_MOUNTABLE_UNDER = ("/tmp", WORKSPACE_MOUNT)


def check_mount_target(target: str, provided: tuple[str, ...] = (), workdir: str = WORKSPACE_MOUNT) -> None:
    """A normalized absolute target other than /, that is none of `provided` and (but for /tmp and
    the workspace, at `workdir`) not inside one of them."""
    check_target(target)
    for reserved in provided:
        if reserved == WORKSPACE_MOUNT:
            reserved = workdir
        mountable = reserved in _MOUNTABLE_UNDER or reserved == workdir
        if target == reserved or (not mountable and target.startswith(reserved + "/")):
            raise SandboxError(f"mount target {target} overlaps {reserved}, which the sandbox provides")


def check_workdir(workdir: str) -> None:
    """A workdir is a normalized absolute path of its own: not /, and clear of every directory the
    sandbox provides (/usr, /proc, /tmp, /opt/runtime, ...), in either direction."""
    check_target(workdir)
    for reserved in (*PROVIDED, "/opt"):
        if reserved == WORKSPACE_MOUNT:
            continue
        if workdir == reserved or workdir.startswith(reserved + "/") or reserved.startswith(workdir + "/"):
            raise SandboxError(f"workdir {workdir} overlaps {reserved}, which the sandbox provides; use a "
                               "directory of its own such as /app")


def check_env(env: dict[str, str]) -> None:
    for k, v in env.items():
        if not k or "=" in k or "\0" in k or "\0" in v:
            raise SandboxError(f"invalid environment variable {k!r}")


def check_request(request: ExecRequest, provided: tuple[str, ...] = ()) -> None:
    """SandboxError for the first problem of `request` that no backend could start (checked in this
    order: workspace, runtime, workdir, each mount's target then source, environment)."""
    if not request.workspace.is_dir():
        raise SandboxError(f"workspace {request.workspace} is not a directory")
    if request.runtime is not None and not request.runtime.is_dir():
        raise SandboxError(f"runtime {request.runtime} is not a directory")
    if request.workdir != WORKSPACE_MOUNT:
        check_workdir(request.workdir)
    for m in request.mounts:
        if m.target == request.workdir:
            raise SandboxError(f"mount target {m.target} overlaps {request.workdir}, which the sandbox provides")
        check_mount_target(m.target, provided, request.workdir)
        if not m.source.exists():
            raise SandboxError(f"mount source {m.source} does not exist")
    check_env(request.env)

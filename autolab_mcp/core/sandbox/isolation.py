"""Whether this host can isolate evaluations from concurrent experiments, and what is missing.

Strong isolation needs root: cpuset cgroups (untrusted code cannot move onto the timing core),
a freezer (experiments stop while an evaluation runs), the seccomp lock filter (no file-lock
channel) and a separate uid per side. Without them a score can be skewed or hidden inputs can
leak to a concurrent experiment, so the signed record and the eval report mark such a result
"weak isolation", and `autolab-mcp eval` refuses to run that way unless told
`--allow-weak-isolation`.
"""

from __future__ import annotations

import os
import platform
from typing import Literal

from autolab_mcp.core.sandbox.cgroups import detect_cgroups
from autolab_mcp.core.sandbox.seccomp import no_new_userns_program

Isolation = Literal["strong", "weak"]


def isolation_gaps(backend: str) -> list[str]:
    """What this host lacks for strong isolation with `backend` (empty: nothing)."""
    if backend == "docker":
        # the engine confines each container (cpuset, pause, its own IPC and network namespaces);
        # the backend's pid-1 launcher installs the lock filter inside the container
        return [] if no_new_userns_program() is not None else [f"no seccomp filter for {platform.machine()}"]
    gaps = []
    if os.geteuid() != 0:
        return ["not root: no cpuset (untrusted code may run on the timing core), no freezer (experiments "
                "keep running during evaluations), no file-lock filter, one uid for agent and scorer"]
    tree = detect_cgroups()
    controllers = set(tree.parents) if tree else set()
    if tree is None or (tree.version == 1 and "cpuset" not in controllers) or \
            (tree.version == 2 and "cpuset" not in tree.cpuset_v2):
        gaps.append("no cpuset cgroup: untrusted code may move onto the timing core")
    if tree is None or (tree.version == 1 and "freezer" not in controllers):
        gaps.append("no cgroup freezer: experiments keep running during evaluations")
    if no_new_userns_program() is None:
        gaps.append(f"no seccomp filter for {platform.machine()}: file locks are a channel")
    return gaps


def isolation_level(backend: str) -> Isolation:
    return "weak" if isolation_gaps(backend) else "strong"

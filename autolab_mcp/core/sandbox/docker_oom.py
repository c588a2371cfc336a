"""OOM kills a podman 4 on cgroup v1 does not report: an eventfd on the container's memory.oom_control.

podman's conmon misses the event when the killed process ends the container, so on such a
host the docker backend listens on the container's memory cgroup itself, registered before
the command starts (docker_process.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger("autolab_mcp.core.sandbox.docker")


class OomWatch:
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
    def for_container(cls, pid: int, container_id: str) -> OomWatch | None:
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

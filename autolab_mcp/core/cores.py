"""Which CPU cores measure and which do work, and a host-wide lease on the timing core.

Pinned measurements (timing pairs, training against a wall-clock budget) are only fair
when nothing else runs on their core. Two rules keep it that way on one host, however many
servers and scorers run (for example `autolab-mcp eval --parallel K`):

- the timing core (the last usable core) is held by one evaluation at a time, through an
  `flock` on a file every scorer process on the host shares;
- unpinned sandboxes (experiments, the scorer's own untimed steps) run on the other cores,
  so an agent's experiment cannot steal cycles from a concurrent measurement.

With a single core there is nothing to split: everything shares it, and the lease still
serializes measurements.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autolab_mcp.core.errors import AutolabError

#: Where lock files live when we run as root; otherwise a per-user directory under the temp dir.
ROOT_LOCK_DIR = Path("/run/autolab-mcp/locks")
LOCK_DIR_ENV = "AUTOLAB_LOCK_DIR"
_POLL_SEC = 0.05


class CoreBusy(AutolabError, TimeoutError):
    """The timing core stayed held by other evaluations for longer than the caller would wait."""


class LeaseCancelled(AutolabError):
    """The caller gave up waiting for the timing core (its client is gone)."""


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def timing_core() -> int:
    """The last usable core: most other work (interpreters, servers, the kernel's first
    choice for new tasks) lands on core 0."""
    return usable_cores()[-1]


def work_cores(cpus_needed: float = 1.0) -> list[int] | None:
    """Cores for unpinned sandboxes, or None for "no restriction" (a single core, or too few
    cores left to honour the requested CPU share)."""
    rest = usable_cores()[:-1]  # all but the timing core
    if not rest or len(rest) < cpus_needed:
        return None
    return rest


def lock_dir() -> Path:
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        path = Path(configured)
    elif os.geteuid() == 0:
        path = ROOT_LOCK_DIR
    else:
        path = Path(tempfile.gettempdir()) / f"autolab-mcp-locks-{os.geteuid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass(frozen=True)
class CoreLease:
    core: int
    waited_sec: float


@contextlib.contextmanager
def lease_timing_core(timeout_sec: float | None = None, *,
                      cancel: threading.Event | None = None) -> Iterator[CoreLease]:
    """Hold the timing core exclusively (host-wide) for the body of the `with`.

    Waits for other holders; raises CoreBusy after `timeout_sec` (None waits forever), and
    LeaseCancelled as soon as `cancel` is set while waiting.
    The kernel drops the lock when the holder dies, so a crashed scorer never wedges it.
    """
    core = timing_core()
    path = lock_dir() / f"timing-core-{core}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if cancel is not None and cancel.is_set():
                raise LeaseCancelled(f"stopped waiting for core {core}: the caller is gone")
            if timeout_sec is not None and time.monotonic() - start >= timeout_sec:
                raise CoreBusy(f"core {core} stayed busy with other evaluations for {timeout_sec:.0f} s")
            time.sleep(_POLL_SEC)
        try:
            yield CoreLease(core=core, waited_sec=time.monotonic() - start)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Who may touch a run directory: the agent's uid owns its workspace files, one server owns the run."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.sandbox.base import AGENT_UID
from autolab_mcp.episode.models import EpisodeError

__all__ = ["hand_to_agent", "lock_run_dir"]


def hand_to_agent(root: Path) -> None:
    """Files the server wrote belong to the agent's uid, so its experiments can use them like any user;
    setuid/setgid bits an experiment left behind are stripped so no host user can borrow that uid."""
    is_root = os.geteuid() == 0
    if is_root:
        os.lchown(root, AGENT_UID, AGENT_UID)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if is_root and st.st_uid != AGENT_UID:
                os.lchown(path, AGENT_UID, AGENT_UID)
            if (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


def lock_run_dir(paths: RunDir) -> int:
    """An exclusive lock on the run directory for an Episode's life: two servers on one episode would
    charge one budget twice and interleave its log. The kernel drops it when the process dies.
    Raises EpisodeError when another process holds it."""
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EpisodeError(
            f"run {paths.run_id} is already being served by another process; stop that server first "
            "(one server per episode)"
        ) from None
    return fd

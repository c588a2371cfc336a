"""Removes a process's containers once that process is gone, however it died.

A bwrap sandbox dies with the server through the kernel (PR_SET_PDEATHSIG on the spawner
thread, see spawn.py); a container lives in the engine and would run on to its wall limit
after a server is SIGKILLed. So the docker backend starts this small watcher once per
process: it holds the read end of a pipe whose write end only that process has, and when
the pipe reports EOF (the owner exited, crashed or was killed) it force-removes every
container labelled with the owner's id.

    python -m autolab_mcp.core.sandbox.docker_reaper OWNER_ID     (stdin: the owner's pipe)
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

#: Label carrying the id of the process that started a container.
OWNER_LABEL = "org.autolab-mcp.owner"

_lock = threading.Lock()
_reaper: subprocess.Popen[bytes] | None = None
_owner: str | None = None


def owner_id() -> str:
    """This process's owner id; starts its reaper on first use."""
    global _reaper, _owner
    with _lock:
        if _owner is None or _reaper is None or _reaper.poll() is not None or not _owner.startswith(f"{os.getpid()}-"):
            _owner = f"{os.getpid()}-{os.urandom(4).hex()}"
            _reaper = subprocess.Popen(
                [sys.executable, "-m", "autolab_mcp.core.sandbox.docker_reaper", _owner],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=sys.stderr, start_new_session=True,
            )
        return _owner


def reap(owner: str) -> int:
    """Force-remove every container (running or not) that `owner` started; returns how many."""
    import docker

    client = docker.from_env(timeout=60)
    removed = 0
    for container in client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner}"}):
        try:
            container.remove(force=True, v=True)
            removed += 1
        except Exception as exc:  # one stuck container must not keep the others
            print(f"docker-reaper: could not remove {container.short_id}: {exc}", file=sys.stderr)
    return removed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m autolab_mcp.core.sandbox.docker_reaper OWNER_ID", file=sys.stderr)
        return 2
    while sys.stdin.buffer.read(4096):
        pass
    removed = reap(argv[0])
    if removed:
        print(f"docker-reaper: removed {removed} container(s) of {argv[0]}, whose process is gone",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

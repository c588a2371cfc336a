"""Start sandbox processes from one thread that lives as long as the process.

`bwrap --die-with-parent` (PR_SET_PDEATHSIG) fires when the *thread* that forked the
sandbox exits, not the process. The MCP server starts sandboxes from async worker
threads, and the runtime retires idle workers after about 10 s: every experiment whose
agent went quiet for that long was SIGKILLed. All forks therefore happen on one daemon
thread started once per process; it ends only when the process does (exit, crash or
SIGKILL), which is exactly when sandboxes must die.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_owner_pid: int | None = None


def _serve() -> None:
    while True:
        fn, future = _jobs.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller, never lost
            future.set_exception(exc)


def _ensure_thread() -> None:
    global _thread, _owner_pid
    with _lock:
        # after a fork the child has no spawner thread even though the module says so
        if _thread is None or not _thread.is_alive() or _owner_pid != os.getpid():
            _thread = threading.Thread(target=_serve, name="sandbox-spawner", daemon=True)
            _thread.start()
            _owner_pid = os.getpid()


def on_spawner(fn: Callable[[], T]) -> T:
    """Run `fn` on the process-lifetime spawner thread and return its result (or raise its error)."""
    if threading.current_thread() is _thread:
        return fn()
    _ensure_thread()
    future: Future[T] = Future()
    _jobs.put((fn, future))
    return future.result()


def spawner_thread_id() -> int | None:
    """The native id of the spawner thread (tests check sandboxes hang off it)."""
    return _thread.native_id if _thread is not None else None


def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen, forked from the spawner thread."""
    cls = kwargs.pop("popen_class", subprocess.Popen)
    return on_spawner(lambda: cls(*args, **kwargs))

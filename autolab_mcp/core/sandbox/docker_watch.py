"""How a container's run ends and what it reports (the watcher thread of docker_process.py).

The attach stream ends when pid 1 exits (and with it every process of the container);
meanwhile the writable mounts are measured every few seconds and a run past limits.disk_mb
is killed (disk_exceeded), as bwrap does, and the wall limit (frozen time excluded) kills it
too. Then the engine's state says how it ended; a container that outlives its kill is killed
again, and given up on well past its deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from typing import Any

from autolab_mcp.core.sandbox.base import ExecResult
from autolab_mcp.core.sandbox.common import DISK_CHECK_SEC, RunningSandboxBase, killed_by, usage_exceeds
from autolab_mcp.core.sandbox.docker_api import api_message
from autolab_mcp.core.sandbox.docker_config import MiB
from autolab_mcp.core.sandbox.docker_oom import OomWatch

log = logging.getLogger("autolab_mcp.core.sandbox.docker")

#: How long a killed container may take to be reported stopped before it is killed again.
_STATE_TIMEOUT = 15.0


class ContainerWatch(RunningSandboxBase):
    """The watcher of a DockerProcess: the state it reads (set up by the process) and the loop."""

    _errors: Any
    _eof: threading.Event
    _eof_at: float | None
    _oom: OomWatch | None
    _reader: threading.Thread

    @abstractmethod
    def _state(self) -> dict[str, Any] | None:
        """The container's state once it has stopped, else None."""

    @abstractmethod
    def _cleanup(self) -> None:
        """Remove the container and close everything the run holds."""

    def _watch(self) -> None:
        try:
            self._await_exit()
            self.thaw()
            self._result = self._ended(self._await_state())
        except BaseException as e:  # never leave waiters hanging
            log.exception("sandbox %s: watcher failed", self.run_id)
            self._cleanup()
            self._result = ExecResult(
                exit_code=None,
                output_tail=f"{self.output_tail(self._tail_bytes)}\n[sandbox watcher failed: {e}]",
                output_bytes=self._seen,
                duration_sec=self.elapsed(),
                limits_mode="container",
            )
        finally:
            self._finished()

    def _await_exit(self) -> None:
        """Until the attach stream ends (pid 1 exited, and with it every process of the container),
        or the run is killed for its wall limit or its disk use; the writable mounts are measured
        every few seconds meanwhile, like bwrap does."""
        disk_limit = self._request.limits.disk_mb * MiB
        writable = [self._request.workspace, *(m.source for m in self._request.mounts if not m.read_only)]
        while not self._eof.wait(max(0.0, min(DISK_CHECK_SEC, self._deadline() - time.monotonic()))):
            if time.monotonic() >= self._deadline():
                self._terminate("timeout")
                return
            if usage_exceeds(writable, disk_limit):
                self._terminate("disk")
                return

    def _await_state(self) -> dict[str, Any] | None:
        """The stopped container's state; None when it vanished (removed behind our back) or never
        stopped, even killed again, until well past its deadline."""
        state: dict[str, Any] | None = None
        deadline = self._deadline()
        delay = 0.005
        while True:
            try:
                state = self._state()
            except self._errors.NotFound:
                return state
            except Exception as e:  # a hiccup of the engine: retry until well past the deadline
                if time.monotonic() > deadline + 4 * _STATE_TIMEOUT:
                    raise
                log.warning("sandbox %s: cannot inspect the container: %s", self.run_id, api_message(e))
            if state is not None:
                return state
            now = time.monotonic()
            if now >= deadline and self._kill_reason is None:
                self._terminate("timeout")
            elif now >= deadline + _STATE_TIMEOUT:
                self._terminate(self._kill_reason or "timeout")
                log.warning("sandbox %s: container still running %.0fs after its kill", self.run_id,
                            now - deadline)
                if now >= deadline + 4 * _STATE_TIMEOUT:
                    return state
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _ended(self, state: dict[str, Any] | None) -> ExecResult:
        """The run is over: stop reading, remove the container, and say how it ended."""
        self._t_end = self._eof_at or time.monotonic()
        with self._lock:
            self._exited = True
        oom = bool(state and state.get("OOMKilled"))
        if self._oom is not None and self._oom.fired():
            oom = True
        self._stop_reading.set()
        self._reader.join(timeout=5)
        exit_code = int(state.get("ExitCode", -1)) if state is not None else None
        who, sig = killed_by(self._kill_reason, oom, None, exit_code)
        code = None
        if who is None and state is not None:
            code = exit_code
        elif who is None:  # the container vanished without a state: removed behind our back
            who, sig = "unknown", None
        self._cleanup()
        return self._final_result(exit_code=code, tail=self.output_tail(self._tail_bytes), oom=oom, who=who,
                                  sig=sig, limits_mode="container")

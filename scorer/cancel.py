"""Cancelling one evaluation: its sandboxes are killed and it unwinds, holding nothing.

A server that asked for an evaluation and then went away (crashed, was killed, its connection
dropped) must not keep the timing core busy for minutes. The service hands each evaluation a
`threading.Event`; the backend wrapper here checks it while every sandbox runs and before each
new one starts.
"""

from __future__ import annotations

import threading

from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult, RunningSandbox, SandboxBackend

#: How often a waiting evaluation looks at its cancel flag: the bound on how long a gone
#: server's evaluation keeps running.
POLL_SEC = 0.1


class EvaluationCancelled(BaseException):
    """The client that asked for this evaluation is gone. A BaseException, like KeyboardInterrupt,
    so a task's `except Exception` cannot swallow it and keep evaluating."""


class CancellableBackend:
    """A SandboxBackend whose runs end (and raise EvaluationCancelled) once `cancel` is set."""

    def __init__(self, backend: SandboxBackend, cancel: threading.Event) -> None:
        self._backend = backend
        self._cancel = cancel
        self.name = backend.name

    def _check(self) -> None:
        if self._cancel.is_set():
            raise EvaluationCancelled("the client is gone")

    def start(self, request: ExecRequest) -> RunningSandbox:
        self._check()
        return self._backend.start(request)

    def run(self, request: ExecRequest) -> ExecResult:
        sandbox = self.start(request)
        while True:
            result = sandbox.wait(POLL_SEC)
            if result is not None:
                self._check()  # cancelled at the very end: the result is for nobody
                return result
            if self._cancel.is_set():
                sandbox.kill("cancelled")
                sandbox.wait(5.0)
                raise EvaluationCancelled("the client is gone")

    def __getattr__(self, name: str) -> object:  # anything else a backend offers (limits_mode, ...)
        return getattr(self._backend, name)

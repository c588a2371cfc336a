"""The scorer as a service: HTTP on a unix socket (or TCP), one bearer token per run.

It alone reads the task's tests/. Evaluations run one at a time, host-wide: each holds the
timing core (autolab_mcp.core.cores) for its whole run, so measurements from parallel episodes never
compete for the CPU; a request that waited longer than the queue timeout gets HTTP 503.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from autolab_mcp.core.cores import CoreBusy, lease_timing_core
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox import make_backend
from autolab_mcp.core.sandbox.common import kill_live_sandboxes
from autolab_mcp.core.sandbox.isolation import isolation_gaps
from autolab_mcp.core.taskspec import Task, load_task
from autolab_mcp.core.wire import MAX_REQUEST_BYTES, EvaluateRequest, Health, SignedRecord
from scorer import seeds, signing
from scorer.evaluate import SubmissionError, evaluate_submission

log = logging.getLogger("autolab.scorer")

#: How long an evaluation may wait for the timing core before the scorer answers 503 (busy).
DEFAULT_QUEUE_TIMEOUT_SEC = 600.0


class Scorer:
    """Evaluates submissions for one task; the trusted side of every score."""

    def __init__(self, task: Task, backend_name: str = "bwrap", key: bytes | None = None,
                 queue_timeout_sec: float = DEFAULT_QUEUE_TIMEOUT_SEC) -> None:
        self.task = task
        self.queue_timeout_sec = queue_timeout_sec
        _seal_hidden(task)
        self.backend_name = backend_name
        self.backend = make_backend(backend_name)
        self.key = key if key is not None else signing.load_or_create_key()
        self.seed_secret = seeds.load_or_create_secret()
        self.isolation_gaps = isolation_gaps(backend_name)
        if self.isolation_gaps:
            log.warning("weak isolation (results are marked so): %s", "; ".join(self.isolation_gaps))
        self._runtime: Path | None = None

    def runtime(self) -> Path:
        if self._runtime is None:
            self._runtime = ensure_runtime(self.task.config.environment.requirements)
        return self._runtime

    def evaluate(self, request: EvaluateRequest) -> SignedRecord:
        archive = base64.b64decode(request.archive_b64, validate=True)
        runtime = self.runtime()
        common = {"backend": self.backend, "runtime": runtime, "request_id": request.request_id,
                  "seed_secret": self.seed_secret, "isolation_gaps": self.isolation_gaps}
        if not self.task.needs_timing_core:  # pure counting: nothing to measure, so no queue to join
            return self._sign(evaluate_submission(self.task, request.split, archive, cpu=None, **common))
        # the lease alone serializes: flocks on separate opens exclude each other within a process too
        with lease_timing_core(self.queue_timeout_sec) as lease:
            record = evaluate_submission(self.task, request.split, archive, cpu=lease.core, **common)
            record.queued_seconds = round(lease.waited_sec, 3)
        return self._sign(record)

    def _sign(self, record: Any) -> SignedRecord:
        payload = record.model_dump(mode="json")
        return SignedRecord(record=record, signature=signing.sign(payload, self.key), key_id=signing.key_id(self.key))


def _seal_hidden(task: Task) -> None:
    """tests/ and solution/ become 0700 (owned by the scorer's uid, root here): even code that escaped
    every sandbox as the agent's or the evaluation's uid could not read them."""
    if os.geteuid() != 0:
        return
    for directory in (task.tests_dir, task.solution_dir):
        os.chown(directory, 0, 0)
        os.chmod(directory, 0o700)


def _exit_when_stdin_closes() -> None:
    """The server that started us died (even by SIGKILL): stop at once, not after the evaluation in
    flight (uvicorn's graceful shutdown would wait for it, holding the timing core for minutes). Every
    sandbox is killed first; the core's flock goes with the process."""
    while sys.stdin.buffer.read(4096):
        pass
    log.info("parent server is gone (stdin closed); stopping")
    killed = kill_live_sandboxes("shutdown", wait_sec=1.5)
    if killed:
        log.info("killed %d running evaluation sandbox(es)", killed)
    sys.stderr.flush()
    os._exit(0)


def build_app(scorer: Scorer, token: str) -> Starlette:
    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())

    async def health(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        return JSONResponse(Health(ok=True, task=scorer.task.name, backend=scorer.backend_name,
                                   isolation="weak" if scorer.isolation_gaps else "strong",
                                   isolation_gaps=scorer.isolation_gaps).model_dump())

    async def evaluate(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return JSONResponse({"error": f"request larger than {MAX_REQUEST_BYTES} bytes"}, status_code=413)
        try:
            parsed = EvaluateRequest.model_validate_json(body)
            signed = await anyio.to_thread.run_sync(scorer.evaluate, parsed)
        except (ValidationError, SubmissionError, binascii.Error, ValueError) as exc:
            return JSONResponse({"error": str(exc)[:2000]}, status_code=400)
        except CoreBusy as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(signed.model_dump(mode="json"))

    return Starlette(routes=[Route("/v1/health", health), Route("/v1/evaluate", evaluate, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autolab-scorer", description=__doc__)
    parser.add_argument("--task", required=True, help="task directory")
    parser.add_argument("--socket", help="unix socket path to listen on")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--token-env", default="AUTOLAB_SCORER_TOKEN", help="env var holding the bearer token")
    parser.add_argument("--queue-timeout-sec", type=float, default=DEFAULT_QUEUE_TIMEOUT_SEC,
                        help="longest wait for the timing core, which other scorers on this host may hold")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="stop when stdin closes (the server that started us died, even by SIGKILL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="scorer %(levelname)s %(message)s")
    token = os.environ.pop(args.token_env, "")
    if len(token) < 16:
        parser.error(f"set a bearer token of at least 16 characters in ${args.token_env}")
    if args.exit_with_stdin:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    scorer = Scorer(load_task(args.task), args.backend, queue_timeout_sec=args.queue_timeout_sec)
    scorer.runtime()  # build the runtime before accepting work, so the first score is not slow
    app = build_app(scorer, token)
    import uvicorn

    if args.socket:
        config = uvicorn.Config(app, uds=args.socket, log_level="warning")
    elif args.port:
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    else:
        parser.error("give --socket PATH or --port N")
    server = uvicorn.Server(config)
    if args.socket:
        os.umask(0o077)
    server.run()


if __name__ == "__main__":
    main()

"""The scorer's HTTP surface: version (open), health and evaluate (bearer token per client).

An evaluation is tied to the connection that asked for it: when the client goes away (its
server crashed or was killed, even by SIGKILL: the kernel closes the socket), the evaluation is
cancelled within a fraction of a second, its sandboxes die and its timing core is released.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Mapping

import anyio
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from autolab_mcp.core.cores import CoreBusy, LeaseCancelled
from autolab_mcp.core.wire import MAX_REQUEST_BYTES, EvaluateRequest, Version
from scorer.cancel import POLL_SEC, EvaluationCancelled
from scorer.evaluate import SubmissionError
from scorer.service import Scorer, UnknownTask

log = logging.getLogger("autolab.scorer")

UNAUTHORIZED = {"error": "missing or wrong bearer token"}


def _client_of(request: Request, tokens: Mapping[str, str]) -> str | None:
    """The client name whose token the request carries (compared in constant time), else None."""
    header = request.headers.get("authorization", "").encode()
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(header, f"Bearer {token}".encode()):
            found = name
    return found


def build_app(scorer: Scorer, tokens: Mapping[str, str]) -> Starlette:
    """`tokens`: client name -> bearer token. Each client is logged by name, never by token."""
    if not tokens:
        raise ValueError("the scorer needs at least one client token")

    async def version(_request: Request) -> JSONResponse:
        from scorer import __version__

        return JSONResponse(Version(version=__version__).model_dump())

    async def health(request: Request) -> JSONResponse:
        client = _client_of(request, tokens)
        if client is None:
            return JSONResponse(UNAUTHORIZED, status_code=401)
        return JSONResponse(scorer.health(client).model_dump())

    async def evaluate(request: Request) -> JSONResponse:
        client = _client_of(request, tokens)
        if client is None:
            return JSONResponse(UNAUTHORIZED, status_code=401)
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return JSONResponse({"error": f"request larger than {MAX_REQUEST_BYTES} bytes"}, status_code=413)
        try:
            parsed = EvaluateRequest.model_validate_json(body)
        except ValidationError as exc:
            return JSONResponse({"error": f"malformed evaluate request: {exc.error_count()} field error(s); "
                                 "expected {task, split: feedback|final, archive_b64, request_id}"}, status_code=400)
        cancel = threading.Event()
        finished = threading.Event()

        async def watch_client() -> None:
            while not finished.is_set():
                if await request.is_disconnected():
                    log.info("client %s went away: cancelling its evaluation %s", client, parsed.request_id)
                    cancel.set()
                    return
                await anyio.sleep(POLL_SEC)

        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["signed"] = scorer.evaluate(parsed, cancel)
            except BaseException as exc:  # carried out of the thread, answered below
                outcome["error"] = exc
            finally:
                finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(watch_client)
            await anyio.to_thread.run_sync(run)
        error = outcome.get("error")
        if isinstance(error, UnknownTask):
            return JSONResponse({"error": str(error)}, status_code=404)
        if isinstance(error, SubmissionError):
            return JSONResponse({"error": str(error)[:2000]}, status_code=400)
        if isinstance(error, CoreBusy):
            return JSONResponse({"error": str(error)}, status_code=503)
        if isinstance(error, (EvaluationCancelled, LeaseCancelled)):
            return JSONResponse({"error": "cancelled: the client went away"}, status_code=499)
        if error is not None:
            raise error
        signed = outcome["signed"]
        return JSONResponse(signed.model_dump(mode="json"))  # type: ignore[attr-defined]

    return Starlette(routes=[
        Route("/v1/version", version),
        Route("/v1/health", health),
        Route("/v1/evaluate", evaluate, methods=["POST"]),
    ])

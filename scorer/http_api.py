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
from autolab_mcp.core.wire import MAX_REQUEST_BYTES, EvaluateRequest, SignedRecord, Version
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


def _unauthorized() -> JSONResponse:
    return JSONResponse(UNAUTHORIZED, status_code=401)


async def _version(_request: Request) -> JSONResponse:
    """Open to anyone: a client checks the protocol version before it has any reason to trust the scorer."""
    from scorer import __version__

    return JSONResponse(Version(version=__version__).model_dump())


def _parse_evaluate(body: bytes) -> EvaluateRequest | JSONResponse:
    """The request, or the 413/400 answer for one too large or malformed (the size is checked before parsing)."""
    if len(body) > MAX_REQUEST_BYTES:
        return JSONResponse({"error": f"request larger than {MAX_REQUEST_BYTES} bytes"}, status_code=413)
    try:
        return EvaluateRequest.model_validate_json(body)
    except ValidationError as exc:
        return JSONResponse({"error": f"malformed evaluate request: {exc.error_count()} field error(s); "
                             "expected {task, split: feedback|final, archive_b64, request_id}"}, status_code=400)


def _error_response(error: BaseException) -> JSONResponse:
    """The answer for an evaluation that raised; anything unexpected is raised again (a 500 with a traceback)."""
    if isinstance(error, UnknownTask):
        return JSONResponse({"error": str(error)}, status_code=404)
    if isinstance(error, SubmissionError):
        return JSONResponse({"error": str(error)[:2000]}, status_code=400)
    if isinstance(error, CoreBusy):
        return JSONResponse({"error": str(error)}, status_code=503)
    if isinstance(error, (EvaluationCancelled, LeaseCancelled)):
        return JSONResponse({"error": "cancelled: the client went away"}, status_code=499)
    raise error


class _Evaluation:
    """One evaluation, run in a worker thread while the event loop watches the connection that asked for it:
    the thread cannot notice a vanished client itself, so the watcher sets `cancel` for it."""

    def __init__(self, scorer: Scorer, client: str, parsed: EvaluateRequest) -> None:
        self.scorer, self.client, self.parsed = scorer, client, parsed
        self.cancel = threading.Event()
        self.finished = threading.Event()
        self.signed: SignedRecord | None = None
        self.error: BaseException | None = None

    async def watch_client(self, request: Request) -> None:
        while not self.finished.is_set():
            if await request.is_disconnected():
                log.info("client %s went away: cancelling its evaluation %s", self.client, self.parsed.request_id)
                self.cancel.set()
                return
            await anyio.sleep(POLL_SEC)

    def run(self) -> None:
        try:
            self.signed = self.scorer.evaluate(self.parsed, self.cancel)
        except BaseException as exc:  # carried out of the thread, answered by `answer`
            self.error = exc
        finally:
            self.finished.set()

    async def answer(self, request: Request) -> JSONResponse:
        async with anyio.create_task_group() as group:
            group.start_soon(self.watch_client, request)
            await anyio.to_thread.run_sync(self.run)
        if self.error is not None:
            return _error_response(self.error)
        return JSONResponse(self.signed.model_dump(mode="json"))  # type: ignore[union-attr]


class _Endpoints:
    """The authenticated routes, bound to one scorer and its client tokens."""

    def __init__(self, scorer: Scorer, tokens: Mapping[str, str]) -> None:
        self.scorer, self.tokens = scorer, tokens

    async def health(self, request: Request) -> JSONResponse:
        client = _client_of(request, self.tokens)
        if client is None:
            return _unauthorized()
        return JSONResponse(self.scorer.health(client).model_dump())

    async def evaluate(self, request: Request) -> JSONResponse:
        client = _client_of(request, self.tokens)
        if client is None:
            return _unauthorized()
        parsed = _parse_evaluate(await request.body())
        if isinstance(parsed, JSONResponse):
            return parsed
        return await _Evaluation(self.scorer, client, parsed).answer(request)


def build_app(scorer: Scorer, tokens: Mapping[str, str]) -> Starlette:
    """`tokens`: client name -> bearer token. Each client is logged by name, never by token."""
    if not tokens:
        raise ValueError("the scorer needs at least one client token")
    endpoints = _Endpoints(scorer, tokens)
    return Starlette(routes=[
        Route("/v1/version", _version),
        Route("/v1/health", endpoints.health),
        Route("/v1/evaluate", endpoints.evaluate, methods=["POST"]),
    ])

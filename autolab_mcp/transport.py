"""Hardened transports for `autolab-mcp serve`: the bearer-token HTTP guard and a guarded stdio loop.

The SDK drops some malformed messages without a word: a request whose id is not a string or an
integer parses as a notification (HTTP answers an empty 202, stdio nothing), and on stdio a line
it cannot validate (a lone surrogate escape such as `\\ud800`) is logged at debug level and
dropped. Either way the client waits for an answer that never comes, so both transports here
answer such messages with a JSON-RPC error before the SDK sees them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import re
import secrets
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from io import TextIOWrapper
from typing import Any, BinaryIO

import anyio
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, jsonrpc_message_adapter
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

log = logging.getLogger("autolab.transport")

MCP_PATH = "/mcp"
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
UNAUTHORIZED = "missing or wrong bearer token (Authorization: Bearer <AUTOLAB_TOKEN>)"
MAX_BODY = 4 * 1024 * 1024  # the SDK's default body limit; bigger bodies pass unchecked to its 413

# -- the bearer token -------------------------------------------------------------------------

MIN_HEX_CHARS = 32  # 16 bytes as hex
MIN_CHARS = 22  # 16 bytes as URL-safe base64
TOKEN_HOWTO = "make one with `openssl rand -hex 24` or `python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
_HEX = re.compile(r"[0-9a-fA-F]+")


def new_token() -> str:
    """A fresh token (24 random bytes, 32 URL-safe characters) that passes `token_problem`."""
    return secrets.token_urlsafe(24)


def token_problem(token: str) -> str | None:
    """Why `token` is unfit to guard the server (one line), or None: it needs 16 bytes of entropy."""
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        return f"AUTOLAB_TOKEN must be printable ASCII without whitespace; {TOKEN_HOWTO}"
    minimum = MIN_HEX_CHARS if _HEX.fullmatch(token) else MIN_CHARS
    if len(token) < minimum:
        return (f"AUTOLAB_TOKEN is too short ({len(token)} chars): it needs at least 16 bytes of entropy, "
                f"i.e. at least {MIN_HEX_CHARS} hex or {MIN_CHARS} URL-safe characters; {TOKEN_HOWTO}")
    return None


# -- malformed JSON-RPC -----------------------------------------------------------------------

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(text: str, obj: Any) -> bool:
    """Python's json keeps lone surrogates that UTF-8 (and the SDK's parser) cannot carry."""
    if not _SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def message_problem(raw: str | bytes, *, validate: bool = False) -> dict[str, Any] | None:
    """The JSON-RPC error answering a message the SDK would drop silently, or None to pass it on.

    `validate` also checks the message against the SDK's schema (stdio drops failures silently;
    HTTP answers them itself). Notifications and responses are never answered, only logged.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return _error(PARSE_ERROR, "Parse error: the message is not valid JSON")
    if not isinstance(obj, dict):
        return _error(INVALID_REQUEST, "Invalid Request: a message must be one JSON object (no batches)")
    if "method" not in obj:
        return None  # a response from the client: the SDK matches or drops it; nobody waits on it
    if "id" not in obj:  # a notification: nobody waits on it either
        if _has_lone_surrogate(text, obj):
            log.warning("dropped a notification with a lone surrogate escape: %.200s", text)
        return None
    request_id = obj["id"]
    if not _valid_id(request_id):
        return _error(INVALID_REQUEST, "Invalid Request: the id must be a string or an integer")
    if _has_lone_surrogate(text, obj):
        return _error(INVALID_REQUEST, "Invalid Request: the message contains a lone UTF-16 surrogate escape "
                      "(e.g. \\ud800), which is not Unicode", request_id)
    if validate:
        try:
            jsonrpc_message_adapter.validate_python(obj, by_name=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"][1:])
            return _error(INVALID_REQUEST, f"Invalid Request: {where}: {first['msg']}", request_id)
    return None


# -- HTTP -------------------------------------------------------------------------------------


async def _send_json(send: Any, status: int, body: dict[str, Any],
                     headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class BearerAuth:
    """ASGI guard in front of the SDK app, checked in this order.

    Unknown paths get 404 before any token check (a 401 on `/.well-known/...` sends clients such
    as Claude Code into OAuth discovery); exactly one `Authorization: Bearer <token>` header (a
    dict of the raw headers would keep whichever came last); then POST bodies with ids the SDK
    would swallow get a JSON-RPC error instead of an empty 202.
    """

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] not in (MCP_PATH, MCP_PATH + "/"):
            await _send_json(send, 404, {"error": f"not found: the MCP endpoint is {MCP_PATH}"})
            return
        supplied = [value for name, value in scope.get("headers") or [] if name.lower() == b"authorization"]
        if len(supplied) > 1:
            await _send_json(send, 400, {"error": "exactly one Authorization header is allowed"})
            return
        if not supplied or not hmac.compare_digest(supplied[0], self.expected):
            await _send_json(send, 401, {"error": UNAUTHORIZED}, [(b"www-authenticate", b"Bearer")])
            return
        if scope["method"] == "POST":
            body, receive = await _buffer_body(receive)
            problem = None if body is None else message_problem(body)
            if problem is not None:
                log.warning("refused a malformed JSON-RPC message: %s", problem["error"]["message"])
                await _send_json(send, 400, problem)
                return
        await self.app(scope, receive, send)


async def _buffer_body(receive: Any) -> tuple[bytes | None, Any]:
    """Read the request body (None when it is over MAX_BODY or cut off) and a receive replaying it."""
    messages: list[dict[str, Any]] = []
    size, complete = 0, False
    while size <= MAX_BODY:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = size <= MAX_BODY
            break
    pending = deque(messages)

    async def replay() -> dict[str, Any]:
        return pending.popleft() if pending else await receive()

    body = b"".join(m.get("body", b"") for m in messages) if complete else None
    return body, replay


def http_app(mcp: Any, host: str, token: str) -> Any:
    """The SDK's streamable HTTP app with DNS-rebinding protection, behind `BearerAuth`."""
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{host}:*", "127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=[f"http://{host}:*", "http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    return BearerAuth(mcp.streamable_http_app(transport_security=security, host=host), token)


# -- stdio ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _claim_stdin() -> Iterator[BinaryIO]:
    """Read the wire from a private copy of fd 0 and point fd 0 at /dev/null while serving.

    The SDK does this itself only when it reads stdin; here we read it, so that children never
    consume the client's messages. fd 0 is restored on exit; the copy is never closed, since a
    worker thread may still block on it.
    """
    try:
        if sys.stdin is None or sys.stdin.fileno() != 0:
            raise OSError("stdin is not fd 0")
        private = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except (OSError, ValueError, AttributeError):
        yield sys.stdin.buffer
        return
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        yield os.fdopen(private, "rb", closefd=False)
    finally:
        os.dup2(private, 0)


class _GuardedLines:
    """stdin lines for the SDK's reader, minus malformed requests, which are answered here."""

    def __init__(self, binary: BinaryIO) -> None:
        self._file = anyio.wrap_file(TextIOWrapper(binary, encoding="utf-8", errors="replace"))
        self.write: Any = None
        self.ready = anyio.Event()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self._file:
            problem = message_problem(line, validate=True)
            if problem is None:
                yield line
                continue
            log.warning("answered a malformed JSON-RPC message: %s", problem["error"]["message"])
            await self.ready.wait()
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                await self.write.send(SessionMessage(JSONRPCError.model_validate(problem)))


def _scrub(value: Any) -> Any:
    """Lone surrogates (e.g. undecodable file names) replaced by U+FFFD; pairs become their character."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class _ScrubbingWriteStream:
    """Write side whose messages always serialize: one lone surrogate would kill the SDK's stdout writer."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def send(self, item: Any) -> None:
        try:
            item.message.model_dump_json(by_alias=True, exclude_unset=True)
        except PydanticSerializationError:
            log.warning("replaced lone surrogates in an outgoing %s", type(item.message).__name__)
            raw = item.message.model_dump(mode="python", by_alias=True, exclude_unset=True)
            item = type(item)(jsonrpc_message_adapter.validate_python(_scrub(raw), by_name=False),
                              metadata=item.metadata)
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _ScrubbingWriteStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def run_stdio(mcp: Any) -> None:
    """`MCPServer.run_stdio_async`, but malformed requests get an answer and replies always encode."""
    from mcp.server.stdio import stdio_server

    server = mcp._lowlevel_server  # MCPServer exposes no public handle on the loop it runs
    with _claim_stdin() as binary:
        lines = _GuardedLines(binary)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
            lines.write = write_stream
            lines.ready.set()
            await server.run(read_stream, _ScrubbingWriteStream(write_stream),
                             server.create_initialization_options())

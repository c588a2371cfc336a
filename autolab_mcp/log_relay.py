"""The server's own log lines, relayed to the MCP client as log notifications.

stdout is the stdio transport, so logs go to stderr, which an MCP client usually hides.
The server declares the logging capability (a `logging/setLevel` handler) and, after each
tool call, sends the lines its `autolab.*` loggers wrote meanwhile at or above the level
the client chose: per request on 2026-07-28+ connections (the SDK drops what the request did
not opt in to), through `logging/setLevel` on older ones (warning until it is called). Only
this process's loggers are relayed: the scorer is another process whose output never passes
through here, so no scorer output and no value from a hidden split can reach the client.
"""

from __future__ import annotations

import collections
import logging
import threading
import warnings
from typing import Any

from mcp.server import MCPServer
from mcp.server.connection import MODERN_PROTOCOL_VERSIONS
from mcp.server.mcpserver import Context

#: MCP log levels (RFC 5424 names) against Python's.
_MCP_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO + 5,
               "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
               "alert": logging.CRITICAL + 5, "emergency": logging.CRITICAL + 9}
_KEEP = 200


def _mcp_level(levelno: int) -> str:
    name = "debug"
    for mcp_name, number in _MCP_LEVELS.items():
        if levelno >= number:
            name = mcp_name
    return name


class _Capture(logging.Handler):
    def __init__(self, relay: LogRelay) -> None:
        super().__init__(logging.DEBUG)
        self._relay = relay

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._relay._queue(record.levelno, record.name, record.getMessage())
        except Exception:  # logging must never break the caller
            self.handleError(record)


class LogRelay:
    """Queues `autolab.*` log records and sends them on the next flush(ctx)."""

    def __init__(self, mcp: MCPServer, logger: str = "autolab") -> None:
        self.threshold = logging.WARNING  # for handshake-era clients that never call logging/setLevel
        self._chosen = False
        self._lines: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=_KEEP)
        self._lock = threading.Lock()
        self._logger = logging.getLogger(logger)
        self._handler = _Capture(self)
        self._logger.addHandler(self._handler)
        if self._logger.getEffectiveLevel() > logging.INFO:  # records below are never produced otherwise
            self._logger.setLevel(logging.INFO)
        self._register(mcp)

    def _register(self, mcp: MCPServer) -> None:
        from mcp import types

        async def set_level(_ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
            self.set_level(str(params.level))
            return types.EmptyResult()

        mcp._lowlevel_server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)

    def set_level(self, level: str) -> None:
        self.threshold = _MCP_LEVELS.get(level, logging.WARNING)
        self._chosen = True
        if self._logger.getEffectiveLevel() > self.threshold:  # so the records are produced at all
            self._logger.setLevel(self.threshold)

    def _queue(self, levelno: int, name: str, message: str) -> None:
        with self._lock:
            self._lines.append((levelno, name, message[:2000]))

    def pending(self) -> list[tuple[int, str, str]]:
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
        return lines

    async def flush(self, ctx: Context) -> None:
        """Send what was logged since the last flush (best effort: a closed stream loses only logs)."""
        modern = (ctx.protocol_version or "") in MODERN_PROTOCOL_VERSIONS
        threshold = self.threshold if self._chosen or not modern else logging.DEBUG
        for levelno, name, message in self.pending():
            if levelno < threshold:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the SDK marks the logging capability deprecated
                    await ctx.log(_mcp_level(levelno), message, logger_name=name)  # type: ignore[arg-type]
            except Exception:
                return

    def close(self) -> None:
        self._logger.removeHandler(self._handler)

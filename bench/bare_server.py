"""A bare MCP server on the same SDK as ours: a tool that reads a file (sync and async), one that does nothing.

It separates what the SDK and the stdio transport cost from what autolab-mcp adds on top
(path confinement, the edit policy, the event log, pydantic result models).
Run: python -m bench.bare_server ROOT
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp.server import MCPServer


def build(root: Path) -> MCPServer:
    mcp = MCPServer("bench-bare")

    @mcp.tool()
    def read_text(path: str) -> str:
        """Read a UTF-8 file under the root."""
        return (root / path).read_text()

    @mcp.tool()
    async def read_text_async(path: str) -> str:
        """The same read as an async tool: no hop to a worker thread."""
        return (root / path).read_text()

    @mcp.tool()
    def noop() -> str:
        """Return at once."""
        return "ok"

    return mcp


def main() -> None:
    anyio.run(build(Path(sys.argv[1])).run_stdio_async)


if __name__ == "__main__":
    main()

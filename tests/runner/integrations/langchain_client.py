"""LangChain (`langchain-mcp-adapters`): tools loaded from one explicit session keep one episode.

`MultiServerMCPClient.get_tools()` opens a new stdio session, hence a new server and a new episode, for every
tool call; `async with client.session(name)` + `load_mcp_tools(session)` keeps one. Both are exercised: the
session form in --run-dir (the pytest side checks it holds one run), the default form in --run-dir + "-default"
(the findings count the runs it left).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from _common import EXPECTED_TOOLS, as_json, emit, parse_args, server_args, server_env
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


def text_of(content: Any) -> str:
    """A ToolMessage's content as text: a string, or content blocks."""
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content or [])


async def invoke(tools: dict[str, Any], name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    """Invoke as an agent's tool node does (a tool call in, a ToolMessage out); the result as a dict."""
    message = await tools[name].ainvoke({"name": name, "args": args, "id": f"call-{n}", "type": "tool_call"})
    return as_json(text_of(message.content))


def client_for(args: Any, run_dir: str) -> MultiServerMCPClient:
    connection = {"transport": "stdio", "command": args.server, "env": server_env(),
                  "args": [*server_args(args)[:-1], run_dir]}
    return MultiServerMCPClient({"autolab": connection})  # type: ignore[dict-item]


async def main() -> None:
    args = parse_args()
    findings: dict[str, Any] = {"framework": "langchain-mcp-adapters", "tool_calls": []}
    calls = [("list_files", {}), ("run_experiment", {"command": "echo one-episode"}), ("remaining_budget", {})]
    async with client_for(args, args.run_dir).session("autolab") as session:
        tools = {t.name: t for t in await load_mcp_tools(session)}
        findings["missing_tools"] = sorted(EXPECTED_TOOLS - set(tools))
        results = []
        for n, (name, arguments) in enumerate(calls):
            findings["tool_calls"].append(name)
            results.append(await invoke(tools, name, arguments, n))
    findings["files"] = sorted(e["path"] for e in results[0].get("entries", []))
    findings["experiment"] = {k: results[1].get(k) for k in ("id", "status", "output_tail")}
    findings["experiments_used"] = results[2].get("experiments", {}).get("used")
    # the default: every call through get_tools()' tools is a server of its own, so an episode of its own
    default_dir = args.run_dir + "-default"
    default_tools = {t.name: t for t in await client_for(args, default_dir).get_tools()}
    await invoke(default_tools, "run_experiment", {"command": "echo lost"}, 10)
    budget = await invoke(default_tools, "remaining_budget", {}, 11)
    findings["default_experiments_used"] = budget.get("experiments", {}).get("used")
    findings["default_runs"] = len([p for p in os.listdir(default_dir)
                                    if os.path.exists(os.path.join(default_dir, p, "meta.json"))])
    emit(findings)


if __name__ == "__main__":
    asyncio.run(main())

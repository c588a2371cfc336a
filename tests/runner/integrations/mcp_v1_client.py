"""The MCP Python SDK 1.x (`ClientSession` over `stdio_client`, the handshake-era protocol that most
deployed clients still speak) against our server built on SDK 2.x: initialize, list tools, resources and
prompts, then solve the episode."""

from __future__ import annotations

import asyncio

from _common import EXPECTED_TOOLS, Plan, emit, parse_args, server_args, server_env, solutions
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    args = parse_args()
    plan = Plan(solutions(args), args.check)
    findings: dict = {"framework": "mcp-sdk-1.x", "tool_calls": []}
    params = StdioServerParameters(command=args.server, args=server_args(args), env=server_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        findings["protocol_version"] = init.protocolVersion
        findings["server"] = init.serverInfo.name
        tools = (await session.list_tools()).tools
        findings["missing_tools"] = sorted(EXPECTED_TOOLS - {t.name for t in tools})
        findings["resources"] = sorted(str(r.uri) for r in (await session.list_resources()).resources)
        findings["prompts"] = sorted(p.name for p in (await session.list_prompts()).prompts)
        done: list[tuple[str, str, bool]] = []
        while (step := plan.next(done)) is not None:
            name, arguments = step
            findings["tool_calls"].append(name)
            result = await session.call_tool(name, arguments)
            done.append((name, result.content[0].text if result.content else "", bool(result.isError)))
        findings["last"] = done[-1][0] if done else None
        findings["errors"] = [name for name, _, is_error in done if is_error]
    emit(findings)


if __name__ == "__main__":
    asyncio.run(main())

"""pydantic-ai against our server: an `MCPToolset` (pydantic-ai's MCP client, built on FastMCP's stdio
transport) gives the server's tools to an Agent driven by a `FunctionModel`; the function plays the
solving conversation from the tool results pydantic-ai hands back, so every call flows through the
framework's tool machinery to our server and back."""

from __future__ import annotations

import asyncio

from _common import EXPECTED_TOOLS, Plan, emit, parse_args, server_args, server_env, solutions
from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelResponse, RetryPromptPart, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


async def main() -> None:
    args = parse_args()
    plan = Plan(solutions(args), args.check)
    findings: dict = {"framework": "pydantic-ai", "seen_tools": [], "tool_calls": []}

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not findings["seen_tools"]:
            findings["seen_tools"] = sorted(t.name for t in info.function_tools)
        done: list[tuple[str, str, bool]] = []
        for message in messages:
            for part in getattr(message, "parts", []):
                if isinstance(part, ToolReturnPart):
                    done.append((part.tool_name, part.model_response_str(), False))
                elif isinstance(part, RetryPromptPart) and part.tool_name:
                    done.append((part.tool_name, str(part.content), True))
        step = plan.next(done)
        if step is None:
            return ModelResponse(parts=[TextPart(f"finished after {len(done)} tool calls")])
        name, arguments = step
        findings["tool_calls"].append(name)
        return ModelResponse(parts=[ToolCallPart(name, arguments)])

    transport = StdioTransport(command=args.server, args=server_args(args), env=server_env())
    toolset = MCPToolset(transport)
    agent = Agent(FunctionModel(model), toolsets=[toolset])
    async with agent:
        result = await agent.run("Solve the optimization task, then submit.")
    findings["output"] = str(result.output)
    findings["missing_tools"] = sorted(EXPECTED_TOOLS - set(findings["seen_tools"]))
    returns = [p for m in result.all_messages() for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)]
    findings["returns"] = [p.tool_name for p in returns]
    emit(findings)


if __name__ == "__main__":
    asyncio.run(main())

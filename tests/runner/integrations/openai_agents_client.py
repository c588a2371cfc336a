"""The OpenAI Agents SDK against our server: `agents.mcp.MCPServerStdio` lists the tools and calls them
directly, then (with --model-base-url) a full `Runner.run` episode: the SDK's own chat-completions model
class talks to a fake OpenAI-compatible model server on loopback, and the SDK executes the model's tool
calls through its MCP layer until the model submits."""

from __future__ import annotations

import asyncio

from _common import EXPECTED_TOOLS, as_json, emit, parse_args, server_args, server_env
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStdio
from openai import AsyncOpenAI


async def main() -> None:
    args = parse_args()
    set_tracing_disabled(True)  # no trace export to api.openai.com (there is no network here anyway)
    findings: dict = {"framework": "openai-agents"}
    params = {"command": args.server, "args": server_args(args), "env": server_env()}
    async with MCPServerStdio(params=params, name="autolab", cache_tools_list=True,
                              client_session_timeout_seconds=600) as server:
        tools = await server.list_tools()
        findings["tools"] = sorted(t.name for t in tools)
        findings["missing_tools"] = sorted(EXPECTED_TOOLS - set(findings["tools"]))
        budget = await server.call_tool("remaining_budget", {})
        findings["direct_call"] = {"is_error": bool(budget.isError if hasattr(budget, "isError") else
                                                    getattr(budget, "is_error", False)),
                                   "keys": sorted(as_json(budget.content[0].text))}
        if args.model_base_url:
            client = AsyncOpenAI(base_url=args.model_base_url, api_key=args.model_api_key, max_retries=0)
            model = OpenAIChatCompletionsModel(model="fake-model", openai_client=client)
            agent = Agent(name="autolab-solver", instructions="Solve the task with the tools, then submit.",
                          mcp_servers=[server], model=model, model_settings=ModelSettings(temperature=0))
            result = await Runner.run(agent, "Start the task.", max_turns=20)
            findings["final_output"] = str(result.final_output)
            findings["tool_calls"] = [getattr(item.raw_item, "name", None) for item in result.new_items
                                      if type(item).__name__ == "ToolCallItem"]
    emit(findings)


if __name__ == "__main__":
    asyncio.run(main())

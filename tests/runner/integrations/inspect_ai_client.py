"""Inspect AI against our server: `mcp_server_stdio` gives the server's tools to a task whose model is
Inspect's `mockllm`, with a custom-outputs function that plays the solving conversation from the tool
messages Inspect feeds back. `inspect_ai.eval` runs the sample (generate's tool loop executes every call
through Inspect's MCP client) and a scorer reads the submit result."""

from __future__ import annotations

import sys
import tempfile

from _common import EXPECTED_TOOLS, Plan, as_json, emit, parse_args, server_args, server_env, solutions
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageTool, ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import Score, Target, accuracy, scorer
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.tool import mcp_connection, mcp_server_stdio


def main() -> None:
    args = parse_args()
    plan = Plan(solutions(args), args.check)
    findings: dict = {"framework": "inspect-ai", "seen_tools": [], "tool_calls": []}

    def outputs(messages, tools, tool_choice, config) -> ModelOutput:
        if not findings["seen_tools"]:
            findings["seen_tools"] = sorted(t.name for t in tools)
        done = [(m.function or "", m.text, m.error is not None) for m in messages if isinstance(m, ChatMessageTool)]
        step = plan.next(done)
        if step is None:
            output = ModelOutput.from_content(model="mockllm/model", content=f"finished after {len(done)} tool calls")
        else:
            findings["tool_calls"].append(step[0])
            output = ModelOutput.for_tool_call(model="mockllm/model", tool_name=step[0], tool_arguments=step[1])
        # usage given, so mockllm does not count tokens with tiktoken (which downloads its encodings)
        output.usage = ModelUsage(input_tokens=sum(len(m.text) for m in messages) // 4, output_tokens=10,
                                  total_tokens=sum(len(m.text) for m in messages) // 4 + 10)
        return output

    @scorer(metrics=[accuracy()])
    def submitted():
        async def score(state: TaskState, target: Target) -> Score:
            subs = [m for m in state.messages
                    if isinstance(m, ChatMessageTool) and m.function == "submit" and m.error is None]
            value = as_json(subs[-1].text).get("score") if subs else None
            return Score(value=1 if (value or 0) >= 0.9 else 0, answer=str(value))
        return score

    @solver
    def episode(server):
        # One connection for the whole sample: without mcp_connection, Inspect starts the stdio server anew
        # for every tool call, and each `autolab-mcp serve` process is a new episode.
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            async with mcp_connection([server]):
                state.tools = list(await server.tools())
                return await generate(state, tool_calls="loop")
        return solve

    server = mcp_server_stdio(name="autolab", command=args.server, args=server_args(args), env=server_env())
    task = Task(dataset=[Sample(input="Solve the optimization task, then submit.")], solver=episode(server),
                scorer=submitted(), message_limit=40)
    with tempfile.TemporaryDirectory() as log_dir:  # the log's samples are read from here: stay inside
        logs = inspect_eval(task, model=get_model("mockllm/model", custom_outputs=outputs), log_dir=log_dir,
                            display="none")
        log = logs[0]
        findings["status"] = log.status
        findings["error"] = log.error.message[:2000] if log.error else None
        sample = log.samples[0] if log.samples else None
        if sample is not None:
            findings["score"] = {k: v.value for k, v in (sample.scores or {}).items()}
            findings["answer"] = {k: v.answer for k, v in (sample.scores or {}).items()}
            findings["tool_messages"] = [m.function for m in sample.messages if isinstance(m, ChatMessageTool)]
    findings["missing_tools"] = sorted(EXPECTED_TOOLS - set(findings["seen_tools"]))
    emit(findings)
    sys.exit(0 if log.status == "success" else 1)


if __name__ == "__main__":
    main()

"""A stand-in for the `claude` binary, to test clients/configs/claude-p.sh without a model.

It checks the flags the wrapper passes, starts the MCP server exactly as the --mcp-config file says (as
Claude Code would), and plays a short session over MCP: read, write the reference file named by
$FAKE_CLAUDE_SOLUTION (REL=PATH), run the check, get_metric, and then stops WITHOUT submitting, so the
wrapper's finalize step is exercised too. Its argv and findings go to $FAKE_CLAUDE_RECORD as JSON.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters


async def session(args: argparse.Namespace, record: dict) -> None:
    config = json.loads(Path(args.mcp_config).read_text())
    record["servers"] = sorted(config["mcpServers"])
    spec = config["mcpServers"]["autolab"]
    params = StdioServerParameters(command=spec["command"], args=spec["args"], env=spec.get("env") or {})
    rel, _, path = os.environ["FAKE_CLAUDE_SOLUTION"].partition("=")
    async with Client(params, read_timeout_seconds=600) as client:
        tools = [f"mcp__autolab__{t.name}" for t in (await client.list_tools()).tools]
        record["allowed"] = all(fnmatch.fnmatch(name, args.allowedTools) for name in tools)
        record["tools"] = tools
        calls = [("read_file", {"path": rel}), ("write_file", {"path": rel, "content": Path(path).read_text()}),
                 ("run_experiment", {"command": "python check.py", "wait_sec": 45}), ("get_metric", {})]
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            record.setdefault("calls", []).append([name, not result.is_error])
            print(json.dumps({"type": "assistant", "tool": f"mcp__autolab__{name}", "ok": not result.is_error}))
    print(json.dumps({"type": "result", "subtype": "success", "num_turns": len(calls)}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-p", "--print", dest="prompt", required=True)
    p.add_argument("--mcp-config", required=True)
    p.add_argument("--strict-mcp-config", action="store_true")
    p.add_argument("--tools", required=True)
    p.add_argument("--allowedTools", required=True)
    p.add_argument("--permission-mode", required=True)
    p.add_argument("--max-turns", type=int, required=True)
    p.add_argument("--output-format", required=True)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--model")
    args = p.parse_args()
    record = {"argv": sys.argv[1:], "args": vars(args)}
    try:
        anyio.run(session, args, record)
    finally:
        with open(os.environ["FAKE_CLAUDE_RECORD"], "w") as handle:
            json.dump(record, handle)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# One autolab episode, headless, with Claude Code (`claude -p`) restricted to this server's tools.
#
#   clients/configs/claude-p.sh TASK [OUT_DIR] [-- EXTRA_CLAUDE_FLAGS...]
#
# Writes OUT_DIR/mcp.json (absolute paths, the AUTOLAB_* environment), runs
#   claude -p PROMPT --mcp-config OUT_DIR/mcp.json --strict-mcp-config --tools "" \
#     --allowedTools "mcp__autolab__*" --permission-mode dontAsk --max-turns N \
#     --output-format stream-json --verbose
# with Claude's stream (its own transcript) in OUT_DIR/transcript.jsonl, then submits the episode if Claude
# ended without `submit` (python -m clients.evalrun finalize) and prints the signed, verified result.
#
# Environment: CLAUDE_BIN (default: claude), CLAUDE_MODEL, MAX_TURNS (default 200), MAX_BUDGET_USD,
# AUTOLAB_PERMISSION_MODE (default dontAsk: anything not allowed above is refused, never prompted),
# and ANTHROPIC_API_KEY or a logged-in Claude Code. Flag names as of Claude Code 2.x; see clients/configs/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py="$repo/.venv/bin/python"
server="$repo/.venv/bin/autolab-mcp"

task=${1:?usage: claude-p.sh TASK [OUT_DIR] [-- EXTRA_CLAUDE_FLAGS...]}
shift
out="$repo/runs/claude-p/$(date -u +%Y%m%d-%H%M%S)-$(basename "$task")"
if [[ $# -gt 0 && $1 != -- ]]; then out=$1; shift; fi
if [[ $# -gt 0 && $1 == -- ]]; then shift; fi
[[ -x $server ]] || { echo "claude-p.sh: $server is missing; run \`make test\` or \`make demo\` first" >&2; exit 2; }
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)

# The MCP config: our server over stdio, one episode; the AUTOLAB_* settings (scorer key, caches) go along.
"$py" - "$server" "$task" "$out/runs" > "$out/mcp.json" <<'PY'
import json, os, sys
server, task, runs = sys.argv[1:4]
env = {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}
config = {"mcpServers": {"autolab": {"type": "stdio", "command": server,
                                     "args": ["serve", "--task", task, "--run-dir", runs], "env": env}}}
print(json.dumps(config, indent=1))
PY

instruction=$("$py" -c 'import sys; from autolab_mcp.core.taskdirs import find_task; print(find_task(sys.argv[1]).instruction)' "$task")
prompt="You are working on the optimization task \`$(basename "$task")\` through the MCP server \"autolab\".

$instruction

Use only the autolab tools (mcp__autolab__*): list_files/read_file to study the code, apply_patch or
write_file to change the editable files, run_experiment to test (in a sandbox), get_metric for a rationed
score on hidden data, remaining_budget to plan. Work in propose -> test -> measure -> revise cycles and call
submit exactly once when you are done: it scores your files on the final hidden split and ends the episode."

args=(-p "$prompt"
      --mcp-config "$out/mcp.json" --strict-mcp-config
      --tools ""
      --allowedTools "mcp__autolab__*"
      --permission-mode "${AUTOLAB_PERMISSION_MODE:-dontAsk}"
      --max-turns "${MAX_TURNS:-200}"
      --output-format stream-json --verbose)
[[ -n ${CLAUDE_MODEL:-} ]] && args+=(--model "$CLAUDE_MODEL")
[[ -n ${MAX_BUDGET_USD:-} ]] && args+=(--max-budget-usd "$MAX_BUDGET_USD")

echo "claude-p.sh: task $task, output $out" >&2
status=0
(cd "$out" && "${CLAUDE_BIN:-claude}" "${args[@]}" "$@") > "$out/transcript.jsonl" 2> "$out/claude.stderr" || status=$?
echo "claude-p.sh: claude exited with $status (transcript: $out/transcript.jsonl)" >&2

run_dir=$(find "$out/runs" -mindepth 2 -maxdepth 2 -name meta.json -printf '%h\n' | head -n 1)
if [[ -z $run_dir ]]; then
  echo "claude-p.sh: the server never started an episode; see $out/claude.stderr" >&2
  exit 1
fi
if [[ ! -f $run_dir/result.json ]]; then
  echo "claude-p.sh: no submit; submitting the last state of the workspace" >&2
  (cd "$repo" && "$py" -m clients.evalrun finalize "$run_dir" > /dev/null)
fi
"$server" runs "$(basename "$run_dir")" --run-dir "$out/runs" --verify

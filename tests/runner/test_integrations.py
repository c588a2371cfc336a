"""Third-party MCP clients (code no one on this team wrote) solve an episode on our server, with no live model.

Each framework runs in a subprocess (tests/runner/integrations/*_client.py) and reaches our server only the way a
user's setup would: it starts `.venv/bin/autolab-mcp serve --task sorting_network --run-dir DIR` itself and
speaks MCP over stdio. The frameworks come from the `integrations` extra (`pip install -e '.[integrations]'`);
when one is not importable here, the test builds it a venv of its own, once, under the autolab cache
($AUTOLAB_CACHE_DIR/integrations, else /var/cache/autolab-mcp/integrations as root, else
~/.cache/autolab-mcp/integrations); that is also the way for a framework whose pins would conflict with
ours. If it cannot be installed (no index reachable), the test skips and says why.

The MCP SDK's own client (2.x: stdio and streamable HTTP) is covered in tests/server/test_transports.py; its 1.x
client (the handshake-era protocol) is here, in a venv of its own since it conflicts with our pin.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import NoReturn

import pytest

from autolab_mcp.cli import verify_result
from autolab_mcp.core.runtime import default_cache_dir
from autolab_mcp.core.taskdirs import find_task
from tests.helpers import REPO
from tests.helpers.fake_model_server import API_KEY, FakeModelServer, SolvePolicy

TASK = "sorting_network"
HELPERS = Path(__file__).resolve().parent / "integrations"
BUILD_TIMEOUT = 1800
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT + 900)]  # a first run builds venvs

# framework -> (module that shows it is installed here, or None: always its own venv; client script;
#               its requirements: a name from the integrations extra (its pin is read from pyproject.toml),
#               or literal requirements for a framework that cannot share our environment)
FRAMEWORKS: dict[str, tuple[str | None, str, list[str]]] = {
    "openai-agents": ("agents", "openai_agents_client.py", ["openai-agents"]),
    "pydantic-ai": ("pydantic_ai", "pydantic_ai_client.py", ["pydantic-ai-slim"]),
    "inspect-ai": ("inspect_ai", "inspect_ai_client.py", ["inspect-ai", "=mcp"]),  # Inspect imports mcp, undeclared
    # the 1.x SDK (handshake-era protocol, what most deployed clients speak) conflicts with our mcp==2.3.*
    "mcp-sdk-1.x": (None, "mcp_v1_client.py", ["=mcp>=1.20,<2"]),
    # langchain-mcp-adapters 0.3.2 requires mcp<2; 0.3.1 (uncapped) fails to import with 2.x (mcp.shared.context)
    "langchain": (None, "langchain_client.py", ["=langchain-mcp-adapters==0.3.2"]),
}


def unavailable(reason: str) -> NoReturn:
    """Skip a framework that cannot be installed here; fail instead where CI requires every framework
    to run (AUTOLAB_INTEGRATIONS_REQUIRED=1, set by .ci/run), so a skip never hides a broken client."""
    if os.environ.get("AUTOLAB_INTEGRATIONS_REQUIRED") == "1":
        pytest.fail(f"required integration unavailable: {reason}")
    pytest.skip(reason)


def server_binary() -> Path:
    """Our server as a user would start it: the console script of this checkout's environment."""
    script = Path(sys.executable).with_name("autolab-mcp")
    if not script.exists():
        unavailable(f"{script} is missing: install the project (pip install -e .) first")
    return script


def pinned(requirement_name: str) -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for spec in extras["integrations"]:
        if spec.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip() == requirement_name:
            return spec
    raise AssertionError(f"{requirement_name} is not in the integrations extra of pyproject.toml")


def integrations_cache() -> Path:
    if env := os.environ.get("AUTOLAB_CACHE_DIR"):
        return Path(env) / "integrations"
    return default_cache_dir().parent / "integrations"


def framework_python(name: str) -> tuple[str, str]:
    """A python that has the framework: this one (the extra is installed) or a cached venv of its own."""
    module, _script, wanted = FRAMEWORKS[name]
    if module is not None and importlib.util.find_spec(module) is not None:
        return sys.executable, "this environment (the integrations extra)"
    requirements = [w[1:] if w.startswith("=") else pinned(w) for w in wanted]
    key = hashlib.sha256(json.dumps([sys.version, requirements]).encode()).hexdigest()[:12]
    venv = integrations_cache() / f"{name}-{key}"
    python = venv / "bin" / "python"
    marker = venv / ".ready"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return str(python), f"its own venv {venv} (cached)"
        if os.environ.get("AUTOLAB_INTEGRATIONS_BUILD", "1") == "0":
            unavailable(f"{name} is not installed and AUTOLAB_INTEGRATIONS_BUILD=0: pip install -e '.[integrations]'")
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]]
        for step in steps:
            try:
                proc = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                unavailable(f"installing {name} took over {BUILD_TIMEOUT} s")
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                unavailable(f"{name} could not be installed ({' '.join(requirements)}): {' | '.join(tail)}")
        marker.write_text(json.dumps({"requirements": requirements, "seconds": round(time.monotonic() - started)}))
        return str(python), f"its own venv {venv} (built in {time.monotonic() - started:.0f} s)"


def run_client(name: str, tmp_path: Path, *extra: str) -> tuple[dict, Path]:
    python, where = framework_python(name)
    task = find_task(TASK)
    runs = tmp_path / "runs"
    command = [python, str(HELPERS / FRAMEWORKS[name][1]), "--server", str(server_binary()), "--task", TASK,
               "--run-dir", str(runs), "--check", task.config.autolab.check_command or "ls",
               *[f"--solution={rel}={task.solution_dir / rel}" for rel in ("network.py",)], *extra]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    print(f"{name} from {where}: {time.monotonic() - started:.1f} s")
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"{name} client failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    findings = json.loads(lines[-1])
    run_dirs = [p for p in runs.iterdir() if (p / "meta.json").exists()] if runs.is_dir() else []
    assert len(run_dirs) == 1, f"one server process, one episode (got {len(run_dirs)} run directories)"
    return findings, run_dirs[0]


def assert_solved(run_dir: Path) -> dict:
    result = json.loads((run_dir / "result.json").read_text())
    assert result["record"]["valid"] and result["record"]["score"] >= 0.9, result["record"]
    ok, message = verify_result(run_dir)
    assert ok, message
    return result


def test_openai_agents_sdk(tmp_path):
    """MCPServerStdio lists and calls the tools; then Runner.run with the SDK's chat-completions model (talking
    to the fake model server) executes the model's tool calls through the SDK's MCP layer until submit."""
    with FakeModelServer(SolvePolicy(TASK)) as fake:
        findings, run_dir = run_client("openai-agents", tmp_path, "--model-base-url", fake.openai_base,
                                       "--model-api-key", API_KEY)
    assert findings["missing_tools"] == []
    assert findings["direct_call"] == {"is_error": False,
                                       "keys": ["compute_sec", "experiments", "score_calls", "wall_mode", "wall_sec"]}
    assert findings["tool_calls"] == ["read_file", "apply_patch", "run_experiment", "get_metric", "submit"]
    assert "Submitted: score 1.0" in findings["final_output"]
    assert fake.problems == []
    assert_solved(run_dir)


def test_pydantic_ai(tmp_path):
    findings, run_dir = run_client("pydantic-ai", tmp_path)
    assert findings["missing_tools"] == []
    expected = ["list_files", "read_file", "write_file", "run_experiment", "get_metric", "submit"]
    assert findings["tool_calls"] == expected and findings["returns"] == expected
    assert findings["output"] == "finished after 6 tool calls"
    assert_solved(run_dir)


def test_mcp_sdk_1x(tmp_path):
    """The previous major version of the MCP SDK, in a venv of its own (its pins conflict with ours)."""
    findings, run_dir = run_client("mcp-sdk-1.x", tmp_path)
    assert findings["server"] == "autolab-mcp" and findings["missing_tools"] == [] and findings["errors"] == []
    assert findings["resources"] == ["autolab://budget", "autolab://instruction", "autolab://task"]
    assert findings["prompts"] == ["start_task"] and findings["last"] == "submit"
    assert_solved(run_dir)


def test_inspect_ai(tmp_path):
    findings, run_dir = run_client("inspect-ai", tmp_path)
    assert findings["status"] == "success", findings.get("error")
    assert findings["missing_tools"] == []
    expected = ["list_files", "read_file", "write_file", "run_experiment", "get_metric", "submit"]
    assert findings["tool_messages"] == expected
    assert findings["score"] == {"submitted": 1}
    result = assert_solved(run_dir)
    with contextlib.suppress(KeyError):
        assert findings["answer"]["submitted"] == str(result["record"]["score"])


def test_langchain_session_keeps_one_episode(tmp_path):
    """Tools loaded from `async with client.session(...)` share one server, so one episode; the default
    `get_tools()` starts a server per call: the experiment is lost to the next call's fresh episode."""
    findings, run_dir = run_client("langchain", tmp_path)  # asserts one run directory in the session's run dir
    assert findings["missing_tools"] == []
    assert findings["tool_calls"] == ["list_files", "run_experiment", "remaining_budget"]
    assert "network.py" in findings["files"]
    assert findings["experiment"] == {"id": "exp-0001", "status": "finished", "output_tail": "one-episode\n"}
    assert findings["experiments_used"] == 1
    events = [json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["tool"] for e in events if e["kind"] == "tool"] == findings["tool_calls"]
    assert findings["default_runs"] == 2 and findings["default_experiments_used"] == 0


# -- Claude Code / Claude Desktop configs (no model: a stand-in `claude` checks the flags and plays MCP) --------

CONFIGS = REPO / "clients" / "configs"


def test_config_files_start_our_server():
    project = json.loads((CONFIGS / ".mcp.json").read_text())["mcpServers"]["autolab"]
    assert project["type"] == "stdio" and project["command"] == "${AUTOLAB_HOME}/.venv/bin/autolab-mcp"
    expanded = project["command"].replace("${AUTOLAB_HOME}", str(REPO))
    assert Path(expanded).exists() or not Path(sys.executable).with_name("autolab-mcp").exists()
    assert project["args"][:2] == ["serve", "--task"]
    desktop = json.loads((CONFIGS / "claude_desktop_config.json").read_text())["mcpServers"]["autolab"]
    assert desktop["command"].endswith("/.venv/bin/autolab-mcp") and desktop["args"][0] == "serve"


def test_claude_p_wrapper(tmp_path):
    server_binary()
    stub = tmp_path / "claude"
    stub.write_text(f"#!/bin/sh\nexec {sys.executable} {HELPERS / 'fake_claude.py'} \"$@\"\n")
    stub.chmod(0o755)
    record = tmp_path / "record.json"
    solution = find_task(TASK).solution_dir / "network.py"
    env = {**os.environ, "CLAUDE_BIN": str(stub), "FAKE_CLAUDE_RECORD": str(record), "MAX_TURNS": "30",
           "FAKE_CLAUDE_SOLUTION": f"network.py={solution}"}
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(CONFIGS / "claude-p.sh"), TASK, str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    seen = json.loads(record.read_text())
    args = seen["args"]
    assert args["strict_mcp_config"] and args["tools"] == "" and args["allowedTools"] == "mcp__autolab__*"
    assert args["permission_mode"] == "dontAsk" and args["max_turns"] == 30
    assert args["output_format"] == "stream-json" and args["verbose"]
    assert TASK in args["prompt"] and "submit" in args["prompt"]
    assert seen["servers"] == ["autolab"] and seen["allowed"] and len(seen["tools"]) == 14
    assert seen["calls"] == [["read_file", True], ["write_file", True], ["run_experiment", True],
                             ["get_metric", True]]
    assert "no submit; submitting" in proc.stderr, "the wrapper finalizes an episode left open"
    assert re.search(r"verified: True", proc.stdout) and "(score 1.0000)" in proc.stdout, proc.stdout
    assert (out / "transcript.jsonl").read_text().strip().splitlines()[-1].startswith('{"type": "result"')

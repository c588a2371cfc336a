"""A fake model API on loopback that speaks the real wire formats and plays a scripted conversation.

    POST /v1/messages           Anthropic Messages API (x-api-key, anthropic-version; tool_use / tool_result)
    POST /v1/chat/completions   OpenAI chat completions with tools (Authorization: Bearer; tool_calls / role tool)

Nothing is patched: a client under test sends real HTTP requests and gets real
JSON answers. The "model" is a policy that reads the tool results it receives
and decides the next tool call; `SolvePolicy` solves a task with its reference
solution (read the editable files, apply_patch to the reference, run the check,
get_metric, submit). Faults (429 / 500 answers) can be queued to test retries.
Every request is kept in `requests`, and anything that breaks the wire format
(a tool_result for an unknown id, a missing header, a malformed tool) lands in
`problems` and is answered 400, as the real APIs would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "fake-key-for-tests"


@dataclass
class Exchange:
    """One tool call of the conversation so far and its result."""

    id: str
    name: str
    arguments: dict[str, Any]
    result: str | None = None
    is_error: bool = False

    def json(self) -> dict[str, Any]:
        """The result as a dict, however the client wrapped the MCP result text."""
        return _as_dict(self.result or "")


def _as_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and value.get("type") == "text" and isinstance(value.get("text"), str):
        return _as_dict(value["text"])
    return value if isinstance(value, dict) else {}


Action = tuple[str, Any]  # ("tool", (name, arguments)) or ("text", message)
Policy = Callable[[list[Exchange]], Action]


class _WireProblem(Exception):
    """A request that breaks the wire format; raised from deep in the parsing, answered 400 by the server."""


def _check_anthropic_request(headers: dict[str, str], body: dict[str, Any]) -> None:
    """The headers, fields and tool definitions the real Messages API insists on."""
    if not headers.get("anthropic-version"):
        raise _WireProblem("anthropic-version header is required")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise _WireProblem(f"{key}: field required")
    for tool in body.get("tools") or []:
        if set(tool) - {"name", "description", "input_schema"} or tool.get("input_schema", {}).get(
                "type") != "object":
            raise _WireProblem(f"malformed tool {tool.get('name')!r}")


def _take_tool_uses(blocks: list[Any], history: list[Exchange], pending: dict[str, Exchange]) -> None:
    """An assistant turn: every earlier tool_use must have had its result; its own tool_uses become pending."""
    if pending:
        raise _WireProblem(f"tool_use ids without tool_result: {sorted(pending)}")
    for block in blocks:
        if block.get("type") == "tool_use":
            ex = Exchange(block["id"], block["name"], block.get("input") or {})
            history.append(ex)
            pending[ex.id] = ex


def _take_tool_results(blocks: list[Any], pending: dict[str, Exchange]) -> None:
    """A user turn: each tool_result answers a pending tool_use, and all of them must be answered in it."""
    for block in blocks:
        if block.get("type") == "tool_result":
            ex = pending.pop(block.get("tool_use_id"), None)
            if ex is None:
                raise _WireProblem(f"tool_result for unknown tool_use_id {block.get('tool_use_id')}")
            result = block.get("content")
            ex.result = result if isinstance(result, str) else "".join(b.get("text", "") for b in result or [])
            ex.is_error = bool(block.get("is_error"))
    if pending:
        raise _WireProblem(f"tool_use ids without tool_result: {sorted(pending)}")


def _anthropic_history(messages: list[dict[str, Any]]) -> list[Exchange]:
    """The tool calls so far and their results, checking the pairing the real API enforces."""
    if not messages or messages[0].get("role") != "user":
        raise _WireProblem("the first message must be a user message")
    history: list[Exchange] = []
    pending: dict[str, Exchange] = {}
    for message in messages:
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        if message["role"] == "assistant":
            _take_tool_uses(blocks, history, pending)
        elif message["role"] == "user":
            _take_tool_results(blocks, pending)
        else:
            raise _WireProblem(f"unknown role {message['role']!r}")
    return history


def _anthropic_answer(body: dict[str, Any], n: int, action: Action) -> dict[str, Any]:
    """The Messages API response carrying the policy's next move (a tool_use, or a final text)."""
    kind, value = action
    usage = {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": 20}
    if kind == "tool":
        name, args = value
        content = [{"type": "text", "text": f"Next: {name}."},
                   {"type": "tool_use", "id": f"toolu_{n:04d}", "name": name, "input": args}]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": value}], "end_turn"
    return {"id": f"msg_{n:04d}", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}


class SolvePolicy:
    """Solve a bundled task with its reference solution, deciding each call from the results received."""

    def __init__(self, task_name: str, *, read_extra: int = 0) -> None:
        from autolab_mcp.core.editable import editable_files
        from autolab_mcp.core.taskdirs import find_task

        self.task = find_task(task_name)
        self.files = editable_files(self.task.solution_dir, self.task.config.autolab.editable)
        self.check = self.task.config.autolab.check_command or "ls"
        self.read_extra = read_extra  # extra reads, to grow the conversation (trimming tests)

    def __call__(self, history: list[Exchange]) -> Action:
        from clients.scripted import reference_patches

        done = [h for h in history if h.result is not None]
        names = [h.name for h in done]
        if any(h.is_error for h in done):
            bad = next(h for h in done if h.is_error)
            return "text", f"giving up: {bad.name} failed: {bad.result}"
        reads = [h for h in done if h.name == "read_file"]
        if len(reads) < len(self.files):
            return "tool", ("read_file", {"path": self.files[len(reads)]})
        if len(reads) < len(self.files) + self.read_extra:
            return "tool", ("read_file", {"path": self.files[0]})
        if "apply_patch" not in names:
            current = {h.arguments["path"]: h.json().get("content", "") for h in reads}
            patch = "".join(reference_patches(self.task, current).values())
            return "tool", ("apply_patch", {"patch": patch})
        last = done[-1]
        if last.name in ("apply_patch",):
            return "tool", ("run_experiment", {"command": self.check, "wait_sec": 45})
        if last.name in ("run_experiment", "experiment_status"):
            info = last.json()
            if info.get("status") == "running":
                return "tool", ("experiment_status", {"id": info["id"], "wait_sec": 45})
            return "tool", ("get_metric", {})
        if last.name == "get_metric":
            return "tool", ("submit", {})
        if last.name == "submit":
            return "text", f"Submitted: score {last.json().get('score')}."
        return "text", "I do not know what to do next."


class FakeModelServer:
    def __init__(self, policy: Policy, *, api_key: str = API_KEY, delay: float = 0.0) -> None:
        self.policy = policy
        self.api_key = api_key
        self.delay = delay  # seconds each answer takes, like a model thinking
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.faults: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._counter = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                status, headers, answer = server.handle(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                        body)
                self._send(status, answer, headers)

            def _send(self, status: int, answer: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="fake-model")

    # -- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def anthropic_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        kind = "rate_limit_error" if status == 429 else "api_error"
        self.faults.append((status, headers or {}, {"type": "error", "error": {"type": kind,
                                                                            "message": f"injected {status}"}}))

    # -- requests -------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body, "time": time.time()})
            if self.faults:
                return self.faults.pop(0)
            self._counter += 1
            n = self._counter
        if self.delay:
            time.sleep(self.delay)
        if path == "/v1/messages":
            return self._anthropic(headers, body, n)
        if path == "/v1/chat/completions":
            return self._openai(headers, body, n)
        return 404, {}, {"error": {"message": f"no route {path}"}}

    def _problem(self, message: str) -> tuple[int, dict[str, str], Any]:
        self.problems.append(message)
        return 400, {}, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}

    def _anthropic(self, headers: dict[str, str], body: dict[str, Any], n: int) -> tuple[int, dict[str, str], Any]:
        if headers.get("x-api-key") != self.api_key:
            return 401, {}, {"type": "error", "error": {"type": "authentication_error", "message": "bad x-api-key"}}
        try:
            _check_anthropic_request(headers, body)
            history = _anthropic_history(body["messages"])
        except _WireProblem as exc:
            return self._problem(str(exc))
        return 200, {}, _anthropic_answer(body, n, self.policy(history))

    def _openai(self, headers: dict[str, str], body: dict[str, Any], n: int) -> tuple[int, dict[str, str], Any]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}}
        for key in ("model", "messages"):
            if key not in body:
                return self._problem(f"{key}: field required")
        for tool in body.get("tools") or []:
            fn = tool.get("function") or {}
            if tool.get("type") != "function" or not fn.get("name") or (fn.get("parameters") or {}).get(
                    "type") != "object":
                return self._problem(f"malformed tool {tool!r:.200}")
        history: list[Exchange] = []
        pending: dict[str, Exchange] = {}
        for message in body["messages"]:
            role = message.get("role")
            if role not in ("system", "developer", "user", "assistant", "tool"):
                return self._problem(f"unknown role {role!r}")
            if role == "assistant":
                if pending:
                    return self._problem(f"tool_calls without tool messages: {sorted(pending)}")
                for call in message.get("tool_calls") or []:
                    try:
                        args = json.loads(call["function"]["arguments"] or "{}")
                    except (KeyError, ValueError):
                        return self._problem("tool_calls[].function.arguments must be a JSON string")
                    ex = Exchange(call["id"], call["function"]["name"], args)
                    history.append(ex)
                    pending[ex.id] = ex
            elif role == "tool":
                ex = pending.pop(message.get("tool_call_id"), None)
                if ex is None:
                    return self._problem(f"tool message for unknown tool_call_id {message.get('tool_call_id')}")
                content = message.get("content")
                ex.result = content if isinstance(content, str) else "".join(
                    b.get("text", "") for b in content or [])
                ex.is_error = ex.result.startswith(("Error", "error"))
        kind, value = self.policy(history)
        usage = {"prompt_tokens": len(json.dumps(body)) // 4, "completion_tokens": 20}
        usage["total_tokens"] = usage["prompt_tokens"] + 20
        if kind == "tool":
            name, args = value
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n:04d}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": value}, "stop"
        return 200, {}, {"id": f"chatcmpl-{n:04d}", "object": "chat.completion", "created": int(time.time()),
                         "model": body["model"], "choices": [{"index": 0, "message": message,
                                                              "finish_reason": finish, "logprobs": None}],
                         "usage": usage}


def main() -> None:
    """Serve a policy from the command line (for trying an agent by hand):
    python -m tests.helpers.fake_model_server sorting_network"""
    import sys

    policy = SolvePolicy(sys.argv[1] if len(sys.argv) > 1 else "sorting_network")
    with FakeModelServer(policy) as server:
        print(f"anthropic base {server.anthropic_base}  openai base {server.openai_base}  key {API_KEY}",
              flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()

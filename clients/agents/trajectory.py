"""Trajectories: every MCP request an agent makes, in order, with timestamps, in an ATIF-shaped JSON file.

`RecordingClient` wraps a connected `mcp.Client` and records each request
(tools/call, resources/read, prompts/get, tools/list) and its result into a
`Trajectory`. LLM agents open a step per model turn (`begin_turn`) so the tool
calls of one model output land in one ATIF step, as the format intends; agents
without a model (the scripted one) get one step per request. The format is
documented in clients/TRAJECTORY.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "ATIF-v1.4"
FORMAT = "autolab-trajectory/1"
TOOL_CALL = "tools/call"
CLIENT_ONLY = "client"  # answered by the client, never sent to the server (not replayed)


def iso(ts: float | None = None) -> str:
    """UTC ISO 8601 with milliseconds and a Z, as ATIF's examples write it."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_text(result: Any) -> str:
    """What a model would be shown for a CallToolResult: its text blocks (else its structured content)."""
    parts = [getattr(c, "text", None) for c in getattr(result, "content", []) or []]
    texts = [p for p in parts if p]
    if texts:
        return "\n".join(texts)
    structured = getattr(result, "structured_content", None)
    return json.dumps(structured) if structured is not None else ""


class Trajectory:
    """An ATIF v1.4 trajectory being built; `write()` saves it atomically (also while the episode runs)."""

    def __init__(self, session_id: str, *, agent_name: str, agent_version: str = "1", model_name: str | None = None,
                 agent_extra: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                 path: Path | None = None) -> None:
        self.session_id = session_id
        self.agent: dict[str, Any] = {"name": agent_name, "version": agent_version}
        if model_name:
            self.agent["model_name"] = model_name
        if agent_extra:
            self.agent["extra"] = agent_extra
        self.steps: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {"format": FORMAT, **(extra or {})}
        self.notes = ("One agent step per model turn (LLM agents) or per MCP request (scripted agents). "
                      "function_name is the MCP tool name, or the MCP method (contains '/') for requests "
                      "that are not tool calls. Per-call timing, ok-ness, structured results and the budget "
                      "after each call are in step.extra.calls (see clients/TRAJECTORY.md).")
        self.final_metrics: dict[str, Any] = {}
        self.path = path

    def add_step(self, source: str, message: str = "", **fields: Any) -> dict[str, Any]:
        step: dict[str, Any] = {"step_id": len(self.steps) + 1, "timestamp": iso(), "source": source,
                                "message": message}
        step.update({k: v for k, v in fields.items() if v is not None})
        self.steps.append(step)
        return step

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded request in order: the tool call, its observation and its extra details merged."""
        out = []
        for step in self.steps:
            results = {r.get("source_call_id"): r for r in (step.get("observation") or {}).get("results", [])}
            details = {d["tool_call_id"]: d for d in (step.get("extra") or {}).get("calls", [])}
            for call in step.get("tool_calls") or []:
                cid = call["tool_call_id"]
                out.append({**call, **details.get(cid, {}), "content": results.get(cid, {}).get("content"),
                            "step_id": step["step_id"], "source": step["source"]})
        return out

    def to_dict(self) -> dict[str, Any]:
        usage = [s.get("metrics") or {} for s in self.steps]
        final = {
            "total_prompt_tokens": sum(m.get("prompt_tokens", 0) for m in usage) or None,
            "total_completion_tokens": sum(m.get("completion_tokens", 0) for m in usage) or None,
            "total_cached_tokens": sum(m.get("cached_tokens", 0) for m in usage) or None,
            "total_steps": len(self.steps),
            **self.final_metrics,
        }
        doc = {
            "schema_version": SCHEMA_VERSION, "session_id": self.session_id, "agent": self.agent,
            "notes": self.notes, "steps": self.steps,
            "final_metrics": {k: v for k, v in final.items() if v is not None}, "extra": self.extra,
        }
        return doc

    def write(self, path: Path | None = None) -> Path:
        target = path or self.path
        if target is None:
            raise ValueError("no path to write the trajectory to")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str, ensure_ascii=False))
        os.replace(tmp, target)
        return target


def load_trajectory(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text())
    if doc.get("schema_version", "").split("-")[0] != "ATIF" or doc.get("extra", {}).get("format") != FORMAT:
        raise ValueError(f"{path} is not an autolab trajectory (schema_version {doc.get('schema_version')!r})")
    return doc


def calls_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded requests of a loaded trajectory, in order (see Trajectory.calls)."""
    t = Trajectory(doc["session_id"], agent_name=doc["agent"]["name"])
    t.steps = doc["steps"]
    return t.calls()


Annotator = Callable[[str, dict[str, Any]], dict[str, Any] | None]


class RecordingClient:
    """Wraps a connected MCP client; every request goes to the server and into the trajectory.

    `annotate(method, call_details)` is called after each request; what it returns is merged into
    the call's details (the runner adds the budget after the call from the run directory).
    Anything not wrapped is delegated to the inner client.
    """

    def __init__(self, client: Any, trajectory: Trajectory, *, annotate: Annotator | None = None,
                 autosave: bool = True) -> None:
        self._client = client
        self.trajectory = trajectory
        self._annotate = annotate
        self._autosave = autosave and trajectory.path is not None
        self._turn: dict[str, Any] | None = None
        self._counter = 0
        self.source = "agent"  # who issues the next requests ("runner" for the runner's final submit)
        self.submitted: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # -- steps -----------------------------------------------------------------------

    def note(self, source: str, message: str, **fields: Any) -> dict[str, Any]:
        """A system prompt or user message (LLM agents)."""
        step = self.trajectory.add_step(source, message, **fields)
        self._save()
        return step

    def begin_turn(self, message: str = "", *, reasoning: str | None = None, model_name: str | None = None,
                   metrics: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """One model output: the following requests are its tool calls, until end_turn()."""
        self._turn = self.trajectory.add_step("agent", message, reasoning_content=reasoning, model_name=model_name,
                                              metrics=metrics or None, extra=dict(extra or {}))
        self._save()
        return self._turn

    def end_turn(self) -> None:
        self._turn = None

    def _next_id(self) -> str:
        self._counter += 1
        return f"call_{self._counter:04d}"

    def _record(self, method: str, name: str, arguments: dict[str, Any], call_id: str | None, started: float,
                ok: bool, content: str, structured: Any = None, error_kind: str | None = None) -> None:
        call_id = call_id or self._next_id()
        finished = time.time()
        details: dict[str, Any] = {
            "tool_call_id": call_id, "method": method, "started_at": iso(started), "finished_at": iso(finished),
            "seconds": round(finished - started, 4), "ok": ok,
        }
        if self.source != "agent":
            details["by"] = self.source
        if structured is not None:
            details["structured_content"] = structured
        if error_kind:
            details["error_kind"] = error_kind
        if self._annotate is not None:
            try:
                details.update(self._annotate(method if method != TOOL_CALL else name, details) or {})
            except Exception as exc:  # never let bookkeeping break an episode
                details["annotate_error"] = repr(exc)
        step = self._turn
        if step is None or self.source != "agent":
            step = self.trajectory.add_step("agent", "", extra={})
            step["timestamp"] = iso(started)
        step.setdefault("tool_calls", []).append({"tool_call_id": call_id, "function_name": name,
                                                  "arguments": arguments})
        step.setdefault("observation", {"results": []})["results"].append({"source_call_id": call_id,
                                                                           "content": content})
        step.setdefault("extra", {}).setdefault("calls", []).append(details)
        self._save()

    def _save(self) -> None:
        if self._autosave:
            self.trajectory.write()

    def record_refused(self, name: str, arguments: dict[str, Any], call_id: str | None, content: str) -> None:
        """A tool call the model made that the client answered itself (bad arguments, unknown tool)."""
        self._record(CLIENT_ONLY, name, arguments, call_id, time.time(), False, content, error_kind="client_refused")

    # -- MCP requests ------------------------------------------------------------------

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None,
                        read_timeout_seconds: float | None = None, progress_callback: Any = None, *,
                        call_id: str | None = None, **kw: Any) -> Any:
        args = dict(arguments or {})
        started = time.time()
        try:
            result = await self._client.call_tool(name, args, read_timeout_seconds, progress_callback, **kw)
        except Exception as exc:
            self._record(TOOL_CALL, name, args, call_id, started, False, f"{type(exc).__name__}: {exc}",
                         error_kind="exception")
            raise
        ok = not result.is_error
        self._record(TOOL_CALL, name, args, call_id, started, ok, result_text(result),
                     structured=result.structured_content, error_kind=None if ok else "tool_error")
        structured = result.structured_content or {}
        if ok and (name == "submit" or (name == "score_status" and structured.get("split") == "final")):
            self.submitted = structured  # a pending submit too: the episode is over, the score follows
        return result

    async def read_resource(self, uri: Any, **kw: Any) -> Any:
        started = time.time()
        try:
            result = await self._client.read_resource(uri, **kw)
        except Exception as exc:
            self._record("resources/read", "resources/read", {"uri": str(uri)}, None, started, False,
                         f"{type(exc).__name__}: {exc}", error_kind="exception")
            raise
        text = "\n".join(getattr(c, "text", "") or "" for c in result.contents)
        self._record("resources/read", "resources/read", {"uri": str(uri)}, None, started, True, text)
        return result

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None, **kw: Any) -> Any:
        started = time.time()
        args = {"name": name, "arguments": dict(arguments or {})}
        try:
            result = await self._client.get_prompt(name, arguments, **kw)
        except Exception as exc:
            self._record("prompts/get", "prompts/get", args, None, started, False, f"{type(exc).__name__}: {exc}",
                         error_kind="exception")
            raise
        text = "\n\n".join(getattr(m.content, "text", "") or "" for m in result.messages)
        self._record("prompts/get", "prompts/get", args, None, started, True, text)
        return result

    async def list_tools(self, *a: Any, **kw: Any) -> Any:
        started = time.time()
        try:
            result = await self._client.list_tools(*a, **kw)
        except Exception as exc:
            self._record("tools/list", "tools/list", {}, None, started, False, f"{type(exc).__name__}: {exc}",
                         error_kind="exception")
            raise
        listing = [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
                   for t in result.tools]
        self._record("tools/list", "tools/list", {}, None, started, True, json.dumps(listing))
        return result

"""The unit of work, one episode from task to signed result, and a pool of them.

`run_one(task, agent, seed, out_dir) -> EpisodeOutcome` starts its own server over stdio
(`autolab-mcp serve --task T --run-dir OUT/runs/EPISODE`), runs the agent until it submits, runs out
of budget or out of turns (the runner then submits the last snapshot), and reads the scorer-signed
result. It shares nothing with other episodes (own run directory, workspace, budget, scorer, log
files) and keeps no global state, so a batch can fan out on threads here or on Ray / Kubernetes jobs.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, Any

import anyio
from mcp import Client
from mcp.client.stdio import stdio_client

from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.core.taskspec import Task
from clients.agents.base import Agent, AgentOptions, EpisodeContext, agent_slug, make_agent
from clients.agents.trajectory import TOOL_CALL, RecordingClient, Trajectory, iso
from clients.evalrun.budget import budget_used, ledger_budget
from clients.evalrun.launch import READ_TIMEOUT, serve_args, serve_params
from clients.evalrun.models import CurvePoint, EpisodeOutcome, Progress, ProgressFn, ServerOptions
from clients.evalrun.monitor import RunMonitor, wait_for_result
from clients.evalrun.paths import EvalDir

__all__ = ["SUBMIT_GRACE", "episode_id_for", "run_batch", "run_one"]

SUBMIT_GRACE = 60.0  # seconds past the wall budget before the runner stops the agent


def episode_id_for(task: str, agent: str, seed: int) -> str:
    return f"{Path(task).name}__{agent_slug(agent)}__s{seed}"


def run_one(task: str, agent: str, seed: int, out_dir: Path, *, agent_options: AgentOptions | None = None,
            server: ServerOptions | None = None, progress: ProgressFn | None = None,
            public_key: Path | None = None) -> EpisodeOutcome:
    """One episode, start to signed result. Never raises for an agent's or a server's failure: the
    outcome says what went wrong (status "error"). Safe to call from several threads at once. The result's
    signature is checked with the pinned scorer public key `public_key` (default_public_key_path() if None)."""
    return anyio.run(_run_one_async, task, agent, seed, Path(out_dir).resolve(), agent_options or AgentOptions(),
                     server or ServerOptions(), progress, public_key)


async def _run_one_async(task_name: str, agent_spec: str, seed: int, out_dir: Path, agent_options: AgentOptions,
                         server: ServerOptions, progress: ProgressFn | None,
                         public_key: Path | None = None) -> EpisodeOutcome:
    episode = _Episode(find_task(task_name), agent_spec, seed, EvalDir(out_dir), server, progress)
    agent = make_agent(agent_spec, agent_options)
    command, args = serve_args(episode.task, episode.runs_dir, server.args())
    trajectory = episode.open_trajectory(agent, agent_options, [Path(command).name, *args])
    episode.publish()
    await episode.drive(agent, trajectory, command, args)
    collect(episode.outcome, episode.monitor, episode.started, public_key)
    episode.finish(trajectory)
    return episode.outcome


class _Episode:
    """One episode while it runs: the state its steps share (outcome, progress, the run-directory monitor)."""

    def __init__(self, task: Task, agent_spec: str, seed: int, out: EvalDir, server: ServerOptions,
                 progress: ProgressFn | None) -> None:
        self.task = task
        self.agent_spec = agent_spec
        self.seed = seed
        self.out = out
        self.server = server
        self.progress = progress
        self.eid = episode_id_for(task.name, agent_spec, seed)
        self.runs_dir = out.episode_runs(self.eid)
        self._claim_output()
        self.outcome = EpisodeOutcome(episode_id=self.eid, task=task.name, agent=agent_spec, seed=seed)
        self.state = Progress(episode_id=self.eid, task=task.name, seed=seed)
        self.started = time.monotonic()
        self.wall_limit = server.wall_sec or task.config.agent.timeout_sec
        self.monitor = RunMonitor(self.runs_dir)
        self.best: float | None = None  # the best feedback score so far
        self.agent_info: dict[str, Any] = {}  # what the agent reports about itself (EpisodeContext.extra)
        self._agent_log: IO[str] | None = None

    def _claim_output(self) -> None:
        """A used output directory is refused, never mixed: each episode's run directory starts empty."""
        self.out.make_dirs()
        if self.runs_dir.exists() and any(self.runs_dir.iterdir()):
            raise FileExistsError(f"{self.runs_dir} already holds a run; use a fresh --out directory")
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    # -- progress ---------------------------------------------------------------------------------

    def publish(self, **changes: Any) -> None:
        """Update the progress state and hand a copy to the display; a display failure never stops the run."""
        for key, value in changes.items():
            setattr(self.state, key, value)
        if self.progress is not None:
            with contextlib.suppress(Exception):
                self.progress(self.state.model_copy())

    def annotate(self, name: str, details: dict[str, Any]) -> dict[str, Any]:
        """After every request: the budget it left (into the trajectory), a feedback score (into the curve)."""
        self.monitor.refresh()
        budget = self.monitor.budget or ledger_budget(self.monitor.run)  # requests that are not tool calls
        used, kind = budget_used(budget)
        structured = details.get("structured_content") or {}
        if name == "get_metric" and details.get("ok") and isinstance(structured.get("score"), int | float):
            self._note_feedback(float(structured["score"]), used)
        self.publish(budget_used=used, budget_kind=kind, best_score=self.best, last_call=name,
                     calls=self.state.calls + 1, status="running")
        return {"budget_after": budget, "budget_used": used}

    def _note_feedback(self, score: float, used: float) -> None:
        self.outcome.feedback_scores.append(score)
        self.best = score if self.best is None else max(score, self.best)
        self.outcome.curve.append(CurvePoint(budget_used=used, best_score=self.best, score=score,
                                             elapsed_sec=round(time.monotonic() - self.started, 2), kind="metric"))

    def log_line(self, line: str) -> None:
        """The agent's own log line, timestamped, into logs/EPISODE.agent.log."""
        if self._agent_log is not None:
            self._agent_log.write(f"{iso()} {line}\n")
            self._agent_log.flush()

    # -- the episode ------------------------------------------------------------------------------

    def open_trajectory(self, agent: Agent, agent_options: AgentOptions, server_command: list[str]) -> Trajectory:
        path = self.out.trajectory(self.eid)
        self.outcome.trajectory = str(path)
        return Trajectory(
            f"{self.eid}-{int(time.time())}", agent_name=self.agent_spec, model_name=agent.model_name,
            agent_extra={"seed": self.seed,
                         "options": agent_options.model_dump(exclude={"api_key"}, exclude_none=True)},
            extra={"task": self.task.name, "task_root": str(self.task.root), "seed": self.seed,
                   "episode_id": self.eid,
                   "server": {"command": server_command, "options": self.server.model_dump(exclude_none=True)},
                   "started_at": iso()},
            path=path,
        )

    async def drive(self, agent: Agent, trajectory: Trajectory, command: str, args: list[str]) -> None:
        """Serve the episode, run the agent, submit what it left open, wait for the signed result. A failure
        of the server or the MCP session lands in the outcome, not in an exception."""
        params = serve_params(command, args, cwd=self.runs_dir)
        with open(self.out.agent_log(self.eid), "a", encoding="utf-8") as agent_log, \
                open(self.out.server_log(self.eid), "a", encoding="utf-8") as server_log:
            self._agent_log = agent_log
            try:
                async with Client(stdio_client(params, errlog=server_log),
                                  read_timeout_seconds=READ_TIMEOUT) as client:
                    recorder = RecordingClient(client, trajectory, annotate=self.annotate)
                    await self._run_agent(agent, recorder)
                    await self._submit_if_open(recorder)
                    await wait_for_result(self.monitor)
            except Exception as exc:
                self.outcome.add_error(f"runner: {type(exc).__name__}: {exc}")
            finally:
                self._agent_log = None

    async def _run_agent(self, agent: Agent, recorder: RecordingClient) -> None:
        """The agent until it stops or its wall budget (plus a grace to submit) is over; a failing agent's
        work so far is still submitted and scored."""
        deadline = self.wall_limit + SUBMIT_GRACE
        ctx = EpisodeContext(client=recorder, task=self.task, seed=self.seed, log=self.log_line,
                             deadline=self.started + deadline, budget_spent=self.monitor.exhausted,
                             extra=self.agent_info)
        with anyio.move_on_after(deadline):
            try:
                await agent.run(ctx)
            except Exception as exc:
                self.outcome.error = f"agent: {type(exc).__name__}: {exc}"
                self.log_line(f"agent failed: {self.outcome.error}")
        self.outcome.submitted_by = "agent" if recorder.submitted is not None else None

    async def _submit_if_open(self, recorder: RecordingClient) -> None:
        """The runner submits the last snapshot unless the agent or the server (the wall budget) did."""
        self.monitor.refresh()
        if recorder.submitted is not None or self.monitor.submitted:
            return
        self.publish(status="submitting")
        recorder.source = "runner"
        with contextlib.suppress(Exception):
            result = await recorder.call_tool("submit", {})
            if not result.is_error:
                self.outcome.submitted_by = "runner"

    def finish(self, trajectory: Trajectory) -> None:
        """The trajectory's summary, the outcome's file, the last progress update."""
        outcome = self.outcome
        trajectory.final_metrics["extra"] = {"score": outcome.score, "valid": outcome.valid,
                                             "submitted_by": outcome.submitted_by, "agent": self.agent_info}
        trajectory.extra.update({"finished_at": iso(), "run_id": outcome.run_id, "result": {
            "score": outcome.score, "metric": outcome.metric, "valid": outcome.valid,
            "signature_ok": outcome.signature_ok}})
        trajectory.write()
        outcome.tool_calls = sum(1 for c in trajectory.calls() if c.get("method") == TOOL_CALL)
        outcome.agent_info = self.agent_info
        usage = trajectory.to_dict()["final_metrics"]
        outcome.tokens = {k: v for k, v in usage.items() if k.endswith("_tokens")}
        self.out.episode(self.eid).write_text(outcome.model_dump_json(indent=1))
        self.publish(status="done" if outcome.status == "submitted" else "error", final_score=outcome.score,
                     budget_used=outcome.budget_used or self.state.budget_used)


# -- the outcome, from the run directory ---------------------------------------------------------------


def collect(outcome: EpisodeOutcome, monitor: RunMonitor, started: float, public_key: Path | None = None) -> None:
    """Fill the outcome from what the server left: the signed result (checked) and the ledger's final state."""
    monitor.refresh()
    outcome.elapsed_sec = round(time.monotonic() - started, 2)
    run = monitor.run
    if run is None:
        outcome.error = outcome.error or "the server never created its run directory (see the server log)"
        return
    outcome.run_id = run.run_id
    outcome.run_dir = str(run.path)
    if run.submitted():
        _read_result(outcome, run, public_key)
    else:
        outcome.error = outcome.error or "no result.json: the episode was not submitted"
    budget = ledger_budget(run) or monitor.budget  # the ledger's final state (wall as of the server's stop)
    if budget:
        _read_budget(outcome, budget)
    outcome.best_feedback = max(outcome.feedback_scores) if outcome.feedback_scores else None
    outcome.curve.append(CurvePoint(budget_used=outcome.budget_used or 0.0, best_score=outcome.best_feedback,
                                    score=outcome.score, elapsed_sec=outcome.elapsed_sec, kind="final"))


def _read_result(outcome: EpisodeOutcome, run: RunDir, public_key: Path | None) -> None:
    from autolab_mcp.cli import verify_result  # the server's CLI loads clients.evalrun as a plugin: import late

    doc = run.read_result_document() or {}
    record = doc["record"]
    outcome.status = "submitted"
    outcome.valid = record.get("valid")
    outcome.score = record.get("score")
    outcome.metric = record.get("metric")
    outcome.reason = record.get("reason", "")
    outcome.verdict = record.get("verdict", "")
    outcome.isolation = record.get("isolation", "strong")
    outcome.review = list(record.get("review") or [])
    if doc.get("auto"):
        outcome.submitted_by = "wall-budget"
    outcome.signature_ok, outcome.signature_note = verify_result(run.path, public_key)


def _read_budget(outcome: EpisodeOutcome, budget: dict[str, Any]) -> None:
    outcome.budget = budget
    outcome.budget_used = budget_used(budget)[0]
    outcome.experiments = int(budget["experiments"]["used"])
    outcome.score_calls = int(budget["score_calls"]["used"])
    outcome.compute_sec = round(float(budget["compute_sec"]["used"]), 3)
    outcome.wall_sec = round(float(budget["wall_sec"]["used"]), 3)


# -- a batch ---------------------------------------------------------------------------------------------


def run_batch(tasks: list[str], agent: str, seeds: list[int], out_dir: Path, *, parallel: int = 1,
              agent_options: AgentOptions | None = None, server: ServerOptions | None = None,
              progress: ProgressFn | None = None, public_key: Path | None = None) -> list[EpisodeOutcome]:
    """Every (task, seed) episode, up to `parallel` at a time; outcomes in (task, seed) order."""
    jobs = [(t, s) for t in tasks for s in seeds]
    outcomes: dict[tuple[str, int], EpisodeOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="episode")
    try:
        futures = {pool.submit(run_one, t, agent, s, out_dir, agent_options=agent_options, server=server,
                               progress=progress, public_key=public_key): (t, s) for t, s in jobs}
        for future in as_completed(futures):
            t, s = futures[future]
            try:
                outcomes[(t, s)] = future.result()
            except Exception as exc:  # setup failures (an unknown task, a used output directory)
                outcomes[(t, s)] = EpisodeOutcome(episode_id=episode_id_for(t, agent, s), task=Path(t).name,
                                                  agent=agent, seed=s, error=f"{type(exc).__name__}: {exc}")
    except BaseException:  # Ctrl-C: start nothing new; running episodes end with their servers' stdin
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [outcomes[j] for j in jobs]

"""`autolab-mcp eval`: run agents on tasks over MCP, collect the signed results, report, plot, replay.

    autolab-mcp eval --task NAME|all --agent AGENT [--seeds N] [--parallel K] [--out DIR] [--json]
    python -m clients.evalrun replay DIR/trajectories/EPISODE.json
    python -m clients.evalrun finalize RUNS_DIR/RUN_ID     (submit a run a client left open)

The unit of work is one episode, `run_one(task, agent, seed, out_dir) -> EpisodeOutcome`:
it starts its own server over stdio (`autolab-mcp serve --task T --run-dir
DIR/runs/EPISODE`), runs the agent until it submits, runs out of budget or out of
turns (the runner then submits the last snapshot), and reads the scorer-signed
result.json. It shares nothing with other episodes (own run directory, workspace,
budget, scorer, log files) and keeps no global state, so a batch can fan out on
threads here or on Ray / Kubernetes jobs later.

Output layout under --out DIR:

    report.json, report.md, curves.png
    episodes/EPISODE.json        the EpisodeOutcome
    trajectories/EPISODE.json    every MCP request and result (clients/TRAJECTORY.md)
    logs/EPISODE.server.log      the server's stderr; logs/EPISODE.agent.log the agent's own lines
    runs/EPISODE/RUN_ID/         the server's run directory (events.jsonl, snapshots, result.json)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import BaseModel, Field

from autolab_mcp.core.signatures import default_public_key_path
from autolab_mcp.core.taskspec import Task, bundled_tasks_dir, find_task, list_tasks
from clients.agents.base import AgentOptions, EpisodeContext, agent_slug, make_agent
from clients.agents.trajectory import (
    CLIENT_ONLY,
    TOOL_CALL,
    RecordingClient,
    Trajectory,
    calls_of,
    iso,
    load_trajectory,
)

REPORT_FORMAT = "autolab-eval-report/1"
INTERVAL_METHOD = "Student t 95% interval over seeds: mean +- t(0.975, n-1) * sd / sqrt(n); none for n = 1"
BUDGET_USED = ("the largest fraction spent of any budget kind (wall seconds, compute seconds, experiments, "
               "score calls), so 1.0 means some budget ran out")
BUDGET_KINDS = ("wall_sec", "compute_sec", "experiments", "score_calls")
READ_TIMEOUT = 900.0
SUBMIT_GRACE = 60.0  # seconds past the wall budget before the runner stops the agent
RESULT_WAIT = 900.0  # how long to wait for an automatic submission in progress

# Student t 0.975 quantiles for 1..30 degrees of freedom
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if df <= len(_T975):
        return _T975[df - 1]
    return 2.021 if df <= 40 else 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


def mean_ci(values: list[float]) -> tuple[float | None, list[float] | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, [mean - half, mean + half]


# -- the unit of work -----------------------------------------------------------------------------


class ServerOptions(BaseModel):
    """How each episode's server is started (budget overrides go to `autolab-mcp serve`)."""

    backend: str = "bwrap"
    #: real: the wall budget counts since the episode started, downtime (a lost server, a retry) included
    wall_mode: str = "real"
    wall_sec: float | None = None
    compute_sec: float | None = None
    experiments: int | None = None
    score_calls: int | None = None

    def args(self) -> list[str]:
        out = ["--backend", self.backend, "--wall-mode", self.wall_mode]
        for name in BUDGET_KINDS:
            value = getattr(self, name)
            if value is not None:
                out += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
        return out


class CurvePoint(BaseModel):
    budget_used: float  # see BUDGET_USED
    best_score: float | None
    score: float | None = None
    elapsed_sec: float
    kind: str  # "metric" (a get_metric result) or "final"


class EpisodeOutcome(BaseModel):
    episode_id: str
    task: str
    agent: str
    seed: int
    status: str = "error"  # "submitted" (a signed result exists) or "error"
    error: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    trajectory: str | None = None
    submitted_by: str | None = None  # agent | runner | wall-budget
    valid: bool | None = None
    score: float | None = None  # normalized final score (baseline 0, reference 1)
    metric: float | None = None  # the raw metric on the final split
    reason: str = ""
    verdict: str = ""
    signature_ok: bool | None = None
    signature_note: str = ""
    isolation: str | None = None  # "strong" | "weak", from the signed record
    review: list[str] = Field(default_factory=list)  # the scorer's flags: an implausible result to check by hand
    budget: dict[str, Any] | None = None  # BudgetReport at the end
    budget_used: float | None = None
    experiments: int | None = None
    score_calls: int | None = None
    compute_sec: float | None = None
    wall_sec: float | None = None
    elapsed_sec: float = 0.0
    tool_calls: int = 0
    feedback_scores: list[float] = Field(default_factory=list)
    best_feedback: float | None = None
    curve: list[CurvePoint] = Field(default_factory=list)
    agent_info: dict[str, Any] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)


class Progress(BaseModel):
    episode_id: str
    task: str
    seed: int
    status: str = "starting"
    started: float = Field(default_factory=time.monotonic)
    budget_used: float = 0.0
    budget_kind: str = ""
    best_score: float | None = None
    final_score: float | None = None
    last_call: str = ""
    calls: int = 0


ProgressFn = Callable[[Progress], None]


def budget_fractions(report: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for kind in BUDGET_KINDS:
        line = (report or {}).get(kind) or {}
        limit = line.get("limit") or 0
        out[kind] = (line.get("used", 0.0) / limit) if limit else (1.0 if line else 0.0)
    return out


def budget_used(report: dict[str, Any] | None) -> tuple[float, str]:
    fractions = budget_fractions(report)
    kind = max(fractions, key=lambda k: fractions[k]) if fractions else ""
    return (round(fractions.get(kind, 0.0), 5), kind)


class RunMonitor:
    """Follows a server's run directory from the outside: the budget after each call, an automatic submit."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.run_dir: Path | None = None
        self._offset = 0
        self._partial = b""
        self.budget: dict[str, Any] | None = None
        self.auto_submitted = False
        self.submitted = False

    def _find(self) -> Path | None:
        if self.run_dir is None and self.runs_dir.is_dir():
            found = [p for p in self.runs_dir.iterdir() if (p / "meta.json").exists()]
            if found:
                self.run_dir = found[0]
        return self.run_dir

    def refresh(self) -> None:
        run_dir = self._find()
        if run_dir is None or not (run_dir / "events.jsonl").exists():
            return
        with open(run_dir / "events.jsonl", "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            budget = event.get("budget")
            if isinstance(budget, dict) and isinstance(budget.get("wall_sec"), dict):  # a BudgetReport
                self.budget = budget
            if event.get("kind") == "submitted":
                self.submitted = True
                self.auto_submitted = bool(event.get("auto"))

    def result_path(self) -> Path | None:
        run_dir = self._find()
        return run_dir / "result.json" if run_dir else None

    def wall_fraction(self, limit: float, started: float) -> float:
        return (time.monotonic() - started) / limit if limit else 0.0

    def exhausted(self) -> bool:
        """The episode is over on the server's side (submitted, e.g. automatically when the wall clock ran
        out), or nothing useful is left: no experiment and no score call can be made."""
        self.refresh()
        if self.submitted:
            return True
        f = budget_fractions(self.budget)
        if not self.budget:
            return False
        no_experiments = f["experiments"] >= 1 or f["compute_sec"] >= 1
        return f["wall_sec"] >= 1 or (no_experiments and f["score_calls"] >= 1)


def ledger_budget(run_dir: Path | None) -> dict[str, Any] | None:
    """budget.json (the ledger as last persisted) in the shape of a BudgetReport: limit and used per kind."""
    path = run_dir / "budget.json" if run_dir else None
    if path is None or not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except ValueError:  # being replaced right now
        return None
    limits = state["limits"]
    return {kind: {"limit": limits[kind], "used": state[used]} for kind, used in (
        ("wall_sec", "wall_used"), ("compute_sec", "compute_used"), ("experiments", "experiments_used"),
        ("score_calls", "score_calls_used"))}


def server_command() -> tuple[str, list[str]]:
    """`autolab-mcp serve`, as a real MCP client would start it (the console script next to this python)."""
    script = Path(sys.executable).with_name("autolab-mcp")
    if script.exists():
        return str(script), ["serve"]
    return sys.executable, ["-m", "autolab_mcp.cli", "serve"]


def server_env() -> dict[str, str]:
    """Our own settings (scorer key, cache dirs) follow; no bearer token, nothing else."""
    return {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}


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
    task = find_task(task_name)
    eid = episode_id_for(task.name, agent_spec, seed)
    runs_dir = (out_dir / "runs" / eid).resolve()
    logs = out_dir / "logs"
    for directory in (logs, out_dir / "trajectories", out_dir / "episodes"):
        directory.mkdir(parents=True, exist_ok=True)
    if runs_dir.exists() and any(runs_dir.iterdir()):
        raise FileExistsError(f"{runs_dir} already holds a run; use a fresh --out directory")
    runs_dir.mkdir(parents=True, exist_ok=True)
    outcome = EpisodeOutcome(episode_id=eid, task=task.name, agent=agent_spec, seed=seed)
    state = Progress(episode_id=eid, task=task.name, seed=seed)
    started = time.monotonic()
    wall_limit = server.wall_sec or task.config.agent.timeout_sec
    monitor = RunMonitor(runs_dir)
    best: list[float] = []

    def publish(**changes: Any) -> None:
        for key, value in changes.items():
            setattr(state, key, value)
        if progress is not None:
            with contextlib.suppress(Exception):
                progress(state.model_copy())

    def annotate(name: str, details: dict[str, Any]) -> dict[str, Any]:
        monitor.refresh()
        budget = monitor.budget or ledger_budget(monitor.run_dir)  # requests that are not tool calls: the ledger
        used, kind = budget_used(budget)
        extra: dict[str, Any] = {"budget_after": budget, "budget_used": used}
        structured = details.get("structured_content") or {}
        if name == "get_metric" and details.get("ok") and isinstance(structured.get("score"), int | float):
            score = float(structured["score"])
            outcome.feedback_scores.append(score)
            best.append(max(score, best[-1]) if best else score)
            outcome.curve.append(CurvePoint(budget_used=used, best_score=best[-1], score=score,
                                            elapsed_sec=round(time.monotonic() - started, 2), kind="metric"))
        publish(budget_used=used, budget_kind=kind, best_score=best[-1] if best else None, last_call=name,
                calls=state.calls + 1, status="running")
        return extra

    command, base = server_command()
    bundled = task.root.parent.resolve() == bundled_tasks_dir().resolve()
    args = [*base, "--task", task.name if bundled else str(task.root), "--run-dir", str(runs_dir), *server.args()]
    agent = make_agent(agent_spec, agent_options)
    trajectory_path = out_dir / "trajectories" / f"{eid}.json"
    trajectory = Trajectory(
        f"{eid}-{int(time.time())}", agent_name=agent_spec, model_name=agent.model_name,
        agent_extra={"seed": seed, "options": agent_options.model_dump(exclude={"api_key"}, exclude_none=True)},
        extra={"task": task.name, "task_root": str(task.root), "seed": seed, "episode_id": eid,
               "server": {"command": [Path(command).name, *args], "options": server.model_dump(exclude_none=True)},
               "started_at": iso()},
        path=trajectory_path,
    )
    outcome.trajectory = str(trajectory_path)
    params = StdioServerParameters(command=command, args=args, env=server_env(), cwd=str(runs_dir))
    agent_log = open(logs / f"{eid}.agent.log", "a", encoding="utf-8")  # noqa: SIM115 - closed below
    server_log = open(logs / f"{eid}.server.log", "a", encoding="utf-8")  # noqa: SIM115

    def log_line(line: str) -> None:
        agent_log.write(f"{iso()} {line}\n")
        agent_log.flush()

    publish()
    ctx_extra: dict[str, Any] = {}
    try:
        async with Client(stdio_client(params, errlog=server_log), read_timeout_seconds=READ_TIMEOUT) as client:
            recorder = RecordingClient(client, trajectory, annotate=annotate)
            ctx = EpisodeContext(client=recorder, task=task, seed=seed, log=log_line,
                                 deadline=started + wall_limit + SUBMIT_GRACE, budget_spent=monitor.exhausted,
                                 extra=ctx_extra)
            with anyio.move_on_after(wall_limit + SUBMIT_GRACE):
                try:
                    await agent.run(ctx)
                except Exception as exc:  # the agent failed: its work so far is still submitted and scored
                    outcome.error = f"agent: {type(exc).__name__}: {exc}"
                    log_line(f"agent failed: {outcome.error}")
            outcome.submitted_by = "agent" if recorder.submitted is not None else None
            monitor.refresh()
            if recorder.submitted is None and not monitor.submitted:
                publish(status="submitting")
                recorder.source = "runner"
                with contextlib.suppress(Exception):
                    result = await recorder.call_tool("submit", {})
                    if not result.is_error:
                        outcome.submitted_by = "runner"
            await _wait_for_result(monitor)
    except Exception as exc:
        outcome.error = (outcome.error + "; " if outcome.error else "") + f"runner: {type(exc).__name__}: {exc}"
    finally:
        agent_log.close()
        server_log.close()
    _collect(outcome, monitor, started, public_key)
    trajectory.final_metrics["extra"] = {"score": outcome.score, "valid": outcome.valid,
                                         "submitted_by": outcome.submitted_by, "agent": ctx_extra}
    trajectory.extra.update({"finished_at": iso(), "run_id": outcome.run_id, "result": {
        "score": outcome.score, "metric": outcome.metric, "valid": outcome.valid,
        "signature_ok": outcome.signature_ok}})
    trajectory.write()
    outcome.tool_calls = sum(1 for c in trajectory.calls() if c.get("method") == TOOL_CALL)
    outcome.agent_info = ctx_extra
    usage = trajectory.to_dict()["final_metrics"]
    outcome.tokens = {k: v for k, v in usage.items() if k.endswith("_tokens")}
    (out_dir / "episodes" / f"{eid}.json").write_text(outcome.model_dump_json(indent=1))
    publish(status="done" if outcome.status == "submitted" else "error", final_score=outcome.score,
            budget_used=outcome.budget_used or state.budget_used)
    return outcome


async def _wait_for_result(monitor: RunMonitor) -> None:
    """An automatic (wall-budget) or runner submission may still be evaluating."""
    deadline = time.monotonic() + RESULT_WAIT
    while time.monotonic() < deadline:
        path = monitor.result_path()
        if path is not None and path.exists():
            return
        monitor.refresh()
        if monitor.run_dir is None:
            return
        await anyio.sleep(0.5)


def _collect(outcome: EpisodeOutcome, monitor: RunMonitor, started: float, public_key: Path | None = None) -> None:
    from autolab_mcp.cli import verify_result

    monitor.refresh()
    outcome.elapsed_sec = round(time.monotonic() - started, 2)
    run_dir = monitor.run_dir
    if run_dir is None:
        outcome.error = outcome.error or "the server never created its run directory (see the server log)"
        return
    outcome.run_id = run_dir.name
    outcome.run_dir = str(run_dir)
    result_path = run_dir / "result.json"
    if result_path.exists():
        doc = json.loads(result_path.read_text())
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
        outcome.signature_ok, outcome.signature_note = verify_result(run_dir, public_key)
    else:
        outcome.error = outcome.error or "no result.json: the episode was not submitted"
    budget = ledger_budget(run_dir) or monitor.budget  # the ledger's final state (wall as of the server's stop)
    if budget:
        outcome.budget = budget
        outcome.budget_used = budget_used(budget)[0]
        outcome.experiments = int(budget["experiments"]["used"])
        outcome.score_calls = int(budget["score_calls"]["used"])
        outcome.compute_sec = round(float(budget["compute_sec"]["used"]), 3)
        outcome.wall_sec = round(float(budget["wall_sec"]["used"]), 3)
    outcome.best_feedback = max(outcome.feedback_scores) if outcome.feedback_scores else None
    outcome.curve.append(CurvePoint(budget_used=outcome.budget_used or 0.0, best_score=outcome.best_feedback,
                                    score=outcome.score, elapsed_sec=outcome.elapsed_sec, kind="final"))


# -- a batch --------------------------------------------------------------------------------------


class LiveTable:
    """Progress on stderr: a table redrawn in place on a terminal, else a line per notable change."""

    def __init__(self, stream: Any = None, interval: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.rows: dict[str, Progress] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_line: dict[str, tuple[Any, float]] = {}

    def update(self, p: Progress) -> None:
        with self._lock:
            self.rows[p.episode_id] = p
            if not self.tty:  # a line when the status or a score changes, else at most every 30 s
                key = (p.status, p.best_score, p.final_score)
                last_key, last_time = self._last_line.get(p.episode_id, (None, 0.0))
                now = time.monotonic()
                if last_key != key or now - last_time >= 30:
                    self._last_line[p.episode_id] = (key, now)
                    print(self._format(p), file=self.stream, flush=True)

    @staticmethod
    def header() -> str:
        return f"{'task':<16} {'seed':>4} {'status':<11} {'elapsed':>8} {'budget used':>18} {'best fb':>8} " \
               f"{'final':>7} {'calls':>5}  last call"

    @staticmethod
    def _format(p: Progress) -> str:
        elapsed = time.monotonic() - p.started
        used = f"{p.budget_used * 100:5.1f}% {p.budget_kind}" if p.budget_kind else "-"
        best = "-" if p.best_score is None else f"{p.best_score:.3f}"
        final = "-" if p.final_score is None else f"{p.final_score:.3f}"
        return (f"{p.task[:16]:<16} {p.seed:>4} {p.status:<11} {elapsed:>7.0f}s {used:>18} {best:>8} {final:>7} "
                f"{p.calls:>5}  {p.last_call}")

    def _draw(self) -> None:
        with self._lock:
            lines = [self.header()] + [self._format(p) for p in self.rows.values()]
            out = ""
            if self._drawn:
                out += f"\x1b[{self._drawn}F"
            out += "".join(f"\x1b[2K{line}\n" for line in lines)
            self.stream.write(out)
            self.stream.flush()
            self._drawn = len(lines)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def start(self) -> None:
        if self.tty:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="live-table")
            self._thread.start()
        else:
            print(self.header(), file=self.stream, flush=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._draw()


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


# -- report ---------------------------------------------------------------------------------------


def build_report(outcomes: list[EpisodeOutcome], *, agent: str, seeds: list[int], parallel: int,
                 elapsed: float, server: ServerOptions | None = None, threshold: float = 0.9) -> dict[str, Any]:
    by_task: dict[str, list[EpisodeOutcome]] = {}
    for o in outcomes:
        by_task.setdefault(o.task, []).append(o)
    per_task: dict[str, Any] = {}
    for name, items in by_task.items():
        try:
            task: Task | None = find_task(name)
        except Exception:
            task = None
        scores = [o.score if o.status == "submitted" and o.score is not None else 0.0 for o in items]
        mean, ci = mean_ci(scores)

        def avg(field: str, items: list[EpisodeOutcome] = items) -> float | None:
            values = [getattr(o, field) for o in items if getattr(o, field) is not None]
            return round(statistics.fmean(values), 4) if values else None

        per_task[name] = {
            "axis": task.axis if task else None,
            "metric_name": task.config.optimization.metric if task else None,
            "direction": task.config.optimization.direction if task else None,
            "seeds": [o.seed for o in items],
            "scores": [o.score if o.status == "submitted" else None for o in items],
            "mean": None if mean is None else round(mean, 4),
            "ci95": None if ci is None else [round(ci[0], 4), round(ci[1], 4)],
            "n": len(items),
            "valid": sum(1 for o in items if o.valid),
            "errors": [f"seed {o.seed}: {o.error}" for o in items if o.error],
            "budget_used_mean": avg("budget_used"),
            "wall_sec_mean": avg("wall_sec"),
            "compute_sec_mean": avg("compute_sec"),
            "experiments_mean": avg("experiments"),
            "score_calls_mean": avg("score_calls"),
            "raw_metrics": [o.metric for o in items],
            "best_feedback": [o.best_feedback for o in items],
            "weak_isolation": sum(1 for o in items if o.isolation == "weak"),
            "needs_review": [o.seed for o in items if o.review],
        }
    task_means = [t["mean"] for t in per_task.values() if t["mean"] is not None]
    overall_mean, overall_ci = mean_ci(task_means)
    return {
        "format": REPORT_FORMAT,
        "created": iso(),
        "agent": agent,
        "seeds": seeds,
        "parallel": parallel,
        "server": (server or ServerOptions()).model_dump(exclude_none=True),
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "elapsed_sec": round(elapsed, 1),
        "interval_method": INTERVAL_METHOD,
        "budget_used_definition": BUDGET_USED,
        "failed_episodes_score": 0.0,
        "tasks": per_task,
        "overall": {
            "mean": None if overall_mean is None else round(overall_mean, 4),
            "ci95_over_tasks": None if overall_ci is None else [round(overall_ci[0], 4), round(overall_ci[1], 4)],
            "tasks": len(per_task), "episodes": len(outcomes),
            "submitted": sum(1 for o in outcomes if o.status == "submitted"),
            "signatures_ok": sum(1 for o in outcomes if o.signature_ok),
            "weak_isolation": sum(1 for o in outcomes if o.isolation == "weak"),
            "needs_review": sum(1 for o in outcomes if o.review),
            "threshold": threshold,
            "below_threshold": sorted(n for n, t in per_task.items() if (t["mean"] or 0.0) < threshold),
        },
        "episodes": [o.model_dump(mode="json") for o in outcomes],
    }


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def report_markdown(report: dict[str, Any], curves: str | None) -> str:
    lines = [
        f"# autolab-mcp eval: `{report['agent']}`", "",
        f"{report['created']} · seeds {report['seeds']} · parallel {report['parallel']} · "
        f"{report['elapsed_sec']:.0f} s · python {report['host']['python']}, {report['host']['cpus']} CPUs", "",
        "Scores are normalized (baseline 0, reference 1, no upper cap) and come from the scorer's signed "
        "`result.json` (final hidden split). An episode without a signed result counts as 0.", "",
        f"Interval: {report['interval_method']}.", "",
        f"Budget used: {report['budget_used_definition']}.", "",
        "| task | axis | score per seed | mean | 95% CI | raw metric per seed | budget used | experiments "
        "| score calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in report["tasks"].items():
        ci = "-" if t["ci95"] is None else f"[{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}]"
        metric = f"{t['metric_name']}: " + ", ".join("-" if m is None else f"{m:.6g}" for m in t["raw_metrics"])
        used = "-" if t["budget_used_mean"] is None else f"{t['budget_used_mean'] * 100:.1f}%"
        lines.append(f"| {name} | {t['axis']} | {', '.join(_f(s) for s in t['scores'])} | {_f(t['mean'])} | {ci} "
                     f"| {metric} | {used} | {_f(t['experiments_mean'], 1)} | {_f(t['score_calls_mean'], 1)} |")
    o = report["overall"]
    ci = "" if o["ci95_over_tasks"] is None else \
        f" (95% CI over tasks [{o['ci95_over_tasks'][0]:.3f}, {o['ci95_over_tasks'][1]:.3f}])"
    lines += ["", f"**Overall mean of task means: {_f(o['mean'])}**{ci} · {o['submitted']}/{o['episodes']} "
                  f"episodes submitted · {o['signatures_ok']} signatures verified.", ""]
    if o["below_threshold"]:
        lines += [f"Below {o['threshold']}: {', '.join(o['below_threshold'])}.", ""]
    if o.get("weak_isolation"):
        lines += [f"**Weak isolation**: {o['weak_isolation']} episode(s) were scored on a host that could not "
                  "isolate evaluations from concurrent experiments (no cpuset, freezer or lock filter: run as "
                  "root); their scores may be skewed.", ""]
    if o.get("needs_review"):
        lines += [f"**Needs review**: {o['needs_review']} result(s) are past a bound the task declares "
                  "implausible (see `review` in the episode's signed record and the note column).", ""]
    if curves:
        lines += [f"![best feedback score against budget used]({curves})", ""]
    lines += ["## Episodes", "", "| episode | status | submitted by | score | valid | wall s | compute s | experiments "
              "| score calls | tool calls | trajectory | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in report["episodes"]:
        traj = Path(e["trajectory"]).name if e.get("trajectory") else "-"
        flags = [*(["NEEDS REVIEW"] if e.get("review") else []), *(["weak isolation"] if e.get("isolation") == "weak"
                                                                    else [])]
        note = "; ".join([*flags, e.get("error") or e.get("reason") or ""]).strip("; ")
        note = note.replace("|", "/").replace("\n", " ")[:160]
        lines.append(f"| {e['episode_id']} | {e['status']} | {e.get('submitted_by') or '-'} | {_f(e['score'])} "
                     f"| {_f(e['valid'])} | {_f(e['wall_sec'], 1)} | {_f(e['compute_sec'], 1)} "
                     f"| {_f(e['experiments'])} | {_f(e['score_calls'])} | {e['tool_calls']} "
                     f"| trajectories/{traj} | {note} |")
    return "\n".join(lines) + "\n"


def draw_curves(outcomes: list[EpisodeOutcome], path: Path) -> str | None:
    """curves.png: per task, best feedback score so far against budget used, one line per episode.
    Returns None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[eval]')"
    tasks = list(dict.fromkeys(o.task for o in outcomes))
    if not tasks:
        return "no episodes"
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, tasks, strict=False):
        for o in (o for o in outcomes if o.task == name):
            points = [p for p in o.curve if p.best_score is not None]
            label = f"seed {o.seed}"
            if points:
                # every episode starts from the untouched workspace, the baseline: score 0 at no budget
                xs = [0.0, *(p.budget_used * 100 for p in points)]
                ys = [0.0, *(p.best_score for p in points)]
                end = max(xs[-1], (o.budget_used or 0) * 100)
                line = ax.step([*xs, end], [*ys, ys[-1]], where="post", label=label)[0]
                color = line.get_color()
                ax.plot(xs[1:], ys[1:], marker="o", markersize=3, linestyle="none", color=color)
            else:
                color = None
            if o.score is not None:
                ax.plot([(o.budget_used or 0) * 100], [o.score], marker="*", markersize=10, linestyle="none",
                        color=color, label=None if points else f"{label} (final only)")
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.axhline(0.0, color="grey", linewidth=0.6, linestyle=":")
        ax.set_title(name)
        ax.set_xlabel("budget used (% of the tightest budget)")
        ax.set_ylabel("best feedback score so far")
        ax.set_xlim(left=0)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle("best feedback score so far vs budget used (dot: a feedback score; star: final score; "
                 "dashed: reference = 1, dotted: baseline = 0)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_outputs(outcomes: list[EpisodeOutcome], out_dir: Path, **report_args: Any) -> dict[str, Any]:
    report = build_report(outcomes, **report_args)
    problem = draw_curves(outcomes, out_dir / "curves.png")
    report["curves"] = None if problem else "curves.png"
    if problem:
        report["curves_note"] = problem
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    (out_dir / "report.md").write_text(report_markdown(report, report["curves"]))
    return report


# -- replay ---------------------------------------------------------------------------------------


class ReplayCall(BaseModel):
    index: int
    function_name: str
    method: str
    ok_recorded: bool
    ok_replayed: bool | None = None
    shape_match: bool | None = None
    problem: str = ""


class ReplayReport(BaseModel):
    trajectory: str
    task: str
    calls: list[ReplayCall]
    matched: int
    mismatched: int
    recorded_score: float | None = None
    replayed_score: float | None = None
    run_dir: str | None = None
    replay_trajectory: str | None = None

    @property
    def ok(self) -> bool:
        return self.mismatched == 0


def _keys(value: Any) -> set[str] | None:
    return set(value) if isinstance(value, dict) else None


async def _replay_async(path: Path, out_dir: Path, backend: str | None) -> ReplayReport:
    doc = load_trajectory(path)
    extra = doc["extra"]
    server = ServerOptions(**extra.get("server", {}).get("options", {}))
    if backend:
        server.backend = backend
    task = find_task(extra.get("task_root") if Path(extra.get("task_root", "")).is_dir() else extra["task"])
    runs_dir = (out_dir / "runs").resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    command, base = server_command()
    task_arg = task.name if task.root.parent.resolve() == bundled_tasks_dir().resolve() else str(task.root)
    params = StdioServerParameters(command=command, args=[*base, "--task", task_arg, "--run-dir", str(runs_dir),
                                                          *server.args()], env=server_env())
    replay_traj = Trajectory(f"replay-{doc['session_id']}", agent_name=f"replay of {doc['agent']['name']}",
                             extra={"task": task.name, "replay_of": str(path)}, path=out_dir / "trajectory.json")
    calls: list[ReplayCall] = []
    replayed_score = None
    with open(out_dir / "server.log", "a", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=READ_TIMEOUT) as client:
            recorder = RecordingClient(client, replay_traj)
            for i, call in enumerate(calls_of(doc)):
                method = call.get("method", TOOL_CALL)
                entry = ReplayCall(index=i, function_name=call["function_name"], method=method,
                                   ok_recorded=bool(call.get("ok")))
                if method == CLIENT_ONLY:
                    continue  # never reached the server
                args = call.get("arguments") or {}
                try:
                    structured = None
                    if method == TOOL_CALL:
                        result = await recorder.call_tool(call["function_name"], args)
                        entry.ok_replayed = not result.is_error
                        structured = result.structured_content
                        if call["function_name"] == "submit" and entry.ok_replayed and structured:
                            replayed_score = structured.get("score")
                    elif method == "resources/read":
                        await recorder.read_resource(args["uri"])
                        entry.ok_replayed = True
                    elif method == "prompts/get":
                        await recorder.get_prompt(args["name"], args.get("arguments") or None)
                        entry.ok_replayed = True
                    elif method == "tools/list":
                        await recorder.list_tools()
                        entry.ok_replayed = True
                    else:
                        entry.problem = f"unknown method {method!r}"
                except Exception as exc:
                    entry.ok_replayed = False
                    entry.problem = f"{type(exc).__name__}: {exc}"
                if entry.ok_replayed is not None and entry.ok_replayed != entry.ok_recorded:
                    entry.problem = entry.problem or (
                        f"recorded {'ok' if entry.ok_recorded else 'error'}, replayed "
                        f"{'ok' if entry.ok_replayed else 'error'}")
                recorded_keys = _keys(call.get("structured_content"))
                if method == TOOL_CALL and entry.ok_recorded and entry.ok_replayed:
                    entry.shape_match = recorded_keys == _keys(structured)
                    if not entry.shape_match:
                        entry.problem = f"result keys differ: recorded {sorted(recorded_keys or [])}, " \
                                        f"replayed {sorted(_keys(structured) or [])}"
                calls.append(entry)
    replay_traj.write()
    recorded = [c for c in calls_of(doc) if c["function_name"] == "submit" and c.get("ok")]
    recorded_score = (recorded[-1].get("structured_content") or {}).get("score") if recorded else None
    mismatched = sum(1 for c in calls if c.problem)
    run_dirs = [p for p in runs_dir.iterdir() if (p / "meta.json").exists()]
    return ReplayReport(trajectory=str(path), task=task.name, calls=calls, matched=len(calls) - mismatched,
                        mismatched=mismatched, recorded_score=recorded_score, replayed_score=replayed_score,
                        run_dir=str(run_dirs[0]) if run_dirs else None, replay_trajectory=str(replay_traj.path))


def replay(path: Path, out_dir: Path | None = None, *, backend: str | None = None) -> ReplayReport:
    """Re-issue a trajectory's MCP requests, in order, against a fresh server; compare ok-ness and result keys."""
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="autolab-replay-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    return anyio.run(_replay_async, Path(path), out_dir, backend)


# -- finalize -------------------------------------------------------------------------------------


async def _finalize_async(run_dir: Path) -> dict[str, Any]:
    command, base = server_command()
    params = StdioServerParameters(command=command, args=[*base, "--resume", run_dir.name, "--run-dir",
                                                          str(run_dir.parent)], env=server_env())
    with open(run_dir.parent / f"{run_dir.name}.finalize.log", "a", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=READ_TIMEOUT) as client:
            result = await client.call_tool("submit", {})
            while not result.is_error and (result.structured_content or {}).get("status") == "pending":
                job = (result.structured_content or {})["id"]  # keep the server up until the score is in
                result = await client.call_tool("score_status", {"id": job, "wait_sec": 50})
            if result.is_error:  # the wall budget was spent: the server is submitting by itself
                monitor = RunMonitor(run_dir.parent)
                monitor.run_dir = run_dir
                await _wait_for_result(monitor)
    if (run_dir / "result.json").exists():
        return json.loads((run_dir / "result.json").read_text())["record"]
    raise RuntimeError(" ".join(getattr(c, "text", "") for c in result.content))


def finalize(run_dir: Path) -> dict[str, Any]:
    """Submit an episode a client left open (e.g. a `claude -p` session that ended without `submit`):
    resume its server and submit the last state, as the wall budget's end would."""
    run_dir = Path(run_dir).resolve()
    if (run_dir / "result.json").exists():
        return json.loads((run_dir / "result.json").read_text())["record"]
    if not (run_dir / "meta.json").exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no meta.json)")
    return anyio.run(_finalize_async, run_dir)


# -- command line ---------------------------------------------------------------------------------


def _seeds(args: argparse.Namespace) -> list[int]:
    return list(range(args.seed_start, args.seed_start + args.seeds))


def cmd_eval(args: argparse.Namespace) -> int:
    if refusal := weak_isolation_refusal(args.backend, args.allow_weak_isolation):
        print(refusal, file=sys.stderr)
        return 2
    if args.task == "all":
        every = list_tasks()
        tasks = [t.name for t in every if t.scorable]
        unscorable = [t.name for t in every if not t.scorable]
        if unscorable and not args.json:
            print(f"autolab-mcp eval: skipping {', '.join(unscorable)} (no tests/evaluate.py)", file=sys.stderr)
    else:
        names = [name.strip() for name in args.task.split(",") if name.strip()]
        tasks = [name if Path(name).is_dir() else find_task(name).name for name in names]
    out_dir: Path = args.out or Path(os.environ.get("AUTOLAB_RUN_DIR", "runs")) / "eval" / datetime.now(UTC).strftime(
        "%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = _seeds(args)
    agent_options = AgentOptions(
        base_url=args.base_url, max_turns=args.max_turns, max_tokens=args.max_tokens,
        temperature=args.temperature, context_chars=args.context_chars,
    )
    make_agent(args.agent, agent_options)  # fail fast on a bad agent spec
    server = ServerOptions(backend=args.backend, wall_mode=args.wall_mode, wall_sec=args.wall_sec,
                           compute_sec=args.compute_sec, experiments=args.experiments, score_calls=args.score_calls)
    table = None if args.json else LiveTable()
    if table is not None:
        print(f"autolab-mcp eval: {len(tasks)} task(s) x {len(seeds)} seed(s), agent {args.agent}, "
              f"parallel {args.parallel}, out {out_dir}", file=sys.stderr)
        table.start()
    started = time.monotonic()
    try:
        outcomes = run_batch(tasks, args.agent, seeds, out_dir, parallel=args.parallel, agent_options=agent_options,
                             server=server, progress=table.update if table else None, public_key=args.public_key)
    finally:
        if table is not None:
            table.stop()
    report = write_outputs(outcomes, out_dir, agent=args.agent, seeds=seeds, parallel=args.parallel,
                           elapsed=time.monotonic() - started, server=server, threshold=args.min_score)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print((out_dir / "report.md").read_text().split("## Episodes")[0].rstrip(), file=sys.stderr)
        curves = f", curves: {out_dir / 'curves.png'}" if report["curves"] else f"; no curves: {report['curves_note']}"
        print(f"\nreport: {out_dir / 'report.md'} (json: {out_dir / 'report.json'}){curves}", file=sys.stderr)
    failed = [o for o in outcomes if o.status != "submitted" or not o.signature_ok]
    if failed:
        return 1
    if args.fail_below and report["overall"]["below_threshold"]:
        return 3
    return 0


def weak_isolation_refusal(backend: str, allowed: bool) -> str | None:
    """Why eval will not run here (None: it will): scores from a host that cannot isolate evaluations
    from concurrent experiments can be skewed or leak hidden inputs, so that needs an explicit yes."""
    from autolab_mcp.core.sandbox.isolation import isolation_gaps

    gaps = isolation_gaps(backend)
    if not gaps or allowed:
        return None
    return (f"autolab-mcp eval: weak isolation with the {backend} backend on this host: {'; '.join(gaps)}. "
            "Run as root (or use --backend docker with a rootful engine), or pass --allow-weak-isolation to "
            "run anyway; results are then marked `weak isolation` in their signed records and the report.")


def cmd_replay(args: argparse.Namespace) -> int:
    report = replay(args.trajectory, args.out, backend=args.backend)
    if args.json:
        print(json.dumps({**report.model_dump(mode="json"), "ok": report.ok}, indent=1))
    else:
        for c in report.calls:
            mark = "ok " if not c.problem else "DIFF"
            print(f"{mark} {c.index:>4} {c.function_name:<20} recorded {'ok' if c.ok_recorded else 'error':<5} "
                  f"replayed {'ok' if c.ok_replayed else 'error':<5} {c.problem}")
        print(f"\n{report.matched}/{len(report.calls)} calls match; score recorded {report.recorded_score}, "
              f"replayed {report.replayed_score}; replay run: {report.run_dir}")
    return 0 if report.ok else 1


def cmd_finalize(args: argparse.Namespace) -> int:
    record = finalize(args.run_dir)
    print(json.dumps(record, indent=1))
    return 0


def _add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task name, comma-separated names, a task directory, or `all`")
    p.add_argument("--agent", default="scripted", help="scripted | anthropic:MODEL | openai:MODEL")
    p.add_argument("--seeds", type=int, default=1, help="episodes per task (seeds 0..N-1)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--parallel", type=int, default=1, help="episodes at a time")
    p.add_argument("--out", type=Path, help="output directory (default runs/eval/<timestamp>)")
    p.add_argument("--json", action="store_true", help="no progress table; print report.json to stdout")
    p.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    p.add_argument("--min-score", type=float, default=0.9, help="tasks whose mean is below are listed (0.9)")
    p.add_argument("--fail-below", action="store_true", help="exit 3 when a task's mean is below --min-score")
    p.add_argument("--public-key", type=Path, metavar="FILE", default=default_public_key_path(),
                   help="the scorer's Ed25519 public key results are verified with (default %(default)s)")
    p.add_argument("--allow-weak-isolation", action="store_true",
                   help="run even where evaluations cannot be isolated from concurrent experiments (not root: "
                   "no cpuset, freezer or lock filter); results are marked `weak isolation`")
    llm = p.add_argument_group("LLM agents")
    llm.add_argument("--base-url", help="API base (OpenAI-compatible: include /v1, e.g. http://localhost:8000/v1)")
    llm.add_argument("--max-turns", type=int, default=60)
    llm.add_argument("--max-tokens", type=int)
    llm.add_argument("--temperature", type=float)
    llm.add_argument("--context-chars", type=int, default=400_000, help="conversation kept under this size")
    budget = p.add_argument_group("budget overrides (passed to `autolab-mcp serve`)")
    budget.add_argument("--wall-mode", choices=["real", "serving"], default="real",
                        help="wall budget since the episode started, downtime included (real, the default), "
                        "or only while a server runs it (serving)")
    budget.add_argument("--wall-sec", type=float)
    budget.add_argument("--compute-sec", type=float)
    budget.add_argument("--experiments", type=int)
    budget.add_argument("--score-calls", type=int)
    p.set_defaults(func=cmd_eval)


def _add_replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trajectory", type=Path)
    p.add_argument("--out", type=Path, help="where the replay's run directory goes (default: a temp dir)")
    p.add_argument("--backend", choices=["bwrap", "docker"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)


def add_parser(sub: Any) -> None:
    """Registers `eval` and `replay` on the autolab-mcp command line."""
    _add_eval_arguments(sub.add_parser("eval", help="run an agent on tasks over MCP; report, curves, trajectories"))
    _add_replay_arguments(sub.add_parser("replay", help="re-issue a trajectory's tool calls against a fresh server"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clients.evalrun", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_eval_arguments(sub.add_parser("run", help="same as `autolab-mcp eval`"))
    _add_replay_arguments(sub.add_parser("replay", help="re-issue a trajectory's tool calls against a fresh server"))
    fin = sub.add_parser("finalize", help="submit a run a client left open (resumes its server)")
    fin.add_argument("run_dir", type=Path, help="RUNS_DIR/RUN_ID")
    fin.set_defaults(func=cmd_finalize)
    args = parser.parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()

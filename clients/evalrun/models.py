"""The runner's data: plain pydantic models, so outcomes and progress can cross threads, processes or hosts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from clients.evalrun.budget import BUDGET_KINDS

__all__ = ["CurvePoint", "EpisodeOutcome", "Progress", "ProgressFn", "ReplayCall", "ReplayReport", "ServerOptions"]


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
        """The `autolab-mcp serve` options these settings stand for."""
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

    def add_error(self, error: str) -> None:
        """Keep every failure an episode met, the first one first."""
        self.error = (self.error + "; " if self.error else "") + error


class Progress(BaseModel):
    """One episode's state for a live display; a copy is handed out after every change."""

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

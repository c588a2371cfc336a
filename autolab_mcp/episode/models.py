"""The episode's public records: what the MCP tools return and what the run directory keeps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from autolab_mcp.budget import WallMode
from autolab_mcp.core.errors import Refusal
from autolab_mcp.core.rundir import RunMeta  # noqa: F401  (re-exported)
from autolab_mcp.core.sandbox.base import KilledBy
from autolab_mcp.episode.score_jobs import ScoreJobInfo
from autolab_mcp.workspace import SnapshotInfo

MAX_COMMAND_CHARS = 100_000
#: finished: the command exited by itself (exit_code says how); killed: something ended it (killed_by says
#: what, signal which); interrupted: the server stopped while it ran and it was settled on resume.
ExperimentStatus = Literal["running", "finished", "killed", "interrupted", "failed"]


class EpisodeError(Refusal):
    """A refused request; the message is meant for the agent and says what is allowed."""


class BudgetOverrides(BaseModel):
    wall_mode: WallMode = Field("serving", description="serving: wall time counts while a server runs the "
                                "episode; real: since the episode started, downtime between servers included")
    wall_sec: float | None = None
    compute_sec: float | None = None
    experiments: int | None = None
    score_calls: int | None = None


class ExperimentInfo(BaseModel):
    id: str
    command: str
    status: ExperimentStatus
    exit_code: int | None = None
    output_tail: str = ""
    seconds: float = Field(0.0, description="sandbox wall seconds so far (charged to the compute budget)")
    timeout_sec: float
    killed_by: KilledBy | None = Field(None, description="who ended a killed run: timeout, oom, cancel, disk, "
                                       "shutdown (the server stopped), unknown")
    signal: str | None = Field(None, description="the signal that ended a killed run")
    frozen: bool = Field(False, description="paused right now: an evaluation of this episode is running")
    frozen_sec: float = Field(0.0, description="seconds spent frozen during evaluations (not charged, and "
                              "added to the run's deadline)")
    timed_out: bool = False
    oom_killed: bool = False
    output_truncated: bool = False
    limits_mode: str = ""
    started_at: float
    finished_at: float | None = None
    snapshot_after: str | None = Field(None, description="snapshot taken if the run changed editable files")
    log_file: str = ""


class MetricResult(BaseModel):
    id: str = Field("", description="the scoring job; while status is pending, poll score_status(id)")
    status: Literal["scored", "pending"] = "scored"
    snapshot: str
    split: Literal["feedback", "final"]
    valid: bool | None = Field(None, description="whether the quality gate holds (None while pending)")
    metric: float | None = None
    score: float | None = Field(None, description="normalized: baseline 0, reference 1, higher is better, no cap")
    reason: str = ""
    verdict: str = ""
    score_calls_left: int
    queued_sec: float = Field(0.0, description="seconds the scorer waited for the host's timing core (other "
                              "episodes were being measured); given back to the wall budget")
    elapsed_sec: float = Field(0.0, description="seconds since the evaluation started")
    candidate_sec: float | None = Field(None, description="tasks that measure time: the candidate's median run "
                                        "time in this evaluation (2 significant figures)")
    baseline_sec: float | None = Field(None, description="faster tasks: the unchanged baseline's median run time, "
                                       "measured in the same call on the same core (2 significant figures)")


class SubmitResult(MetricResult):
    auto: bool = Field(False, description="submitted automatically when the wall budget ran out")
    signature: str = ""
    result_file: str = ""


class HistoryEntry(BaseModel):
    snapshots: list[SnapshotInfo]
    experiments: list[ExperimentInfo]
    scores: list[ScoreJobInfo] = Field(default_factory=list, description="every get_metric/submit job")


class DiffResult(BaseModel):
    a: str
    b: str
    diff: str

"""One agent episode: the agent's actions (actions.Episode) over a run directory, with the
experiments (experiments.ExperimentRunner) and the scoring (submission.Submission) it delegates to."""

from __future__ import annotations

from autolab_mcp.episode.actions import Episode
from autolab_mcp.episode.experiments import ExperimentRunner
from autolab_mcp.episode.models import (
    MAX_COMMAND_CHARS,
    BudgetOverrides,
    DiffResult,
    EpisodeError,
    ExperimentInfo,
    ExperimentStatus,
    HistoryEntry,
    MetricResult,
    RunMeta,
    SubmitResult,
)
from autolab_mcp.episode.score_jobs import ScoreJob, ScoreJobInfo
from autolab_mcp.episode.submission import Submission

__all__ = [
    "MAX_COMMAND_CHARS",
    "BudgetOverrides",
    "DiffResult",
    "Episode",
    "EpisodeError",
    "ExperimentInfo",
    "ExperimentRunner",
    "ExperimentStatus",
    "HistoryEntry",
    "MetricResult",
    "RunMeta",
    "ScoreJob",
    "ScoreJobInfo",
    "Submission",
    "SubmitResult",
]

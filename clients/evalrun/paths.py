"""Every file name of an eval output directory, in one place (the run directories inside follow RunDir).

    OUT/report.json, OUT/report.md, OUT/curves.png
    OUT/episodes/EPISODE.json        the EpisodeOutcome
    OUT/trajectories/EPISODE.json    every MCP request and result (clients/TRAJECTORY.md)
    OUT/logs/EPISODE.server.log      the server's stderr; logs/EPISODE.agent.log the agent's own lines
    OUT/runs/EPISODE/RUN_ID/         the server's run directory (autolab_mcp.core.rundir.RunDir)

A replay writes OUT/trajectory.json, OUT/server.log and OUT/runs/RUN_ID/; `finalize` logs the resumed
server to RUNS_DIR/RUN_ID.finalize.log, next to the run directory it submits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from autolab_mcp.core.rundir import RunDir

__all__ = ["EvalDir", "ReplayDir", "finalize_log"]


@dataclass(frozen=True)
class EvalDir:
    """The output directory of one `autolab-mcp eval` batch."""

    path: Path

    #: curves.png as report.json and report.md name it (relative, so the directory can move)
    CURVES_NAME: ClassVar[str] = "curves.png"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"

    @property
    def report_md(self) -> Path:
        return self.path / "report.md"

    @property
    def curves(self) -> Path:
        return self.path / self.CURVES_NAME

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def trajectories(self) -> Path:
        return self.path / "trajectories"

    @property
    def episodes(self) -> Path:
        return self.path / "episodes"

    def make_dirs(self) -> None:
        """The shared folders every episode writes into (its own run folder is made by the episode)."""
        for directory in (self.logs, self.trajectories, self.episodes):
            directory.mkdir(parents=True, exist_ok=True)

    def episode_runs(self, episode_id: str) -> Path:
        """The --run-dir of the episode's server: it creates the one RunDir inside."""
        return (self.runs / episode_id).resolve()

    def trajectory(self, episode_id: str) -> Path:
        return self.trajectories / f"{episode_id}.json"

    def episode(self, episode_id: str) -> Path:
        return self.episodes / f"{episode_id}.json"

    def server_log(self, episode_id: str) -> Path:
        return self.logs / f"{episode_id}.server.log"

    def agent_log(self, episode_id: str) -> Path:
        return self.logs / f"{episode_id}.agent.log"


@dataclass(frozen=True)
class ReplayDir:
    """The output directory of one replay."""

    path: Path

    @property
    def runs(self) -> Path:
        return (self.path / "runs").resolve()

    @property
    def trajectory(self) -> Path:
        return self.path / "trajectory.json"

    @property
    def server_log(self) -> Path:
        return self.path / "server.log"


def finalize_log(run: RunDir) -> Path:
    """Where `finalize` puts the resumed server's stderr: beside the run directory, not inside it."""
    return run.path.parent / f"{run.run_id}.finalize.log"

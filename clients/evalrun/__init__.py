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

# The modules, one concern each (a module imports only those above it):
#   stats     Student t intervals over seeds
#   budget    budget used: the tightest kind; the ledger read as a BudgetReport
#   models    ServerOptions, EpisodeOutcome, Progress, ReplayReport (pydantic)
#   paths     EvalDir / ReplayDir: every file name of an output directory
#   launch    how an episode's `autolab-mcp serve` is started
#   monitor   RunMonitor: the run directory followed from the outside
#   runner    run_one (one episode in named steps) and run_batch (a thread pool)
#   live      LiveTable: progress on stderr
#   plots     curves.png
#   report    report.json, report.md
#   replay    re-issue a trajectory against a fresh server
#   finalize  submit a run a client left open
#   cli       the command line (add_parser is the `autolab_mcp.commands` entry point)

from clients.evalrun.budget import BUDGET_KINDS, budget_fractions, budget_used, ledger_budget
from clients.evalrun.cli import add_parser, main, weak_isolation_refusal
from clients.evalrun.finalize import finalize
from clients.evalrun.live import LiveTable
from clients.evalrun.models import (
    CurvePoint,
    EpisodeOutcome,
    Progress,
    ProgressFn,
    ReplayCall,
    ReplayReport,
    ServerOptions,
)
from clients.evalrun.monitor import RunMonitor
from clients.evalrun.paths import EvalDir, ReplayDir
from clients.evalrun.plots import draw_curves
from clients.evalrun.replay import replay
from clients.evalrun.report import REPORT_FORMAT, build_report, report_markdown, write_outputs
from clients.evalrun.runner import episode_id_for, run_batch, run_one
from clients.evalrun.stats import mean_ci, t975

__all__ = [
    "BUDGET_KINDS",
    "REPORT_FORMAT",
    "CurvePoint",
    "EpisodeOutcome",
    "EvalDir",
    "LiveTable",
    "Progress",
    "ProgressFn",
    "ReplayCall",
    "ReplayDir",
    "ReplayReport",
    "RunMonitor",
    "ServerOptions",
    "add_parser",
    "budget_fractions",
    "budget_used",
    "build_report",
    "draw_curves",
    "episode_id_for",
    "finalize",
    "ledger_budget",
    "main",
    "mean_ci",
    "replay",
    "report_markdown",
    "run_batch",
    "run_one",
    "t975",
    "weak_isolation_refusal",
    "write_outputs",
]

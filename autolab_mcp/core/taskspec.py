"""task.toml: the Harbor/AutoLab keys as they are, plus our `[autolab]` section.

A Harbor task.toml loads as it is: every key of ours is optional (`metadata.axis` is inferred from
the metric where it can be, `[optimization]` is AutoLab's and may be absent) and unknown keys are kept
(pydantic `extra="allow"`), never rejected. What a task lacks to be served is said by
`Task.serve_problem()`, so a listing can show it instead of failing. The defaults are the safe ones:
no file is editable until `[autolab] editable` declares it (guessing could hand the agent the harness).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from autolab_mcp.core.errors import AutolabError

Axis = Literal["faster", "smarter", "smaller"]

#: variables the sandboxes and the scorer set themselves: a task's [environment] env cannot change them
RESERVED_ENV = frozenset({"PATH", "HOME", "PYTHONHOME", "VIRTUAL_ENV", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
                          "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "OMP_NUM_THREADS",
                          "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "LC_ALL"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metadata(_Open):
    axis: Axis | None = Field(None, description="ours; absent in Harbor/AutoLab tasks (then inferred)")
    tags: list[str] = Field(default_factory=list)
    description: str = ""


class AgentSection(_Open):
    timeout_sec: float = Field(3600, gt=0)


class EnvironmentSection(_Open):
    cpus: float = Field(1, gt=0)
    memory_mb: int = Field(2048, gt=0)
    allow_internet: bool = False
    requirements: list[str] = Field(default_factory=list)
    gpus: int = Field(0, ge=0)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Harbor's key (a Dockerfile's ENV on import): set in every experiment and evaluation sandbox")

    network_mode: Literal["no-network", "public", "allowlist"] | None = Field(
        None, description="Harbor's key; only no-network can be honoured (sandboxes never have a network)")

    @field_validator("allow_internet")
    @classmethod
    def _no_internet(cls, value: bool) -> bool:
        if value:
            raise ValueError("allow_internet = true is not supported: sandboxes never have a network")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"env: {name!r} is not a variable name (letters, digits and _, not first a digit)")
            if name in RESERVED_ENV:
                raise ValueError(f"env: {name} is set by the sandbox itself and cannot be changed by a task "
                                 f"(reserved: {', '.join(sorted(RESERVED_ENV))})")
        return value

    @field_validator("network_mode")
    @classmethod
    def _no_network_mode(cls, value: str | None) -> str | None:
        if value not in (None, "no-network"):
            raise ValueError(f"network_mode = {value!r} is not supported: sandboxes never have a network; "
                             "use \"no-network\" or leave it out")
        return value


class ScorePoint(_Open):
    score: float
    method: str = ""


class Optimization(_Open):
    metric: str
    direction: Literal["lower", "higher"]
    baseline: ScorePoint
    reference: ScorePoint


class Budget(_Open):
    compute_sec: float = Field(1200, gt=0)
    experiments: int = Field(200, ge=0)
    score_calls: int = Field(20, ge=0)


class HarborSection(_Open):
    """What `autolab-mcp import harbor` recorded: where the task came from, how its verifier's reward
    reads, and whether the verifier can be trusted (no candidate code runs where it writes the reward)."""

    source: str = ""
    base_image: str = ""
    trusted: bool = Field(False, description="false: candidate code may run where the verifier writes its "
                          "reward, so a submission could forge it; `eval` refuses without --allow-untrusted")
    trust_reason: str = ""
    metric_key: str = Field("metric", description="the reward.json key whose finite number is the metric")
    valid_key: str | None = Field(None, description="a reward.json key that must be true for a valid result")
    verifier_timeout_sec: float = Field(600, gt=0)
    timed_command: str | None = Field(
        None, description="a timing task (AutoLab's T kind): the command our scorer times, baseline against "
        "candidate with interleaved pairs, instead of the seconds the verifier reports; every timed run's "
        "stdout must equal the baseline's, and the verifier's reward only says whether the result is valid")
    build_command: str | None = Field(
        None, description="run once per side before the timed runs, untimed (a compile step)")


class AutolabSection(_Open):
    editable: list[str] = Field(
        default_factory=list, description="globs of the files the agent may change; none until declared")
    scale: Literal["log", "linear"] = "linear"
    quality_gate: str = ""
    budget: Budget = Field(default_factory=Budget)
    feedback_precision: int = Field(3, ge=0, le=12, description="decimals of feedback scores")
    experiment_timeout_sec: float = Field(300, gt=0, description="default and cap per experiment")
    eval_timeout_sec: float = Field(300, gt=0, description="cap for one scorer evaluation")
    check_command: str = Field("", description="the public local check an agent can run as an experiment")
    max_editable_bytes: int = Field(
        64 * 1024, gt=0, description="the editable files together may hold at most this many bytes (enforced by "
        "the scorer): trained weights or precomputed answers cannot ride in as data",
    )
    max_literal_chars: int = Field(
        4096, ge=0, description="editable Python/C sources may hold at most this many characters of string "
        "literals and comments together (docstrings excluded); enforced by the scorer (scorer/literals.py)",
    )
    max_numeric_literals: int = Field(
        512, ge=0, description="editable Python/C sources may hold at most this many numeric literals",
    )
    review_metric_beyond: float | None = Field(
        None, description="a metric past this bound (below it when lower is better, above it when higher is) "
        "is impossible or implausible (a proven optimum, a physical limit): such results are flagged for review",
    )
    review_speedup_above: float | None = Field(
        None, description="a measured speedup above this is flagged for review; default: 4x the reference's",
    )
    workdir: str = Field(
        "/workspace", description="where experiments and evaluations see the workspace (and start): a task "
        "written for /app (Harbor/AutoLab) keeps its absolute paths; read-only rules apply there too",
    )
    harbor: HarborSection | None = Field(None, description="set by the Harbor importer (tests/evaluate.py "
                                         "is then the generic one, scorer/harbor_eval.py)")
    timing_core: bool | None = Field(
        None, description="whether evaluations lease the host's timing core (pinned runs: timing, a wall-clock "
        "limit); default: only for the faster axis. Pure counting needs none and never queues behind timing",
    )

    @field_validator("workdir")
    @classmethod
    def _own_workdir(cls, workdir: str) -> str:
        from autolab_mcp.core.sandbox.base import SandboxError
        from autolab_mcp.core.sandbox.checks import check_workdir

        if workdir != "/workspace":
            try:
                check_workdir(workdir)
            except SandboxError as exc:
                raise ValueError(str(exc)) from None
        return workdir

    @field_validator("editable")
    @classmethod
    def _relative_globs(cls, globs: list[str]) -> list[str]:
        for glob in globs:
            if glob.startswith("/") or ".." in glob.split("/") or not glob.strip():
                raise ValueError(f"editable glob {glob!r} must be a relative path pattern inside the workspace")
        return globs


class TaskConfig(_Open):
    version: str = Field("1.0", validation_alias=AliasChoices("version", "schema_version"))
    metadata: Metadata = Field(default_factory=Metadata)
    agent: AgentSection = Field(default_factory=AgentSection)
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)
    optimization: Optimization | None = None
    autolab: AutolabSection = Field(default_factory=AutolabSection)

    def objective(self) -> Optimization:
        """The `[optimization]` section; raises TaskSpecError when the task has none (nothing to score)."""
        if self.optimization is None:
            raise TaskSpecError(NO_OBJECTIVE)
        return self.optimization


class TaskSpecError(AutolabError, ValueError):
    """A task directory or its task.toml is broken; the message says where and what is expected."""


NO_OBJECTIVE = ("task.toml has no [optimization] section (metric, direction, baseline.score, reference.score): "
                "there is nothing to score against")
NO_EDITABLE = ("task.toml declares no editable files ([autolab] editable = [\"...\"]): the agent could change "
               "nothing; list the files it may edit")

# metric-name words -> axis, per direction; the first word of the metric found here decides
_AXIS_WORDS: dict[tuple[str, str], frozenset[str]] = {
    ("faster", "lower"): frozenset({"time", "seconds", "secs", "sec", "ms", "latency", "runtime", "duration",
                                    "wall", "cycles"}),
    ("faster", "higher"): frozenset({"speedup", "throughput", "qps", "rps", "fps"}),
    ("smaller", "lower"): frozenset({"bytes", "size", "params", "parameters", "comparators", "gates",
                                     "instructions", "length", "chars", "characters", "lines", "nodes"}),
    ("smarter", "higher"): frozenset({"accuracy", "acc", "f1", "score", "reward", "auc", "bleu", "win",
                                      "winrate", "pass", "elo"}),
    ("smarter", "lower"): frozenset({"loss", "error", "perplexity", "bpb", "bits", "mse", "rmse", "mae", "nll",
                                     "regret", "wer", "cer"}),
}


def infer_axis(metric: str, direction: str) -> Axis | None:
    """The axis a Harbor/AutoLab task's metric implies (`total_params`/lower: smaller), or None."""
    words = [w for w in re.split(r"[^a-z0-9]+", metric.lower()) if w]
    for word in words:
        for (axis, way), vocabulary in _AXIS_WORDS.items():
            if way == direction and word in vocabulary:
                return axis  # type: ignore[return-value]
    return None


class Task(BaseModel):
    """A loaded, validated task directory."""

    name: str
    root: Path
    config: TaskConfig

    @property
    def environment_dir(self) -> Path:
        return self.root / "environment"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.root / "solution"

    @property
    def instruction(self) -> str:
        return (self.root / "instruction.md").read_text()

    @property
    def scorable(self) -> bool:
        """Our scorer needs tests/evaluate.py; a plain Harbor task loads but cannot be scored here."""
        return (self.tests_dir / "evaluate.py").is_file()

    @property
    def axis(self) -> Axis | None:
        """The declared axis, else the one the metric implies, else None (shown as unknown)."""
        declared = self.config.metadata.axis
        if declared is not None or self.config.optimization is None:
            return declared
        return infer_axis(self.config.optimization.metric, self.config.optimization.direction)

    @property
    def optimization(self) -> Optimization:
        """The objective; raises TaskSpecError when task.toml has no [optimization]."""
        return self.config.objective()

    @property
    def untrusted_verifier(self) -> bool:
        """An imported task whose verifier runs where candidate code can write the reward."""
        harbor = self.config.autolab.harbor
        return harbor is not None and not harbor.trusted

    def serve_problem(self) -> str | None:
        """Why an episode of this task cannot run (None: it can): no objective or no editable file."""
        if self.config.optimization is None:
            return NO_OBJECTIVE
        if not self.config.autolab.editable:
            return NO_EDITABLE
        return None

    @property
    def needs_timing_core(self) -> bool:
        """Whether an evaluation of this task must hold the host's timing core (see cores.py)."""
        declared = self.config.autolab.timing_core
        return self.axis == "faster" if declared is None else declared


#: What the agent-facing side needs; `autolab-mcp bundle` writes exactly these.
PUBLIC_ENTRIES = {
    "task.toml": "file",
    "instruction.md": "file",
    "environment": "dir",
}
#: What only the scorer reads: the hidden evaluation and the reference.
HIDDEN_ENTRIES = {
    "tests": "dir",
    "solution": "dir",
}
REQUIRED_ENTRIES = {**PUBLIC_ENTRIES, **HIDDEN_ENTRIES}


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_task(root: Path | str, *, public_only: bool = False) -> Task:
    """Load and validate a task directory, or raise TaskSpecError naming file, key and expectation.

    `public_only`: the agent-facing server with a remote scorer needs (and looks at) only the
    public part: task.toml, instruction.md and environment/; tests/ and solution/ are never touched."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise TaskSpecError(f"{root}: not a task directory")
    for entry, kind in (PUBLIC_ENTRIES if public_only else REQUIRED_ENTRIES).items():
        path = root / entry
        if not (path.is_file() if kind == "file" else path.is_dir()):
            raise TaskSpecError(f"{path}: missing; a task directory needs a {kind} named {entry!r}")
    toml_path = root / "task.toml"
    try:
        raw = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TaskSpecError(f"{toml_path}: not valid TOML: {exc}") from exc
    try:
        config = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"key {_location(err['loc'])}: {err['msg']} (got {err.get('input')!r})"[:300] for err in exc.errors()
        )
        raise TaskSpecError(f"{toml_path}: {problems}") from exc
    return Task(name=root.name, root=root, config=config)

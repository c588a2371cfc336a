"""`autolab-mcp export harbor TASK OUT`: one of our tasks as a Harbor task whose verifier is our evaluation.

Harbor runs an agent in a container built from environment/Dockerfile, then a verifier (tests/test.sh)
that writes /logs/verifier/reward.json. The export keeps our trust model inside that contract:

- `environment/`: the public workspace copied to WORKDIR /app over a base image that holds python,
  our package's dependencies and bubblewrap (default: our scorer image, scripts/build-scorer-image.sh);
  the task's runtime (its requirements) is built into the image, so the verifier needs no network;
- `[verifier] environment_mode = "separate"` and top-level `artifacts` (Harbor 0.26: the paths copied
  from the agent's container into a fresh verifier container) = the editable files under /app: what
  our scorer takes from a submission and nothing else;
- `tests/`: test.sh, the pristine task (tests/tasks/NAME: task.toml, instruction, environment/, the hidden
  tests/) and our kernel + scorer code (tests/lib), uploaded by Harbor only after the agent stopped;
  test.sh runs scorer/harbor_shim.py, which re-measures the editable files over that pristine copy on
  the final split with a fresh secret seed, candidate code in bwrap or, where the container allows no
  namespaces, as an unprivileged uid (autolab_mcp/core/sandbox/uid.py);
- `solution/solve.sh`: the reference's editable files copied into /app (the oracle agent's run).

Budgets and rationed feedback have no Harbor equivalent: the instruction says so. The export keeps
[optimization] and [autolab] in task.toml (Harbor drops unknown sections), so our loader still reads
the exported directory; the scorable task is tests/tasks/NAME.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.taskspec import Task, load_task

#: our scorer image (scripts/build-scorer-image.sh): python, our package's dependencies, bubblewrap, util-linux
DEFAULT_BASE_IMAGE = "localhost/autolab-scorer:latest"
#: where Harbor's agent works, and where the artifacts are
WORKDIR = "/app"
#: Harbor's current task.toml schema (harbor 0.26)
SCHEMA_VERSION = "1.4"
_GLOB_CHARS = frozenset("*?[")


class ExportRefused(AutolabError):
    """A task that cannot be exported faithfully; the message says why."""


@dataclass
class ExportReport:
    out: Path
    artifacts: list[str]
    lines: list[str] = field(default_factory=list)


def _source_packages() -> tuple[Path, Path]:
    """Where our kernel (autolab_mcp/core) and scorer packages are, without importing the scorer: the
    agent-facing side never loads evaluation code, it only copies it for the verifier."""
    spec = importlib.util.find_spec("scorer")
    if spec is None or not spec.submodule_search_locations:
        raise ExportRefused("the scorer package is not installed next to autolab_mcp: nothing to verify with")
    return Path(__file__).resolve().parents[1], Path(next(iter(spec.submodule_search_locations)))


def _artifacts(task: Task) -> list[str]:
    """The editable files at their paths under /app: a glob stands for the files it matches in the
    pristine environment (Harbor copies paths, not patterns)."""
    globs = task.config.autolab.editable
    found = set(editable_files(task.environment_dir, globs))
    plain = {g for g in globs if not _GLOB_CHARS & set(g)}
    return [f"{WORKDIR}/{rel}" for rel in sorted(found | plain)]


def _refusal(task: Task, out: Path) -> str | None:
    if problem := task.serve_problem():
        return problem
    if task.config.autolab.harbor is not None:
        return "it was imported from Harbor: export the original Harbor task instead"
    if (task.environment_dir / "Dockerfile").exists():
        return "its environment/ has a Dockerfile of its own (the docker backend's), which the export would replace"
    if task.config.environment.gpus:
        return "it needs GPUs, which the exported verifier does not request"
    if out.is_symlink() or (out.exists() and not (out.is_dir() and not any(out.iterdir()))):
        return f"{out} exists; export into a new (or empty) directory"
    return None


def _task_toml(task: Task, raw: dict[str, Any], artifacts: list[str]) -> dict[str, Any]:
    """Harbor's keys (what its TaskConfig reads) plus our [optimization] and [autolab] as written."""
    cfg = task.config
    environment: dict[str, Any] = {"cpus": cfg.environment.cpus, "memory_mb": cfg.environment.memory_mb,
                                   "network_mode": "no-network"}
    if cfg.environment.env:
        environment["env"] = dict(cfg.environment.env)
    if cfg.environment.requirements:  # ours; Harbor ignores it, our loader reads it
        environment["requirements"] = list(cfg.environment.requirements)
    metadata = {k: v for k, v in raw.get("metadata", {}).items() if v is not None}
    metadata["exported_by"] = "autolab-mcp export harbor"
    package = {"name": f"autolab/{task.name}", "description": cfg.metadata.description,
               "keywords": list(cfg.metadata.tags)}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "artifacts": artifacts,
        "task": package,
        "metadata": metadata,
        "agent": {"timeout_sec": cfg.agent.timeout_sec},
        # our evaluation's own limit is per sandbox run (eval_timeout_sec); a few runs, a runtime check and
        # the copy fit in four of them (the margin the oracle gives a scorer)
        "verifier": {"timeout_sec": cfg.autolab.eval_timeout_sec * 4 + 120, "environment_mode": "separate"},
        "environment": environment,
    }
    for section in ("optimization", "autolab"):
        if section in raw:
            doc[section] = raw[section]
    return doc


def _harbor_words(task: Task, artifacts: list[str]) -> str:
    """What the instruction means in Harbor, where our MCP tools do not exist."""
    files = ", ".join(f"`{a}`" for a in artifacts)
    check = task.config.autolab.check_command
    checking = f" `{check}` (in {WORKDIR}) runs the public local check." if check else ""
    words = (f"This task was exported from autolab-mcp. The tools named above (run_experiment, get_metric, "
             f"submit, ...) do not exist here: work in the shell. The files are in {WORKDIR}, the working "
             f"directory; edit only {files}.{checking} When you stop, a separate verifier copies only those files "
             f"into a fresh, pristine copy of the task and re-measures them with the hidden evaluation; nothing "
             f"else you change counts. The budgets above are not enforced here, only the agent's time limit.")
    return "\n\n## In this Harbor task\n\n" + textwrap.fill(words, 100, break_on_hyphens=False) + "\n"


def _dockerfile(task: Task, base_image: str) -> str:
    """FROM the base, the task's runtime built in, the public environment at /app."""
    reqs = shlex.quote(json.dumps(task.config.environment.requirements))
    build = ("import json, sys; from autolab_mcp.core.runtime import ensure_runtime; "
             "print(ensure_runtime(json.loads(sys.argv[1])))")
    lines = [
        f"# Written by `autolab-mcp export harbor` from task {task.name}.",
        "# The base holds python, autolab-mcp's dependencies, bubblewrap and util-linux (the verifier uses them).",
        f"FROM {base_image}",
        "ENTRYPOINT []",
        'CMD ["sleep", "infinity"]',
        "# the task's runtime (the python and requirements its sandboxes use), built now: the verifier has no",
        "# network. /opt/runtime points at it and comes first on PATH, for the agent as for the sandboxes.",
        'RUN set -eu; PY=/opt/autolab/venv/bin/python; [ -x "$PY" ] || PY=python3; '
        f'rt=$(env -u PIP_NO_INDEX "$PY" -c {shlex.quote(build)} {reqs}); ln -sfn "$rt" /opt/runtime',
        "ENV PATH=/opt/runtime/bin:$PATH",
    ]
    lines += [f"ENV {k}={json.dumps(v)}" for k, v in sorted(task.config.environment.env.items())]
    lines.append(f"WORKDIR {WORKDIR}")
    for entry in sorted(p.name for p in task.environment_dir.iterdir() if p.name != "__pycache__"):
        lines.append(f"COPY {json.dumps([entry, f'{WORKDIR}/{entry}'])}")
    return "\n".join(lines) + "\n"


_TEST_SH = """#!/bin/bash
# Written by `autolab-mcp export harbor`: our evaluation (scorer/harbor_shim.py, shipped in /tests/lib) over
# the pristine task in /tests/tasks/TASK_NAME plus the editable files from /app; writes /logs/verifier/reward.json
# ({"score", "valid", "metric"}: finite numbers) and record.json (the whole record).
set -u
PY=/opt/autolab/venv/bin/python
[ -x "$PY" ] || PY=python3
mkdir -p /logs/verifier
export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/tests/lib
exec "$PY" -m scorer.harbor_shim /tests/tasks/TASK_NAME /app /logs/verifier
"""

_SOLVE_SH = """#!/bin/bash
# Written by `autolab-mcp export harbor`: the reference solution's editable files into /app.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cp -R "$here/files/." /app/
"""

_NO_SOLUTION = """The reference solution is not shipped to the verifier: solution/ at the export's top holds it
(for Harbor's oracle agent). This directory exists because our task loader expects one.
"""


def _copy_code(lib: Path) -> None:
    """Our kernel and scorer only: the scorer side stands on the kernel alone (import contracts)."""
    ours, scorer = _source_packages()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "container")
    lib.mkdir(parents=True)
    (lib / "autolab_mcp").mkdir()
    shutil.copy2(ours / "__init__.py", lib / "autolab_mcp" / "__init__.py")
    shutil.copytree(ours / "core", lib / "autolab_mcp" / "core", ignore=ignore)
    shutil.copytree(scorer, lib / "scorer", ignore=ignore)


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _write_task(task: Task, stage: Path, base_image: str, report: ExportReport) -> None:
    import tomli_w  # the `harbor` extra

    raw = tomllib.loads((task.root / "task.toml").read_text())
    no_cache = shutil.ignore_patterns("__pycache__")
    (stage / "task.toml").write_text(tomli_w.dumps(_task_toml(task, raw, report.artifacts)))
    (stage / "instruction.md").write_text(task.instruction.rstrip() + _harbor_words(task, report.artifacts))
    shutil.copytree(task.environment_dir, stage / "environment", symlinks=True, ignore=no_cache)
    (stage / "environment" / "Dockerfile").write_text(_dockerfile(task, base_image))

    tests = stage / "tests"
    pristine = tests / "tasks" / task.name  # its directory's name is the task's name (records, seeds)
    pristine.mkdir(parents=True)
    shutil.copy2(task.root / "task.toml", pristine / "task.toml")
    shutil.copy2(task.root / "instruction.md", pristine / "instruction.md")
    shutil.copytree(task.environment_dir, pristine / "environment", symlinks=True, ignore=no_cache)
    shutil.copytree(task.tests_dir, pristine / "tests", symlinks=True, ignore=no_cache)
    (pristine / "solution").mkdir()
    (pristine / "solution" / "README.md").write_text(_NO_SOLUTION)
    _copy_code(tests / "lib")
    _write_executable(tests / "test.sh", _TEST_SH.replace("TASK_NAME", shlex.quote(task.name)))

    solution = stage / "solution"
    files = editable_files(task.solution_dir, task.config.autolab.editable) if task.solution_dir.is_dir() else []
    (solution / "files").mkdir(parents=True)
    for rel in files:
        (solution / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(task.solution_dir / rel, solution / "files" / rel)
    _write_executable(solution / "solve.sh", _SOLVE_SH)
    report.lines.append(f"solution/solve.sh copies {files or 'nothing (the task has no reference files)'} into /app")


def export_harbor(task: Task, out: Path, *, base_image: str = DEFAULT_BASE_IMAGE) -> ExportReport:
    """Write `task` as a Harbor task at `out` (a new or empty directory); raises ExportRefused with the
    reason, leaving `out` as it was. The result loads with our loader too (checked before it is moved)."""
    if reason := _refusal(task, out):
        raise ExportRefused(f"task {task.name} is not exported: {reason}")
    report = ExportReport(out=out, artifacts=_artifacts(task))
    report.lines.append(f"artifacts (the files a separate verifier gets): {report.artifacts}")
    report.lines.append(f"environment/Dockerfile: FROM {base_image}, WORKDIR {WORKDIR}")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="harbor-export-", dir=out.parent))  # same file system: rename
    try:
        stage = staging / "task"
        stage.mkdir()
        _write_task(task, stage, base_image, report)
        for root in (stage, stage / "tests" / "tasks" / task.name):
            load_task(root)  # TaskSpecError (a bug here) before anything is moved into place
        if out.is_dir():
            out.rmdir()  # empty, checked above
        stage.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.out = out.resolve()
    return report

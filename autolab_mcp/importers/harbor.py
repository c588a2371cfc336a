"""`autolab-mcp import harbor SRC OUT`: a Harbor/AutoLab task converted into ours, our trust model kept.

The environment is built from environment/Dockerfile (harbor_build.py); the workdir's contents
become the agent's workspace and every other built directory (/orig, a /data split, /tests) goes
to the hidden side, next to the original tests/. The edit set comes from the instruction (or
--editable) and the import refuses to finish without one. Scoring is the generic evaluation
(scorer/harbor_eval.py: the untouched test.sh over a pristine copy plus the submitted files, the
reward read on the scorer side), trusted only when no candidate code can run where the verifier
writes its reward; otherwise the task is marked untrusted and `eval` refuses it unless allowed.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.sandbox.base import AGENT_UID, Mount, SandboxBackend
from autolab_mcp.core.taskspec import RESERVED_ENV, Task, load_task
from autolab_mcp.importers.bases import ImportRefused
from autolab_mcp.importers.dockerfile import DockerfileError, parse_dockerfile
from autolab_mcp.importers.edit_set import infer_edit_set
from autolab_mcp.importers.harbor_build import Build, build_environment, build_request, hand_stage_to

#: editable files with these suffixes are programs: a verifier that runs them runs candidate code
CODE_SUFFIXES = frozenset({".py", ".c", ".cc", ".cpp", ".h", ".hpp", ".rs", ".go", ".js", ".ts", ".sh", ".java",
                           ".jl", ".rb", ".pl", ".lua", ".cu", ".r", ".m", ".zig", ".s", ".S"})
_EVALUATE_SHIM = '''"""Generic evaluation of a task imported from Harbor (autolab-mcp import harbor):
scorer/harbor_eval.py runs tests/harbor/tests/test.sh over a pristine copy plus the submitted files."""

from scorer.harbor_eval import REASONS, evaluate  # noqa: F401
'''


@dataclass
class ImportReport:
    task: Task
    trusted: bool
    trust_reason: str
    lines: list[str] = field(default_factory=list)


def _verifier_text(tests: Path) -> str:
    """test.sh and every other text file of the verifier, for what it runs and which keys it writes."""
    parts = []
    for path in sorted(tests.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000:
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def _require(src: Path) -> None:
    for rel in ("task.toml", "instruction.md", "environment/Dockerfile", "tests/test.sh"):
        if not (src / rel).is_file():
            raise ImportRefused(f"{src / rel} is missing: a Harbor task needs task.toml, instruction.md, "
                                "environment/Dockerfile and tests/test.sh")


def _executes(test_sh: str, rel: str) -> bool:
    """Whether the verifier runs the file `rel` (an interpreter, ./, source, chmod +x or an import)."""
    name = re.escape(rel.rsplit("/", 1)[-1])
    runner = r"(?:python3?|bash|sh|node|perl|ruby|source|\.|chmod\s+\+x|exec)\s+(?:\S*/)?"
    module = re.escape(rel.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    imported = re.search(rf"^\s*(?:import|from)\s+{module}\b", test_sh, re.MULTILINE)
    return bool(re.search(runner + name + r"\b", test_sh) or re.search(r"\./(?:\S*/)?" + name + r"\b", test_sh)
                or imported)


def judge_trust(files: list[str], test_sh: str) -> tuple[bool, str]:
    """(trusted, why): trusted only when no editable file is a program and test.sh executes none."""
    code = [f for f in files if Path(f).suffix in CODE_SUFFIXES]
    if code:
        return False, (f"the editable files include source code ({', '.join(code)}): the verifier would run candidate "
                       "code where it writes its reward; give the task a native tests/evaluate.py to trust it")
    run = [f for f in files if _executes(test_sh, f)]
    if run:
        return False, f"the verifier executes an editable file ({', '.join(run)}): candidate code runs in it"
    return True, f"the editable files are data ({', '.join(files)}) read by the pristine verifier"


def _run_solution(src: Path, build: Build, workdir: str, backend: SandboxBackend, dest: Path,
                  editable: list[str]) -> list[str]:
    """Run solution/solve.sh over a copy of the built filesystem; the editable files it leaves are the
    reference. Returns report lines."""
    solve = src / "solution" / "solve.sh"
    dest.mkdir(parents=True)
    if not solve.is_file():
        return ["no solution/solve.sh: the task has no reference, so the oracle will fail it"]
    with tempfile.TemporaryDirectory(prefix="harbor-solve-") as tmp:
        stage = Path(tmp) / "stage"
        shutil.copytree(build.stage, stage, symlinks=True)
        hand_stage_to(stage, AGENT_UID)
        tops = [p for p in stage.iterdir() if p.is_dir() and ("/" + p.name) != workdir
                and not workdir.startswith("/" + p.name + "/")]
        mounts = [Mount(source=p, target="/" + p.name, read_only=False) for p in tops]
        mounts.append(Mount(source=src / "solution", target="/solution"))
        result = backend.run(build_request(build, "bash /solution/solve.sh", stage / workdir.lstrip("/"), workdir,
                                           mounts))
        if not result.ok:
            raise ImportRefused(f"solution/solve.sh failed in the build sandbox (exit {result.exit_code}): "
                                f"{result.output_tail[-400:]}")
        built = stage / workdir.lstrip("/")
        for rel in editable_files(built, editable):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built / rel, dest / rel)
    return ["solution/solve.sh ran over the built environment: its editable files are the reference"]


def _broken_diff(environment: Path, files: list[str]) -> str:
    """The first editable file emptied: a submission that should fail any verifier's gate."""
    rel = files[0]
    lines = (environment / rel).read_text(errors="replace").splitlines()
    if not lines:
        return ""
    body = "".join(f"-{line}\n" for line in lines)
    return f"--- a/{rel}\n+++ b/{rel}\n@@ -1,{len(lines)} +0,0 @@\n{body}"


def _config(raw: dict[str, Any], build: Build, workdir: str, editable: list[str], trusted: bool, why: str,
            options: dict[str, Any], test_sh: str) -> dict[str, Any]:
    config = dict(raw)
    env = dict(config.get("environment", {}))
    env.pop("allow_internet", None)
    env["network_mode"] = "no-network"
    env["requirements"] = list(dict.fromkeys([*env.get("requirements", []), *build.requirements]))
    kept = {k: v for k, v in build.env.items() if k not in RESERVED_ENV}
    if kept or env.get("env"):
        env["env"] = {**kept, **env.get("env", {})}
    config["environment"] = env
    if options.get("axis"):
        config["metadata"] = {**config.get("metadata", {}), "axis": options["axis"]}
    metric = config.get("optimization", {}).get("metric")
    metric_key = options.get("metric_key") or (metric if metric and f'"{metric}"' in test_sh else "metric")
    harbor = {"source": str(options["src"]), "base_image": build.base_image, "trusted": trusted, "trust_reason": why,
              "metric_key": metric_key,
              "verifier_timeout_sec": float(config.get("verifier", {}).get("timeout_sec", 600))}
    if options.get("valid_key"):
        harbor["valid_key"] = options["valid_key"]
    autolab = dict(config.get("autolab", {}))
    if options.get("timed_command"):  # a timing task: our interleaved pairs replace the verifier's seconds
        harbor["timed_command"] = options["timed_command"]
        if options.get("build_command"):
            harbor["build_command"] = options["build_command"]
        config["metadata"] = {**config.get("metadata", {}), "axis": "faster"}
        autolab.update({"timing_core": True, "scale": "log"})
    autolab.update({"editable": editable, "workdir": workdir, "harbor": harbor})
    config["autolab"] = autolab
    return config


def import_harbor(src: Path, out: Path, backend: SandboxBackend, **options: Any) -> ImportReport:
    """Convert the Harbor task at `src` into our task at `out` (a new directory). Options: editable (globs),
    axis, metric_key, valid_key, timed_command, build_command, builder ("host": the host runtime stands in
    for the base, RUN steps in `backend`; "docker": a real image build through the Docker API).
    Raises ImportRefused with the reason; `out` is then left absent."""
    import tomli_w  # the `harbor` extra

    src = src.resolve()
    _require(src)
    if out.exists():
        raise ImportRefused(f"{out} exists; import into a new directory")
    raw = tomllib.loads((src / "task.toml").read_text())
    _require_timing_plan(raw, options)
    instruction = (src / "instruction.md").read_text()
    test_sh = _verifier_text(src / "tests")
    try:
        steps = parse_dockerfile((src / "environment" / "Dockerfile").read_text())
    except DockerfileError as exc:
        raise ImportRefused(f"environment/Dockerfile: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="harbor-import-", dir=out.parent))  # same file system: rename
    try:
        if options.get("builder") == "docker":
            from autolab_mcp.importers.harbor_docker import docker_build_environment

            build = docker_build_environment(steps, src / "environment", staging / "stage")
        else:
            build = build_environment(steps, src / "environment", staging / "stage", backend)
        if build.workdir == "/":
            raise ImportRefused("the Dockerfile sets no WORKDIR: the workspace needs a directory of its own")
        workdir = build.workdir
        stated = infer_edit_set(instruction, workdir)
        editable = list(options.get("editable") or stated.globs)
        if not editable:
            extra = f" (it names {stated.outside}, outside {workdir})" if stated.outside else ""
            raise ImportRefused(f"the instruction states no edit set{extra}; pass --editable GLOBS (refusing to guess "
                                "beats letting the agent edit the verifier)")
        task_dir = staging / "task"
        environment = task_dir / "environment"
        shutil.copytree(build.host_path(workdir), environment, symlinks=True)
        files = editable_files(environment, editable)
        if not files:
            raise ImportRefused(f"no built file in {workdir} matches the edit set {editable}")
        trusted, why = judge_trust(files, test_sh)
        hidden = task_dir / "tests"
        built_tests = build.host_path("/tests")  # Harbor uploads tests/ over what the build put there
        if built_tests.is_dir():
            shutil.copytree(built_tests, hidden / "harbor" / "tests", symlinks=True)
        shutil.copytree(src / "tests", hidden / "harbor" / "tests", symlinks=True, dirs_exist_ok=True)
        top_of_workdir = workdir.strip("/").split("/")[0]
        for top in sorted(p for p in build.stage.iterdir() if p.is_dir()):
            if top.name not in (top_of_workdir, "tests", "logs") and any(top.iterdir()):
                shutil.copytree(top, hidden / "harbor" / "rootfs" / top.name, symlinks=True)
                build.report.append(f"/{top.name}: built outside the workdir, kept on the hidden side")
        (hidden / "evaluate.py").write_text(_EVALUATE_SHIM)
        (hidden / "broken.diff").write_text(_broken_diff(environment, files))
        build.report += _run_solution(src, build, workdir, backend, task_dir / "solution", editable)
        (task_dir / "instruction.md").write_text(instruction.rstrip() + _our_words(workdir, files))
        config = _config(raw, build, workdir, editable, trusted, why, {**options, "src": src}, test_sh)
        (task_dir / "task.toml").write_text(tomli_w.dumps(config))
        task_dir.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = ImportReport(task=load_task(out), trusted=trusted, trust_reason=why, lines=build.report)
    if kept := sorted(k for k in build.env if k not in RESERVED_ENV):
        report.lines.append(f"ENV {kept}: set in the build, in every experiment and in every evaluation")
    if dropped := sorted(k for k in build.env if k in RESERVED_ENV):
        report.lines.append(f"ENV {dropped}: applied to the build only (the sandbox sets these itself)")
    return report


_TIME_METRIC = re.compile(r"(sec|second|time|speedup|latency|runtime|duration|\bms\b|throughput)", re.IGNORECASE)


def _require_timing_plan(raw: dict[str, Any], options: dict[str, Any]) -> None:
    """A metric measured in time was measured by the verifier against seconds stored from another machine;
    refuse to import it that way: our scorer re-times it, so it must be told what to time."""
    metric = str(raw.get("optimization", {}).get("metric", ""))
    if _TIME_METRIC.search(metric) and not options.get("timed_command"):
        raise ImportRefused(f"the metric {metric!r} is a time the verifier measures (against seconds stored from "
                            "another machine); pass --timed-command CMD (and --build-command CMD for a compile "
                            "step) so the scorer times baseline against candidate with interleaved pairs")
    if options.get("build_command") and not options.get("timed_command"):
        raise ImportRefused("--build-command is only used with --timed-command")


def _our_words(workdir: str, files: list[str]) -> str:
    return (f"\n\n## Working here\n\nYou work through MCP tools (read_file, write_file, apply_patch, run_experiment, "
            f"get_metric, submit) in a workspace at `{workdir}`; the editable files are {', '.join(files)} and "
            "everything else is read-only. Experiments have no network. Scores are rationed: see the budget.\n")

"""Building a Harbor task's environment on the host runtime: the Dockerfile's steps applied to a staged
filesystem (`stage/` stands for the container's `/`).

COPY/ADD, ENV and WORKDIR are applied directly; `RUN pip install ...` becomes the task's runtime
requirements; `RUN apt-get install ...` is dropped when the host has every package and refused when it
lacks one (an Ubuntu-only package such as linux-tools-generic); every other RUN step executes in a
build sandbox without network, with the staged directories bound at their paths (the workdir, /orig,
/data, ...). What ends up in the workdir becomes the agent's workspace; the rest of `stage/` is hidden.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, Limits, Mount, SandboxBackend
from autolab_mcp.core.sandbox.checks import SYSTEM_DIRS
from autolab_mcp.importers.bases import ImportRefused, missing_packages, stand_in
from autolab_mcp.importers.dockerfile import Step

#: top-level directories a RUN step writes that are kept (anything else it names is made too)
KEPT_TOPS = ("app", "orig", "tests", "data", "srv", "work", "logs")
_ABSOLUTE = re.compile(r"(?<![\w.$}-])/([A-Za-z0-9_.-]+)")
SANDBOX_OWN = {d.strip("/") for d in (*SYSTEM_DIRS, "/proc", "/dev", "/sys", "/tmp", "/opt/runtime", "/run",
                                       "/var", "/root", "/home", "/boot", "/mnt", "/media", "/opt")}
_PIP_FLAGS_WITH_VALUE = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint"}


@dataclass
class Build:
    """The staged filesystem and what the Dockerfile said besides files."""

    stage: Path
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    base_image: str = ""
    report: list[str] = field(default_factory=list)

    def host_path(self, absolute: str) -> Path:
        return self.stage / absolute.lstrip("/")


def _pip_requirements(command: str) -> list[str] | None:
    """The requirements of a `pip install ...` command (None: it is not one); -r files are refused."""
    words = shlex.split(command)
    while (words and words[0] in ("python", "python3", "-m", "sudo")) or (words and words[0].startswith("python3.")):
        words = words[1:]
    if len(words) < 2 or words[0] not in ("pip", "pip3") or words[1] != "install":
        return None
    reqs, skip = [], False
    for word in words[2:]:
        if skip:
            skip = False
        elif word in ("-r", "--requirement"):
            raise ImportRefused(f"RUN {command!r}: requirement files are not read; list the packages")
        elif word in _PIP_FLAGS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            reqs.append(word)
    return reqs


def _apt_packages(command: str) -> list[str] | None:
    words = shlex.split(command)
    if words[:1] == ["sudo"]:
        words = words[1:]
    if words[:1] not in (["apt-get"], ["apt"]):
        return None
    if len(words) > 1 and words[1] in ("update", "clean", "autoremove"):
        return []
    return [w for w in words[2:] if not w.startswith("-")] if words[1:2] == ["install"] else None


def copy_sources(context: Path, step: Step) -> list[Path]:
    """The build-context paths a COPY/ADD step names (globs expanded); ImportRefused for a URL or a
    path outside environment/."""
    sources = step.args[:-1]
    if any(re.match(r"^[a-z]+://", s) for s in sources):
        raise ImportRefused(f"line {step.line}: {step.instruction} from a URL: the build has no network")
    paths = []
    for source in sources:
        matches = sorted(context.glob(source)) if any(c in source for c in "*?[") else [context / source]
        for path in matches:
            if not path.resolve().is_relative_to(context.resolve()) or not path.exists():
                raise ImportRefused(f"line {step.line}: {step.instruction} {source}: not inside environment/")
            paths.append(path)
    return paths


def copy_target(build: Build, step: Step) -> str:
    """The absolute destination of a COPY/ADD step (relative ones are under the WORKDIR so far)."""
    dest = step.args[-1]
    return dest if dest.startswith("/") else posixpath.join(build.workdir, dest)


def _copy(build: Build, context: Path, step: Step) -> None:
    target = copy_target(build, step)
    into_dir = step.args[-1].endswith("/") or len(step.args) > 2 or build.host_path(target).is_dir()
    for path in copy_sources(context, step):
        final = build.host_path(target) / path.name if into_dir and not path.is_dir() else build.host_path(target)
        if path.is_dir():
            shutil.copytree(path, final, dirs_exist_ok=True, symlinks=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, final)


def apply_declaration(build: Build, step: Step, stand_in_line: str | None = None) -> bool:
    """FROM, WORKDIR, ENV, ARG and the instructions that build nothing, which both builders (the host's
    and the container's) apply alike: True when `step` was one of them. `stand_in_line`: what stands in
    for the base, for the report (default: the host, as bases.stand_in says)."""
    if step.instruction == "FROM":
        if build.base_image:
            raise ImportRefused(f"line {step.line}: multi-stage builds are not supported")
        build.base_image = step.args[0]
        line = stand_in(step.args[0])  # refuses what the host cannot stand in for
        build.report.append(f"{step.args[0]}: {stand_in_line}" if stand_in_line else line)
    elif step.instruction == "WORKDIR":
        path = step.args[0]
        build.workdir = posixpath.normpath(path if path.startswith("/") else posixpath.join(build.workdir, path))
    elif step.instruction == "ENV":
        build.env.update(arg.split("=", 1) for arg in step.args)  # type: ignore[arg-type]
    elif step.instruction in ("COPY", "ADD", "RUN"):
        return False
    elif step.instruction != "ARG":
        build.report.append(f"line {step.line}: {step.instruction} ignored (nothing to build)")
    return True


def tops_for(command: str, workdir: str) -> list[str]:
    """Top-level directories the step will see bound: the workdir's, the kept ones and any it names."""
    named = {m for m in _ABSOLUTE.findall(command) if m not in SANDBOX_OWN}
    return sorted({workdir.strip("/").split("/")[0], *KEPT_TOPS, *named} - {""})


def run_script(build: Build, step: Step) -> str | None:
    """What of a RUN step must execute: its `pip install` parts become runtime requirements and its
    `apt-get install` parts are checked against the host (refused when a package is missing); the rest,
    joined again, or None when nothing is left."""
    command = step.args[0]
    parts = [p.strip() for p in re.split(r"\s*&&\s*", command) if p.strip()]
    rest = []
    for part in parts:
        reqs = _pip_requirements(part)
        if reqs is not None:
            build.requirements += [r for r in reqs if r not in build.requirements]
            build.report.append(f"line {step.line}: `{part}` -> runtime requirements {reqs}")
            continue
        packages = _apt_packages(part)
        if packages is not None:
            if missing := missing_packages(packages):
                raise ImportRefused(f"line {step.line}: apt packages {missing} are not on this host (Ubuntu-only "
                                    "or not installed); refused rather than built without them")
            build.report.append(f"line {step.line}: `{part}` -> the host has these packages")
            continue
        rest.append(part)
    return " && ".join(rest) if rest else None


def _run(build: Build, step: Step, backend: SandboxBackend) -> None:
    script = run_script(build, step)
    if script is None:
        return
    workdir = build.workdir if build.workdir != "/" else "/app"
    build.host_path(workdir).mkdir(parents=True, exist_ok=True)
    mounts = []
    for top in tops_for(script, workdir):
        path = build.host_path("/" + top)
        path.mkdir(parents=True, exist_ok=True)
        if ("/" + top) != workdir and not workdir.startswith("/" + top + "/"):
            mounts.append(Mount(source=path, target="/" + top, read_only=False))
    hand_stage_to(build.stage, AGENT_UID)
    result = backend.run(build_request(build, script, build.host_path(workdir), workdir, mounts))
    if not result.ok:
        raise ImportRefused(f"line {step.line}: RUN {script[:120]!r} failed in the build sandbox (no network; "
                            f"exit {result.exit_code}): {result.output_tail[-400:]}")
    build.report.append(f"line {step.line}: ran `{script[:80]}` in a build sandbox without network")


def build_request(build: Build, command: str, workspace: Path, workdir: str, mounts: list[Mount]) -> ExecRequest:
    """A build-time sandbox run (a RUN step, solve.sh): unprivileged, no network, the build's runtime
    requirements and ENV, generous limits (a build may compile)."""
    return ExecRequest(command=command, workspace=workspace, workdir=workdir, mounts=mounts,
                       runtime=ensure_runtime(build.requirements), env={"HOME": "/tmp", **build.env},
                       limits=Limits(wall_sec=600, memory_mb=4096, cpus=1), uid=AGENT_UID)


def hand_stage_to(root: Path, uid: int) -> None:
    """The build sandbox runs as an unprivileged uid; as root, give it the staged tree to write."""
    if os.geteuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.lchown(root, uid, uid)


def build_environment(steps: list[Step], context: Path, stage: Path, backend: SandboxBackend) -> Build:
    """Apply the Dockerfile's steps to `stage`; raises ImportRefused naming the line and the reason."""
    build = Build(stage=stage)
    stage.mkdir(parents=True, exist_ok=True)
    for step in steps:
        if apply_declaration(build, step):
            if step.instruction == "WORKDIR":
                build.host_path(build.workdir).mkdir(parents=True, exist_ok=True)
        elif step.instruction in ("COPY", "ADD"):
            _copy(build, context, step)
        else:
            _run(build, step, backend)
    return build

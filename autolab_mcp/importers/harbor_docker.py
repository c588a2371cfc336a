"""Building a Harbor task's environment for real, through the Docker API (Docker, or podman's), over a
base image made on this machine: `import harbor --backend docker`.

No registry is reachable, so plain `debian`, `ubuntu` and `python` bases are stood in for by
localhost/autolab-base:bookworm (Debian bookworm with Python 3, made by
`BASE_ONLY=1 scripts/build-scorer-image.sh`); every other base is refused as on the host path
(bases.py). The Dockerfile's steps are applied in order to one container of that base, created
without network: COPY/ADD put in as archives, ENV and WORKDIR carried to every RUN, RUN steps as execs
(their `pip install` parts become the task's runtime requirements and their `apt-get` parts are
checked against the host, as on the host path, since neither can download here). The workdir and the
top-level directories the build made (/orig, /tests, /data, ...) are copied out into the staged
filesystem; the task then runs on the sandboxes like any other, and the container is removed."""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
from pathlib import Path
from typing import Any

from autolab_mcp.core.sandbox.docker_api import connect, docker_errors
from autolab_mcp.importers.bases import ImportRefused, stand_in
from autolab_mcp.importers.dockerfile import Step
from autolab_mcp.importers.harbor_build import (
    SANDBOX_OWN,
    Build,
    apply_declaration,
    copy_sources,
    copy_target,
    run_script,
    tops_for,
)

LOCAL_BASE = "localhost/autolab-base:bookworm"
_MAX_EXTRACT_BYTES = 2 * 1024 ** 3


class _BuildContainer:
    """One container of the base image, without network, that the Dockerfile's steps are applied to in
    order through the API: COPY/ADD as archives put into it, RUN as execs with the ENV and WORKDIR so far.
    (Podman's compatible build endpoint runs RUN steps with the network whatever `networkmode` says;
    a container created with network_mode none has none, as the docker backend's tests show.)"""

    def __init__(self, client: Any) -> None:
        self.errors = docker_errors()
        try:
            client.images.get(LOCAL_BASE)
        except self.errors.ImageNotFound:
            raise ImportRefused(f"the base image {LOCAL_BASE} is not on the engine: make it with "
                                "`BASE_ONLY=1 scripts/build-scorer-image.sh` (offline after its first run)") from None
        self.container = client.containers.create(LOCAL_BASE, command=["sleep", "infinity"], network_mode="none",
                                                  labels={"org.autolab-mcp.import": "1"})
        self.container.start()

    def run(self, script: str, workdir: str, env: dict[str, str]) -> tuple[int, str]:
        code, output = self.container.exec_run(["/bin/sh", "-c", script], workdir=workdir, environment=env)
        return code, (output or b"").decode(errors="replace")

    def copy_in(self, paths: list[Path], dest: str, into_dir: bool) -> None:
        """COPY semantics for local sources: a directory's contents, a file into a directory or to a path."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in paths:
                if path.is_dir():
                    for child in sorted(path.iterdir()):
                        tar.add(child, arcname=child.name)
                else:
                    tar.add(path, arcname=path.name if into_dir else posixpath.basename(dest.rstrip("/")))
        target = dest if into_dir else posixpath.dirname(dest.rstrip("/")) or "/"
        code, out = self.run(f"mkdir -p {shlex.quote(target)}", "/", {})
        if code != 0:
            raise ImportRefused(f"COPY: cannot make {target} in the build container: {out[-200:]}")
        self.container.put_archive(target, buffer.getvalue())

    def copy_out(self, tops: list[str], stage: Path) -> None:
        """Each top-level directory that exists, extracted into `stage` (tarfile's data filter: no links
        out, no devices, no absolute names)."""
        for top in tops:
            try:
                chunks, _ = self.container.get_archive("/" + top)
            except self.errors.NotFound:
                continue
            data = io.BytesIO()
            for chunk in chunks:
                data.write(chunk)
                if data.tell() > _MAX_EXTRACT_BYTES:
                    raise ImportRefused(f"/{top} in the build container is over {_MAX_EXTRACT_BYTES >> 30} GiB")
            data.seek(0)
            with tarfile.open(fileobj=data) as tar:
                tar.extractall(stage, filter="data")

    def remove(self) -> None:
        try:
            self.container.remove(force=True)
        except self.errors.DockerException:  # the engine went away; the label finds it later
            pass


_STAND_IN = (f"{LOCAL_BASE} (Debian bookworm, made on this machine) stands in for it; built through the Docker API "
             "in a container without network")


def _apply(step: Step, build: Build, box: _BuildContainer, context: Path, tops: set[str]) -> None:
    if apply_declaration(build, step, _STAND_IN):
        if step.instruction == "WORKDIR":
            box.run(f"mkdir -p {shlex.quote(build.workdir)}", "/", {})
            tops.add(build.workdir.strip("/").split("/")[0])
    elif step.instruction in ("COPY", "ADD"):
        dest = copy_target(build, step)
        box.copy_in(copy_sources(context, step), dest + ("/" if step.args[-1].endswith("/") else ""),
                    into_dir=step.args[-1].endswith("/") or len(step.args) > 2)
        tops.add(dest.strip("/").split("/")[0])
    else:
        script = run_script(build, step)
        if script is None:
            return
        tops.update(tops_for(script, build.workdir))
        code, output = box.run(script, build.workdir, build.env)
        if code != 0:
            raise ImportRefused(f"line {step.line}: RUN {script[:120]!r} failed in the build container (no network; "
                                f"exit {code}): {output[-400:]}")
        build.report.append(f"line {step.line}: ran `{script[:80]}` in the build container (no network)")


def docker_build_environment(steps: list[Step], context: Path, stage: Path) -> Build:
    """Apply the Dockerfile's steps in a container of the local base and stage what they made; raises
    ImportRefused naming the line and the reason."""
    build = Build(stage=stage)
    stage.mkdir(parents=True, exist_ok=True)
    if not steps or steps[0].instruction != "FROM":
        raise ImportRefused("environment/Dockerfile does not start with FROM")
    stand_in(steps[0].args[0])  # before any container: a refused base costs nothing
    client, _ = connect(None, 60)
    box = _BuildContainer(client)
    tops: set[str] = set()
    try:
        for step in steps:
            _apply(step, build, box, context, tops)
        box.copy_out(sorted(t for t in tops - SANDBOX_OWN if t), stage)
    finally:
        box.remove()
    return build

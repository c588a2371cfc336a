"""`import harbor --backend docker`: the Dockerfile built for real through the Docker API (podman here)
over localhost/autolab-base:bookworm, a Debian base made on this machine standing in for the task's
plain base; the staged result is the one the host path builds, and what the host lacks is refused.

Needs root, podman and its Docker-API service (scripts/podman-service.sh); skipped without them,
except under CI, where it must run. The base image is made once (BASE_ONLY=1 of the scorer-image
script; about a minute on a fresh machine, seconds after)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.importers.bases import ImportRefused
from autolab_mcp.importers.harbor import import_harbor

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "harbor"

if not os.environ.get("CI") and (os.geteuid() != 0 or not shutil.which("podman") or not os.environ.get("DOCKER_HOST")):
    pytest.skip("needs root, podman and DOCKER_HOST (eval \"$(scripts/podman-service.sh start)\")",
                allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def base_image():
    made = subprocess.run(["bash", str(ROOT / "scripts" / "build-scorer-image.sh")],
                          env={**os.environ, "BASE_ONLY": "1"}, capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-2000:]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_real_image_build_stages_what_the_host_build_stages(tmp_path):
    docker = import_harbor(FIXTURES / "net_golf", tmp_path / "docker", BwrapBackend(), valid_key="correctness",
                           builder="docker")
    host = import_harbor(FIXTURES / "net_golf", tmp_path / "host", BwrapBackend(), valid_key="correctness")
    assert any("localhost/autolab-base:bookworm (Debian bookworm, made on this machine) stands in" in line
               for line in docker.lines), docker.lines
    assert any("ran `mkdir -p /orig" in line and "build container" in line for line in docker.lines), docker.lines
    for part in ("environment", "solution", "tests/harbor"):
        assert _tree(docker.task.root / part) == _tree(host.task.root / part), part
    assert (docker.task.tests_dir / "harbor/rootfs/orig/n.txt").read_text() == "8\n"  # RUN saw the ENV
    assert docker.task.config.environment.env == {"NET_INPUTS": "8"}
    assert docker.task.config.autolab.harbor.base_image == "python:3.11-slim"


def test_the_build_has_no_network_and_a_failing_step_is_refused(tmp_path):
    src = tmp_path / "variant"
    shutil.copytree(FIXTURES / "net_golf", src)
    dockerfile = src / "environment" / "Dockerfile"
    address = socket.gethostbyname("deb.debian.org")  # reachable from the host, by address: no DNS needed
    probe = f"import socket; socket.create_connection(('{address}', 80), timeout=5)"
    dockerfile.write_text(dockerfile.read_text().replace("CMD", f'RUN python3 -c "{probe}"\nCMD'))
    with pytest.raises(ImportRefused, match=r"line 9: RUN .* failed in the build container \(no network; exit 1\)"):
        import_harbor(src, tmp_path / "out", BwrapBackend(), builder="docker")
    assert not (tmp_path / "out").exists()
    dockerfile.write_text("FROM rust:1.82-slim\nWORKDIR /app\n")
    with pytest.raises(ImportRefused, match="brings a Rust toolchain"):
        import_harbor(src, tmp_path / "out", BwrapBackend(), builder="docker")

"""Which Docker base images the host runtime can stand in for, and which it must refuse.

Without a container engine, the host (Debian, its Python, our runtime venv) stands in for the plain
bases a CPU task starts from: `debian`, `ubuntu` and `python` images. A base that brings what the
host lacks (a Go or Rust toolchain, CUDA, Node) is refused with the reason, never silently replaced:
the task would build or run differently and its scores would mean something else.
"""

from __future__ import annotations

import platform
import shutil

from autolab_mcp.core.errors import AutolabError

#: image name -> what it would have brought that the host does not have
_REFUSED = {
    "golang": "a Go toolchain", "rust": "a Rust toolchain", "nvidia/cuda": "CUDA and a GPU",
    "node": "Node.js", "openjdk": "a Java toolchain", "eclipse-temurin": "a Java toolchain",
    "pytorch/pytorch": "a GPU build of PyTorch", "julia": "Julia", "alpine": "musl libc and apk packages",
}
_STAND_INS = ("debian", "ubuntu", "python", "buildpack-deps")


class ImportRefused(AutolabError):
    """A task that cannot be imported faithfully; the message says what and why."""


def image_name(reference: str) -> tuple[str, str]:
    """("python", "3.12-slim") from "docker.io/library/python:3.12-slim"; the tag defaults to latest."""
    ref = reference.split("@", 1)[0]
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        name = name.removeprefix(prefix)
    name = name.removeprefix("library/")
    return name, tag or "latest"


def stand_in(reference: str) -> str:
    """What stands in for the base image, as a line of the import report; raises ImportRefused."""
    name, tag = image_name(reference)
    for refused, brings in _REFUSED.items():
        if name == refused or name.startswith(refused + "/"):
            raise ImportRefused(f"base image {reference}: it brings {brings}, which this host lacks; refused "
                                "rather than replaced (the task would build and score differently)")
    if name not in _STAND_INS:
        raise ImportRefused(f"base image {reference}: not a plain debian, ubuntu or python image, so the host "
                            "cannot stand in for it; build it with the docker backend or port the task")
    host = f"this host's Debian and Python {platform.python_version()}"
    if name == "python" and not tag.startswith(platform.python_version_tuple()[0] + "."):
        raise ImportRefused(f"base image {reference}: Python {tag} is not a Python 3 the host runtime has")
    return f"{reference}: {host} stand in for it (no container build)"


def missing_packages(packages: list[str]) -> list[str]:
    """The apt packages of a RUN step that this host does not have installed (dpkg's view)."""
    import subprocess

    if not packages or shutil.which("dpkg-query") is None:
        return list(packages)
    missing = []
    for package in packages:
        found = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in found.stdout:
            missing.append(package)
    return missing

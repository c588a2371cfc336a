"""Sandbox backends behind one protocol (see base.py)."""

from __future__ import annotations

from autolab_mcp.core.sandbox.base import SandboxBackend

BACKENDS = ("bwrap", "docker")


def make_backend(name: str) -> SandboxBackend:
    """The backend called `name`; a clear error for anything else."""
    if name == "bwrap":
        from autolab_mcp.core.sandbox.bwrap import BwrapBackend

        return BwrapBackend()
    if name == "docker":
        from autolab_mcp.core.sandbox.docker import DockerBackend

        return DockerBackend()
    raise ValueError(f"unknown sandbox backend {name!r}; choose one of {', '.join(BACKENDS)}")

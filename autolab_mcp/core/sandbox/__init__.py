"""Sandbox backends behind one protocol (see base.py).

bwrap and docker run untrusted code; FakeBackend (fake.py) runs nothing and isolates nothing: it
is for unit tests only, so it is exported here but is not one of the BACKENDS a user can choose.
Neither is the uid backend (uid.py: an unprivileged uid, no namespaces): only an exported Harbor
verifier (scorer/harbor_shim.py), in a container thrown away afterwards, uses it.
"""

from __future__ import annotations

from autolab_mcp.core.sandbox.base import SandboxBackend
from autolab_mcp.core.sandbox.fake import FakeBackend, FakeCommand

__all__ = ["BACKENDS", "FakeBackend", "FakeCommand", "SandboxBackend", "make_backend"]

#: The backends `serve --backend` and the scorer accept (the test-only FakeBackend is not one of them).
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

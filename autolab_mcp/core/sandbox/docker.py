"""Docker backend: untrusted commands in throwaway containers of a Docker-API engine.

One container per request, talking to whatever `DOCKER_HOST` names (Docker Engine, or
podman's compatible API: `eval "$(scripts/podman-service.sh start)"`). The image is an
empty root (mount points only) that the backend imports itself when missing; the host's
/usr, /etc and /bin, /lib... are bound read-only over it, so the runtime venvs built on
/usr/bin/python3 (autolab_mcp/core/runtime.py) run inside unchanged: the same view of the
system a bwrap sandbox has. The container gets no network, a read-only root, no
capabilities, no_new_privs, memory (no swap), pids and CPU limits, a sized private /tmp,
and runs as the request's uid.

Semantics follow the bwrap backend (bwrap.py): `bash -c command` in /workspace, combined
output logged up to a limit with a tail in memory, a wall limit that kills everything,
kill() from any thread, exit codes as bash reports them.

pid 1 is a small launcher run by the host's /usr/bin/python3 (bound with /usr; -I -S: no
site, no PYTHON* variables, nothing from the workspace). It installs our seccomp program
(seccomp.py, passed as hex in argv: the filter a bwrap sandbox gets, so fake_file_locks and
forbid_threads mean the same here), makes itself non-dumpable, forks `bash -c command` and
waits for it, exiting with its status as bash reports it (128+n for a signal). So the command
is not the namespace's init and its signals behave as on a host (`kill -TERM $$` -> 143);
whatever it leaves behind dies with pid 1 when it ends; and although pid 1 runs as the
command's uid, the command cannot ptrace it or read its /proc entries (root, cwd, environ),
Yama or not: in bwrap, pid 1 is root's. The filter is installed in every container, not only
those asking for the extra rules, so one code path runs for all (one Python start, small next
to a container's), and 32-bit/x32 syscalls are refused, which the engine's default profile
allows. Filters stack on the engine's own profile (the strictest answer wins), so that profile
still applies. If the filter cannot be installed the command does not run: pid 1 exits with
SECCOMP_FAILED_EXIT and says why.

Output comes over the attach stream, opened before the container starts (nothing is
missed, nothing is kept by the engine: the log driver is "none"). Read-only files come
from request.read_only_root (the pristine task) when given; taken from the workspace,
they are bound from hard links (or copies) made from an fd opened without following
symlinks, so a file swapped for a symlink after the check cannot redirect the bind.
Like bwrap, a watchdog measures the writable mounts every few seconds and kills a run
past limits.disk_mb (disk_exceeded).
podman 4 on cgroup v1 does not report OOM kills (its conmon misses the event when the
killed process ends the container), so on this host the backend also listens on the
container's memory.oom_control itself, registered before the command starts.

Here: the backend (the engine, its base image, request checks). docker_api.py reaches the
engine; docker_config.py makes a request's container configuration and pid 1's launcher;
docker_process.py runs one container (DockerProcess), docker_watch.py says how it ended;
docker_oom.py is the cgroup v1 OOM listener; docker_reaper.py removes a dead server's containers.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

from autolab_mcp.core.sandbox.base import ExecRequest, ExecResult
from autolab_mcp.core.sandbox.docker_api import DEFAULT_IMAGE, IMAGE_ENV, BaseImage, connect, docker_errors
from autolab_mcp.core.sandbox.docker_config import SECCOMP_FAILED_EXIT, ContainerSpec
from autolab_mcp.core.sandbox.docker_process import DockerProcess
from autolab_mcp.core.sandbox.seccomp import sandbox_program

__all__ = ["DEFAULT_IMAGE", "IMAGE_ENV", "SECCOMP_FAILED_EXIT", "DockerBackend", "DockerProcess"]

log = logging.getLogger(__name__)


class DockerBackend:
    """Runs each command in a fresh container of a Docker-API engine (Docker Engine or podman)."""

    name = "docker"
    limits_mode: Literal["container"] = "container"

    def __init__(self, *, image: str | None = None, client: Any = None, tail_bytes: int = 4096,
                 api_timeout: float = 120.0) -> None:
        """`image`: the base image (default $AUTOLAB_DOCKER_IMAGE, else DEFAULT_IMAGE, imported when missing).
        `client`: a docker.DockerClient (default: docker.from_env(), which honours DOCKER_HOST)."""
        self._errors = docker_errors()
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.tail_bytes = tail_bytes
        self._client, info = connect(client, api_timeout)
        self._api = self._client.api
        #: what serves DOCKER_HOST, for logs (e.g. "debian, 4.3.1" for podman)
        self.engine = f"{info.get('OperatingSystem') or '?'}, {info.get('ServerVersion') or '?'}"
        ncpu = int(info.get("NCPU") or os.cpu_count() or 1)
        #: the engine's machine (whose syscall numbers the filter needs): "amd64" from podman, "x86_64" from Docker
        machine = str(info.get("Architecture") or "") or None
        if sandbox_program(machine) is None:
            log.warning("no seccomp filter for %s: containers run under the engine's profile only", machine)
        # the request's seccomp program comes from self._program, looked up per call (tests replace it)
        self._spec = ContainerSpec(self.image, ncpu=ncpu, machine=machine, root=os.geteuid() == 0,
                                   program=lambda request: self._program(request))
        self._image = BaseImage(self._api, self._errors, self.image)
        self._image.ensure()

    # -- protocol

    def start(self, request: ExecRequest) -> DockerProcess:
        return DockerProcess(self, request)

    def run(self, request: ExecRequest) -> ExecResult:
        result = self.start(request).wait()
        assert result is not None
        return result

    def _program(self, request: ExecRequest) -> bytes | None:
        """The seccomp program pid 1 installs for `request` (None: none known for the engine's ABI)."""
        return self._spec.default_program(request)

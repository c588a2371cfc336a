"""One running container (docker.py starts it): create, attach, start, drain output, kill, pause, remove.

The attach stream is opened before the container starts (nothing is missed, nothing is kept
by the engine: the log driver is "none") and a reader thread demultiplexes it into the log and
the tail. Read-only files are bound from request.read_only_root (the pristine task) when given;
taken from the workspace, from hard links (or copies) of an fd opened without following
symlinks. How a run ends and what it reports: docker_watch.py.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import posixpath
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autolab_mcp.core.sandbox.base import ExecRequest, SandboxError
from autolab_mcp.core.sandbox.common import KillReason, open_no_symlinks
from autolab_mcp.core.sandbox.docker_api import api_message
from autolab_mcp.core.sandbox.docker_oom import OomWatch
from autolab_mcp.core.sandbox.docker_watch import ContainerWatch

if TYPE_CHECKING:
    from autolab_mcp.core.sandbox.docker import DockerBackend

log = logging.getLogger("autolab_mcp.core.sandbox.docker")

_run_ids = itertools.count(1)


class DockerProcess(ContainerWatch):
    """One running container: a reader thread drains the attach stream, a watcher enforces the wall limit."""

    def __init__(self, backend: DockerBackend, request: ExecRequest) -> None:
        backend._spec.validate(request)
        super().__init__(request, backend.tail_bytes)
        self._backend = backend
        self._api = backend._api
        self._errors = backend._errors
        self._eof = threading.Event()
        self._sock: Any = None
        self._oom: OomWatch | None = None
        self._staging: Path | None = None
        self.container_id: str | None = None
        self.run_id = f"{os.getpid()}-{next(_run_ids)}-{secrets.token_hex(3)}"
        self._eof_at: float | None = None  # when the attach stream ended cleanly (the command's end)

        backend._image.ensure()
        try:
            try:
                ro_binds = self._stage_read_only(request)
            except OSError as e:
                raise SandboxError(f"docker backend could not stage the read-only files: {e}") from e
            create, host = backend._spec.container_config(request, ro_binds, self.run_id)
            try:
                host_config = self._api.create_host_config(**host)
                try:
                    self.container_id = self._api.create_container(host_config=host_config, **create)["Id"]
                except self._errors.ImageNotFound:  # removed from the engine since: import it again, once
                    backend._image.forget()
                    backend._image.ensure()
                    self.container_id = self._api.create_container(host_config=host_config, **create)["Id"]
                # Attach before start: podman sets the container up here (runc create), Docker at start.
                self._sock = self._attach()
                self._oom = OomWatch.for_container(self._pid(), self.container_id)
                if request.log_path is not None:
                    request.log_path.parent.mkdir(parents=True, exist_ok=True)
                    self._log = open(request.log_path, "wb")  # noqa: SIM115 (closed by the watcher)
                self._t0 = time.monotonic()
                self._api.start(self.container_id)
            except self._errors.DockerException as e:
                raise SandboxError(f"docker backend could not start the sandbox: {api_message(e)}") from e
            except OSError as e:
                raise SandboxError(f"docker backend could not start the sandbox: {e}") from e
            if self._oom is None:  # Docker Engine creates the process only at start
                self._oom = OomWatch.for_container(self._pid(), self.container_id)
        except BaseException:
            self._cleanup()
            raise
        self._reader = threading.Thread(target=self._read_output, name=f"docker-out-{self.run_id}", daemon=True)
        self._reader.start()
        self._went_live()
        threading.Thread(target=self._watch, name=f"docker-wait-{self.run_id}", daemon=True).start()

    # -- setup

    def _stage_read_only(self, request: ExecRequest) -> list[tuple[Path, str]]:
        """(host file, workspace-relative target) for each read-only file that is a regular file
        reached without symlinks. Taken from request.read_only_root (the pristine task, which the
        agent cannot change) as is; taken from the workspace through hard links (or copies) made
        from the checked fd, in a private directory, so what gets bound is what was checked."""
        binds: list[tuple[Path, str]] = []
        root = request.read_only_root or request.workspace
        for rel in dict.fromkeys(request.read_only_paths):
            fd = open_no_symlinks(root, rel)
            if fd is None:
                continue
            try:
                if request.read_only_root is not None:
                    binds.append((request.read_only_root.absolute() / posixpath.normpath(rel), posixpath.normpath(rel)))
                    continue
                if self._staging is None:
                    self._staging = self._make_staging(request.workspace)
                dest = self._staging / str(len(binds))
                try:
                    os.link(f"/proc/self/fd/{fd}", dest, follow_symlinks=True)
                except OSError:  # another filesystem, or not allowed to link: copy what the fd holds
                    with open(f"/proc/self/fd/{fd}", "rb") as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
                    os.chmod(dest, os.fstat(fd).st_mode & 0o7777)
                binds.append((dest, posixpath.normpath(rel)))
            finally:
                os.close(fd)
        return binds

    @staticmethod
    def _make_staging(workspace: Path) -> Path:
        # Next to the workspace (same filesystem, so links work); the temp dir when that is not writable.
        for parent in (workspace.absolute().parent, None):
            try:
                return Path(tempfile.mkdtemp(prefix=".autolab-ro-", dir=parent))
            except OSError:
                if parent is None:
                    raise
        raise AssertionError("unreachable")

    def _attach(self) -> Any:
        raw = self._api.attach_socket(self.container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
        sock = getattr(raw, "_sock", raw)
        sock.settimeout(0.2)
        return sock

    def _pid(self) -> int:
        try:
            return int(self._api.inspect_container(self.container_id)["State"].get("Pid") or 0)
        except self._errors.DockerException:
            return 0

    # -- running

    def _read_output(self) -> None:
        """Demultiplex the attach stream (8-byte frame headers) into the log and the tail."""
        buf = bytearray()
        try:
            while True:
                try:
                    data = self._sock.recv(65536)
                except TimeoutError:  # socket.timeout: nothing arrived within 0.2 s
                    if self._stop_reading.is_set():
                        return
                    continue
                except (OSError, ValueError, AttributeError):
                    return
                if not data:
                    self._eof_at = time.monotonic()
                    return
                buf += data
                pos = 0
                while len(buf) - pos >= 8:
                    size = int.from_bytes(buf[pos + 4:pos + 8], "big")
                    if len(buf) - pos - 8 < size:
                        break
                    self._feed(bytes(buf[pos + 8:pos + 8 + size]))
                    pos += 8 + size
                del buf[:pos]
        finally:
            self._eof.set()

    def _terminate(self, reason: KillReason) -> None:
        if not self._claim_kill(reason):
            return
        self.thaw()  # a paused container cannot be killed on every engine
        try:
            self._api.kill(self.container_id)  # SIGKILL to pid 1 takes the whole pid namespace along
        except self._errors.NotFound:
            pass
        except Exception as e:  # already stopped (409), or the engine is unreachable: the watcher reports it
            log.debug("sandbox %s: kill: %s", self.run_id, api_message(e))

    def _state(self) -> dict[str, Any] | None:
        """The container's state once it has stopped, else None."""
        st = self._api.inspect_container(self.container_id)["State"]
        if st.get("Running") or st.get("Status") not in ("exited", "stopped", "dead"):
            return None
        return st

    def _set_frozen(self, frozen: bool) -> bool:
        """`docker pause` / `unpause` (the cgroup freezer under the engine; podman does it on cgroups v1)."""
        try:
            (self._api.pause if frozen else self._api.unpause)(self.container_id)
            return True
        except Exception as e:  # not running any more, or the engine cannot pause: then it is not frozen
            log.warning("sandbox %s: could not %s: %s", self.run_id, "pause" if frozen else "unpause",
                        api_message(e))
            return False


    def _cleanup(self) -> None:
        """Remove the container (forced: it may still run after a failed setup), close everything."""
        if self.container_id is not None:
            try:
                self._api.remove_container(self.container_id, force=True, v=True)
            except self._errors.NotFound:
                pass
            except Exception as e:  # never let cleanup hide the result; the label finds leftovers
                log.warning("sandbox %s: could not remove container %s: %s", self.run_id, self.container_id[:12],
                            api_message(e))
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            log_file, self._log = self._log, None
        if log_file is not None:
            log_file.close()
        if self._oom is not None:
            self._oom.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

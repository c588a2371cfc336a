"""The server's side of the scorer protocol: a client, the scorer process it starts, or a remote one.

The scorer is a separate process reached over HTTP: a child on a unix socket in a 0700 directory
(ScorerProcess), or a service elsewhere, in its container or on another host (RemoteScorer). The
server never imports scorer code; only the wire models of autolab_mcp.core.wire cross.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

import httpx

from autolab_mcp.core import signatures
from autolab_mcp.core.errors import AutolabError, Refusal
from autolab_mcp.core.wire import Health, SignedRecord, Split

log = logging.getLogger("autolab.scorer_client")


class ScorerUnavailable(AutolabError):
    """The scorer did not answer in time or crashed; the call is not charged."""


class ScorerTimeout(ScorerUnavailable):
    """The scorer accepted the request but did not answer in time (hung)."""


class ScorerRejected(Refusal):
    """The scorer refused the request (bad archive, wrong token); the message says why."""


class Evaluator(Protocol):
    def evaluate(self, split: Split, archive: bytes, request_id: str = "",
                 timeout: float | None = None) -> SignedRecord: ...


class Scorer(Protocol):
    """What an episode needs of a scorer: ScorerProcess (a child), RemoteScorer (a service), or a
    test double (autolab_mcp.fake_scorer.FakeScorer). evaluate raises ScorerRejected (a Refusal: the
    archive is unusable) or ScorerUnavailable (not charged; try again)."""

    @property
    def client(self) -> Evaluator: ...

    def start(self) -> None: ...

    def ensure_running(self) -> None: ...

    def restart(self) -> None: ...

    def stop(self) -> None: ...


class ScorerClient:
    def __init__(self, *, token: str, socket_path: Path | None = None, url: str | None = None,
                 timeout: float = 600.0, task: str = "", public_key: signatures.PublicKey | None = None) -> None:
        """`url`: http(s)://HOST:PORT or unix:/path/to/socket. `task`: the served task's name (empty for a
        scorer that serves one). `public_key`: when given, every record must verify with it."""
        if socket_path is None and url is None:
            raise ValueError("give a unix socket path or a URL for the scorer")
        if url and url.startswith("unix:"):
            socket_path, url = Path(url[5:]), None
        self.task = task
        self._public_key = public_key
        transport = httpx.HTTPTransport(uds=str(socket_path)) if socket_path else None
        self._http = httpx.Client(
            base_url=url or "http://scorer", transport=transport, timeout=timeout,
            headers={"authorization": f"Bearer {token}"},
        )

    def health(self, timeout: float = 5.0) -> Health:
        try:
            response = self._http.get("/v1/health", timeout=timeout)
        except httpx.HTTPError as exc:
            raise ScorerUnavailable(f"scorer not reachable: {exc}") from exc
        if response.status_code != 200:
            raise ScorerUnavailable(f"scorer health check failed: HTTP {response.status_code}")
        return Health.model_validate(response.json())

    def evaluate(
        self, split: Split, archive: bytes, request_id: str = "", timeout: float | None = None
    ) -> SignedRecord:
        body = {"task": self.task, "split": split, "archive_b64": base64.b64encode(archive).decode(),
                "request_id": request_id}
        try:
            response = self._http.post("/v1/evaluate", json=body, timeout=timeout or self._http.timeout)
        except httpx.TimeoutException as exc:
            raise ScorerTimeout(f"the scorer did not answer within {self._http.timeout.read:.0f} s") from exc
        except httpx.HTTPError as exc:
            raise ScorerUnavailable(f"the scorer is unreachable: {exc}") from exc
        if response.status_code in (400, 401, 404, 413):
            raise ScorerRejected(_error_text(response))
        if response.status_code == 503:
            raise ScorerUnavailable(f"the scorer is busy: {_error_text(response)}")
        if response.status_code != 200:
            raise ScorerUnavailable(f"the scorer failed: HTTP {response.status_code}")
        signed = SignedRecord.model_validate(response.json())
        if self._public_key is not None and not signatures.verify_record(
                signed.record.model_dump(mode="json"), signed.signature, signed.key_id, self._public_key):
            raise ScorerUnavailable("the scorer's record does not verify with the pinned public key; not recorded")
        return signed

    def close(self) -> None:
        self._http.close()


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:2000]


_DIR_PREFIX = "autolab-scorer-"


def _remove_stale_dirs() -> None:
    """Socket directories of servers that died without cleaning up (SIGKILL): their owner pid is gone."""
    for d in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*"):
        try:
            pid = int((d / "owner.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):  # not ours to judge (no pid file, another user's): leave it
            continue


class ScorerProcess:
    """Starts (and restarts) `python -m scorer` for one task on a private unix socket."""

    def __init__(self, task_root: Path, backend: str = "bwrap", *, start_timeout: float = 900.0,
                 eval_timeout: float = 600.0, queue_timeout: float = 600.0) -> None:
        """`eval_timeout`: longest evaluation; `queue_timeout`: longest wait for the host's timing core
        (other episodes' evaluations hold it). A call is abandoned after both together."""
        self.task_root = task_root
        self.queue_timeout = queue_timeout
        self.backend = backend
        self.start_timeout = start_timeout
        self.eval_timeout = eval_timeout
        _remove_stale_dirs()
        self._dir = Path(tempfile.mkdtemp(prefix=_DIR_PREFIX))
        os.chmod(self._dir, 0o700)
        (self._dir / "owner.pid").write_text(str(os.getpid()))
        self.socket_path = self._dir / "scorer.sock"
        self._token = secrets.token_urlsafe(32)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.client = ScorerClient(token=self._token, socket_path=self.socket_path,
                                   timeout=eval_timeout + queue_timeout, task=task_root.name)

    def start(self) -> None:
        """Start the scorer; a failed start leaves nothing behind (no process, no socket directory)."""
        with self._lock:
            try:
                self._start()
            except BaseException:
                self._kill()
                self.client.close()
                shutil.rmtree(self._dir, ignore_errors=True)
                raise

    def _start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLAB_TOKEN")}
        env["AUTOLAB_SCORER_TOKEN"] = self._token
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "scorer", "--task", str(self.task_root), "--socket", str(self.socket_path),
             "--backend", self.backend, "--queue-timeout-sec", str(self.queue_timeout), "--exit-with-stdin"],
            # the pipe stays open for our lifetime: when we die, even by SIGKILL, the scorer sees EOF and stops
            env=env, stdin=subprocess.PIPE, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ScorerUnavailable(f"the scorer exited during start-up with code {self._proc.returncode}")
            if self.socket_path.exists():
                try:
                    self.client.health(timeout=2)
                    return
                except ScorerUnavailable:
                    pass
            time.sleep(0.1)
        self._kill()
        raise ScorerUnavailable(f"the scorer did not start within {self.start_timeout:.0f} s")

    def ensure_running(self) -> None:
        """Restart the scorer if it died or stopped answering."""
        with self._lock:
            alive = self._proc is not None and self._proc.poll() is None
            if alive:
                try:
                    self.client.health(timeout=5)
                    return
                except ScorerUnavailable:
                    log.warning("scorer not answering; restarting it")
            self._kill()
            self._start()

    def restart(self) -> None:
        """Kill and start again (after a hang: a busy scorer still answers health checks)."""
        with self._lock:
            self._kill()
            self._start()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._close_stdin()
        self._proc = None

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._close_stdin()
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        self.client.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class RemoteScorer:
    """A scorer service this server did not start (its container, another host): reached over its URL
    with this server's own token; it is never started, restarted or stopped from here. When this server
    dies, the scorer sees the connection close and cancels the evaluation in flight."""

    pid = None

    def __init__(self, url: str, token: str, task_name: str, *, eval_timeout: float = 600.0,
                 queue_timeout: float = 600.0, public_key: signatures.PublicKey | None = None) -> None:
        self.url = url
        self.task_name = task_name
        self.client = ScorerClient(token=token, url=url, timeout=eval_timeout + queue_timeout, task=task_name,
                                   public_key=public_key)
        self._public_key = public_key

    def start(self) -> None:
        """Check that the scorer answers, serves this task, and (when pinned) signs with our key."""
        health = self.client.health(timeout=10)
        if self.task_name not in health.tasks:
            raise ScorerUnavailable(f"the scorer at {self.url} does not serve task {self.task_name!r}; "
                                    f"it serves: {', '.join(health.tasks) or 'nothing'}")
        if self._public_key is not None and health.key_id != signatures.key_id(self._public_key):
            raise ScorerUnavailable(f"the scorer at {self.url} signs with key {health.key_id}, not the pinned "
                                    f"{signatures.key_id(self._public_key)}")

    def ensure_running(self) -> None:
        self.client.health(timeout=5)

    def restart(self) -> None:
        """A remote scorer is not ours to restart: check it answers, else the call fails uncharged."""
        self.ensure_running()

    def stop(self) -> None:
        self.client.close()


def read_token_file(path: Path) -> str:
    """The bearer token in `path` (the whole file, stripped); a one-line error when unusable."""
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ScorerUnavailable(f"cannot read the scorer token file {path}: {exc.strerror}") from None
    if len(token) < 16 or any(c.isspace() for c in token):
        raise ScorerUnavailable(f"{path} must hold one bearer token of at least 16 characters")
    return token

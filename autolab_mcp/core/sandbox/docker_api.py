"""The Docker Engine API as the docker backend uses it: reaching the engine, its errors, the base image.

Whatever `DOCKER_HOST` names (Docker Engine, or podman's compatible API) is reached through the
`docker` package's low-level client; an unreachable engine or a missing package is a SandboxError
that says how to get one. The base image is an empty root with mount points only, imported by the
backend itself when the engine lacks it.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import threading
from typing import Any

from autolab_mcp.core.sandbox.base import WORKSPACE_MOUNT, SandboxError

log = logging.getLogger("autolab_mcp.core.sandbox.docker")

#: The base image: an empty root with mount points; imported by the backend when missing.
DEFAULT_IMAGE = "localhost/autolab-hostbind:latest"
IMAGE_ENV = "AUTOLAB_DOCKER_IMAGE"
_IMAGE_DIRS = ("bin", "sbin", "lib", "lib64", "usr", "etc", "tmp", "proc", "dev", "sys", "opt", "opt/runtime",
               WORKSPACE_MOUNT.lstrip("/"))


def api_message(exc: BaseException) -> str:
    """What the engine said (its explanation when it gave one), for an error message."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


def engine_hint() -> str:
    host = os.environ.get("DOCKER_HOST") or "unset, so the default unix:///var/run/docker.sock"
    return (
        f"DOCKER_HOST={host}. Start an engine with `eval \"$(scripts/podman-service.sh start)\"` "
        "(rootful podman serving the Docker API; as root), or point DOCKER_HOST at a Docker engine"
    )


def docker_errors() -> Any:
    """The `docker.errors` module (the exceptions the API raises)."""
    try:
        import docker
        import docker.errors
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise SandboxError("the docker backend needs the `docker` Python package (pip install docker)") from e
    return docker.errors


def connect(client: Any, api_timeout: float) -> tuple[Any, dict[str, Any]]:
    """(client, engine info): `client`, or docker.from_env() (which honours DOCKER_HOST) when None,
    once it answers a ping; a SandboxError naming DOCKER_HOST when no engine answers."""
    import docker

    try:
        client = client or docker.from_env(timeout=int(api_timeout), max_pool_size=64)
        client.ping()
        info = client.info()
    except Exception as e:  # DockerException, requests' ConnectionError, socket errors...
        raise SandboxError(f"docker backend: no container engine reachable ({api_message(e)}). "
                           f"{engine_hint()}") from e
    return client, info


def image_tar() -> bytes:
    """An image with nothing but the mount points (the host's system dirs are bound over them)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in _IMAGE_DIRS:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
    return buffer.getvalue()


class BaseImage:
    """The image every container starts from, checked on the engine once (again after forget())."""

    def __init__(self, api: Any, errors: Any, name: str) -> None:
        self.name = name
        self._api = api
        self._errors = errors
        self._lock = threading.Lock()
        self._ok = False

    def forget(self) -> None:
        """The engine lost the image (removed since): the next ensure() looks again."""
        self._ok = False

    def ensure(self) -> None:
        """The image is on the engine; our own empty image is imported when missing, any other
        missing image is a SandboxError."""
        with self._lock:
            if self._ok:
                return
            try:
                self._api.inspect_image(self.name)
            except self._errors.ImageNotFound:
                if "autolab-hostbind" not in self.name:  # only our own empty image is made here
                    raise SandboxError(f"docker image {self.name} not found on the engine") from None
                self._import()
            except self._errors.DockerException as e:
                raise SandboxError(f"docker backend: cannot inspect image {self.name}: {api_message(e)}") from e
            self._ok = True

    def _import(self) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(self.name)
        log.info("importing the empty base image %s", self.name)
        try:
            self._api.import_image_from_data(image_tar(), repository=repository, tag=tag or "latest")
            self._api.inspect_image(self.name)
        except self._errors.DockerException as e:
            raise SandboxError(f"docker backend: could not create the base image {self.name}: "
                               f"{api_message(e)}") from e

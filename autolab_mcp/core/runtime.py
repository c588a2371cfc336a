"""Task runtimes: one venv per requirement set, built once, then shared read-only by sandboxes.

A runtime is mounted at /opt/runtime inside every sandbox and runs there as an
unprivileged uid, which shapes the choices here: the base interpreter must lie
under /usr (the only host tree a sandbox sees) and be reachable by other users,
files are world-readable, and console scripts are made relocatable (their
build-time path does not exist inside the sandbox, nor after the atomic rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from autolab_mcp.core.errors import AutolabError

#: Bump when the layout of a built runtime changes, so old cache entries are not reused.
RUNTIME_FORMAT = 1
_MARKER = ".autolab-runtime.json"
_VENV_TIMEOUT = 300
_PIP_TIMEOUT = 3600
_FALLBACK_PYTHON = Path("/usr/bin/python3")
#: Replaces `#!/build/path/bin/python` in console scripts: finds the venv's python next to the script.
_RELOCATABLE_SHEBANG = b"#!/bin/sh\n'''exec' \"$(dirname -- \"$0\")/python\" \"$0\" \"$@\"\n' '''\n"


class RuntimeBuildError(AutolabError):
    """A runtime venv could not be built (the message ends with the tool's output)."""


def _reachable_by_others(path: Path) -> bool:
    """Every ancestor searchable and the file executable by any uid."""
    try:
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
        return all(os.stat(d).st_mode & stat.S_IXOTH for d in path.parents)
    except OSError:
        return False


@functools.cache
def base_interpreter() -> Path:
    """The python that runtimes are built from.

    The server's own interpreter when sandboxes can use it (under /usr, reachable by other
    users), else the system's /usr/bin/python3 (Debian: needs python3-venv), because e.g. a
    pyenv python under /root is invisible to the sandbox uid.
    """
    exe = Path(os.path.realpath(sys.executable))
    if exe.is_relative_to("/usr") and _reachable_by_others(exe):
        return exe
    if _reachable_by_others(_FALLBACK_PYTHON):
        return _FALLBACK_PYTHON
    raise RuntimeBuildError(
        f"no interpreter usable inside sandboxes: {exe} is not under /usr or not reachable by other "
        f"users, and {_FALLBACK_PYTHON} is missing (apt install python3 python3-venv)"
    )


@functools.cache
def _interpreter_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import sys, platform; print(sys.version.split()[0], platform.machine())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def default_cache_dir() -> Path:
    """$AUTOLAB_CACHE_DIR/runtimes, else a system cache when root, else the user's cache."""
    if env := os.environ.get("AUTOLAB_CACHE_DIR"):
        return Path(env) / "runtimes"
    if os.geteuid() == 0:
        return Path("/var/cache/autolab-mcp/runtimes")
    return Path.home() / ".cache" / "autolab-mcp" / "runtimes"


def _normalize(requirements: list[str]) -> list[str]:
    return sorted({r.strip() for r in requirements if r.strip()})


def _project_name(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() if m else ""


def runtime_key(requirements: list[str], python: Path | None = None) -> str:
    """Cache key: the sorted requirements and the exact base interpreter."""
    python = python or base_interpreter()
    blob = json.dumps(
        {
            "format": RUNTIME_FORMAT,
            "python": str(python),
            "version": _interpreter_version(python),
            "requirements": _normalize(requirements),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def ensure_runtime(requirements: list[str], *, cache_dir: Path | None = None) -> Path:
    """The venv directory holding `requirements`, building it on first use.

    Concurrent callers (threads or processes) wait for a single build; later calls
    return at once. The directory appears atomically, complete or not at all.
    """
    reqs = _normalize(requirements)
    python = base_interpreter()
    key = runtime_key(reqs, python)
    root = cache_dir if cache_dir is not None else default_cache_dir()
    target = root / key
    if (target / _MARKER).is_file():
        return target
    _make_dirs(root)
    with _locked(root / f".{key}.lock"):
        if (target / _MARKER).is_file():
            return target
        for stale in root.glob(f".build-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)  # incomplete (no marker): never handed out, safe to replace
        _build(reqs, python, key, root, target)
    return target


def _make_dirs(root: Path) -> None:
    """Create the cache dir (and missing parents) world-traversable: sandboxes read it as another uid."""
    missing = [p for p in [root, *root.parents] if not p.exists()]
    root.mkdir(parents=True, exist_ok=True)
    for p in missing:
        os.chmod(p, 0o755)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _build(reqs: list[str], python: Path, key: str, root: Path, target: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=root))
    try:
        _run([str(python), "-m", "venv", str(tmp)], "creating the venv", _VENV_TIMEOUT)
        venv_python = str(tmp / "bin" / "python")
        pip = [venv_python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if reqs:
            if "torch" not in {_project_name(r) for r in reqs}:
                _refuse_implicit_torch(pip, reqs, tmp)
            _run([*pip, *reqs], f"pip install {' '.join(reqs)}", _PIP_TIMEOUT)
        _make_scripts_relocatable(tmp)
        (tmp / _MARKER).write_text(
            json.dumps(
                {"format": RUNTIME_FORMAT, "python": str(python), "requirements": reqs, "built_at": time.time()},
                indent=1,
            )
        )
        os.chmod(tmp, 0o755)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _refuse_implicit_torch(pip: list[str], reqs: list[str], tmp: Path) -> None:
    """A dependency must not drag in torch: PyPI's default build is multi-GB (CUDA) and not the
    local wheel. Resolve first (metadata only) and ask for torch to be listed explicitly."""
    report = tmp / "resolve-report.json"
    _run([*pip, "--dry-run", "--ignore-installed", "--report", str(report), *reqs], "resolving", _PIP_TIMEOUT)
    try:
        installs = json.loads(report.read_text()).get("install", [])
    finally:
        report.unlink(missing_ok=True)
    if not any(_project_name(i["metadata"]["name"]) == "torch" for i in installs):
        return
    via = sorted(
        i["metadata"]["name"]
        for i in installs
        if any(_project_name(d) == "torch" for d in i["metadata"].get("requires_dist") or [])
    )
    raise RuntimeBuildError(
        f"requirements {reqs} pull in torch implicitly (via {', '.join(via) or 'a dependency'}); "
        "list torch explicitly with a pinned version (e.g. torch==2.13.0) so the locally available "
        "build is used instead of a download from PyPI"
    )


def _run(cmd: list[str], what: str, timeout: float) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            umask=0o022,  # everything readable by the sandbox uid
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeBuildError(f"{what}: timed out after {timeout:.0f}s") from e
    except OSError as e:
        raise RuntimeBuildError(f"{what}: {e}") from e
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace")[-4000:].strip()
        raise RuntimeBuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _make_scripts_relocatable(venv: Path) -> None:
    """Console scripts carry the build path in their shebang; point them at their own bin/python."""
    prefix = f"#!{venv}/bin/python".encode()
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as f:
            head = f.read(len(prefix))
            if head != prefix:
                continue
            f.seek(0)
            body = f.read()
        rest = body.split(b"\n", 1)[1] if b"\n" in body else b""
        script.write_bytes(_RELOCATABLE_SHEBANG + rest)

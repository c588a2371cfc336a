"""Runtime venvs: built once, cached, usable inside the sandbox as the unprivileged uid."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autolab_mcp.core.runtime import RuntimeBuildError, base_interpreter, default_cache_dir, ensure_runtime, runtime_key
from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest

ROOT = os.geteuid() == 0


def _new_cache() -> Path:
    # Under /tmp and 0755: the sandbox uid must reach the venv (pytest's tmp_path is 0700).
    d = Path(tempfile.mkdtemp(prefix="autolab-test-rt-", dir="/tmp"))
    d.chmod(0o755)
    return d / "runtimes"


@pytest.fixture(scope="module")
def cache() -> Iterator[Path]:
    d = _new_cache()
    yield d
    shutil.rmtree(d.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def six_runtime(cache: Path) -> Path:
    return ensure_runtime(["six"], cache_dir=cache)


def test_base_interpreter_is_usable_by_sandboxes() -> None:
    py = base_interpreter()
    assert Path(os.path.realpath(py)).is_relative_to("/usr")
    assert os.stat(py).st_mode & stat.S_IXOTH
    assert all(os.stat(d).st_mode & stat.S_IXOTH for d in Path(os.path.realpath(py)).parents)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLAB_CACHE_DIR", "/srv/cache")
    assert default_cache_dir() == Path("/srv/cache/runtimes")
    monkeypatch.delenv("AUTOLAB_CACHE_DIR")
    expected = Path("/var/cache/autolab-mcp/runtimes") if ROOT else Path.home() / ".cache/autolab-mcp/runtimes"
    assert default_cache_dir() == expected


@pytest.mark.slow
def test_built_once_then_cached(cache: Path, six_runtime: Path) -> None:
    assert six_runtime.parent == cache
    assert (six_runtime / "bin" / "python").exists()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    assert stat.S_IMODE(six_runtime.stat().st_mode) == 0o755
    t0 = time.monotonic()
    again = ensure_runtime([" six", "six"], cache_dir=cache)  # same set after normalizing
    assert time.monotonic() - t0 < 0.1
    assert again == six_runtime
    assert not list(cache.glob(".build-*"))
    assert runtime_key(["six"]) == runtime_key(["six "]) != runtime_key(["six==1.*"])


@pytest.mark.slow
def test_concurrent_callers_share_one_build() -> None:
    cache = _new_cache()
    try:
        results: list[Path] = []
        threads = [
            threading.Thread(target=lambda: results.append(ensure_runtime([], cache_dir=cache))) for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 3 and len(set(results)) == 1
        assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == [results[0].name]
        assert not list(cache.glob(".build-*"))
    finally:
        shutil.rmtree(cache.parent)


@pytest.mark.slow
def test_failed_install_reports_pip_output(cache: Path) -> None:
    with pytest.raises(RuntimeBuildError, match=r"(?s)failed.*nvalid requirement"):
        ensure_runtime(["not a requirement!!"], cache_dir=cache)
    assert not list(cache.glob(".build-*"))
    assert not [p for p in cache.iterdir() if not p.name.startswith(".") and not (p / "bin").exists()]


@pytest.mark.slow
def test_runtime_works_inside_sandbox(six_runtime: Path) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap missing")
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend

    ws = Path(tempfile.mkdtemp(prefix="autolab-test-ws-", dir="/tmp"))
    ws.chmod(0o777)
    try:
        cmd = "command -v python; python -c 'import six, sys; print(six.__file__, sys.prefix)'; pip --version"
        r = BwrapBackend().run(
            ExecRequest(command=cmd, workspace=ws, runtime=six_runtime, uid=AGENT_UID if ROOT else None)
        )
        assert r.ok, r.output_tail
        lines = r.output_tail.splitlines()
        assert lines[0] == "/opt/runtime/bin/python"
        assert lines[1].startswith("/opt/runtime/lib/") and lines[1].endswith("six.py /opt/runtime")
        assert "/opt/runtime/" in lines[2]  # console scripts relocated to the mount point
    finally:
        shutil.rmtree(ws)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("AUTOLAB_TEST_TORCH_GUARD") != "1",
    reason="resolves torchvision against the package index (~20 s); set AUTOLAB_TEST_TORCH_GUARD=1",
)
def test_implicit_torch_is_refused(cache: Path) -> None:
    """A dependency that needs torch must not download it; torch has to be listed explicitly."""
    with pytest.raises(RuntimeBuildError, match="torch"):
        ensure_runtime(["torchvision"], cache_dir=cache)
    assert not list(cache.glob(".build-*"))

"""The docker backend against a real engine (podman's Docker API here; Docker Engine works too).

No mocks. The module fixture uses DOCKER_HOST when set; otherwise it starts
scripts/podman-service.sh itself (and stops it afterwards if it started it). When no
engine can be had, every test here is skipped with the reason shown as a warning too,
so a missing engine is never silent. Directories live under /tmp (world-traversable)
because the sandbox runs as AGENT_UID when the tests run as root.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from autolab_mcp.core.cores import work_cores
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import (
    AGENT_UID,
    ExecRequest,
    ExecResult,
    Limits,
    Mount,
    RunningSandbox,
    SandboxBackend,
    SandboxError,
)
from autolab_mcp.core.sandbox.docker import DockerBackend
from tests.conftest import live_pids

REPO = Path(__file__).resolve().parent.parent
SERVICE = REPO / "scripts" / "podman-service.sh"
ROOT = os.geteuid() == 0
UID = AGENT_UID if ROOT else None


def _skip(reason: str) -> None:
    warnings.warn(f"docker backend tests skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


def _service(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SERVICE), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def backend() -> Iterator[DockerBackend]:
    old_host = os.environ.get("DOCKER_HOST")
    started_here = False
    if not old_host:
        already = _service("status").returncode == 0
        started = _service("start")
        line = next((x for x in started.stdout.splitlines() if x.startswith("export DOCKER_HOST=")), None)
        if started.returncode != 0 or line is None:
            _skip(f"DOCKER_HOST is unset and {SERVICE.name} could not start podman: "
                  f"{(started.stderr or started.stdout).strip()[-500:]}")
        os.environ["DOCKER_HOST"] = line.split("=", 1)[1].strip()
        started_here = not already
    try:
        try:
            b = DockerBackend()
        except SandboxError as e:
            _skip(str(e))
        yield b
    finally:
        if started_here:
            _service("stop")
        if old_host is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old_host


def _sandbox_dir(prefix: str) -> Path:
    """A fresh directory the sandbox uid can reach and write (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix=f"autolab-test-{prefix}-", dir="/tmp"))
    d.chmod(0o755)
    if ROOT:
        os.chown(d, AGENT_UID, AGENT_UID)
    return d


@pytest.fixture
def ws() -> Iterator[Path]:
    d = _sandbox_dir("ws")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def req(ws: Path, command: str, **kw: object) -> ExecRequest:
    return ExecRequest(command=command, workspace=ws, uid=UID, **kw)  # type: ignore[arg-type]


def survivors(marker: str) -> list[int]:
    return live_pids(marker)


def container_exists(backend: DockerBackend, container_id: str | None) -> bool:
    assert container_id
    try:
        backend._api.inspect_container(container_id)
    except backend._errors.NotFound:
        return False
    return True


def our_containers(backend: DockerBackend) -> list[str]:
    return [c["Id"] for c in backend._api.containers(all=True, filters={"label": "org.autolab-mcp.sandbox"})]


# --------------------------------------------------------------------------- basics


def test_protocols(backend: DockerBackend, ws: Path) -> None:
    assert isinstance(backend, SandboxBackend)
    assert backend.name == "docker"
    proc = backend.start(req(ws, "true"))
    assert isinstance(proc, RunningSandbox)
    assert proc.wait(20) is not None
    assert not container_exists(backend, proc.container_id)


def test_exit_code_and_output(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "echo to-out; echo to-err >&2; exit 7"))
    assert r.exit_code == 7
    assert "to-out\n" in r.output_tail and "to-err\n" in r.output_tail
    assert r.output_bytes == len("to-out\nto-err\n")
    assert not r.ok and not r.timed_out and not r.cancelled and not r.oom_killed
    assert r.limits_mode == "container"
    assert 0 < r.duration_sec < 5
    assert backend.run(req(ws, "true")).ok


def test_signal_exit_code_like_bash(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "kill -TERM $$"))
    assert r.exit_code == 128 + 15 and r.output_tail == ""


def test_workspace_read_write_owner_and_privileges(backend: DockerBackend, ws: Path) -> None:
    (ws / "in.txt").write_text("hello\n")
    r = backend.run(
        req(ws, "pwd; id -u; cat in.txt; echo written > out.txt; grep -E 'NoNewPrivs|CapEff' /proc/self/status")
    )
    assert r.ok, r.output_tail
    lines = r.output_tail.splitlines()
    assert lines[0] == "/workspace"
    assert "hello" in lines
    assert "NoNewPrivs:\t1" in lines and "CapEff:\t0000000000000000" in lines
    assert (ws / "out.txt").read_text() == "written\n"
    if ROOT:
        assert lines[1] == str(AGENT_UID)
        assert (ws / "out.txt").stat().st_uid == AGENT_UID


def test_read_only_paths(backend: DockerBackend, ws: Path) -> None:
    (ws / "sub").mkdir()
    for name in ("ro.txt", "rw.txt", "sub/ro2.txt"):
        (ws / name).write_text("original\n")
    (ws / "link.txt").symlink_to("rw.txt")  # a symlink entry is skipped, never followed
    (ws / "evil").symlink_to("/etc")
    if ROOT:
        for p in ws.rglob("*"):
            os.lchown(p, AGENT_UID, AGENT_UID)
    ro = ["ro.txt", "sub/ro2.txt", "missing.txt", "link.txt", "evil/hostname", "../etc/passwd", "sub"]
    cmd = (
        "sed -i s/original/changed/ ro.txt && echo ro-sed-ok; "
        "echo more >> sub/ro2.txt && echo ro2-append-ok; "
        "chmod 666 ro.txt && echo ro-chmod-ok; "
        "rm -f ro.txt; mv sub/ro2.txt sub/x 2>/dev/null && echo ro2-mv-ok; "
        "echo more >> rw.txt && echo rw-ok; "
        "echo via-link >> link.txt && echo link-ok"
    )
    r = backend.run(req(ws, cmd, read_only_paths=ro))
    out = r.output_tail
    assert "ro-sed-ok" not in out and "ro2-append-ok" not in out and "ro2-mv-ok" not in out, out
    assert "ro-chmod-ok" not in out
    assert "rw-ok" in out and "link-ok" in out, out
    assert (ws / "ro.txt").read_text() == "original\n"
    assert (ws / "sub/ro2.txt").read_text() == "original\n"
    assert (ws / "rw.txt").read_text() == "original\nmore\nvia-link\n"
    assert sorted(p.name for p in ws.iterdir()) == ["evil", "link.txt", "ro.txt", "rw.txt", "sub"]


def test_read_only_paths_from_a_pristine_root(backend: DockerBackend, ws: Path) -> None:
    pristine = _sandbox_dir("pristine")
    try:
        (pristine / "sub").mkdir()
        (pristine / "ro.txt").write_text("pristine\n")
        (pristine / "sub" / "ro2.txt").write_text("pristine2\n")
        (pristine / "evil").symlink_to("/etc")
        (ws / "ro.txt").write_text("tampered\n")  # what the workspace holds does not matter
        (ws / "sub").mkdir()
        ro = ["ro.txt", "sub/ro2.txt", "evil/passwd"]
        r = backend.run(req(ws, "cat ro.txt sub/ro2.txt; echo x >> ro.txt && echo RO-WRITABLE; ls evil 2>&1 | head -1",
                            read_only_paths=ro, read_only_root=pristine))
        assert r.output_tail.splitlines()[:2] == ["pristine", "pristine2"], r.output_tail
        assert "RO-WRITABLE" not in r.output_tail and "root:" not in r.output_tail
        assert (pristine / "ro.txt").read_text() == "pristine\n"
        assert (ws / "ro.txt").read_text() == "tampered\n"
    finally:
        shutil.rmtree(pristine)


def test_read_only_staging_is_removed(backend: DockerBackend) -> None:
    parent = Path(tempfile.mkdtemp(prefix="autolab-test-parent-", dir="/tmp"))
    try:
        parent.chmod(0o755)
        ws = parent / "ws"
        ws.mkdir()
        (ws / "ro.txt").write_text("x\n")
        if ROOT:
            os.chown(ws, AGENT_UID, AGENT_UID)
        r = backend.run(req(ws, "cat ro.txt", read_only_paths=["ro.txt"]))
        assert r.ok and r.output_tail == "x\n"
        assert sorted(p.name for p in parent.iterdir()) == ["ws"]
    finally:
        shutil.rmtree(parent)


def test_host_not_visible(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(
        req(ws, "ls -A /; for p in /root /home /work /srv /mnt /var/lib /var/cache /boot; do "
                "test -e $p && echo LEAK $p; done; echo RUN $(ls -A /run) VAR $(ls -A /var)")
    )
    assert r.exit_code == 0, r.output_tail
    assert "LEAK" not in r.output_tail, r.output_tail
    *top, last = r.output_tail.split("\n")[:-1]
    # bwrap's view plus what every container has: /sys (read-only), podman's tmpfs /run and /var/tmp, /opt.
    assert set(top) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "run", "sbin", "sys",
                        "tmp", "usr", "var", "workspace"}, top
    assert set(last.split()) <= {"RUN", "VAR", "tmp", ".containerenv"}, last
    # pid 1's command line names no host path (mountinfo does show bind sources, as with bwrap)
    assert str(ws) not in backend.run(req(ws, "tr '\\0' ' ' < /proc/1/cmdline")).output_tail


def test_environment_is_clean(backend: DockerBackend, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLAB_HOST_SECRET", "s3cret")
    r = backend.run(req(ws, "env", env={"TASK_SEED": "42"}))
    env = dict(line.split("=", 1) for line in r.output_tail.splitlines() if "=" in line)
    assert "AUTOLAB_HOST_SECRET" not in env and "s3cret" not in r.output_tail
    assert env["TASK_SEED"] == "42"
    assert env["HOME"] == "/tmp"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "DOCKER_HOST" not in env


def test_private_sized_tmp(backend: DockerBackend, ws: Path) -> None:
    marker = f"host-tmp-{secrets.token_hex(4)}"
    Path("/tmp", marker).write_text("x")
    try:
        r = backend.run(
            req(ws, f"test -e /tmp/{marker} && echo LEAK; head -c 16M /dev/zero > /tmp/big", limits=Limits(tmp_mb=8))
        )
    finally:
        Path("/tmp", marker).unlink()
    assert "LEAK" not in r.output_tail
    assert r.exit_code != 0  # no space left on the 8 MiB tmpfs


def test_private_sized_shm(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "stat -c %a /dev/shm; df -k /dev/shm | tail -1", limits=Limits(tmp_mb=16)))
    mode, df = r.output_tail.splitlines()
    assert mode == "1777"
    assert int(df.split()[1]) == 16 * 1024


def test_disk_watchdog(backend: DockerBackend, ws: Path) -> None:
    cmd = "i=0; while true; do head -c 8M /dev/zero > w$i || exit 9; i=$((i+1)); sleep 0.05; done"
    r = backend.run(req(ws, cmd, limits=Limits(disk_mb=32, wall_sec=30)))
    assert r.disk_exceeded and r.exit_code is None and not r.timed_out and not r.ok, r
    assert r.duration_sec < 15


def test_file_size_limit(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "head -c 3M /dev/zero > big.bin", limits=Limits(file_mb=1)))
    assert r.exit_code != 0
    assert (ws / "big.bin").stat().st_size <= 1024 * 1024


# --------------------------------------------------------------------------- network and pids


def test_no_network(backend: DockerBackend, ws: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        script = (
            "import socket\n"
            f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
            "    try:\n"
            "        socket.create_connection(addr, timeout=2); print('CONNECTED', addr)\n"
            "    except OSError as e:\n"
            "        print('blocked', addr, e)\n"
            "try:\n"
            "    print('RESOLVED', socket.gethostbyname('pypi.org'))\n"
            "except OSError as e:\n"
            "    print('no dns', e)\n"
        )
        r = backend.run(req(ws, f'python3 -c "{script}"'))
        with pytest.raises(BlockingIOError):
            server.accept()
    assert "CONNECTED" not in r.output_tail and "RESOLVED" not in r.output_tail, r.output_tail
    assert r.output_tail.count("blocked") == 2 and "no dns" in r.output_tail
    interfaces = backend.run(req(ws, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"))
    assert interfaces.output_tail.split() == ["lo"]


def test_pid_namespace(backend: DockerBackend, ws: Path) -> None:
    r = backend.run(req(ws, "ls /proc | grep -cE '^[0-9]+$'; echo $$"))
    count, mypid = r.output_tail.splitlines()
    assert int(count) < 10  # pid 1, bash, ls, grep: not the host's processes
    assert 1 < int(mypid) < 10  # the command is not the namespace's init


# --------------------------------------------------------------------------- kills


def _tree_command(marker: str) -> str:
    """A foreground sleep plus a background child and a double-forked, setsid'd daemon."""
    bg = f"python3 -c 'import time; print(\"bg up\", flush=True); time.sleep(1000)' {marker} &"
    daemon = (
        "python3 -c 'import os, time\n"
        "if os.fork(): os._exit(0)\n"
        "os.setsid()\n"
        "if os.fork(): os._exit(0)\n"
        f'print("daemon up", flush=True); time.sleep(1000)\' {marker}'
    )
    return f"{bg}\n{daemon}\nsleep 1000"


def test_timeout_kills_whole_tree(backend: DockerBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    t0 = time.monotonic()
    proc = backend.start(req(ws, _tree_command(marker), limits=Limits(wall_sec=1.5)))
    r = proc.wait(30)
    assert r is not None
    assert time.monotonic() - t0 < 10
    assert r.timed_out and r.exit_code is None and not r.cancelled
    assert "bg up" in r.output_tail and "daemon up" in r.output_tail
    assert 1.5 <= r.duration_sec < 6
    assert survivors(marker) == []
    assert not container_exists(backend, proc.container_id)


def test_finished_command_leaves_no_background(backend: DockerBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    r = backend.run(req(ws, f"python3 -c 'import time; time.sleep(1000)' {marker} >/dev/null 2>&1 & exit 0"))
    assert r.exit_code == 0
    assert r.duration_sec < 5
    assert survivors(marker) == []


def test_cancel_from_another_thread(backend: DockerBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    proc = backend.start(req(ws, "echo started; " + _tree_command(marker), limits=Limits(wall_sec=60)))
    deadline = time.monotonic() + 15
    while "daemon up" not in proc.output_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "started" in proc.output_tail()
    assert proc.poll() is None and proc.wait(0.05) is None
    before = proc.elapsed()
    assert before > 0
    threading.Thread(target=proc.kill).start()
    r = proc.wait(15)
    assert r is not None and r.cancelled and not r.timed_out and r.exit_code is None
    assert r.duration_sec >= before
    assert proc.elapsed() == pytest.approx(r.duration_sec)
    assert survivors(marker) == []
    assert not container_exists(backend, proc.container_id)
    proc.kill()  # after the end: harmless


def test_memory_bomb_is_oom_killed(backend: DockerBackend, ws: Path) -> None:
    bomb = "python3 -c \"x = 'x' * (256 << 20); print('survived')\""
    r = backend.run(req(ws, bomb, limits=Limits(memory_mb=128)))
    assert r.oom_killed, r
    assert "survived" not in r.output_tail
    assert not r.ok
    # an OOM kill of a child is reported even when the command itself goes on and exits 0
    r = backend.run(req(ws, f"{bomb}; echo after", limits=Limits(memory_mb=128)))
    assert r.exit_code == 0 and "after" in r.output_tail
    assert r.oom_killed and not r.ok
    assert not backend.run(req(ws, "python3 -c \"x = 'x' * (16 << 20)\"", limits=Limits(memory_mb=128))).oom_killed


def test_pids_limit_and_fork_bomb(backend: DockerBackend, ws: Path) -> None:
    count = (
        "python3 -c 'import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 500:\n"
        "        if os.fork() == 0: time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "except OSError: pass\n"
        'print("forks", n)\''
    )
    r = backend.run(req(ws, count, limits=Limits(pids=32, wall_sec=20)))
    forks = int(r.output_tail.split("forks")[1].split()[0])
    assert 5 < forks < 32

    marker = f"autolab-marker-{secrets.token_hex(6)}"
    bomb = f"python3 -c 'import os\nwhile True:\n    try: os.fork()\n    except OSError: pass' {marker}"
    r = backend.run(req(ws, bomb, limits=Limits(pids=64, wall_sec=2)))
    assert r.timed_out
    assert survivors(marker) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the server can still fork


def test_cpu_quota_and_pinning(backend: DockerBackend, ws: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    # Two busy loops for ~1 s wall; `times` reports the CPU they got.
    busy = "for i in 1 2; do timeout 1 sh -c 'while :; do :; done' & done; wait; times | tail -1"

    def cpu_seconds(r: ExecResult) -> float:
        user, sys_ = r.output_tail.split()[:2]
        return sum(float(t.split("m")[0]) * 60 + float(t.split("m")[1].rstrip("s")) for t in (user, sys_))

    pinned = backend.run(req(ws, f"nproc; taskset -p $$; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null; {busy}",
                             cpu=1))
    lines = pinned.output_tail.splitlines()
    assert lines[0] == "1"
    assert lines[1].endswith(": 2")  # affinity mask: core 1 only
    if len(lines) == 4:  # cgroup v1: no quota while pinned
        assert lines[2] == "-1"
    assert cpu_seconds(ExecResult(exit_code=0, output_tail=lines[-1], duration_sec=0)) < 1.4

    capped = backend.run(req(ws, busy, limits=Limits(cpus=0.5)))
    assert cpu_seconds(capped) < 0.85

    # unpinned containers stay off the timing core (autolab_mcp.core.cores), which the scorers lease
    unpinned = backend.run(req(ws, "grep Cpus_allowed_list /proc/self/status | cut -f2"))
    assert unpinned.output_tail.strip() == ",".join(map(str, work_cores(1) or []))


# --------------------------------------------------------------------------- output


def test_huge_output_truncated_in_log(backend: DockerBackend, ws: Path) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="autolab-test-log-"))
    try:
        log_path = log_dir / "deep" / "out.log"
        r = backend.run(req(ws, "yes | head -c 50M; echo done", limits=Limits(output_bytes=1 << 20), log_path=log_path))
        assert r.exit_code == 0
        assert r.output_bytes == 50 * (1 << 20) + len("done\n")
        assert r.output_truncated
        assert log_path.stat().st_size == 1 << 20
        assert r.output_tail.endswith("y\ny\ndone\n")
        assert len(r.output_tail) <= 4096
    finally:
        shutil.rmtree(log_dir)


def test_log_keeps_everything_under_limit(backend: DockerBackend, ws: Path) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="autolab-test-log-"))
    try:
        log_path = log_dir / "out.log"
        r = backend.run(req(ws, "seq 1 20000; printf 'caf\\xc3\\xa9 \\xff\\n'", log_path=log_path))
        data = log_path.read_bytes()
        assert len(data) == r.output_bytes and not r.output_truncated
        assert data.startswith(b"1\n2\n") and data.endswith(b"caf\xc3\xa9 \xff\n")
        assert r.output_tail.endswith("café \ufffd\n")
    finally:
        shutil.rmtree(log_dir)


# --------------------------------------------------------------------------- mounts, runtime and errors


def test_mounts_ro_and_rw(backend: DockerBackend, ws: Path) -> None:
    ro_dir, rw_dir = _sandbox_dir("ro"), _sandbox_dir("rw")
    try:
        (ro_dir / "data.txt").write_text("data\n")
        mounts = [Mount(source=ro_dir, target="/data"), Mount(source=rw_dir, target="/out", read_only=False)]
        r = backend.run(
            req(ws, "cat /data/data.txt; touch /data/new && echo RO-WRITABLE; echo x > /out/r.txt", mounts=mounts)
        )
        assert "data" in r.output_tail and "RO-WRITABLE" not in r.output_tail
        assert r.exit_code == 0
        assert (rw_dir / "r.txt").read_text() == "x\n"
        assert not (ro_dir / "new").exists()
    finally:
        shutil.rmtree(ro_dir)
        shutil.rmtree(rw_dir)


def test_runtime_venv_usable(backend: DockerBackend, ws: Path) -> None:
    runtime = ensure_runtime([])
    r = backend.run(req(ws, "command -v python; python -c 'import sys; print(sys.prefix, sys.version_info[0])'; "
                            "touch /opt/runtime/x && echo RUNTIME-WRITABLE", runtime=runtime))
    lines = r.output_tail.splitlines()
    assert lines[0] == "/opt/runtime/bin/python", r.output_tail
    assert lines[1] == "/opt/runtime 3"
    assert "RUNTIME-WRITABLE" not in r.output_tail
    env = backend.run(req(ws, "echo $PATH", runtime=runtime)).output_tail.strip()
    assert env == "/opt/runtime/bin:/usr/local/bin:/usr/bin:/bin"


def test_setup_errors_raise(backend: DockerBackend, ws: Path) -> None:
    with pytest.raises(SandboxError, match="/usr/new"):
        backend.run(req(ws, "true", mounts=[Mount(source=ws, target="/usr/new")]))
    with pytest.raises(SandboxError, match="normalized absolute"):
        backend.run(req(ws, "true", mounts=[Mount(source=ws, target="data")]))
    with pytest.raises(SandboxError, match="does not exist"):
        backend.run(req(ws, "true", mounts=[Mount(source=ws / "nope", target="/data")]))
    with pytest.raises(SandboxError, match="not a directory"):
        backend.run(req(ws / "nope", "true"))
    with pytest.raises(SandboxError, match="cpu"):
        backend.run(req(ws, "true", cpu=4096))
    with pytest.raises(SandboxError, match="invalid environment"):
        backend.run(req(ws, "true", env={"A=B": "x"}))


def test_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/autolab-docker.sock")
    with pytest.raises(SandboxError) as info:
        DockerBackend()
    assert "unix:///nonexistent/autolab-docker.sock" in str(info.value)
    assert "podman-service.sh" in str(info.value)


def test_missing_custom_image_is_refused(backend: DockerBackend) -> None:
    with pytest.raises(SandboxError, match="not found"):
        DockerBackend(image="localhost/autolab-no-such-image:latest")


# --------------------------------------------------------------------------- concurrency, cleanup, cost


def test_concurrent_sandboxes(backend: DockerBackend, ws: Path) -> None:
    results: dict[int, ExecResult] = {}

    def one(i: int) -> None:
        results[i] = backend.run(req(ws, f"sleep 1; echo job-{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 < 6  # one after another would take 6 s plus overheads
    assert all(results[i].ok and results[i].output_tail == f"job-{i}\n" for i in range(6)), results


def test_startup_cost(backend: DockerBackend, ws: Path) -> None:
    backend.run(req(ws, "true"))
    t0 = time.monotonic()
    for _ in range(3):
        backend.run(req(ws, "true"))
    per_run = (time.monotonic() - t0) / 3
    print(f"docker backend: {per_run:.3f} s per run of `true`")
    assert per_run < 3  # ~0.25 s with podman here; generous for loaded CI


def test_scorer_end_to_end(backend: DockerBackend) -> None:
    from autolab_mcp.core.archive import tar_directory_files
    from autolab_mcp.core.editable import editable_files
    from autolab_mcp.core.taskspec import find_task
    from scorer.evaluate import evaluate_submission

    task = find_task("sorting_network")
    runtime = ensure_runtime(task.config.environment.requirements)
    solution = task.root / "solution"
    archive = tar_directory_files(solution, editable_files(solution, task.config.autolab.editable))
    record = evaluate_submission(task, "final", archive, backend=backend, runtime=runtime)
    assert record.valid, record.reason
    assert record.score >= 0.9, record
    assert record.runs and all(run["exit_code"] == 0 for run in record.runs)

    environment = task.environment_dir
    baseline = tar_directory_files(environment, editable_files(environment, task.config.autolab.editable))
    record = evaluate_submission(task, "feedback", baseline, backend=backend, runtime=runtime)
    assert record.valid and record.score == pytest.approx(0.0)


def test_no_containers_left(backend: DockerBackend) -> None:
    assert our_containers(backend) == []

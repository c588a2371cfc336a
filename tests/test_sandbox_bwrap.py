"""The bwrap backend against real bubblewrap: isolation, limits, kills, output handling.

Everything runs for real (no mocks). Directories live under /tmp (world-traversable)
because the sandbox runs as AGENT_UID when the tests run as root.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from tests.conftest import live_pids

ROOT = os.geteuid() == 0
UID = AGENT_UID if ROOT else None


def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


pytestmark = pytest.mark.skipif(not _bwrap_works(), reason="bubblewrap missing or user namespaces disabled")


@pytest.fixture(scope="module")
def backend() -> BwrapBackend:
    return BwrapBackend()


@pytest.fixture(scope="module")
def rlimit_backend() -> BwrapBackend:
    return BwrapBackend(cgroups=False)


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


# --------------------------------------------------------------------------- basics


def test_protocols(backend: BwrapBackend, ws: Path) -> None:
    assert isinstance(backend, SandboxBackend)
    assert backend.name == "bwrap"
    proc = backend.start(req(ws, "true"))
    assert isinstance(proc, RunningSandbox)
    assert proc.wait(10) is not None


def test_exit_code_and_output(backend: BwrapBackend, ws: Path) -> None:
    r = backend.run(req(ws, "echo to-out; echo to-err >&2; exit 7"))
    assert r.exit_code == 7
    assert "to-out\n" in r.output_tail and "to-err\n" in r.output_tail
    assert r.output_bytes == len("to-out\nto-err\n")
    assert not r.ok and not r.timed_out and not r.cancelled and not r.oom_killed
    assert r.limits_mode == backend.limits_mode
    assert 0 < r.duration_sec < 5
    assert backend.run(req(ws, "true")).ok


def test_signal_exit_code_like_bash(backend: BwrapBackend, ws: Path) -> None:
    assert backend.run(req(ws, "kill -TERM $$")).exit_code == 128 + 15


def test_workspace_read_write_and_owner(backend: BwrapBackend, ws: Path) -> None:
    (ws / "in.txt").write_text("hello\n")
    r = backend.run(req(ws, "pwd; id -u; cat in.txt; echo written > out.txt"))
    assert r.ok, r.output_tail
    lines = r.output_tail.splitlines()
    assert lines[0] == "/workspace"
    assert "hello" in lines
    assert (ws / "out.txt").read_text() == "written\n"
    if ROOT:
        assert lines[1] == str(AGENT_UID)
        assert (ws / "out.txt").stat().st_uid == AGENT_UID


def test_read_only_paths(backend: BwrapBackend, ws: Path) -> None:
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
        "rm -f ro.txt; mv sub/ro2.txt sub/x 2>/dev/null && echo ro2-mv-ok; "
        "echo more >> rw.txt && echo rw-ok; "
        "echo via-link >> link.txt && echo link-ok"
    )
    r = backend.run(req(ws, cmd, read_only_paths=ro))
    out = r.output_tail
    assert "ro-sed-ok" not in out and "ro2-append-ok" not in out and "ro2-mv-ok" not in out
    assert "rw-ok" in out and "link-ok" in out, out
    assert (ws / "ro.txt").read_text() == "original\n"
    assert (ws / "sub/ro2.txt").read_text() == "original\n"
    assert (ws / "rw.txt").read_text() == "original\nmore\nvia-link\n"


def test_host_not_visible(backend: BwrapBackend, ws: Path) -> None:
    r = backend.run(
        req(ws, "ls -A /; for p in /root /home /var /run /sys /work /srv /mnt; do test -e $p && echo LEAK $p; done")
    )
    assert r.exit_code is not None
    assert "LEAK" not in r.output_tail, r.output_tail
    top = set(r.output_tail.split())
    assert top <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr", "workspace"}


def test_environment_is_clean(backend: BwrapBackend, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLAB_HOST_SECRET", "s3cret")
    r = backend.run(req(ws, "env", env={"TASK_SEED": "42"}))
    env = dict(line.split("=", 1) for line in r.output_tail.splitlines() if "=" in line)
    assert "AUTOLAB_HOST_SECRET" not in env and "s3cret" not in r.output_tail
    assert env["TASK_SEED"] == "42"
    assert env["HOME"] == "/tmp"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"


def test_private_sized_tmp(backend: BwrapBackend, ws: Path) -> None:
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


def test_file_size_limit(backend: BwrapBackend, ws: Path) -> None:
    r = backend.run(req(ws, "head -c 3M /dev/zero > big.bin", limits=Limits(file_mb=1)))
    assert r.exit_code != 0
    assert (ws / "big.bin").stat().st_size <= 1024 * 1024


# --------------------------------------------------------------------------- network and pids


def test_no_network(backend: BwrapBackend, ws: Path) -> None:
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


def test_pid_namespace(backend: BwrapBackend, ws: Path) -> None:
    r = backend.run(req(ws, "ls /proc | grep -cE '^[0-9]+$'; tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"))
    count, init_cmd, mypid = r.output_tail.splitlines()
    assert int(count) < 10  # bwrap's init, bash, ls, grep: not the host's processes
    assert "bwrap" in init_cmd
    assert int(mypid) < 10


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


def test_timeout_kills_whole_tree(backend: BwrapBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    t0 = time.monotonic()
    r = backend.run(req(ws, _tree_command(marker), limits=Limits(wall_sec=1.5)))
    assert time.monotonic() - t0 < 8
    assert r.timed_out and r.exit_code is None and not r.cancelled
    assert "bg up" in r.output_tail and "daemon up" in r.output_tail
    assert 1.5 <= r.duration_sec < 6
    assert survivors(marker) == []


def test_finished_command_leaves_no_background(backend: BwrapBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    r = backend.run(req(ws, f"python3 -c 'import time; time.sleep(1000)' {marker} >/dev/null 2>&1 & exit 0"))
    assert r.exit_code == 0
    assert survivors(marker) == []


def test_cancel_from_another_thread(backend: BwrapBackend, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    proc = backend.start(req(ws, "echo started; " + _tree_command(marker), limits=Limits(wall_sec=60)))
    deadline = time.monotonic() + 10
    while "daemon up" not in proc.output_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "started" in proc.output_tail()
    assert proc.poll() is None and proc.wait(0.05) is None
    before = proc.elapsed()
    assert before > 0
    threading.Thread(target=proc.kill).start()
    r = proc.wait(10)
    assert r is not None and r.cancelled and not r.timed_out and r.exit_code is None
    assert r.duration_sec >= before
    assert proc.elapsed() == pytest.approx(r.duration_sec)
    assert survivors(marker) == []
    proc.kill()  # after the end: harmless


def test_memory_bomb_is_oom_killed(backend: BwrapBackend, ws: Path) -> None:
    cmd = "python3 -c \"x = 'x' * (256 << 20); print('survived')\""
    r = backend.run(req(ws, cmd, limits=Limits(memory_mb=128)))
    assert r.oom_killed, r
    assert "survived" not in r.output_tail
    assert not r.ok


def test_pids_limit_and_fork_bomb(backend: BwrapBackend, ws: Path) -> None:
    if backend.limits_mode != "cgroup":
        pytest.skip("pids are only contained per sandbox with cgroups")
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


def test_cpu_quota_and_pinning(backend: BwrapBackend, ws: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    # Two busy loops for ~1 s wall; `times` reports the CPU they got.
    busy = "for i in 1 2; do timeout 1 sh -c 'while :; do :; done' & done; wait; times | tail -1"

    def cpu_seconds(r: ExecResult) -> float:
        user, sys_ = r.output_tail.split()[:2]
        return sum(float(t.split("m")[0]) * 60 + float(t.split("m")[1].rstrip("s")) for t in (user, sys_))

    pinned = backend.run(req(ws, f"nproc; taskset -p $$; {busy}", cpu=0))
    lines = pinned.output_tail.splitlines()
    assert lines[0] == "1"
    assert lines[1].endswith(": 1")  # affinity mask: core 0 only
    assert cpu_seconds(ExecResult(exit_code=0, output_tail=lines[-1], duration_sec=0)) < 1.4

    if backend.limits_mode == "cgroup":
        capped = backend.run(req(ws, busy, limits=Limits(cpus=0.5)))
        assert cpu_seconds(capped) < 0.85


# --------------------------------------------------------------------------- output


def test_huge_output_truncated_in_log(backend: BwrapBackend, ws: Path) -> None:
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


def test_log_keeps_everything_under_limit(backend: BwrapBackend, ws: Path) -> None:
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


# --------------------------------------------------------------------------- mounts and errors


def test_mounts_ro_and_rw(backend: BwrapBackend, ws: Path) -> None:
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


def test_setup_errors_raise(backend: BwrapBackend, ws: Path) -> None:
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


NAMESPACE_PROBE = r"""
import ctypes, os, platform, subprocess, threading
from autolab_seccomp_numbers import CLONE, CLONE3, UNSHARE
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(r):
    return "ok" if r >= 0 else os.strerror(ctypes.get_errno())
print("unshare-newuser", errno_of(libc.syscall(UNSHARE, 0x10000000)))
print("clone-newuser", errno_of(libc.syscall(CLONE, 0x10000000 | 17, 0, 0, 0, 0)))
print("clone3", errno_of(libc.syscall(CLONE3, 0, 0)))
t = threading.Thread(target=print, args=("thread-ok",)); t.start(); t.join()
print(subprocess.run(["echo", "subprocess-ok"], capture_output=True, text=True).stdout.strip())
"""


@pytest.mark.skipif(not ROOT, reason="root-mode bwrap is where the seccomp filter applies")
@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="filter known for x86_64/aarch64")
def test_no_nested_user_namespaces_but_threads_and_processes_work(backend: BwrapBackend, ws: Path) -> None:
    from autolab_mcp.core.sandbox.seccomp import _ABIS

    abi = _ABIS[platform.machine()]
    (ws / "autolab_seccomp_numbers.py").write_text(
        f"CLONE, CLONE3, UNSHARE = {abi.clone}, {abi.clone3}, {abi.unshare}\n")
    (ws / "probe.py").write_text(NAMESPACE_PROBE)
    r = backend.run(req(ws, "unshare -U true 2>&1; unshare -Urm true 2>&1; python3 probe.py"))
    assert r.exit_code == 0, r.output_tail
    out = r.output_tail
    assert out.count("unshare failed: Operation not permitted") == 2, out
    assert "unshare-newuser Operation not permitted" in out
    assert "clone-newuser Operation not permitted" in out
    assert "clone3 Function not implemented" in out  # glibc falls back to clone: threads still start
    assert "thread-ok" in out and "subprocess-ok" in out


def test_seccomp_program_only_for_known_abis() -> None:
    from autolab_mcp.core.sandbox.seccomp import no_new_userns_program

    program = no_new_userns_program("x86_64")
    assert program is not None and len(program) % 8 == 0  # whole struct sock_filter entries
    assert no_new_userns_program("riscv64") is None


@pytest.mark.skipif(not ROOT, reason="uid drop only happens as root")
def test_workspace_under_private_dir_works_and_host_paths_stay_hidden(backend: BwrapBackend) -> None:
    """bwrap binds as root, so run dirs may live anywhere (even under 0700 dirs like /root);
    its arguments travel in a memfd, so pid 1's command line names no host path."""
    private = Path(tempfile.mkdtemp(prefix="autolab-test-private-"))  # 0700, owned by root
    try:
        ws = private / "ws"
        ws.mkdir()
        os.chown(ws, AGENT_UID, AGENT_UID)
        result = backend.run(ExecRequest(
            command="id -u; echo hi > f; tr '\\0' ' ' < /proc/1/cmdline; grep NoNewPrivs /proc/self/status",
            workspace=ws, uid=AGENT_UID))
        assert result.exit_code == 0, result.output_tail
        assert result.output_tail.splitlines()[0] == str(AGENT_UID)
        assert str(private) not in result.output_tail
        assert "NoNewPrivs:\t1" in result.output_tail
        assert (ws / "f").stat().st_uid == AGENT_UID
    finally:
        shutil.rmtree(private)


# --------------------------------------------------------------------------- concurrency, cleanup, rlimits


def test_concurrent_sandboxes(backend: BwrapBackend, ws: Path) -> None:
    results: dict[int, ExecResult] = {}

    def one(i: int) -> None:
        results[i] = backend.run(req(ws, f"sleep 1; echo job-{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 < 5  # one after another would take 8 s
    assert all(results[i].ok and results[i].output_tail == f"job-{i}\n" for i in range(8))


def test_cgroups_removed_after_run(backend: BwrapBackend, ws: Path) -> None:
    if backend.limits_mode != "cgroup":
        pytest.skip("no cgroups here")
    proc = backend.start(req(ws, "sleep 0.2"))
    run_id = proc.run_id

    def cgroup_dirs() -> list[str]:
        found = []
        for ctrl in ("memory", "pids", "cpu", ""):
            for dirpath, dirnames, _ in os.walk(Path("/sys/fs/cgroup", ctrl)):
                found += [os.path.join(dirpath, d) for d in dirnames if d == run_id]
        return found

    assert cgroup_dirs()
    assert proc.wait(10) is not None
    assert cgroup_dirs() == []


def test_startup_is_cheap(backend: BwrapBackend, ws: Path) -> None:
    backend.run(req(ws, "true"))
    t0 = time.monotonic()
    for _ in range(5):
        backend.run(req(ws, "true"))
    assert (time.monotonic() - t0) / 5 < 0.5  # ~20 ms when idle; generous for loaded CI


def test_rlimit_fallback(rlimit_backend: BwrapBackend, ws: Path) -> None:
    assert rlimit_backend.limits_mode == "rlimit"
    r = rlimit_backend.run(req(ws, "ulimit -v; ulimit -c; exit 3", limits=Limits(memory_mb=256)))
    assert r.exit_code == 3 and r.limits_mode == "rlimit"
    assert r.output_tail.split() == [str(256 * 1024), "0"]

    bomb = rlimit_backend.run(req(ws, "python3 -c \"x = 'x' * (512 << 20)\"", limits=Limits(memory_mb=128)))
    assert bomb.oom_killed and not bomb.ok  # best effort: MemoryError under RLIMIT_AS

    marker = f"autolab-marker-{secrets.token_hex(6)}"
    r = rlimit_backend.run(req(ws, _tree_command(marker), limits=Limits(wall_sec=1)))
    assert r.timed_out and "daemon up" in r.output_tail
    assert survivors(marker) == []


# --------------------------------------------------------------------------- lifetime


def test_sandbox_outlives_the_thread_that_started_it(backend: BwrapBackend, ws: Path) -> None:
    """The MCP runtime retires idle worker threads after ~10 s; a sandbox started on one (PDEATHSIG is
    per thread) used to be SIGKILLed with it. Start from a thread that exits at once: the run finishes."""
    started: list[RunningSandbox] = []
    starter = threading.Thread(target=lambda: started.append(backend.start(req(ws, "sleep 2; echo ok"))))
    starter.start()
    starter.join()
    r = started[0].wait(20)
    assert r is not None and r.exit_code == 0 and r.output_tail == "ok\n", r
    assert r.killed_by is None and r.signal is None


def test_kills_report_who_and_which_signal(backend: BwrapBackend, ws: Path) -> None:
    r = backend.run(req(ws, "sleep 30", limits=Limits(wall_sec=1)))
    assert (r.killed_by, r.signal, r.exit_code) == ("timeout", "SIGKILL", None)
    proc = backend.start(req(ws, "echo up; sleep 30"))
    while "up" not in proc.output_tail():
        time.sleep(0.02)
    proc.kill()
    r = proc.wait(10)
    assert r is not None and (r.killed_by, r.cancelled) == ("cancel", True)
    proc = backend.start(req(ws, "echo up; sleep 30"))
    while "up" not in proc.output_tail():
        time.sleep(0.02)
    proc.kill("shutdown")
    r = proc.wait(10)
    assert r is not None and r.killed_by == "shutdown" and not r.cancelled
    # a signal nobody here sent, to the sandbox's outermost process (what a dying parent thread did)
    proc = backend.start(req(ws, "echo up; sleep 30"))
    while "up" not in proc.output_tail():
        time.sleep(0.02)
    os.kill(proc._proc.pid, 9)  # type: ignore[attr-defined]
    r = proc.wait(10)
    assert r is not None and (r.killed_by, r.signal, r.exit_code) == ("unknown", "SIGKILL", None), r
    # the command's own death by a signal is its own exit, reported as bash would
    r = backend.run(req(ws, "kill -KILL $$"))
    assert r.exit_code == 137 and r.killed_by is None


# --------------------------------------------------------------------------- cpusets

_AFFINITY_PROBE = """python3 -c '
import os
before = sorted(os.sched_getaffinity(0))
try:
    os.sched_setaffinity(0, set(range(os.cpu_count())))
except OSError as e:
    print("refused", e.errno)
print("before", before, "after", sorted(os.sched_getaffinity(0)))
'"""


def test_sandboxes_cannot_widen_their_cpus_onto_the_timing_core(backend: BwrapBackend, ws: Path) -> None:
    """An affinity mask can be widened by the process it binds (sched_setaffinity); a cpuset cannot.
    An unpinned run stays off the timing core and a timed run stays on exactly its core."""
    from autolab_mcp.core.cores import timing_core, work_cores

    if backend.limits_mode != "cgroup" or "cpuset" not in (backend._cgroups.parents.keys() |  # type: ignore[union-attr]
                                                           backend._cgroups.cpuset_v2):  # type: ignore[union-attr]
        pytest.skip("cpusets need cgroups (root)")
    if work_cores() is None:
        pytest.skip("a single core: there is no timing core to keep free")
    work = work_cores()
    r = backend.run(req(ws, _AFFINITY_PROBE))
    assert r.exit_code == 0, r.output_tail
    assert f"after {work}" in r.output_tail, r.output_tail  # the timing core was not reachable
    core = timing_core()
    r = backend.run(req(ws, _AFFINITY_PROBE, cpu=core))
    assert r.exit_code == 0, r.output_tail
    assert f"after {[core]}" in r.output_tail, r.output_tail  # a timed run cannot take a second core


# --------------------------------------------------------------------------- lock channels

_LOCK_SENDER = """python3 -c '
import fcntl, struct, time
files = [open(p, "rb") for p in ("/etc/passwd", "/usr/bin/env")]
fcntl.flock(files[0], fcntl.LOCK_SH)
fcntl.fcntl(files[1], fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 7, 5, 0))
print("holding", flush=True)
time.sleep(30)
'"""

_LOCK_PROBE = """python3 -c '
import fcntl, struct
out = []
with open("/usr/bin/env", "rb") as f:
    got = fcntl.fcntl(f, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0))
    out.append(struct.unpack("hhqqi", got)[:4])
with open("/etc/passwd", "rb") as f:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out.append("flock free")
    except OSError:
        out.append("flock busy")
print(out)
'"""


@pytest.mark.parametrize("faked_side", ["receiver", "sender"])
def test_file_locks_carry_nothing_between_an_experiment_and_an_evaluation(
        backend: BwrapBackend, ws: Path, faked_side: str) -> None:
    """Locks on the host inodes every sandbox sees (/etc, /usr) were a channel: an evaluation sandbox
    (fake_file_locks) neither sees an experiment's locks nor sets any an experiment could see."""
    if not ROOT:
        pytest.skip("the lock filter is part of the root-mode seccomp program")

    def probe(with_sender: bool) -> str:
        sender = None
        if with_sender:
            sender = backend.start(req(ws, _LOCK_SENDER, fake_file_locks=faked_side == "sender"))
            while "holding" not in sender.output_tail():
                time.sleep(0.02)
        try:
            r = backend.run(req(ws, _LOCK_PROBE, fake_file_locks=faked_side == "receiver"))
            assert r.exit_code == 0, r.output_tail
            return r.output_tail
        finally:
            if sender is not None:
                sender.kill()
                sender.wait(10)

    assert probe(True) == probe(False)  # the probe learns nothing from the sender's locks
    # without the filter on either side the channel is real (so the test can fail)
    sender = backend.start(req(ws, _LOCK_SENDER))
    while "holding" not in sender.output_tail():
        time.sleep(0.02)
    try:
        leaky = backend.run(req(ws, _LOCK_PROBE)).output_tail
    finally:
        sender.kill()
        sender.wait(10)
    assert "flock busy" in leaky and "(0, 0, 7, 5)" in leaky, leaky  # F_RDLCK at 7+5: the bits got across

"""What every sandbox backend must do, run against each: bwrap (real bubblewrap), docker (a real
engine: podman's Docker API here, Docker Engine works too) and, where the behaviour is the
protocol's rather than isolation, the test-only FakeBackend.

No mocks for the real backends. A backend that cannot run here skips its cases: bwrap without
bubblewrap or user namespaces, docker without an engine (tests/sandbox/conftest.py says how one
is found, and warns when none is). Where backends legitimately differ (what a container shows
of the host, a slower start), the case says so with `sandbox.kind` / `sandbox.pick(...)`;
tests/sandbox/test_bwrap.py and test_docker.py hold what only one backend has.
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
from pathlib import Path

import pytest

from autolab_mcp.core.cores import work_cores
from autolab_mcp.core.sandbox.base import (
    AGENT_UID,
    ExecResult,
    Limits,
    Mount,
    RunningSandbox,
    SandboxBackend,
    SandboxError,
)
from tests.sandbox.helpers import NO_BWRAP, ROOT, Sandbox, bwrap_works, req, sandbox_dir, survivors, tree_command

BWRAP = pytest.param("bwrap", marks=pytest.mark.skipif(not bwrap_works(), reason=NO_BWRAP))
#: backends that isolate: every case about what untrusted code can see or do
ISOLATING = [BWRAP, "docker"]
#: the protocol's behaviour (results, kills, output capture, request checks): the fake too
EVERY = [*ISOLATING, "fake"]

isolating = pytest.mark.parametrize("sandbox", ISOLATING, indirect=True)
every = pytest.mark.parametrize("sandbox", EVERY, indirect=True)


# --------------------------------------------------------------------------- basics


@every
def test_protocols(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    assert isinstance(backend, SandboxBackend)
    assert backend.name == sandbox.kind
    proc = backend.start(req(ws, "true"))
    assert isinstance(proc, RunningSandbox)
    assert proc.wait(sandbox.pick(bwrap=10, docker=20, fake=10)) is not None
    sandbox.gone(proc)


@every
def test_exit_code_and_output(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    r = backend.run(req(ws, "echo to-out; echo to-err >&2; exit 7"))
    assert r.exit_code == 7
    assert "to-out\n" in r.output_tail and "to-err\n" in r.output_tail
    assert r.output_bytes == len("to-out\nto-err\n")
    assert not r.ok and not r.timed_out and not r.cancelled and not r.oom_killed
    assert r.limits_mode == backend.limits_mode
    if sandbox.kind == "docker":
        assert r.limits_mode == "container"
    assert 0 < r.duration_sec < 5
    assert backend.run(req(ws, "true")).ok


@isolating
def test_signal_exit_code_like_bash(sandbox: Sandbox, ws: Path) -> None:
    r = sandbox.backend.run(req(ws, "kill -TERM $$"))
    assert r.exit_code == 128 + 15 and r.output_tail == ""


@isolating
def test_workspace_read_write_and_owner(sandbox: Sandbox, ws: Path) -> None:
    (ws / "in.txt").write_text("hello\n")
    # a container also shows its privileges: none, and no way to gain any
    privileges = "; grep -E 'NoNewPrivs|CapEff' /proc/self/status" if sandbox.kind == "docker" else ""
    r = sandbox.backend.run(req(ws, "pwd; id -u; cat in.txt; echo written > out.txt" + privileges))
    assert r.ok, r.output_tail
    lines = r.output_tail.splitlines()
    assert lines[0] == "/workspace"
    assert "hello" in lines
    if sandbox.kind == "docker":
        assert "NoNewPrivs:\t1" in lines and "CapEff:\t0000000000000000" in lines
    assert (ws / "out.txt").read_text() == "written\n"
    if ROOT:
        assert lines[1] == str(AGENT_UID)
        assert (ws / "out.txt").stat().st_uid == AGENT_UID


@isolating
def test_read_only_paths(sandbox: Sandbox, ws: Path) -> None:
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
    r = sandbox.backend.run(req(ws, cmd, read_only_paths=ro))
    out = r.output_tail
    assert "ro-sed-ok" not in out and "ro2-append-ok" not in out and "ro2-mv-ok" not in out, out
    assert "ro-chmod-ok" not in out
    assert "rw-ok" in out and "link-ok" in out, out
    assert (ws / "ro.txt").read_text() == "original\n"
    assert (ws / "sub/ro2.txt").read_text() == "original\n"
    assert (ws / "rw.txt").read_text() == "original\nmore\nvia-link\n"
    assert sorted(p.name for p in ws.iterdir()) == ["evil", "link.txt", "ro.txt", "rw.txt", "sub"]


@isolating
def test_a_task_workdir_holds_the_workspace_with_its_read_only_rules(sandbox: Sandbox, ws: Path) -> None:
    """A task written for /app (Harbor/AutoLab) sees its workspace there, starts there, and the
    non-editable files stay read-only at that path; nothing is at /workspace (docker's image keeps an
    empty mount point there)."""
    (ws / "solve.py").write_text("edit me\n")
    (ws / "check.py").write_text("harness\n")
    if ROOT:
        for p in ws.iterdir():
            os.lchown(p, AGENT_UID, AGENT_UID)
    cmd = ("pwd; cat /app/solve.py; echo edited > /app/solve.py && echo solve-ok; "
           "echo evil > /app/check.py && echo check-ok; "
           "[ -z \"$(ls -A /workspace 2>/dev/null)\" ] && echo no-workspace; "
           "stat -c %a /app")
    r = sandbox.backend.run(req(ws, cmd, workdir="/app", read_only_paths=["check.py"]))
    lines = r.output_tail.splitlines()
    assert lines[:3] == ["/app", "edit me", "solve-ok"], r.output_tail
    assert "check-ok" not in lines and "no-workspace" in lines, r.output_tail
    assert (ws / "solve.py").read_text() == "edited\n" and (ws / "check.py").read_text() == "harness\n"
    nested = sandbox.backend.run(req(ws, "pwd; stat -c %a /srv", workdir="/srv/app"))
    assert nested.output_tail.splitlines() == ["/srv/app", "755"], nested.output_tail


@every
def test_a_workdir_clear_of_what_the_sandbox_provides(sandbox: Sandbox, ws: Path) -> None:
    for bad in ("/usr/app", "/tmp/app", "/opt", "/proc/x", "/"):
        with pytest.raises(SandboxError, match=r"workdir|normalized absolute"):
            sandbox.backend.run(req(ws, "true", workdir=bad))
    with pytest.raises(SandboxError, match="overlaps /app"):
        sandbox.backend.run(req(ws, "true", workdir="/app", mounts=[Mount(source=ws, target="/app")]))


@isolating
def test_host_not_visible(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    if sandbox.kind == "bwrap":
        r = backend.run(
            req(ws, "ls -A /; for p in /root /home /var /run /sys /work /srv /mnt; do test -e $p && echo LEAK $p; done")
        )
        assert r.exit_code is not None
        assert "LEAK" not in r.output_tail, r.output_tail
        top = set(r.output_tail.split())
        assert top <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr",
                       "workspace"}
        return
    r = backend.run(
        req(ws, "ls -A /; for p in /root /home /work /srv /mnt /var/lib /var/cache /boot; do "
                "test -e $p && echo LEAK $p; done; echo RUN $(ls -A /run) VAR $(ls -A /var)")
    )
    assert r.exit_code == 0, r.output_tail
    assert "LEAK" not in r.output_tail, r.output_tail
    *top_dirs, last = r.output_tail.split("\n")[:-1]
    # bwrap's view plus what every container has: /sys (read-only), podman's tmpfs /run and /var/tmp, /opt.
    assert set(top_dirs) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc", "run", "sbin",
                             "sys", "tmp", "usr", "var", "workspace"}, top_dirs
    assert set(last.split()) <= {"RUN", "VAR", "tmp", ".containerenv"}, last
    # pid 1's command line names no host path (mountinfo does show bind sources, as with bwrap)
    assert str(ws) not in backend.run(req(ws, "tr '\\0' ' ' < /proc/1/cmdline")).output_tail


@isolating
def test_environment_is_clean(sandbox: Sandbox, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLAB_HOST_SECRET", "s3cret")
    r = sandbox.backend.run(req(ws, "env", env={"TASK_SEED": "42"}))
    env = dict(line.split("=", 1) for line in r.output_tail.splitlines() if "=" in line)
    assert "AUTOLAB_HOST_SECRET" not in env and "s3cret" not in r.output_tail
    assert env["TASK_SEED"] == "42"
    assert env["HOME"] == "/tmp"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "DOCKER_HOST" not in env


@isolating
def test_private_sized_tmp(sandbox: Sandbox, ws: Path) -> None:
    marker = f"host-tmp-{secrets.token_hex(4)}"
    Path("/tmp", marker).write_text("x")
    try:
        r = sandbox.backend.run(
            req(ws, f"test -e /tmp/{marker} && echo LEAK; head -c 16M /dev/zero > /tmp/big", limits=Limits(tmp_mb=8))
        )
    finally:
        Path("/tmp", marker).unlink()
    assert "LEAK" not in r.output_tail
    assert r.exit_code != 0  # no space left on the 8 MiB tmpfs


@isolating
def test_file_size_limit(sandbox: Sandbox, ws: Path) -> None:
    r = sandbox.backend.run(req(ws, "head -c 3M /dev/zero > big.bin", limits=Limits(file_mb=1)))
    assert r.exit_code != 0
    assert (ws / "big.bin").stat().st_size <= 1024 * 1024


# --------------------------------------------------------------------------- network and pids


@isolating
def test_no_network(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
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


@isolating
def test_pid_namespace(sandbox: Sandbox, ws: Path) -> None:
    if sandbox.kind == "bwrap":
        probe = "ls /proc | grep -cE '^[0-9]+$'; tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$"
        r = sandbox.backend.run(req(ws, probe))
        count, init_cmd, mypid = r.output_tail.splitlines()
        assert "bwrap" in init_cmd  # pid 1 is bwrap's init
    else:  # pid 1 is the launcher, whose command line spans lines
        r = sandbox.backend.run(req(ws, "ls /proc | grep -cE '^[0-9]+$'; echo $$"))
        count, mypid = r.output_tail.splitlines()
    assert int(count) < 10  # pid 1, bash, ls, grep: not the host's processes
    assert 1 < int(mypid) < 10  # the command is not the namespace's init


# --------------------------------------------------------------------------- kills


@isolating
def test_timeout_kills_whole_tree(sandbox: Sandbox, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    t0 = time.monotonic()
    proc = sandbox.backend.start(req(ws, tree_command(marker), limits=Limits(wall_sec=1.5)))
    r = proc.wait(30)
    assert r is not None
    assert time.monotonic() - t0 < sandbox.pick(bwrap=8, docker=10)
    assert r.timed_out and r.exit_code is None and not r.cancelled
    assert "bg up" in r.output_tail and "daemon up" in r.output_tail
    assert 1.5 <= r.duration_sec < 6
    assert survivors(marker) == []
    sandbox.gone(proc)


@every
def test_finished_command_leaves_no_background(sandbox: Sandbox, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    r = sandbox.backend.run(req(ws, f"python3 -c 'import time; time.sleep(1000)' {marker} >/dev/null 2>&1 & exit 0"))
    assert r.exit_code == 0
    assert r.duration_sec < 5
    assert survivors(marker) == []


@every
def test_cancel_from_another_thread(sandbox: Sandbox, ws: Path) -> None:
    marker = f"autolab-marker-{secrets.token_hex(6)}"
    patience = sandbox.pick(bwrap=10, docker=15, fake=10)
    proc = sandbox.backend.start(req(ws, "echo started; " + tree_command(marker), limits=Limits(wall_sec=60)))
    deadline = time.monotonic() + patience
    while "daemon up" not in proc.output_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "started" in proc.output_tail()
    assert proc.poll() is None and proc.wait(0.05) is None
    before = proc.elapsed()
    assert before > 0
    threading.Thread(target=proc.kill).start()
    r = proc.wait(patience)
    assert r is not None and r.cancelled and not r.timed_out and r.exit_code is None
    assert r.duration_sec >= before
    assert proc.elapsed() == pytest.approx(r.duration_sec)
    assert survivors(marker) == []
    sandbox.gone(proc)
    proc.kill()  # after the end: harmless


@isolating
def test_memory_bomb_is_oom_killed(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    bomb = "python3 -c \"x = 'x' * (256 << 20); print('survived')\""
    r = backend.run(req(ws, bomb, limits=Limits(memory_mb=128)))
    assert r.oom_killed, r
    assert "survived" not in r.output_tail
    assert not r.ok
    if sandbox.kind != "docker":
        return
    # an OOM kill of a child is reported even when the command itself goes on and exits 0
    r = backend.run(req(ws, f"{bomb}; echo after", limits=Limits(memory_mb=128)))
    assert r.exit_code == 0 and "after" in r.output_tail
    assert r.oom_killed and not r.ok
    assert not backend.run(req(ws, "python3 -c \"x = 'x' * (16 << 20)\"", limits=Limits(memory_mb=128))).oom_killed


@isolating
def test_pids_limit_and_fork_bomb(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    if sandbox.kind == "bwrap" and backend.limits_mode != "cgroup":
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


def _cpu_seconds(r: ExecResult) -> float:
    user, sys_ = r.output_tail.split()[:2]
    return sum(float(t.split("m")[0]) * 60 + float(t.split("m")[1].rstrip("s")) for t in (user, sys_))


@isolating
def test_cpu_quota_and_pinning(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    # Two busy loops for ~1 s wall; `times` reports the CPU they got.
    busy = "for i in 1 2; do timeout 1 sh -c 'while :; do :; done' & done; wait; times | tail -1"

    if sandbox.kind == "bwrap":
        pinned = backend.run(req(ws, f"nproc; taskset -p $$; {busy}", cpu=0))
        lines = pinned.output_tail.splitlines()
        assert lines[0] == "1"
        assert lines[1].endswith(": 1")  # affinity mask: core 0 only
        assert _cpu_seconds(ExecResult(exit_code=0, output_tail=lines[-1], duration_sec=0)) < 1.4
        if backend.limits_mode == "cgroup":
            capped = backend.run(req(ws, busy, limits=Limits(cpus=0.5)))
            assert _cpu_seconds(capped) < 0.85
        return

    pinned = backend.run(req(ws, f"nproc; taskset -p $$; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null; {busy}",
                             cpu=1))
    lines = pinned.output_tail.splitlines()
    assert lines[0] == "1"
    assert lines[1].endswith(": 2")  # affinity mask: core 1 only
    if len(lines) == 4:  # cgroup v1: no quota while pinned
        assert lines[2] == "-1"
    assert _cpu_seconds(ExecResult(exit_code=0, output_tail=lines[-1], duration_sec=0)) < 1.4

    capped = backend.run(req(ws, busy, limits=Limits(cpus=0.5)))
    assert _cpu_seconds(capped) < 0.85

    # unpinned containers stay off the timing core (autolab_mcp.core.cores), which the scorers lease
    unpinned = backend.run(req(ws, "grep Cpus_allowed_list /proc/self/status | cut -f2"))
    assert unpinned.output_tail.strip() == ",".join(map(str, work_cores(1) or []))


# --------------------------------------------------------------------------- output


@every
def test_huge_output_truncated_in_log(sandbox: Sandbox, ws: Path) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="autolab-test-log-"))
    try:
        log_path = log_dir / "deep" / "out.log"
        r = sandbox.backend.run(req(ws, "yes | head -c 50M; echo done", limits=Limits(output_bytes=1 << 20),
                                    log_path=log_path))
        assert r.exit_code == 0
        assert r.output_bytes == 50 * (1 << 20) + len("done\n")
        assert r.output_truncated
        assert log_path.stat().st_size == 1 << 20
        assert r.output_tail.endswith("y\ny\ndone\n")
        assert len(r.output_tail) <= 4096
    finally:
        shutil.rmtree(log_dir)


@every
def test_log_keeps_everything_under_limit(sandbox: Sandbox, ws: Path) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="autolab-test-log-"))
    try:
        log_path = log_dir / "out.log"
        r = sandbox.backend.run(req(ws, "seq 1 20000; printf 'caf\\xc3\\xa9 \\xff\\n'", log_path=log_path))
        data = log_path.read_bytes()
        assert len(data) == r.output_bytes and not r.output_truncated
        assert data.startswith(b"1\n2\n") and data.endswith(b"caf\xc3\xa9 \xff\n")
        assert r.output_tail.endswith("café \ufffd\n")
    finally:
        shutil.rmtree(log_dir)


# --------------------------------------------------------------------------- mounts and errors


@isolating
def test_mounts_ro_and_rw(sandbox: Sandbox, ws: Path) -> None:
    ro_dir, rw_dir = sandbox_dir("ro"), sandbox_dir("rw")
    try:
        (ro_dir / "data.txt").write_text("data\n")
        mounts = [Mount(source=ro_dir, target="/data"), Mount(source=rw_dir, target="/out", read_only=False)]
        r = sandbox.backend.run(
            req(ws, "cat /data/data.txt; touch /data/new && echo RO-WRITABLE; echo x > /out/r.txt", mounts=mounts)
        )
        assert "data" in r.output_tail and "RO-WRITABLE" not in r.output_tail
        assert r.exit_code == 0
        assert (rw_dir / "r.txt").read_text() == "x\n"
        assert not (ro_dir / "new").exists()
    finally:
        shutil.rmtree(ro_dir)
        shutil.rmtree(rw_dir)


@every
def test_setup_errors_raise(sandbox: Sandbox, ws: Path) -> None:
    backend = sandbox.backend
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


# --------------------------------------------------------------------------- concurrency and cost


@isolating
def test_concurrent_sandboxes(sandbox: Sandbox, ws: Path) -> None:
    n = sandbox.pick(bwrap=8, docker=6)
    results: dict[int, ExecResult] = {}

    def one(i: int) -> None:
        results[i] = sandbox.backend.run(req(ws, f"sleep 1; echo job-{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 < sandbox.pick(bwrap=5, docker=6)  # one after another: n s plus overheads
    assert all(results[i].ok and results[i].output_tail == f"job-{i}\n" for i in range(n)), results


@isolating
def test_startup_cost(sandbox: Sandbox, ws: Path) -> None:
    runs = sandbox.pick(bwrap=5, docker=3)
    sandbox.backend.run(req(ws, "true"))
    t0 = time.monotonic()
    for _ in range(runs):
        sandbox.backend.run(req(ws, "true"))
    per_run = (time.monotonic() - t0) / runs
    print(f"{sandbox.kind} backend: {per_run:.3f} s per run of `true`")
    # bwrap: ~20 ms when idle; docker: ~0.25 s with podman here; both generous for loaded CI
    assert per_run < sandbox.pick(bwrap=0.5, docker=3)

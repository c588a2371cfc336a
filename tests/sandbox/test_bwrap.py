"""What only the bwrap backend has, against real bubblewrap (what every backend does: test_conformance.py).

Root mode (the seccomp filter, the uid drop, bwrap binding as root), cgroups and their cleanup,
the rlimit fallback, sandboxes outliving the thread that started them, who killed a run, cpusets
and the file-lock channel. Everything runs for real (no mocks). Directories live under /tmp
(world-traversable) because the sandbox runs as AGENT_UID when the tests run as root.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, Limits, RunningSandbox
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from tests.sandbox.helpers import NO_BWRAP, ROOT, bwrap_works, req, survivors, tree_command

pytestmark = pytest.mark.skipif(not bwrap_works(), reason=NO_BWRAP)


@pytest.fixture
def backend(bwrap_backend: BwrapBackend) -> BwrapBackend:
    return bwrap_backend


@pytest.fixture(scope="module")
def rlimit_backend() -> BwrapBackend:
    return BwrapBackend(cgroups=False)


# --------------------------------------------------------------------------- root mode


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



# --------------------------------------------------------------------------- cgroups and rlimits


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


def test_rlimit_fallback(rlimit_backend: BwrapBackend, ws: Path) -> None:
    assert rlimit_backend.limits_mode == "rlimit"
    r = rlimit_backend.run(req(ws, "ulimit -v; ulimit -c; exit 3", limits=Limits(memory_mb=256)))
    assert r.exit_code == 3 and r.limits_mode == "rlimit"
    assert r.output_tail.split() == [str(256 * 1024), "0"]

    bomb = rlimit_backend.run(req(ws, "python3 -c \"x = 'x' * (512 << 20)\"", limits=Limits(memory_mb=128)))
    assert bomb.oom_killed and not bomb.ok  # best effort: MemoryError under RLIMIT_AS

    marker = f"autolab-marker-{secrets.token_hex(6)}"
    r = rlimit_backend.run(req(ws, tree_command(marker), limits=Limits(wall_sec=1)))
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

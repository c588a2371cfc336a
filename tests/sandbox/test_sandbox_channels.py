"""Channels between two sandboxes that run at once, on both backends (and across them).

An experiment (the agent's) and an evaluation (the scorer's: fake_file_locks) run side by side.
A sender in one opens every channel it can (a record lock and a flock on host files every sandbox
sees, a file in /dev/shm, SysV shared memory and a message queue, an abstract unix socket); the
other probes them, once while the sender holds its end and once after it is gone. Both probes must
read the same, in both directions. Controls show the probes see a sender where a channel is open
(within one sandbox; file locks between two experiments), so these tests can fail.
forbid_threads rides on the same seccomp program and is checked here too.

File watches (inotify, fanotify, dnotify) on those shared host files were a channel too: an open
or exec of /usr/bin/true in an evaluation queued an event in an experiment's watch, even a frozen
one. Every sandbox is now denied them (seccomp); tested below. Not closed: page-cache residency
of host files and global counters such as /proc/meminfo (shared by nature; freezing bounds the
counters, and the page cache carries timing, not content).
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from autolab_mcp.core.sandbox.base import AGENT_UID, SCORER_UID, ExecRequest, RunningSandbox
from tests.helpers import sandbox_backend

ROOT = os.geteuid() == 0
#: a byte range of its own, so a concurrent run of test_sandbox_bwrap's lock test (7+5) cannot interfere
RECORD_FILE, RECORD_START, RECORD_LEN = "/usr/bin/env", 4242, 17
#: a host file shared by every sandbox of both backends (podman gives each container its own /etc/passwd)
FLOCK_FILE = os.path.realpath("/usr/bin/python3")

SENDER = r"""
import ctypes, fcntl, os, socket, struct, sys, time
token, record_file, start, length, flock_file = sys.argv[1:]
start, length = int(start), int(length)
key = int(token[:7], 16) | 1
libc = ctypes.CDLL(None, use_errno=True)
record = open(record_file, "rb")
fcntl.fcntl(record, fcntl.F_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, start, length, 0))
whole = open(flock_file, "rb")
fcntl.flock(whole, fcntl.LOCK_SH)
with open(f"/dev/shm/autolab-probe-{token}", "w") as f:
    f.write("x")
assert libc.shmget(key, 4096, 0o1666) >= 0 and libc.msgget(key, 0o1666) >= 0, os.strerror(ctypes.get_errno())
server = socket.socket(socket.AF_UNIX)
server.bind(f"\0autolab-probe-{token}")
server.listen()
print("holding", flush=True)
time.sleep(60)
"""

RECEIVER = r"""
import ctypes, fcntl, json, os, socket, struct, sys
token, record_file, start, length, flock_file = sys.argv[1:]
start, length = int(start), int(length)
key = int(token[:7], 16) | 1
libc = ctypes.CDLL(None, use_errno=True)
seen = {}
with open(record_file, "rb") as f:
    got = fcntl.fcntl(f, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, start, length, 0))
    seen["record_lock"] = list(struct.unpack("hhqqi", got)[:4])
with open(flock_file, "rb") as f:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen["flock"] = "free"
    except BlockingIOError:
        seen["flock"] = "busy"
seen["dev_shm"] = os.path.exists(f"/dev/shm/autolab-probe-{token}")
seen["sysv_shm"] = libc.shmget(key, 0, 0) >= 0
seen["sysv_msg"] = libc.msgget(key, 0) >= 0
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(f"\0autolab-probe-{token}")
    seen["abstract_socket"] = True
except OSError:
    seen["abstract_socket"] = False
print("SEEN", json.dumps(seen))
"""

THREADS = r"""
import ctypes, os, subprocess, sys, threading
try:
    t = threading.Thread(target=print, args=("thread ran",))
    t.start()
    t.join()
except RuntimeError as e:
    print("thread refused:", e)
print("subprocess", subprocess.run(["true"]).returncode)
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 5"], dict(os.environ))
print("posix_spawn", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
if sys.argv[1] == "forbidden":  # raw clones sharing our memory (no stack of their own): only where they must fail
    libc = ctypes.CDLL(None, use_errno=True)
    for name, flags in (("vm", 0x100 | 17), ("thread", 0x100 | 0x800 | 0x10000)):
        r = libc.syscall(int(sys.argv[2]), flags, 0, 0, 0, 0)
        print("clone", name, r, os.strerror(ctypes.get_errno()) if r < 0 else "")
"""

#: channels each sandbox's own namespaces close, whatever the seccomp program
NAMESPACED = ("dev_shm", "sysv_shm", "sysv_msg", "abstract_socket")
#: what the receiver reads when an experiment sender holds everything it can
HELD = {"record_lock": [0, 0, RECORD_START, RECORD_LEN], "flock": "busy", **dict.fromkeys(NAMESPACED, True)}
PAIRS = [("bwrap", "bwrap"), ("docker", "docker"), ("bwrap", "docker"), ("docker", "bwrap")]


@pytest.fixture(scope="module")
def backends() -> Callable[[str], Any]:
    """The named backend, made once per module (docker skips without an engine: conftest.sandbox_backend)."""
    made: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in made:
            made[name] = sandbox_backend(name)
        return made[name]

    return get


@pytest.fixture
def dirs() -> Iterator[Callable[[int | None], Path]]:
    """Fresh workspaces with the probe scripts, owned by the sandbox uid (pytest's tmp_path is 0700)."""
    made: list[Path] = []

    def make(uid: int | None) -> Path:
        d = Path(tempfile.mkdtemp(prefix="autolab-test-channels-", dir="/tmp"))
        made.append(d)
        (d / "sender.py").write_text(SENDER)
        (d / "receiver.py").write_text(RECEIVER)
        (d / "threads.py").write_text(THREADS)
        d.chmod(0o755)
        if uid is not None:
            os.chown(d, uid, uid)
        return d

    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def _args(token: str) -> str:
    return f"{token} {RECORD_FILE} {RECORD_START} {RECORD_LEN} {FLOCK_FILE}"


def _request(dirs: Callable[[int | None], Path], command: str, evaluation: bool, **kw: Any) -> ExecRequest:
    """An evaluation sandbox (fake locks, the scorer's uid) or an experiment one (the agent's uid)."""
    uid = (SCORER_UID if evaluation else AGENT_UID) if ROOT else None
    return ExecRequest(command=command, workspace=dirs(uid), uid=uid, fake_file_locks=evaluation, **kw)


@contextmanager
def _holding(backend: Any, request: ExecRequest) -> Iterator[RunningSandbox]:
    """A sender sandbox, once it holds every channel; killed on the way out."""
    sender = backend.start(request)
    try:
        deadline = time.monotonic() + 20
        while "holding" not in sender.output_tail():
            if sender.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the sender did not get ready: {sender.output_tail()}")
            time.sleep(0.02)
        yield sender
    finally:
        sender.kill()
        sender.wait(10)


def _seen(backend: Any, request: ExecRequest) -> dict[str, Any]:
    r = backend.run(request)
    assert r.exit_code == 0, r.output_tail
    line = next(x for x in r.output_tail.splitlines() if x.startswith("SEEN "))
    return dict(json.loads(line[5:]))


def _probe_twice(backends: Callable[[str], Any], dirs: Callable[[int | None], Path], pair: tuple[str, str],
                 sender_evaluates: bool, receiver_evaluates: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the receiver sees while the sender holds its end, what it sees once the sender is gone)."""
    sender_backend, receiver_backend = backends(pair[0]), backends(pair[1])
    token = secrets.token_hex(8)
    with _holding(sender_backend, _request(dirs, f"python3 sender.py {_args(token)}", sender_evaluates)):
        during = _seen(receiver_backend, _request(dirs, f"python3 receiver.py {_args(token)}", receiver_evaluates))
    after = _seen(receiver_backend, _request(dirs, f"python3 receiver.py {_args(token)}", receiver_evaluates))
    return during, after


@pytest.mark.parametrize("evaluation", ["receiver", "sender"])
@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
def test_nothing_passes_between_an_experiment_and_an_evaluation(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path], pair: tuple[str, str],
        evaluation: str) -> None:
    """Whichever side evaluates, the receiver reads the same with the sender holding every channel and
    without it: no lock either way (the evaluation takes and reads none), no shared namespace."""
    during, after = _probe_twice(backends, dirs, pair, evaluation == "sender", evaluation == "receiver")
    assert during == after, (during, after)
    assert not any(during[k] for k in NAMESPACED), during


@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
def test_control_file_locks_pass_between_two_experiments(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path], pair: tuple[str, str]) -> None:
    """Without the lock filter on either side the host-file lock channel is real (so the test above can
    fail), across backends too; the namespaced channels stay closed even then."""
    during, after = _probe_twice(backends, dirs, pair, False, False)
    assert during["record_lock"] == HELD["record_lock"] and during["flock"] == "busy", during  # the bits got across
    assert after["record_lock"][0] == 2 and after["flock"] == "free", after  # F_UNLCK: nothing held
    assert not any(during[k] for k in NAMESPACED), during


@pytest.mark.parametrize("name", ["bwrap", "docker"])
def test_control_probes_see_a_sender_in_the_same_sandbox(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path], name: str) -> None:
    """Every probe detects a sender that shares its namespaces: the receiver's False is not a broken probe."""
    args = _args(secrets.token_hex(8))
    command = (f"python3 sender.py {args} > /tmp/sender.out & "
               "until grep -q holding /tmp/sender.out 2>/dev/null; do sleep 0.02; done; "
               f"python3 receiver.py {args}; kill %1")
    assert _seen(backends(name), _request(dirs, command, False)) == HELD


# --------------------------------------------------------------------------- forbid_threads



@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="filter known for x86_64/aarch64")
@pytest.mark.parametrize("forbid", [True, False], ids=["forbidden", "allowed"])
@pytest.mark.parametrize("name", ["bwrap", "docker"])
def test_forbid_threads_stops_threads_not_processes(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path], name: str, forbid: bool) -> None:
    """A timed evaluation that forbids threads: pthread_create fails (clone with CLONE_VM/CLONE_THREAD gets
    EPERM), while fork, posix_spawn (CLONE_VM|CLONE_VFORK), subprocess and bash pipelines still work."""
    from autolab_mcp.core.sandbox.seccomp import _ABIS

    command = (f"python3 threads.py {'forbidden' if forbid else 'allowed'} {_ABIS[platform.machine()].clone} 2>&1; "
               "echo pipeline $(seq 3 | sort -r | head -1) $(echo sub)")
    r = backends(name).run(_request(dirs, command, True, forbid_threads=forbid))
    assert r.exit_code == 0, r.output_tail
    out = r.output_tail
    for line in ("subprocess 0", "fork 7", "posix_spawn 5", "pipeline 3 sub"):
        assert line in out, out
    if forbid:
        assert "thread refused: can't start new thread" in out and "thread ran" not in out, out
        assert "clone vm -1 Operation not permitted" in out, out
        assert "clone thread -1 Operation not permitted" in out, out
    else:
        assert "thread ran" in out and "refused" not in out, out


WATCHES = r"""
import ctypes, fcntl, os
libc = ctypes.CDLL(None, use_errno=True)
for name in ("inotify_init", "inotify_init1"):
    if hasattr(libc, name):
        r = getattr(libc, name)(0) if name == "inotify_init1" else getattr(libc, name)()
        print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "")
r = libc.fanotify_init(0, 0)
print("fanotify_init", r, os.strerror(ctypes.get_errno()) if r < 0 else "")
fd = os.open("/usr/bin", os.O_RDONLY)
try:
    fcntl.fcntl(fd, 1026, 0x80000001)  # F_NOTIFY, DN_ACCESS | DN_MULTISHOT
    print("dnotify set")
except OSError as e:
    print("dnotify", e.strerror)
"""


@pytest.mark.parametrize("evaluation", [False, True], ids=["experiment", "evaluation"])
@pytest.mark.parametrize("name", ["bwrap", "docker"])
def test_no_sandbox_may_watch_files(backends: Callable[[str], Any], dirs: Callable[[int | None], Path],
                                    name: str, evaluation: bool) -> None:
    """inotify, fanotify and dnotify fail with EPERM in every sandbox, so no experiment can watch the
    shared host files an evaluation opens. The control: on the host, inotify works."""
    if not ROOT:
        pytest.skip("the seccomp program is installed in root mode")
    libc = __import__("ctypes").CDLL(None, use_errno=True)
    host_fd = libc.inotify_init1(0)
    assert host_fd >= 0, "the control: inotify works outside a sandbox"
    os.close(host_fd)
    workspace_request = _request(dirs, "python3 watches.py 2>&1", evaluation)
    (workspace_request.workspace / "watches.py").write_text(WATCHES)
    r = backends(name).run(workspace_request)
    assert r.exit_code == 0, r.output_tail
    out = r.output_tail
    assert "inotify_init1 -1 Operation not permitted" in out, out
    assert "fanotify_init -1 Operation not permitted" in out, out
    assert "dnotify Operation not permitted" in out and "dnotify set" not in out, out
    if platform.machine() == "x86_64":
        assert "inotify_init -1 Operation not permitted" in out, out


def test_docker_never_runs_the_command_unfiltered(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A filter the kernel refuses (a jump past the end) stops pid 1 before the command, with a reason."""
    from autolab_mcp.core.sandbox.docker import SECCOMP_FAILED_EXIT

    backend = backends("docker")
    bad = bytes([0x15, 0, 9, 9, 0, 0, 0, 0])  # JEQ with both jumps out of the program: EINVAL
    monkeypatch.setattr(backend, "_program", lambda request: bad)
    r = backend.run(_request(dirs, "echo the command ran", True))
    assert r.exit_code == SECCOMP_FAILED_EXIT, r.output_tail
    assert "could not install the seccomp filter" in r.output_tail and "the command ran" not in r.output_tail


def test_docker_pid1_is_closed_to_the_command(
        backends: Callable[[str], Any], dirs: Callable[[int | None], Path]) -> None:
    """pid 1 (the launcher) runs as the command's uid but is non-dumpable: no ptrace, no /proc/1/environ,
    on any host (Yama's ptrace_scope would stop only the first, and only where it is enabled)."""
    ptrace = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
              "r = libc.ptrace(16, 1, 0, 0); print('ptrace', r, os.strerror(ctypes.get_errno()))")
    r = backends("docker").run(_request(dirs, f'python3 -c "{ptrace}"; cat /proc/1/environ; ls /proc/1/root', False))
    assert r.exit_code != 0 and "ptrace -1 Operation not permitted" in r.output_tail, r.output_tail
    assert r.output_tail.count("Permission denied") == 2, r.output_tail

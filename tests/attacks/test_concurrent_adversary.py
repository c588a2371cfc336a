"""Attacks by a concurrent adversary: a *second* episode that runs experiments while the first is evaluated.

A burner inside the evaluated episode proves little (its experiments are frozen for the evaluation), so
here the adversary is episode B, evaluated never, running what it likes on the host while episode A calls
get_metric or submit; both are real episodes over MCP (in-memory client), with real scorer processes and
real sandboxes. The task is `spin_timed` (tests/fixtures/tasks/spin_timed), a synthetic "faster" task whose
evaluation takes seconds. What each test proves:

a. cpusets: B's burner widens its affinity to every CPU (sched_setaffinity), gets only the work cores, and
   spins on all of them while A's unchanged baseline is scored 5 times: at most 1 of 5 credited (the false
   credit rule under load); A's own burner is frozen meanwhile.
b. the same during submit: no credit, and A's own experiments are cancelled.
c. the demonstrated attack, a lock-synchronized burner: A's candidate holds an flock on /etc/passwd while
   it runs, B burns only while the lock is free (the baseline's runs). B sees the candidate's lock when it
   runs as an experiment (the channel is real) but never during the evaluation (locks are faked there).
d. hidden-input channels: during get_metric A's candidate publishes a marker and its hidden input's first
   bytes through record locks, OFD locks, flocks, /dev/shm, SysV shm, an abstract socket and /tmp; B's
   concurrent probe sees exactly what it sees with A idle, while it does see the locks of A's candidate
   run as an experiment (the positive control).
e. fresh final inputs: two episodes' submits commit to different seeds, and answers memorized from A's
   final input (computed here with the scorer's seed secret) fail B's quality gate, though the scorer
   credits them on A's own input (so the test can fail).

(a) and (d) run on the backend of the pass (`make test` runs tests/attacks once more with docker); the
others only in the bwrap pass, to keep this file's CI time small.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest
from mcp import Client

from autolab_mcp.core.cores import timing_core, work_cores
from autolab_mcp.core.sandbox.isolation import isolation_gaps
from autolab_mcp.core.taskspec import load_task
from autolab_mcp.episode import Episode
from scorer.harness import load_evaluate_module
from scorer.seeds import evaluation_seed, load_or_create_secret, seed_commitment
from tests.attacks.helpers import assert_consistent, run
from tests.helpers import DEFAULT_TEST_BACKEND, REPO, connect, tool

pytestmark = pytest.mark.anyio

FIXTURE = REPO / "tests" / "fixtures" / "tasks" / "spin_timed"


@pytest.fixture(scope="session")
def spin_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the spin_timed fixture (the scorer seals a task's tests/ and solution/ when it serves it)."""
    root = tmp_path_factory.mktemp("tasks") / "spin_timed"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(root.parent, 0o755)
    return root


@pytest.fixture(scope="session")
def hidden(spin_root: Path) -> ModuleType:
    """spin_timed's tests/evaluate.py, loaded as the scorer loads it."""
    return load_evaluate_module(load_task(spin_root))


def backend_for(passes: str, *, isolated: bool = True) -> str:
    """`both`: the pass's backend (bwrap, or docker in the attack suite's docker pass); `bwrap`: bwrap only.
    Skips where this host cannot isolate evaluations (no root, no cpuset or freezer): there is nothing
    to prove, and the scorer marks such results `weak isolation` (tests/sandbox/test_bwrap.py covers it)."""
    if passes == "bwrap" and DEFAULT_TEST_BACKEND != "bwrap":
        pytest.skip("runs in the bwrap pass only (CI time)")
    backend = DEFAULT_TEST_BACKEND if passes == "both" else "bwrap"
    if isolated and backend == "bwrap" and (gaps := isolation_gaps("bwrap")):
        pytest.skip(f"this host cannot isolate evaluations: {'; '.join(gaps)}")
    return backend


def baseline_source(root: Path) -> str:
    return (root / "environment" / "solve.py").read_text()


def python_command(script: str, *args: str) -> str:
    """`python - ARGS` reading the script from a here-document (the workspace's solve.py stays the candidate)."""
    assert "\nPY\n" not in script
    return f"python - {' '.join(args)} <<'PY'\n{script}\nPY"


def score_record(episode: Episode, job_id: str) -> dict[str, Any]:
    """The signed record of one feedback call, from events.jsonl."""
    return next(e["record"] for e in episode.log.read() if e["kind"] == "score" and e.get("job") == job_id)


def experiment_log(episode: Episode, info: dict[str, Any]) -> str:
    return (episode.run_dir / info["log_file"]).read_text(errors="replace")


async def wait_for_output(client: Client, exp_id: str, pattern: str, timeout: float = 60) -> dict[str, Any]:
    """Poll an experiment until its output matches `pattern` (it must still be running)."""
    deadline = time.monotonic() + timeout
    while True:
        info = await tool(client, "experiment_status", {"id": exp_id})
        if re.search(pattern, info.get("output_tail") or ""):
            return info
        assert info["status"] == "running", f"the experiment ended before printing {pattern!r}: {info}"
        assert time.monotonic() < deadline, f"no {pattern!r} after {timeout:g} s: {info}"
        await anyio.sleep(0.1)


def last_number(text: str, pattern: str) -> int:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else -1


async def still_pending(client: Client, job_id: str) -> bool:
    result = await client.call_tool("score_status", {"id": job_id, "wait_sec": 0})
    assert not result.is_error, result.content
    return (result.structured_content or {}).get("status") == "pending"


async def cancel(client: Client, exp_id: str) -> dict[str, Any]:
    return await tool(client, "cancel_experiment", {"id": exp_id})


# --------------------------------------------------------------------------- the adversaries' programs

#: Episode B's burner: widen the affinity to every CPU, record what it got, then spin on every CPU it may
#: use (one pinned child each) and print a tick every 0.25 s.
BURNER = r'''
import json, os, time

report = {"before": sorted(os.sched_getaffinity(0)), "cpu_count": os.cpu_count()}
try:
    os.sched_setaffinity(0, range(os.cpu_count()))
    report["widen"] = "accepted"
except OSError as exc:
    report["widen"] = "refused errno %d" % exc.errno
report["after"] = sorted(os.sched_getaffinity(0))
report["pin_refused"] = []
for cpu in range(os.cpu_count()):
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        report["pin_refused"].append(cpu)
os.sched_setaffinity(0, report["after"])
with open("/proc/self/status") as status:
    report["cpus_allowed"] = [line.split(":", 1)[1].strip() for line in status
                              if line.startswith("Cpus_allowed_list")][0]
print("affinity " + json.dumps(report), flush=True)
for cpu in report["after"]:
    if os.fork() == 0:
        os.sched_setaffinity(0, {cpu})
        x = 1
        while True:
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
ticks = 0
while True:
    time.sleep(0.25)
    ticks += 1
    print("tick %d" % ticks, flush=True)
'''

#: Episode A's own burner: a spinner with a progress counter (frozen while A is evaluated).
OWN_BURNER = r'''
import time
n, last = 0, time.monotonic()
while True:
    n += 1
    if time.monotonic() - last > 0.2:
        last = time.monotonic()
        print("own %d" % n, flush=True)
'''

#: Episode B's lock-synchronized burner: spin while /etc/passwd's flock is free (the baseline runs),
#: idle while someone holds it (the candidate runs); counts what it saw.
LOCK_WATCHER = r'''
import fcntl, time
free = held = 0
last = time.monotonic()
with open("/etc/passwd", "rb") as handle:
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held += 1
            time.sleep(0.002)
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            free += 1
            end = time.monotonic() + 0.01
            while time.monotonic() < end:
                pass
        if time.monotonic() - last > 0.2:
            last = time.monotonic()
            print("watch free=%d held=%d" % (free, held), flush=True)
'''

#: Prepended to the baseline: the candidate holds a shared flock on /etc/passwd for its whole run.
LOCK_HOLDER = '''import fcntl as _fcntl

_LOCK = open("/etc/passwd", "rb")
_fcntl.flock(_LOCK, _fcntl.LOCK_SH)
'''

MARKER = "AUTOLAB-LEAK-MARKER-5EC7"
MARK_OFFSET = 770_000
SHM_KEY = 0x4C45414B
#: /usr is the host's in both backends; /etc/passwd and /etc/group are the host's in bwrap, podman's own per
#: container in docker
FLOCK_FILES = ("/usr/bin/env", "/etc/passwd", "/etc/group", "/usr/bin/bash", "/usr/bin/ls")
OFD_FILE = "/usr/bin/cat"
GETLK_FILES = ("/etc/passwd", "/usr/bin/env", OFD_FILE)
HEAD_BYTES = 16

#: Prepended to the baseline (whose main() still runs): publish the marker and the input's first bytes
#: through every shared object we could think of, hold them HOLD seconds after answering.
PUBLISHER = f'''import ctypes as _ctypes
import fcntl as _fcntl
import os as _os
import socket as _socket
import struct as _struct
import time as _time

_MARKER = {MARKER.encode()!r}
_FLOCK_FILES = {FLOCK_FILES!r}


def _lock(handle, cmd, start, length):
    _fcntl.fcntl(handle, cmd, _struct.pack("hhqqi", _fcntl.F_RDLCK, 0, start, length, 0))


def publish(path):
    with open(path, "rb") as source:
        head = source.read({HEAD_BYTES})
    payload = _MARKER + b":" + head.hex().encode()
    held, done = [], []
    for name in ("/etc/passwd", "/usr/bin/env"):
        try:
            handle = open(name, "rb")
            held.append(handle)
            _lock(handle, _fcntl.F_SETLK, {MARK_OFFSET}, 7)
            for index, value in enumerate(head):
                _lock(handle, _fcntl.F_SETLK, 4096 + 256 * index + value, 1)
            done.append("setlk")
        except OSError:
            pass
    try:
        handle = open({OFD_FILE!r}, "rb")
        held.append(handle)
        _lock(handle, 37, {MARK_OFFSET}, 7)  # F_OFD_SETLK
        for index, value in enumerate(head):
            _lock(handle, 37, 4096 + 256 * index + value, 1)
        done.append("ofd")
    except OSError:
        pass
    for bit, name in enumerate(_FLOCK_FILES):
        if bit == 0 or head[0] >> (bit - 1) & 1:
            try:
                handle = open(name, "rb")
                _fcntl.flock(handle, _fcntl.LOCK_SH)
                held.append(handle)
                done.append("flock")
            except OSError:
                pass
    for name in ("/dev/shm/autolab-leak", "/tmp/autolab-leak"):
        try:
            with open(name, "wb") as out:
                out.write(payload)
            done.append(name)
        except OSError:
            pass
    try:
        libc = _ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = _ctypes.c_void_p
        ident = libc.shmget({SHM_KEY}, 4096, 0o1666)
        address = libc.shmat(ident, None, 0) if ident >= 0 else None
        if address and address != _ctypes.c_void_p(-1).value:
            _ctypes.memmove(address, payload, len(payload))
            done.append("sysv")
    except OSError:
        pass
    for name in (b"\\0autolab-leak", b"\\0autolab-leak-" + head.hex().encode()):
        try:
            server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            server.bind(name)
            server.listen(4)
            held.append(server)
            done.append("abstract")
        except OSError:
            pass
    print("published " + " ".join(done), flush=True)
    return held


def hold():
    _time.sleep(float(_os.environ.get("HOLD", "0.3")))


'''

#: Episode B's probe: everything a sandbox shares with others (or might), polled every 10 ms; each new
#: observation is printed once as `seen ...`.
PROBE = f'''
import ctypes, fcntl, os, socket, struct, sys, time

GETLK_FILES = {GETLK_FILES!r}
FLOCK_FILES = {FLOCK_FILES!r}
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p


def observe():
    seen = set()
    for name in GETLK_FILES:
        if not os.path.exists(name):
            continue
        with open(name, "rb") as handle:
            start = 0
            for _ in range(64):
                got = fcntl.fcntl(handle, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, start, 0, 0))
                kind, _whence, where, length, _pid = struct.unpack("hhqqi", got)
                if kind == fcntl.F_UNLCK:
                    break
                seen.add("getlk %s %d %d" % (name, where, length))
                if length == 0:
                    break
                start = where + length
    for name in FLOCK_FILES:
        if not os.path.exists(name):
            continue
        with open(name, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except BlockingIOError:
                seen.add("flock busy " + name)
    with open("/proc/locks") as locks:  # any inode; only ranges like the publisher's (the host's own locks vary)
        for line in locks:
            parts = line.split()
            start = int(parts[-2]) if parts[-2].isdigit() else -1
            if start == {MARK_OFFSET} or 4096 <= start < 4096 + 256 * {HEAD_BYTES}:
                seen.add("proc-locks " + " ".join(parts[1:4] + parts[5:]))
    for folder in ("/dev/shm", "/tmp"):
        for entry in os.listdir(folder):
            try:
                with open(os.path.join(folder, entry), "rb") as handle:
                    seen.add("file %s/%s %r" % (folder, entry, handle.read(100)))
            except OSError:
                seen.add("file %s/%s" % (folder, entry))
    with open("/proc/sysvipc/shm") as shm:
        for line in shm.readlines()[1:]:
            seen.add("sysv " + " ".join(line.split()[:3]))
    ident = libc.shmget({SHM_KEY}, 0, 0)
    if ident >= 0:
        address = libc.shmat(ident, None, 0o10000)
        seen.add("sysv-key %r" % ctypes.string_at(address, 64))
    with open("/proc/net/unix") as unix:
        for line in unix.readlines()[1:]:
            parts = line.split()
            if len(parts) >= 8:
                seen.add("unix " + parts[-1])
    for name in (b"\\0autolab-leak",):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.connect(name)
            seen.add("connected %r" % name)
        except OSError:
            pass
        finally:
            client.close()
    return seen


known = set()
print("probe up", flush=True)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    for item in sorted(observe() - known):
        known.add(item)
        print("seen " + item, flush=True)
    time.sleep(0.01)
print("probe done", flush=True)
'''


def with_prelude(root: Path, prelude: str, *, before_main: str = "", after_main: str = "") -> str:
    """The baseline solve.py with `prelude` at the top and calls around its main()."""
    source = baseline_source(root)
    call = '    main(sys.argv)\n'
    assert source.count(call) == 1
    source = source.replace(call, f"{before_main}{call}{after_main}")
    head, rest = source.split("from __future__ import annotations\n", 1)
    return f"{head}from __future__ import annotations\n\n{prelude}{rest}"


def publisher_candidate(root: Path) -> str:
    return with_prelude(root, PUBLISHER, before_main="    _HELD = publish(sys.argv[1])\n",
                        after_main="    hold()\n")


def observations(text: str) -> set[str]:
    return {line[5:] for line in text.splitlines() if line.startswith("seen ")}


# --------------------------------------------------------------------------- the task itself


async def test_spin_timed_reference_beats_its_baseline_through_the_scorer(make_episode, spin_root):
    """The fixture is a sound faster task: it loads, and its reference is credited against its baseline."""
    task = load_task(spin_root)
    assert (task.axis, task.needs_timing_core) == ("faster", True)
    episode = make_episode(str(spin_root), backend=backend_for("bwrap", isolated=False))
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "solve.py",
                                          "content": (spin_root / "solution" / "solve.py").read_text()})
        check = await run(client, "python check.py")
        assert check["exit_code"] == 0 and check["output_tail"].startswith("OK: 8 chains exact"), check
        metric = await tool(client, "get_metric")
    assert metric["valid"] and metric["reason"] == "all checkpoints exact", metric
    assert metric["verdict"].startswith("faster"), metric
    assert metric["score"] > 0.5, metric  # normalized: the reference scores about 1
    assert metric["candidate_sec"] * 1.5 < metric["baseline_sec"], metric
    record = next(e["record"] for e in episode.log.read() if e["kind"] == "score")
    assert record["timing"]["credited"] and record["timing"]["speedup"] > 1.5, record["timing"]
    assert record["eval_seconds"] < 30, record["eval_seconds"]  # cheap enough to call many times


# --------------------------------------------------------------------------- a, b: burners in episode B


async def start_burner(client: Client) -> tuple[str, dict[str, Any]]:
    """Start B's burner; returns its id and what it got when it widened its affinity."""
    started = await tool(client, "run_experiment", {"command": python_command(BURNER), "timeout_sec": 170,
                                                    "wait_sec": 0.2})
    info = await wait_for_output(client, started["id"], r"(?s)affinity \{.*tick 2\b")
    report = json.loads(re.search(r"affinity (\{.*\})", info["output_tail"]).group(1))  # type: ignore[union-attr]
    return started["id"], report


def assert_kept_off_the_timing_core(report: dict[str, Any]) -> None:
    core, work = timing_core(), work_cores()
    assert work is not None
    assert core not in report["after"], report  # widening to every CPU did not reach the timing core
    assert report["after"] == work and report["before"] == work, report
    assert core in report["pin_refused"], report  # pinning itself onto it is refused outright
    allowed = set()  # the kernel's own view, e.g. "0" or "0-2,4"
    for part in report["cpus_allowed"].split(","):
        first, _, last = part.partition("-")
        allowed.update(range(int(first), int(last or first) + 1))
    assert allowed == set(work), report


async def test_burner_in_another_episode_earns_no_credit_during_get_metric(make_episode, spin_root):
    backend = backend_for("both")
    if work_cores() is None:
        pytest.skip("a single core: there is no timing core to keep free")
    a = make_episode(str(spin_root), backend=backend)
    b = make_episode(str(spin_root), backend=backend)
    async with connect(a) as ca, connect(b) as cb:
        burner, report = await start_burner(cb)
        assert_kept_off_the_timing_core(report)
        own = (await tool(ca, "run_experiment", {"command": python_command(OWN_BURNER), "timeout_sec": 170,
                                                 "wait_sec": 0.5}))["id"]
        scores, frozen_checks = [], 0
        for _ in range(5):
            ticks_before = last_number((await tool(cb, "experiment_status", {"id": burner}))["output_tail"],
                                       r"tick (\d+)")
            job = (await ca.call_tool("get_metric", {"wait_sec": 0})).structured_content
            assert job["status"] == "pending", job
            await anyio.sleep(0.4)
            mine = await tool(ca, "experiment_status", {"id": own})
            theirs = await tool(cb, "experiment_status", {"id": burner})
            if await still_pending(ca, job["id"]):  # so both reads above fell within the evaluation
                assert mine["frozen"] and mine["status"] == "running", mine  # A's own burner waits...
                assert not theirs["frozen"] and theirs["status"] == "running", theirs  # ...B's does not
                frozen_checks += 1
            metric = await tool(ca, "score_status", {"id": job["id"], "wait_sec": 50})
            assert metric["valid"], metric
            ticks_after = last_number((await tool(cb, "experiment_status", {"id": burner}))["output_tail"],
                                      r"tick (\d+)")
            assert ticks_after > ticks_before + 2, "B's burner ran all through A's evaluation"
            record = score_record(a, job["id"])
            assert record["isolation"] == "strong", record["isolation_gaps"]
            scores.append((metric["score"], record["timing"]["lower_bound"], record["timing"]["speedup"]))
        assert frozen_checks >= 3, frozen_checks
        still = await tool(cb, "experiment_status", {"id": burner})
        assert still["status"] == "running" and still["frozen_sec"] == 0, still
        mine = await cancel(ca, own)
        theirs = await cancel(cb, burner)
        # A's burner sat frozen through five evaluations (about 2 s each); it was never charged for it
        assert mine["frozen_sec"] > 5, mine
        assert mine["killed_by"] == "cancel" and theirs["killed_by"] == "cancel"
        await assert_consistent(ca, a, experiments_used=1, score_calls=5)
        await assert_consistent(cb, b, experiments_used=1, score_calls=0)
    credited = [s for s in scores if s[0] > 0]
    assert len(credited) <= 1, f"an unchanged candidate was credited in {len(credited)} of 5 calls: {scores}"


async def test_burner_in_another_episode_earns_no_credit_during_submit(make_episode, spin_root):
    backend = backend_for("bwrap")
    if work_cores() is None:
        pytest.skip("a single core: there is no timing core to keep free")
    a = make_episode(str(spin_root), backend=backend)
    b = make_episode(str(spin_root), backend=backend)
    async with connect(a) as ca, connect(b) as cb:
        burner, report = await start_burner(cb)
        assert_kept_off_the_timing_core(report)
        own = (await tool(ca, "run_experiment", {"command": python_command(OWN_BURNER), "timeout_sec": 170,
                                                 "wait_sec": 0.5}))["id"]
        ticks_before = last_number((await tool(cb, "experiment_status", {"id": burner}))["output_tail"],
                                   r"tick (\d+)")
        final = await tool(ca, "submit")
        ticks_after = last_number((await tool(cb, "experiment_status", {"id": burner}))["output_tail"],
                                  r"tick (\d+)")
        mine = await tool(ca, "experiment_status", {"id": own})
        theirs = await cancel(cb, burner)
    assert ticks_after > ticks_before + 2, "B's burner ran all through A's final evaluation"
    assert mine["status"] == "killed" and mine["killed_by"] == "cancel", mine  # a submit cancels A's own runs
    assert theirs["frozen_sec"] == 0, theirs
    assert final["valid"] and final["score"] == 0, final
    document = json.loads((a.run_dir / "result.json").read_text())
    assert not document["record"]["timing"]["credited"], document["record"]["timing"]
    assert document["record"]["isolation"] == "strong", document["record"]["isolation_gaps"]


# --------------------------------------------------------------------------- c: the lock-synchronized burner


async def test_lock_synchronized_burner_cannot_see_the_candidate_run(make_episode, spin_root):
    backend = backend_for("bwrap")
    a = make_episode(str(spin_root), backend=backend)
    b = make_episode(str(spin_root), backend=backend)
    candidate = with_prelude(spin_root, LOCK_HOLDER)
    async with connect(a) as ca, connect(b) as cb:
        await tool(ca, "write_file", {"path": "solve.py", "content": candidate})
        watcher = (await tool(cb, "run_experiment", {"command": python_command(LOCK_WATCHER), "timeout_sec": 170,
                                                     "wait_sec": 0.2}))["id"]
        await wait_for_output(cb, watcher, r"watch free=\d+ held=0")

        async def held() -> int:
            await anyio.sleep(0.5)  # a full report period
            return last_number((await tool(cb, "experiment_status", {"id": watcher}))["output_tail"],
                               r"held=(\d+)")

        # positive control: the candidate run as an experiment holds a real lock, and B sees it
        control = await run(ca, "for i in 1 2 3; do python check.py || exit 1; done")
        assert control["exit_code"] == 0, control
        seen_in_control = await held()
        assert seen_in_control > 0, "the watcher cannot see another sandbox's flock: this test proves nothing"
        results = []
        for _ in range(2):
            before = await held()
            metric = await tool(ca, "get_metric")
            after = await held()
            results.append((metric, before, after))
        await cancel(cb, watcher)
        await assert_consistent(ca, a, experiments_used=1, score_calls=2)
    for metric, before, after in results:
        assert metric["valid"], metric
        # six candidate runs of 0.2 s each held the lock during the evaluation; B saw none of them
        assert after == before, f"B saw the candidate's lock during the evaluation ({before} -> {after})"
        assert metric["score"] == 0, metric


# --------------------------------------------------------------------------- d: hidden-input channels


async def test_candidate_cannot_publish_its_hidden_input_to_another_episode(make_episode, spin_root, hidden):
    backend = backend_for("both")
    a = make_episode(str(spin_root), backend=backend)
    b = make_episode(str(spin_root), backend=backend)
    async with connect(a) as ca, connect(b) as cb:
        await tool(ca, "write_file", {"path": "solve.py", "content": publisher_candidate(spin_root)})

        async def probe_while(action: Any) -> str:
            started = (await tool(cb, "run_experiment", {"command": python_command(PROBE, "150"),
                                                         "timeout_sec": 170, "wait_sec": 0.2}))["id"]
            await wait_for_output(cb, started, r"probe up")
            await anyio.sleep(0.3)
            result = await action()
            info = await tool(cb, "experiment_status", {"id": started})
            assert info["status"] == "running", "the probe ended before the action did"
            info = await cancel(cb, started)
            return result, experiment_log(b, info)

        async def idle() -> None:
            await anyio.sleep(1.5)

        _, idle_log = await probe_while(idle)
        baseline_view = observations(idle_log)

        # positive control: the publisher run as an *experiment* of A; its locks reach B's probe
        control = (await tool(ca, "run_experiment", {"command": "HOLD=6 python check.py", "timeout_sec": 60,
                                                     "wait_sec": 0.2}))["id"]
        published = await wait_for_output(ca, control, r"published .*\n")

        async def glance() -> None:
            await anyio.sleep(1.5)

        _, control_log = await probe_while(glance)
        await tool(ca, "experiment_status", {"id": control, "wait_sec": 30})
        control_view = observations(control_log) - baseline_view
        assert f"getlk /usr/bin/env {MARK_OFFSET} 7" in control_view, (published["output_tail"], control_view)
        assert f"getlk {OFD_FILE} {MARK_OFFSET} 7" in control_view, control_view  # the OFD lock
        assert "flock busy /usr/bin/env" in control_view, control_view
        for what in ("setlk", "ofd", "flock", "sysv", "abstract", "/dev/shm/autolab-leak"):
            assert what in published["output_tail"], published  # every publication itself succeeded

        # the attack: the same publisher during A's get_metric; B probes all the while
        async def evaluate() -> dict[str, Any]:
            return await tool(ca, "get_metric")

        metric, during_log = await probe_while(evaluate)
        await assert_consistent(ca, a, experiments_used=1, score_calls=1)
    assert metric["valid"], metric  # the publisher ran (before answering) in every one of its runs
    record = next(e["record"] for e in a.log.read() if e["kind"] == "score")
    seed = evaluation_seed(load_or_create_secret(), "spin_timed", record["request_id"], "feedback")
    assert record["seed_sha256"] == seed_commitment(seed)  # so this is A's hidden input:
    head = hidden.input_text(hidden.hidden_chains(seed)).encode()[:HEAD_BYTES]
    leaked = observations(during_log) - baseline_view
    assert not leaked, f"B saw something new while A was evaluated: {sorted(leaked)}"
    for secret in (MARKER, head.hex(), head.decode(), head.decode().split()[0]):
        assert secret not in during_log, secret
    assert not any(f" {4096 + 256 * i + v} 1" in during_log for i, v in enumerate(head))


# --------------------------------------------------------------------------- e: fresh final inputs


def tar_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


REPLAY = '''"""Replays memorized answers, whatever the input."""

import sys

ANSWERS = """{answers}"""

with open(sys.argv[2], "w") as out:
    out.write(ANSWERS)
'''


async def test_answers_memorized_from_another_episode_fail_the_final_gate(make_episode, spin_root, hidden, scorers):
    backend = backend_for("bwrap")
    a = make_episode(str(spin_root), backend=backend)
    b = make_episode(str(spin_root), backend=backend)
    async with connect(a) as ca:
        first = await tool(ca, "submit")
    assert first["valid"], first
    record_a = json.loads((a.run_dir / "result.json").read_text())["record"]
    seed_a = evaluation_seed(load_or_create_secret(), "spin_timed", record_a["request_id"], "final")
    assert record_a["seed_sha256"] == seed_commitment(seed_a)  # the test knows A's final input exactly
    answers = "".join(f"{line}\n" for line in hidden.expected_lines(hidden.hidden_chains(seed_a)))
    replay = REPLAY.format(answers=answers)

    # positive control: on A's input (its run id, as a resumed A would be scored) the replay is exact and,
    # doing no work, far faster than the baseline
    scorer = scorers.get(load_task(spin_root), backend)
    control = (await anyio.to_thread.run_sync(lambda: scorer.client.evaluate(
        "final", tar_of({"solve.py": replay}), request_id=f"{a.meta.run_id}/replay"))).record
    assert control.seed_sha256 == record_a["seed_sha256"]
    assert control.valid and control.score > 0, control

    async with connect(b) as cb:
        await tool(cb, "write_file", {"path": "solve.py", "content": replay})
        second = await tool(cb, "submit")
    record_b = json.loads((b.run_dir / "result.json").read_text())["record"]
    assert record_b["seed_sha256"] != record_a["seed_sha256"], "two episodes got the same final inputs"
    assert not second["valid"] and second["score"] == 0, second
    assert second["reason"] == "candidate: answers.txt: wrong checkpoint", second

"""Attack family: a concurrent adversary in a second episode, running while the first is scored.

Demonstrated before the fixes: a "burner" experiment moved itself onto the timing core and spun
whenever a file lock the candidate held was free (so only during the baseline's timed runs): the
unchanged baseline was credited 1.3-1.5x. Here, on a small synthetic faster task (`spin`: a hidden
loop count drawn per run, about 0.2 s of work), episode B runs a burner that
- widens its CPU affinity to every CPU (a cpuset must keep it off the timing core),
- spins whenever a flock on a shared host file is free (the candidate of episode A holds it while it
  runs: with the lock filter, B never sees it held),
- and polls /dev/shm, /tmp and an abstract socket for what A's candidate publishes of its hidden input,
while episode A asks for get_metric five times and submits. A's candidate is the baseline plus the
lock and the publishing: it must earn no credit (at most 1 in 5 calls: the credit rule's CI check
under load), and nothing of its input may reach B. Finally B submits the reference: credited, with a
seed commitment different from A's (fresh inputs per run).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autolab_mcp.cores import timing_core
from bench.spin_task import BASELINE, REFERENCE, write_spin_task
from tests.conftest import connect, tool

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: A's candidate: the baseline, plus a flock held while it runs and its hidden input published everywhere
LEAKY_BASELINE = """\
import fcntl, os, socket, sys
lock = open(os.path.realpath("/usr/bin/python3"), "rb")
fcntl.flock(lock, fcntl.LOCK_EX)  # held while the candidate runs: a burner elsewhere would spin now
secret = open(sys.argv[1]).read().strip()
for path in ("/dev/shm/autolab-leak", "/tmp/autolab-leak"):
    try:
        open(path, "w").write("LEAK" + secret)
    except OSError:
        pass
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\\0autolab-leak-" + secret)
    s.listen(1)
except OSError:
    pass
""" + BASELINE

BURNER = """\
import fcntl, glob, os, socket, time
try:
    os.sched_setaffinity(0, range(os.cpu_count()))
except OSError as e:
    print("setaffinity refused", e)
affinity = sorted(os.sched_getaffinity(0))
lock = open(os.path.realpath("/usr/bin/python3"), "rb")
busy = 0
found = set()
deadline = time.monotonic() + {seconds}
report = 0.0
while time.monotonic() < deadline:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_UN)
        end = time.monotonic() + 0.01
        while time.monotonic() < end:  # the lock is free: the baseline runs (so the attack hoped): spin
            pass
    except BlockingIOError:
        busy += 1
        time.sleep(0.005)
    for path in glob.glob("/dev/shm/*") + glob.glob("/tmp/autolab-leak*"):
        found.add(path + "=" + open(path).read()[:40])
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        if "autolab-leak" in line:
            found.add(line.split()[-1])
    if time.monotonic() > report:
        print("affinity", affinity, "busy", busy, "found", sorted(found), flush=True)
        report = time.monotonic() + 1
"""


@pytest.fixture(scope="module")
def spin_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spin_task(tmp_path_factory.mktemp("tasks") / "spin")


async def test_a_burner_in_another_episode_earns_an_unchanged_candidate_nothing(make_episode, spin_task):
    victim = make_episode(str(spin_task))
    adversary = make_episode(str(spin_task))
    async with connect(victim) as a, connect(adversary) as b:
        burner = await tool(b, "run_experiment", {"command": "python3 -c " + _quote(BURNER.format(seconds=240)),
                                                  "timeout_sec": 280, "wait_sec": 1})
        assert burner["status"] == "running", burner
        await tool(a, "write_file", {"path": "solve.py", "content": LEAKY_BASELINE})
        metrics = [await tool(a, "get_metric") for _ in range(5)]
        final = await tool(a, "submit")
        seen = await tool(b, "experiment_status", {"id": burner["id"], "wait_sec": 0})
        await tool(b, "cancel_experiment", {"id": burner["id"]})
        await tool(b, "write_file", {"path": "solve.py", "content": REFERENCE})
        honest = await tool(b, "submit")
    assert all(m["valid"] for m in metrics), metrics
    credited = [m for m in metrics if m["score"] > 0]
    assert len(credited) <= 1, [(m["score"], m["verdict"]) for m in metrics]  # the CI check: <= 1 in 5
    assert final["valid"] and final["score"] == 0, final
    out = seen["output_tail"]
    last = [line for line in out.splitlines() if line.startswith("affinity")][-1]
    cpus = [int(c) for c in last.split("[", 1)[1].split("]", 1)[0].split(", ")]
    assert timing_core() not in cpus, last  # the cpuset held: no way onto the timing core
    assert last.endswith("busy 0 found []"), last  # the lock never looked held; nothing was published
    assert "LEAK" not in out
    # fresh inputs: the two runs' final splits come from different secret seeds
    records = [_final_record(e) for e in (victim, adversary)]
    assert records[0]["seed_sha256"] and records[0]["seed_sha256"] != records[1]["seed_sha256"]
    assert honest["valid"] and honest["score"] > 0.5, honest  # the task's reference beats its baseline
    assert records[1]["timing"]["credited"]


def _quote(script: str) -> str:
    import shlex

    return shlex.quote(textwrap.dedent(script))


def _final_record(episode) -> dict:
    import json

    return json.loads((episode.run_dir / "result.json").read_text())["record"]

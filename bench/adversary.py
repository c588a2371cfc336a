"""6. False credit under a concurrent adversary: an unchanged candidate scored while another episode burns CPU.

Two `autolab-mcp serve` processes over stdio, each with its own scorer, on the same timed task, as
under `eval --parallel 2`. Episode B runs a burner experiment that widens its affinity to every CPU
(sched_setaffinity: a cpuset must keep it off the timing core; what it got is reported) and spins on
every CPU it may use; episode A, unchanged (the baseline itself), calls get_metric N times meanwhile
(a burner that ends, at the task's experiment time limit, is started again). Rows:

- `burner`: the above;
- `lock-synchronized burner` (full mode): the attack demonstrated before the fixes. A's candidate is the
  baseline holding a shared flock on /usr/bin/env while it runs, and B spins only while that lock is
  free, so only during the baseline's runs if it could see the lock (evaluation sandboxes fake locks);
  how many times B saw it held during A's calls is reported (0 expected);
- `none`: the same calls with no burner, side by side.

Reported: how many calls credited a speedup (x of N; the target is 0 of 20 with a burner) with an exact
Clopper-Pearson 95% interval of the false-credit rate, and the median measured speedup. The credit rule:
the one-sided 99% lower bound of the ratio above 1.02 (scorer/timing.py).

Tasks: spin_timed (tests/fixtures/tasks/spin_timed, about 2-3 s per call). edit_distance (20-50 s per
call, so about 15 minutes for the burner row alone) is opt-in: `AUTOLAB_BENCH_ADVERSARY_TASKS=spin_timed,
edit_distance make bench BENCH_ARGS="--only adversary"`, or on its own:
`python -m bench.adversary --task edit_distance [--calls 20] [--rows burner,none]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, md_table, scratch, serve_stdio_params, setup_environment

SPIN_TIMED = REPO / "tests" / "fixtures" / "tasks" / "spin_timed"
TASKS_ENV = "AUTOLAB_BENCH_ADVERSARY_TASKS"
LOCK_FILE = "/usr/bin/env"  # the host's inode in every sandbox of both backends

BURNER = r'''
import json, os, time
os.sched_setaffinity(0, range(os.cpu_count()))
cpus = sorted(os.sched_getaffinity(0))
print("affinity " + json.dumps(cpus), flush=True)
for cpu in cpus:
    if os.fork() == 0:
        os.sched_setaffinity(0, {cpu})
        x = 1
        while True:
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
while True:
    time.sleep(1)
'''

LOCK_BURNER = r'''
import fcntl, json, os, time
os.sched_setaffinity(0, range(os.cpu_count()))
print("affinity " + json.dumps(sorted(os.sched_getaffinity(0))), flush=True)
held = 0
last = time.monotonic()
with open(LOCK_FILE, "rb") as handle:
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held += 1
            time.sleep(0.002)
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            end = time.monotonic() + 0.01
            while time.monotonic() < end:
                pass
        if time.monotonic() - last > 0.2:
            last = time.monotonic()
            print("held %d" % held, flush=True)
'''.replace("LOCK_FILE", repr(LOCK_FILE))

LOCK_PRELUDE = f'''import fcntl as _fcntl

_LOCK = open("{LOCK_FILE}", "rb")
_fcntl.flock(_LOCK, _fcntl.LOCK_SH)
'''


# --------------------------------------------------------------------------- statistics


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _bisect_p(k: int, n: int, target: float) -> float:
    """The p in [0, 1] with binomial_cdf(k, n, p) == target (the CDF falls as p grows)."""
    low, high = 0.0, 1.0
    for _ in range(100):
        mid = (low + high) / 2
        if binomial_cdf(k, n, mid) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial rate from k successes in n trials, without scipy:
    lower = the p with P(X >= k) = alpha/2, upper = the p with P(X <= k) = alpha/2."""
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0 (got k={k}, n={n})")
    alpha = 1 - level
    low = 0.0 if k == 0 else _bisect_p(k - 1, n, 1 - alpha / 2)
    high = 1.0 if k == n else _bisect_p(k, n, alpha / 2)
    return low, high


# --------------------------------------------------------------------------- episodes


async def _call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        raise RuntimeError(f"{name}: {' '.join(getattr(c, 'text', '') for c in result.content)}")
    out = result.structured_content or {}
    while name in ("get_metric", "submit", "score_status") and out.get("status") == "pending":
        out = await _call(client, "score_status", {"id": out["id"], "wait_sec": 50})
    return out


def _python(script: str) -> str:
    return f"python - <<'PY'\n{script}\nPY"


class Burner:
    """B's burner experiment, restarted whenever it has ended (the task's experiment time limit)."""

    def __init__(self, client: Client, script: str) -> None:
        self.client = client
        self.script = script
        self.exp_id: str | None = None
        self.affinity: list[int] | None = None
        self.held_before = 0  # lock sightings counted by experiments that have ended

    async def ensure(self) -> None:
        if self.exp_id is not None:
            info = await _call(self.client, "experiment_status", {"id": self.exp_id})
            if info["status"] == "running":
                return
            self.held_before += _last_int(info.get("output_tail") or "", r"held (\d+)")
        started = await _call(self.client, "run_experiment", {"command": _python(self.script), "wait_sec": 0.5})
        self.exp_id = started["id"]
        deadline = time.monotonic() + 60
        while True:
            info = await _call(self.client, "experiment_status", {"id": self.exp_id})
            found = re.search(r"affinity (\[[\d, ]*\])", info.get("output_tail") or "")
            if found:
                self.affinity = json.loads(found.group(1))
                return
            if info["status"] != "running" or time.monotonic() > deadline:
                raise RuntimeError(f"the burner did not start: {info}")
            await anyio.sleep(0.1)

    async def held(self) -> int:
        """Lock sightings so far (the lock-synchronized burner), after one full report period."""
        await anyio.sleep(0.3)
        assert self.exp_id is not None
        info = await _call(self.client, "experiment_status", {"id": self.exp_id})
        return self.held_before + max(0, _last_int(info.get("output_tail") or "", r"held (\d+)"))

    async def stop(self) -> None:
        if self.exp_id is not None:
            await _call(self.client, "cancel_experiment", {"id": self.exp_id})


def _last_int(text: str, pattern: str) -> int:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else 0


def _task_root(name: str, work: Path) -> Path:
    """spin_timed is a test fixture: served from a scratch copy (a scorer seals tests/ and solution/)."""
    if name != "spin_timed":
        from autolab_mcp.core.taskdirs import find_task

        return find_task(name).root
    root = work / "tasks" / "spin_timed"
    if not root.exists():
        shutil.copytree(SPIN_TIMED, root, ignore=shutil.ignore_patterns("__pycache__"))
        os.chmod(root.parent, 0o755)
    return root


def _lock_holding_baseline(root: Path) -> str:
    source = (root / "environment" / "solve.py").read_text()
    head, rest = source.split("from __future__ import annotations\n", 1)
    return f"{head}from __future__ import annotations\n\n{LOCK_PRELUDE}{rest}"


async def credits(task: str, adversary: str, calls: int, work: Path) -> dict[str, Any]:
    """One row: A's unchanged candidate scored `calls` times while B runs `adversary` (burner, lock, none)."""
    root = _task_root(task, work)
    tag = f"{task}-{adversary}"
    victim, victim_log = serve_stdio_params(root, work / "runs" / tag, work / f"{tag}-victim.log")
    attacker, attacker_log = serve_stdio_params(root, work / "runs" / tag, work / f"{tag}-adversary.log")
    t0 = time.monotonic()
    seen_held = None
    with victim_log, attacker_log:
        async with Client(victim, read_timeout_seconds=300) as a, Client(attacker, read_timeout_seconds=300) as b:
            burner = None
            if adversary != "none":
                burner = Burner(b, LOCK_BURNER if adversary == "lock" else BURNER)
            if adversary == "lock":
                if task != "spin_timed":
                    raise ValueError("the lock-synchronized row is made for spin_timed's solve.py")
                await _call(a, "write_file", {"path": "solve.py", "content": _lock_holding_baseline(root)})
                seen_held = 0
            metrics = []
            for _ in range(calls):
                if burner is not None:
                    await burner.ensure()
                before = await burner.held() if adversary == "lock" and burner else 0
                metrics.append(await _call(a, "get_metric", {}))
                if adversary == "lock" and burner is not None:
                    seen_held = (seen_held or 0) + await burner.held() - before
            affinity = burner.affinity if burner is not None else None
            if burner is not None:
                await burner.stop()
    credited = sum(1 for m in metrics if (m.get("score") or 0) > 0)
    low, high = clopper_pearson(credited, calls)
    speedups = [float(s.group(1)) for m in metrics if (s := re.search(r"([\d.]+)x", m.get("verdict") or ""))]
    return {"task": task, "adversary": adversary, "calls": calls, "credited": credited,
            "ci95": [round(low, 3), round(high, 3)], "valid": sum(1 for m in metrics if m.get("valid")),
            "median_speedup": round(statistics.median(speedups), 3) if speedups else None,
            "max_speedup": round(max(speedups), 3) if speedups else None,
            "burner_cpus": affinity, "lock_seen_held": seen_held, "seconds": round(time.monotonic() - t0, 1)}


def _tasks() -> list[str]:
    return [t.strip() for t in os.environ.get(TASKS_ENV, "spin_timed").split(",") if t.strip()]


async def run(quick: bool = False, tasks: list[str] | None = None, calls: int | None = None,
              rows: list[str] | None = None) -> dict[str, Any]:
    from autolab_mcp.core.cores import timing_core

    work = scratch("adversary")
    calls = calls or (10 if quick else 20)
    out: list[dict[str, Any]] = []
    for task in tasks or _tasks():
        wanted = rows or (["burner", "none"] if quick or task != "spin_timed" else ["burner", "lock", "none"])
        for adversary in wanted:
            out.append(await credits(task, adversary, calls, work))
    core = timing_core()
    targets = []
    for row in out:
        if row["adversary"] == "none":
            continue
        what = "a burner" if row["adversary"] == "burner" else "a lock-synchronized burner"
        met = row["credited"] == 0 and core not in (row["burner_cpus"] or [])
        if row["adversary"] == "lock":
            met = met and row["lock_seen_held"] == 0
        targets.append({"name": f"{row['task']}: unchanged candidate credited faster with {what} in another episode "
                                f"(target 0 of {row['calls']}, never on the timing core)",
                        "value": f"{row['credited']} of {row['calls']} (95% CI {row['ci95'][0]:.3f}-"
                                 f"{row['ci95'][1]:.3f}); burner on cpus {row['burner_cpus']}, timing core {core}"
                                 + (f"; lock seen held {row['lock_seen_held']} times"
                                    if row["adversary"] == "lock" else ""),
                        "met": met})
    return {"rows": out, "timing_core": core, "targets": targets}


def render(result: dict[str, Any]) -> str:
    return "\n".join([
        "### 6. False credit under a concurrent adversary", "",
        "An unchanged candidate (the baseline) scored repeatedly by get_metric while a burner runs in a second "
        "episode (bench/adversary.py); target: 0 of 20 credited; exact (Clopper-Pearson) 95% interval of the "
        f"false-credit rate. Timing core: {result['timing_core']}.", "",
        md_table(["task", "adversary", "calls", "valid", "credited", "95% interval of the rate", "median speedup",
                  "max speedup", "burner cpus", "lock seen held", "s"],
                 [[r["task"], r["adversary"], r["calls"], r["valid"], r["credited"],
                   f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}", r["median_speedup"], r["max_speedup"],
                   r["burner_cpus"], r["lock_seen_held"], r["seconds"]] for r in result["rows"]]),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", help="spin_timed (default) or edit_distance; repeatable")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rows", default="", help="comma-separated: burner,lock,none (default: all that apply)")
    args = parser.parse_args(argv)
    setup_environment()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] or None
    result = anyio.run(lambda: run(False, args.task, args.calls, rows))
    print(render(result))
    for target in result["targets"]:
        print(f"- {target['name']}: {target['value']} — {'met' if target['met'] else 'NOT MET'}")
    return 0 if all(t["met"] for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())

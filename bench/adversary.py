"""6. False credit under a concurrent adversary: an unchanged candidate scored while another episode burns CPU.

Two stdio servers on the synthetic `spin` task (bench/spin_task.py). Episode B runs a burner
experiment that widens its affinity to every CPU and spins (a cpuset keeps it off the timing core);
episode A, unchanged (the baseline itself), calls get_metric N times meanwhile. Reported: how many
calls credited a speedup (x of N, target 0 of 20), with a Clopper-Pearson 95% interval, and, side
by side, the same count with no burner. The credit rule: one-sided 99% lower bound of the ratio
above 1.02 (scorer/timing.py).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from mcp import Client

from bench.common import md_table, scratch, serve_stdio_params
from bench.spin_task import write_spin_task

BURNER = """\
import os, time
try:
    os.sched_setaffinity(0, range(os.cpu_count()))
except OSError:
    pass
children = []
for cpu in sorted(os.sched_getaffinity(0))[1:]:
    pid = os.fork()
    if pid == 0:
        break
    children.append(pid)
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline:
    pass
"""


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval for k successes in n, by bisection on the binomial CDF (no scipy)."""
    alpha = 1 - level

    def solve(target: float, at: int) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if _binomial_cdf(at, n, mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(1 - alpha / 2, k - 1)
    high = 1.0 if k == n else solve(alpha / 2, k)
    return low, high


async def _call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        raise RuntimeError(f"{name}: {' '.join(getattr(c, 'text', '') for c in result.content)}")
    out = result.structured_content or {}
    while name in ("get_metric", "submit") and out.get("status") == "pending":
        out = await _call(client, "score_status", {"id": out["id"], "wait_sec": 50})
    return out


async def _credits(work: Path, calls: int, burner: bool) -> dict[str, Any]:
    task = write_spin_task(work / "tasks" / "spin", score_calls=calls + 2)
    victim, victim_log = serve_stdio_params(task, work / "runs", work / "victim.log")
    adversary, adversary_log = serve_stdio_params(task, work / "runs", work / "adversary.log")
    with victim_log, adversary_log:
        async with Client(victim, read_timeout_seconds=300) as a, Client(adversary, read_timeout_seconds=300) as b:
            started = None
            if burner:
                started = await _call(b, "run_experiment", {
                    "command": "python3 -c " + shlex.quote(BURNER.format(seconds=calls * 30)),
                    "timeout_sec": 300, "wait_sec": 1})
            metrics = [await _call(a, "get_metric", {}) for _ in range(calls)]
            if started is not None:
                await _call(b, "cancel_experiment", {"id": started["id"]})
    credited = sum(1 for m in metrics if m.get("score", 0) > 0)
    low, high = clopper_pearson(credited, calls)
    return {"burner": burner, "calls": calls, "credited": credited, "ci95": [round(low, 3), round(high, 3)],
            "valid": sum(1 for m in metrics if m.get("valid"))}


async def run(quick: bool = False) -> dict[str, Any]:
    work = scratch("adversary")
    calls = 10 if quick else 20
    rows = [await _credits(work / "burner", calls, True), await _credits(work / "quiet", calls, False)]
    with_burner = rows[0]
    targets = [{"name": f"unchanged candidate credited with a burner in another episode (target 0 of {calls})",
                "value": f"{with_burner['credited']} of {calls}", "met": with_burner["credited"] == 0}]
    return {"rows": rows, "targets": targets}


def render(result: dict[str, Any]) -> str:
    return "\n".join([
        "### 6. False credit under a concurrent adversary", "",
        "An unchanged `spin` candidate, get_metric repeatedly, with and without a CPU burner in a second "
        "episode (see bench/adversary.py); 95% Clopper-Pearson interval of the false-credit rate.", "",
        md_table(["burner", "calls", "valid", "credited", "95% interval of the rate"],
                 [["yes" if r["burner"] else "no", r["calls"], r["valid"], r["credited"],
                   f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}"] for r in result["rows"]]),
    ])

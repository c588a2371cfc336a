"""5. Agent pacing: episodes driven like an LLM agent drives them, and scoring behind a held timing core.

a. Eight HTTP clients share one served episode; each starts one long experiment (`sleep S; echo
   ok`, wait_sec=1), all go quiet for longer than the async runtime keeps an idle worker thread
   (~10 s), then poll. Before the fix 6 of 8 died at ~10 s. Reported: how many finished with
   their output, and whether the ledger is exact (compute used == the sum of the seconds each
   run reported, nothing reserved, experiments == 8).
b. One stdio episode with a 45 s experiment, a 30 s silence, then polls.
c. get_metric latency while another episode's evaluation holds the host's timing core for H s:
   on a task that measures time (it queues; the call answers `pending` within wait_sec and
   score_status delivers, the queue wait is credited back) and on a pure counting task (no
   queue at all). Both measured side by side in this run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench.common import http_server, http_transport, md_table, scratch, serve_stdio_params

Row = dict[str, Any]


async def _call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        raise RuntimeError(f"{name}: {' '.join(getattr(c, 'text', '') for c in result.content)}")
    return result.structured_content or {}


def _ledger_exact(budget: dict[str, Any], runs: list[dict[str, Any]]) -> bool:
    charged = sum(r["seconds"] for r in runs)
    return (budget["compute_sec"]["reserved"] == 0 and abs(budget["compute_sec"]["used"] - charged) < 0.01
            and budget["experiments"]["used"] == len(runs))


async def eight_http_clients(work: Path, sleep_sec: float, idle_sec: float) -> Row:
    from autolab_mcp.core.taskdirs import find_task

    task = find_task("sorting_network").root
    runs: list[dict[str, Any]] = []
    async with http_server(task, work / "runs", work / "server.log") as (url, token, _pid):

        async def one(i: int) -> None:
            transport, http = http_transport(url, token)
            async with http, Client(transport, read_timeout_seconds=120) as client:
                started = await _call(client, "run_experiment", {"command": f"sleep {sleep_sec:g}; echo ok-{i}",
                                                                 "timeout_sec": sleep_sec + 30,
                                                                 "wait_sec": 1})
                await anyio.sleep(idle_sec)
                runs.append(await _call(client, "experiment_status", {"id": started["id"], "wait_sec": 50}))

        t0 = time.monotonic()
        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(one, i)
        elapsed = time.monotonic() - t0
        transport, http = http_transport(url, token)
        async with http, Client(transport, read_timeout_seconds=60) as client:
            budget = await _call(client, "remaining_budget", {})
    ok = sum(1 for r in runs if r["status"] == "finished" and r["output_tail"].startswith("ok-"))
    return {"case": f"8 HTTP clients, one `sleep {sleep_sec:g}` each, {idle_sec:g} s silent", "runs": len(runs),
            "finished_with_output": ok, "killed": sum(1 for r in runs if r["status"] == "killed"),
            "ledger_exact": _ledger_exact(budget, runs), "seconds": round(elapsed, 1)}


async def long_stdio_experiment(work: Path, sleep_sec: float, idle_sec: float) -> Row:
    from autolab_mcp.core.taskdirs import find_task

    transport, errlog = serve_stdio_params(find_task("sorting_network").root, work / "runs", work / "server.log")
    t0 = time.monotonic()
    with errlog:
        async with Client(transport, read_timeout_seconds=120) as client:
            started = await _call(client, "run_experiment", {"command": f"sleep {sleep_sec:g}; echo ok",
                                                             "wait_sec": 1})
            await anyio.sleep(idle_sec)
            info = started
            polls = 0
            while info["status"] == "running":
                info = await _call(client, "experiment_status", {"id": started["id"], "wait_sec": 50})
                polls += 1
            budget = await _call(client, "remaining_budget", {})
    return {"case": f"stdio, one `sleep {sleep_sec:g}`, {idle_sec:g} s silent", "runs": 1,
            "finished_with_output": int(info["status"] == "finished" and info["output_tail"] == "ok\n"),
            "killed": int(info["status"] == "killed"), "ledger_exact": _ledger_exact(budget, [info]),
            "seconds": round(time.monotonic() - t0, 1), "polls": polls}


def _hold_core(seconds: float, held: threading.Event) -> threading.Thread:
    from autolab_mcp.core.cores import lease_timing_core

    def hold() -> None:
        with lease_timing_core():
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


async def metric_behind_held_core(work: Path, hold_sec: float) -> list[Row]:
    """get_metric on a timed copy of sorting_network and on sorting_network itself, core held by 'another
    episode' for hold_sec from just before each call."""
    import shutil

    from autolab_mcp.core.taskdirs import find_task

    source = find_task("sorting_network").root
    timed = work / "sorting_network_timed"
    shutil.copytree(source, timed, dirs_exist_ok=True)
    toml = timed / "task.toml"
    toml.write_text(toml.read_text().replace("[autolab]\n", "[autolab]\ntiming_core = true\n", 1))
    rows = []
    for label, root in (("measures time (leases the core)", timed), ("pure counting (no core)", source)):
        transport, errlog = serve_stdio_params(root, work / f"runs-{root.name}", work / f"{root.name}.log")
        with errlog:
            async with Client(transport, read_timeout_seconds=120) as client:
                await _call(client, "get_metric", {})  # warm: the scorer's first evaluation
                held = threading.Event()
                holder = _hold_core(hold_sec, held)
                held.wait(10)
                t0 = time.monotonic()
                first = await _call(client, "get_metric", {"wait_sec": 30})
                first_answer = time.monotonic() - t0
                result, polls = first, 0
                while result["status"] == "pending":
                    result = await _call(client, "score_status", {"id": first["id"], "wait_sec": 50})
                    polls += 1
                scored = time.monotonic() - t0
                holder.join()
        rows.append({"task": label, "core_held_sec": hold_sec, "first_answer_sec": round(first_answer, 2),
                     "first_status": first["status"], "scored_after_sec": round(scored, 2), "polls": polls,
                     "queued_sec": result["queued_sec"]})
    return rows


async def run(quick: bool = False) -> dict[str, Any]:
    work = scratch("pacing")
    for sub in ("http8", "long", "metric"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    if quick:
        sleep8, idle8, sleep45, idle45, hold = 12.0, 11.0, 15.0, 11.0, 35.0
    else:
        sleep8, idle8, sleep45, idle45, hold = 15.0, 12.0, 45.0, 30.0, 40.0
    episodes = [await eight_http_clients(work / "http8", sleep8, idle8),
                await long_stdio_experiment(work / "long", sleep45, idle45)]
    metric = await metric_behind_held_core(work / "metric", hold)
    targets = [
        {"name": "every experiment of an idle agent finishes with its output",
         "value": ", ".join(f"{e['finished_with_output']}/{e['runs']}" for e in episodes),
         "met": all(e["finished_with_output"] == e["runs"] for e in episodes)},
        {"name": "budgets exact after agent-paced episodes", "value": str([e["ledger_exact"] for e in episodes]),
         "met": all(e["ledger_exact"] for e in episodes)},
        {"name": "get_metric answers within 50 s while the core is held",
         "value": ", ".join(f"{r['first_answer_sec']:.1f} s" for r in metric),
         "met": all(r["first_answer_sec"] <= 50 for r in metric)},
    ]
    return {"episodes": episodes, "metric": metric, "targets": targets}


def render(result: dict[str, Any]) -> str:
    lines = ["### 5. Agent pacing", "",
             "a/b. Long experiments, then silence longer than an idle worker thread lives (see bench/pacing.py).",
             "", md_table(["case", "runs", "finished with output", "killed", "ledger exact", "s"],
                          [[e["case"], e["runs"], e["finished_with_output"], e["killed"],
                            "yes" if e["ledger_exact"] else "**no**", e["seconds"]] for e in result["episodes"]]),
             "", "c. get_metric while another episode's evaluation holds the timing core "
             f"({result['metric'][0]['core_held_sec']:g} s), side by side:", "",
             md_table(["task", "first answer s", "first status", "scored after s", "polls", "queued_sec"],
                      [[r["task"], r["first_answer_sec"], r["first_status"], r["scored_after_sec"], r["polls"],
                        r["queued_sec"]] for r in result["metric"]])]
    return "\n".join(lines)

"""4. Scale: K concurrent episodes, each with a steady stream of tool calls and small experiments.

All K episodes live in this one process, each behind its own in-memory MCP client (one event
loop, one GIL; a deployment would run one server process per episode, see the idle stdio server
below). Each episode runs two workers at once for a fixed time: one cycles through read_file,
remaining_budget and apply_patch; the other runs `run_experiment("true")` back to back. After
the run, every episode's ledger is checked against what the tools reported: experiments
charged == experiments run, sum of the seconds each run reported == compute used (to the 1 ms
each report is rounded to), nothing left reserved.

Memory: this process's RSS before and after opening K episodes (per episode = the difference
/ K), and the RSS of one idle `autolab-mcp serve` stdio process (and of the scorer process it
starts) after one call.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from bench.common import (
    PY,
    REPO,
    bench_task,
    children,
    cmdline,
    md_table,
    patch_pair,
    percentile,
    pss_mb,
    rss_mb,
    scratch,
    serve_stdio_params,
)


async def idle_server_memory(task_root: Any, work: Any) -> dict[str, Any]:
    """RSS of an idle stdio server (and its scorer) after initialize + one tool call."""
    from mcp import Client

    transport, errlog = serve_stdio_params(task_root, work / "runs-idle", work / "idle-server.log")
    try:
        t0 = time.perf_counter()
        async with Client(transport, read_timeout_seconds=120) as client:
            ready = time.perf_counter() - t0
            await client.call_tool("remaining_budget", {})
            await client.call_tool("read_file", {"path": "small.txt"})
            await anyio.sleep(1.0)
            server = next((p for p in children(os.getpid()) if "autolab_mcp.cli serve" in cmdline(p)), None)
            if server is None:
                return {"error": "server process not found"}
            scorer = next((p for p in children(server) if "-m scorer" in cmdline(p)), None)
            return {
                "startup_sec": ready, "server_rss_mb": rss_mb(server), "server_pss_mb": pss_mb(server),
                "scorer_rss_mb": rss_mb(scorer) if scorer else None,
                "scorer_pss_mb": pss_mb(scorer) if scorer else None,
            }
    finally:
        errlog.close()


async def _open_idle(k: int, task_root: Path, work: Path) -> dict[str, Any]:
    """In a fresh process: RSS after imports, then with K idle episodes behind in-memory clients."""
    from mcp import Client

    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import Episode
    from autolab_mcp.server import build_server

    task = load_task(task_root)
    backend = BwrapBackend()
    warm = Episode.create(task, work, backend=backend, scorer=None)  # first-use costs (runtime lookup, caches)
    async with Client(build_server(warm)) as client:
        await client.call_tool("remaining_budget", {})
    warm.close()
    gc.collect()
    before = rss_mb()
    episodes = [Episode.create(task, work, backend=backend, scorer=None) for _ in range(k)]
    async with contextlib.AsyncExitStack() as stack:
        for ep in episodes:
            client = await stack.enter_async_context(Client(build_server(ep)))
            await client.call_tool("remaining_budget", {})
            await client.call_tool("read_file", {"path": "small.txt"})
        gc.collect()
        after = rss_mb()
    for ep in episodes:
        ep.close()
    return {"k": k, "rss_before_mb": before, "rss_after_mb": after, "per_episode_mb": (after - before) / k}


def episode_memory(k: int, task_root: Path, work: Path) -> dict[str, Any]:
    """Per-episode RSS of idle in-memory episodes, measured in a fresh interpreter (no earlier garbage)."""
    done = subprocess.run([PY, "-m", "bench.scale", "--memory-probe", str(k), str(task_root), str(work)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        return {"k": k, "error": done.stderr[-1000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


async def run_k(k: int, seconds: float, task_root: Any, work: Any) -> dict[str, Any]:
    from mcp import Client

    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import Episode
    from autolab_mcp.server import build_server

    task = load_task(task_root)
    backend = BwrapBackend()
    forward, back = patch_pair()
    gc.collect()
    rss_before = rss_mb()
    episodes = [Episode.create(task, work / f"runs-k{k}", backend=backend, scorer=None) for _ in range(k)]
    tool_lat: list[float] = []
    exp_lat: list[float] = []
    per_episode: list[dict[str, Any]] = [{"experiments": 0, "seconds": [], "tool_calls": 0} for _ in range(k)]
    errors: list[str] = []
    peak = {"rss": 0.0}
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(build_server(ep), read_timeout_seconds=300))
                   for ep in episodes]
        for client in clients:
            await client.call_tool("remaining_budget", {})
        gc.collect()
        rss_idle = rss_mb()
        deadline = time.monotonic() + seconds

        async def tools(i: int) -> None:
            client, n = clients[i], 0
            while time.monotonic() < deadline:
                step = n % 4
                if step == 0:
                    name, args = "read_file", {"path": "small.txt"}
                elif step == 1:
                    name, args = "remaining_budget", {}
                else:  # forward, then back: every patch applies, every one records a snapshot
                    name, args = "apply_patch", {"patch": forward if step == 2 else back}
                t0 = time.perf_counter()
                result = await client.call_tool(name, args)
                tool_lat.append(time.perf_counter() - t0)
                if result.is_error:
                    errors.append(f"{name}: {result.content}")
                n += 1
            per_episode[i]["tool_calls"] = n

        async def experiments(i: int) -> None:
            client = clients[i]
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                result = await client.call_tool("run_experiment", {"command": "true", "wait_sec": 50})
                exp_lat.append(time.perf_counter() - t0)
                info = result.structured_content or {}
                if result.is_error or info.get("status") != "finished":
                    errors.append(f"run_experiment: {result.content}")
                    continue
                per_episode[i]["experiments"] += 1
                per_episode[i]["seconds"].append(info["seconds"])

        async def sample_rss() -> None:
            while time.monotonic() < deadline:
                peak["rss"] = max(peak["rss"], rss_mb())
                await anyio.sleep(0.25)

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample_rss)
            for i in range(k):
                tg.start_soon(tools, i)
                tg.start_soon(experiments, i)
        elapsed = time.monotonic() - started

        # budgets: what each episode's tools reported vs its ledger
        exact = True
        worst_seconds_gap = 0.0
        for i, (client, ep) in enumerate(zip(clients, episodes, strict=True)):
            budget = (await client.call_tool("remaining_budget", {})).structured_content or {}
            ledger = json.loads((ep.run_dir / "budget.json").read_text())
            runs = per_episode[i]["experiments"]
            reported = sum(per_episode[i]["seconds"])
            gap = abs(ledger["compute_used"] - reported)
            worst_seconds_gap = max(worst_seconds_gap, gap)
            ok = (ledger["experiments_used"] == runs and budget["experiments"]["used"] == runs
                  and not ledger["reservations"] and budget["compute_sec"]["reserved"] == 0
                  and gap <= 0.0005 * runs + 1e-9)
            per_episode[i]["ledger_ok"] = ok
            exact = exact and ok
    for ep in episodes:
        ep.close()
    calls = len(tool_lat) + len(exp_lat)
    return {
        "k": k, "seconds": round(elapsed, 2), "calls": calls, "calls_per_sec": calls / elapsed,
        "tool_calls": len(tool_lat), "tool_p50_ms": percentile(tool_lat, 50) * 1000,
        "tool_p99_ms": percentile(tool_lat, 99) * 1000,
        "experiments": len(exp_lat), "experiments_per_sec": len(exp_lat) / elapsed,
        "exp_p50_ms": percentile(exp_lat, 50) * 1000, "exp_p99_ms": percentile(exp_lat, 99) * 1000,
        "all_p99_ms": percentile(tool_lat + exp_lat, 99) * 1000,
        "rss_before_mb": rss_before, "rss_idle_mb": rss_idle, "rss_peak_mb": max(peak["rss"], rss_idle),
        "budgets_exact": exact, "worst_compute_gap_sec": worst_seconds_gap, "errors": errors[:5],
        "error_count": len(errors),
    }


async def run(quick: bool = False) -> dict[str, Any]:
    ks = [1, 4] if quick else [1, 4, 16]
    seconds = 3.0 if quick else 10.0
    work = scratch("scale")
    task_root = bench_task()
    idle = await idle_server_memory(task_root, work)
    memory = [episode_memory(k, task_root, work / f"memory-k{k}") for k in ks]
    rows = [await run_k(k, seconds, task_root, work) for k in ks]
    for row, mem in zip(rows, memory, strict=True):
        row["memory_probe"] = mem
    targets = []
    if "server_rss_mb" in idle:
        targets.append({"name": "idle stdio episode server < 80 MB RSS", "value": f"{idle['server_rss_mb']:.1f} MB "
                        f"(+ its scorer process {idle['scorer_rss_mb'] or 0:.1f} MB)",
                        "met": idle["server_rss_mb"] < 80})
    targets.append({"name": "budgets exact under concurrency (every K)",
                    "value": ", ".join(f"K={r['k']}: {'exact' if r['budgets_exact'] else 'MISMATCH'}" for r in rows),
                    "met": all(r["budgets_exact"] for r in rows)})
    return {"config": {"ks": ks, "seconds_per_k": seconds}, "idle_server": idle, "rows": rows, "targets": targets,
            "notes": ["K episodes share one process and one event loop here (in-memory clients); calls/s is "
                      "that process's ceiling, not a per-server limit"]}


def render(result: dict[str, Any]) -> str:
    cfg = result["config"]
    out = [f"### 4. Scale ({cfg['seconds_per_k']:g} s per K; K episodes in one process, in-memory clients)", ""]
    out.append(md_table(
        ["K", "calls/s", "tool p50 ms", "tool p99 ms", "experiments/s", "exp p50 ms", "exp p99 ms", "all p99 ms",
         "RSS/idle episode MB", "process RSS peak MB", "budgets exact", "errors"],
        [[r["k"], r["calls_per_sec"], r["tool_p50_ms"], r["tool_p99_ms"], r["experiments_per_sec"], r["exp_p50_ms"],
          r["exp_p99_ms"], r["all_p99_ms"], r["memory_probe"].get("per_episode_mb"), r["rss_peak_mb"],
          r["budgets_exact"], r["error_count"]] for r in result["rows"]]))
    out += ["", "RSS per idle episode: a fresh interpreter opens K episodes behind in-memory clients (one call "
                "each); (RSS after - RSS before) / K. Process RSS peak: this benchmark process during the load."]
    idle = result["idle_server"]
    if "server_rss_mb" in idle:
        out += ["", f"Idle stdio episode server (after initialize and two calls): RSS {idle['server_rss_mb']:.1f} MB "
                    f"(PSS {idle['server_pss_mb']:.1f} MB); the scorer process it starts: RSS "
                    f"{idle['scorer_rss_mb'] or 0:.1f} MB (PSS {idle['scorer_pss_mb'] or 0:.1f} MB). Start-up "
                    f"(spawn to initialized, scorer included): {idle['startup_sec']:.2f} s."]
    out += [f"- {n}" for n in result["notes"]]
    return "\n".join(out)


if __name__ == "__main__":  # the memory probe runs in its own interpreter
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-probe":
        from bench.common import setup_environment

        setup_environment()
        print(json.dumps(anyio.run(_open_idle, int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        print("usage: python -m bench.scale --memory-probe K TASK_ROOT WORK_DIR", file=sys.stderr)
        sys.exit(2)

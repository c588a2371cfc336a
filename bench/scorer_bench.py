"""3. Scorer: per-call overhead, timing stability, false speedups, and a known 2x.

a. get_metric overhead (sorting_network): `get_metric` through MCP (in-memory client, real scorer
   process over its unix socket) vs `evaluate_submission` called directly in this process vs the
   evaluation sandbox runs' own durations (from the scorer's record).
b. Timing stability: the coefficient of variation of repeated baseline timings of sort_u32 and
   edit_distance under the scorer's method: `EvalContext.run(pin=True)` (fresh sandbox and fresh
   workspace copy per run, pinned to the scorer's timing core, no CPU quota), on the hidden
   feedback input at full size.
c. False speedups: `EvalContext.time_pair` (one warm-up each, interleaved pairs, bootstrap 95% CI,
   credited only when the lower bound is above 1) with a candidate identical to the baseline,
   repeated; how often a speedup is credited. This runs on a reduced input (stated in the output)
   to fit the time budget: shorter runs carry relatively more fixed start-up noise, so this is
   the harder case for the verdict, not the easier one.
d. A known 2x: edit_distance's baseline program on both sides, the "baseline" side given the
   hidden batch twice over (exactly twice the DP work: the same pairs, repeated) and the
   "candidate" side the batch once, through the same interleaved-pairs method. The fixed cost
   (sandbox, interpreter start, reading the file) does not double, so the exact expectation is
   (2*t1 - s) / t1 with t1 the single-batch time and s the empty-input time; both are measured
   and shown next to the nominal 2.

b-d reach into each task's tests/evaluate.py (its hidden-input generator, COMMAND, build()); if a task
changed shape the part is skipped with a note rather than failing the whole run.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from autolab_mcp.core.cores import timing_core
from bench.common import cv, md_table, scratch, summary_ms
from bench.scorer_rigs import PROBES, RIGS, TaskRig


async def get_metric_overhead(work: Path, calls: int) -> dict[str, Any]:
    import json

    from mcp import Client

    from autolab_mcp.core.runtime import ensure_runtime
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskdirs import find_task
    from autolab_mcp.episode import Episode
    from autolab_mcp.scorer_client import ScorerProcess
    from autolab_mcp.server import build_server
    from scorer.evaluate import evaluate_submission

    task = find_task("sorting_network")
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    scorer = ScorerProcess(task.root, "bwrap", eval_timeout=600)
    t0 = time.perf_counter()
    scorer.start()
    scorer_start = time.perf_counter() - t0
    episode = Episode.create(task, work / "runs", backend=BwrapBackend(), scorer=scorer)
    mcp_times: list[float] = []
    try:
        async with Client(build_server(episode), read_timeout_seconds=600) as client:
            for i in range(calls + 1):
                t0 = time.perf_counter()
                result = await client.call_tool("get_metric", {})
                elapsed = time.perf_counter() - t0
                if result.is_error or not (result.structured_content or {}).get("valid"):
                    raise RuntimeError(f"get_metric failed: {result.content}")
                if i:  # the first call warms the scorer (imports, runtime lookup)
                    mcp_times.append(elapsed)
        records = [json.loads(line)["record"] for line in (episode.run_dir / "events.jsonl").read_text().splitlines()
                   if json.loads(line)["kind"] == "score"][1:]
        _, archive = episode.workspace.freeze()
    finally:
        episode.close()
        scorer.stop()
    backend = BwrapBackend()
    runtime = ensure_runtime(task.config.environment.requirements)
    direct_times: list[float] = []
    direct_records = []
    for i in range(calls + 1):
        t0 = time.perf_counter()
        record = evaluate_submission(task, "feedback", archive, backend=backend, runtime=runtime,
                                     cpu=timing_core(), scratch_root=work)
        elapsed = time.perf_counter() - t0
        if not record.valid:
            raise RuntimeError(f"evaluate_submission invalid: {record.reason}")
        if i:
            direct_times.append(elapsed)
            direct_records.append(record.model_dump())
    run_sums = [sum(r["duration_sec"] for r in rec["runs"]) for rec in records]
    direct_run_sums = [sum(r["duration_sec"] for r in rec["runs"]) for rec in direct_records]
    eval_secs = [rec["eval_seconds"] for rec in records]
    p50 = statistics.median
    return {
        "calls": calls,
        "scorer_start_sec": round(scorer_start, 3),
        "get_metric": summary_ms(mcp_times),
        "evaluate_submission": summary_ms(direct_times),
        "scorer_eval_seconds": summary_ms(eval_secs),
        "sandbox_runs_via_get_metric": summary_ms(run_sums),
        "sandbox_runs_direct": summary_ms(direct_run_sums),
        "runs_per_eval": len(records[0]["runs"]) if records else 0,
        "get_metric_minus_runs_ms": (p50(mcp_times) - p50(run_sums)) * 1000,
        "get_metric_minus_evaluate_ms": (p50(mcp_times) - p50(direct_times)) * 1000,
        "evaluate_minus_runs_ms": (p50(direct_times) - p50(direct_run_sums)) * 1000,
        "get_metric_over_runs": p50(mcp_times) / p50(run_sums),
    }


# --------------------------------------------------------------------------- b-d


def stability(rig: TaskRig, size: int, repeats: int) -> dict[str, Any]:
    rig.use(size)
    rig.run()  # warm-up, as the scorer does
    cpu: list[float] = []
    load0 = os.getloadavg()[0]
    times = [rig.run(cpu=cpu) for _ in range(repeats)]
    return {"task": rig.task.name, "size": size, "input": rig.describe(size), "full": size == rig.full_size,
            "repeats": repeats, "median_sec": statistics.median(times), "min_sec": min(times), "max_sec": max(times),
            "cv": cv(times), "cpu_median_sec": statistics.median(cpu), "cpu_cv": cv(cpu),
            "load": (load0 + os.getloadavg()[0]) / 2, "times": [round(t, 4) for t in times],
            "cpu_times": [round(t, 4) for t in cpu]}


def identical_verdicts(rig: TaskRig, size: int, calls: int) -> dict[str, Any]:
    rig.use(size)
    verdicts = []
    for _ in range(calls):
        timing, reason = rig.ctx.time_pair(rig.command, inputs=rig.inputs, check=lambda out: None,
                                           timeout_sec=rig.timeout * 4)
        if timing is None:
            raise RuntimeError(f"{rig.task.name}: time_pair failed: {reason}")
        verdicts.append({"speedup": timing.speedup, "ci_low": timing.ci_low, "ci_high": timing.ci_high,
                         "credited": timing.credited, "baseline_sec": timing.baseline_sec,
                         "candidate_sec": timing.candidate_sec})
        shutil.rmtree(rig.ctx.scratch / "runs", ignore_errors=True)
    speedups = [v["speedup"] for v in verdicts]
    all_times = [t for v in verdicts for t in v["baseline_sec"] + v["candidate_sec"]]
    # interleaved_pairs runs pair i baseline-first when i is even, candidate-first when odd
    first_b = [b / c for v in verdicts for i, (b, c) in enumerate(zip(v["baseline_sec"], v["candidate_sec"],
                                                                     strict=True)) if i % 2 == 0]
    first_c = [b / c for v in verdicts for i, (b, c) in enumerate(zip(v["baseline_sec"], v["candidate_sec"],
                                                                     strict=True)) if i % 2 == 1]
    return {"task": rig.task.name, "size": size, "input": rig.describe(size), "calls": calls,
            "credited": sum(v["credited"] for v in verdicts),
            "significantly_slower": sum(v["ci_high"] < 1.0 for v in verdicts),
            "median_speedup": statistics.median(speedups), "min_speedup": min(speedups),
            "max_speedup": max(speedups), "median_run_sec": statistics.median(all_times), "run_cv": cv(all_times),
            "ratio_baseline_first": statistics.median(first_b), "ratio_candidate_first": statistics.median(first_c),
            "median_ci_width": statistics.median(v["ci_high"] - v["ci_low"] for v in verdicts), "verdicts": verdicts}


def half_work(rig: TaskRig, size: int, calls: int) -> dict[str, Any]:
    from scorer.timing import MIN_PAIRS, interleaved_pairs

    rig.use(size)
    once = rig.items(size)
    doubled = {rig.input_name: rig.write(f"{rig.input_name}-doubled", once + once)}
    single = rig.inputs
    results = []
    for _ in range(calls):
        timing = interleaved_pairs(lambda: rig.run("baseline", doubled), lambda: rig.run("candidate", single),
                                   MIN_PAIRS)
        results.append(timing)
    empty = {rig.input_name: rig.write(f"{rig.input_name}-empty", rig.items(0))}
    rig.run("baseline", empty)
    s = statistics.median(rig.run("baseline", empty) for _ in range(5))
    t1 = statistics.median(t for r in results for t in r.candidate_sec)
    expected = (2 * t1 - s) / t1
    speedups = [r.speedup for r in results]
    measured = statistics.median(speedups)
    return {"task": rig.task.name, "size": size, "input": rig.describe(size), "calls": calls, "speedups": speedups,
            "speedup": measured, "ci": [(r.ci_low, r.ci_high) for r in results], "t1_sec": t1, "startup_sec": s,
            "expected_exact": expected, "off_from_2": measured / 2 - 1, "off_from_expected": measured / expected - 1,
            "credited": [r.credited for r in results]}


# --------------------------------------------------------------------------- driver

#: Longest single baseline run the stability part accepts before it scales the input down.
STABILITY_MAX_RUN_SEC = 3.0
#: Run length for the identical-candidate verdicts (20 calls x 12 runs each).
IDENTICAL_RUN_SEC = 0.3
#: Quick mode's single-batch run length for the half-work test (the full edit_distance batch on a calm
#: machine); the full mode uses the hidden batch itself.
HALF_WORK_RUN_SEC = 1.4


async def run(quick: bool = False) -> dict[str, Any]:
    work = scratch("scorer")
    notes: list[str] = []
    out: dict[str, Any] = {"config": {"timing_core": timing_core(), "quick": quick}, "notes": notes,
                           "stability": [], "identical": [], "half_work": None, "calibration": {}}
    started = time.monotonic()
    t0 = time.monotonic()
    out["get_metric"] = await get_metric_overhead(work / "get_metric", 2 if quick else 5)
    out["config"]["get_metric_sec"] = round(time.monotonic() - t0, 1)
    repeats = 5 if quick else 20
    identical_calls = 3 if quick else 20
    half_calls = 1 if quick else 2
    max_run = 1.0 if quick else STABILITY_MAX_RUN_SEC
    for name in ("sort_u32", "edit_distance"):
        try:
            t0 = time.monotonic()
            rig = RIGS[name](work / name)
            rig.calibrate(PROBES[name])
            full_run = rig.fixed_sec + rig.per_unit_sec * rig.full_size
            out["calibration"][name] = {"fixed_sec": rig.fixed_sec, "per_unit_sec": rig.per_unit_sec,
                                        "predicted_full_run_sec": full_run,
                                        "seconds": round(time.monotonic() - t0, 1)}
            size = rig.full_size if full_run <= max_run else rig.size_for(max_run)
            if size != rig.full_size:
                notes.append(f"{name}: a full-size baseline run would take ~{full_run:.1f} s here now; the "
                             f"stability runs use {size:,} {rig.unit} (~{max_run:g} s) to fit the time budget")
            t0 = time.monotonic()
            out["stability"].append(stability(rig, size, repeats))
            out["config"][f"{name}_stability_sec"] = round(time.monotonic() - t0, 1)
            t0 = time.monotonic()
            out["identical"].append(identical_verdicts(rig, rig.size_for(IDENTICAL_RUN_SEC), identical_calls))
            out["config"][f"{name}_identical_sec"] = round(time.monotonic() - t0, 1)
            if name == "edit_distance":
                t0 = time.monotonic()
                size = rig.size_for(HALF_WORK_RUN_SEC) if quick else rig.full_size
                out["half_work"] = half_work(rig, size, half_calls)
                out["config"][f"{name}_half_work_sec"] = round(time.monotonic() - t0, 1)
        except (AttributeError, KeyError, ImportError, RuntimeError, TypeError) as exc:
            notes.append(f"{name}: part skipped: {exc!r} (has tasks/{name}/tests/evaluate.py changed shape?)")
        finally:
            shutil.rmtree(work / name, ignore_errors=True)
    out["config"]["seconds"] = round(time.monotonic() - started, 1)

    targets = []
    for st in out["stability"]:
        targets.append({"name": f"timing CV of {st['repeats']} pinned baseline runs <= 1%: {st['task']}, "
                                f"{st['input']}",
                        "value": f"{st['cv'] * 100:.2f}%", "met": st["cv"] <= 0.01})
    for iv in out["identical"]:
        targets.append({"name": f"identical candidate credited as faster in at most 1 call in 20 "
                                f"({iv['calls']} calls): {iv['task']}, {iv['input']}",
                        "value": f"{iv['credited']} of {iv['calls']}",
                        "met": iv["credited"] <= max(1, iv["calls"] // 20)})
    hw = out["half_work"]
    if hw:
        targets.append({"name": f"half-work candidate measured within 10% of 2x: {hw['task']}, {hw['input']} "
                                "vs the same batch twice",
                        "value": f"{hw['speedup']:.3f}x (exact expectation {hw['expected_exact']:.3f}x)",
                        "met": abs(hw["off_from_2"]) <= 0.10})
    out["targets"] = targets
    return out


def render(result: dict[str, Any]) -> str:
    gm = result["get_metric"]
    cfg = result["config"]
    out = [f"### 3. Scorer (timing core {cfg['timing_core']}; {cfg['seconds']} s)", "",
           f"**a. get_metric overhead**, sorting_network, {gm['calls']} calls after one warm-up "
           f"({gm['runs_per_eval']} sandbox run per evaluation; scorer process start {gm['scorer_start_sec']} s):", ""]
    out.append(md_table(["what", "p50 ms", "p99 ms"], [
        ["get_metric via MCP (in-memory client → scorer process)", gm["get_metric"]["p50_ms"],
         gm["get_metric"]["p99_ms"]],
        ["  scorer's own eval_seconds", gm["scorer_eval_seconds"]["p50_ms"], gm["scorer_eval_seconds"]["p99_ms"]],
        ["  its sandbox runs' durations", gm["sandbox_runs_via_get_metric"]["p50_ms"],
         gm["sandbox_runs_via_get_metric"]["p99_ms"]],
        ["evaluate_submission called directly", gm["evaluate_submission"]["p50_ms"],
         gm["evaluate_submission"]["p99_ms"]],
        ["  its sandbox runs' durations", gm["sandbox_runs_direct"]["p50_ms"], gm["sandbox_runs_direct"]["p99_ms"]],
    ]))
    out += ["", f"get_metric - sandbox runs: {gm['get_metric_minus_runs_ms']:.0f} ms "
                f"({gm['get_metric_over_runs']:.2f}x the runs); get_metric - evaluate_submission: "
                f"{gm['get_metric_minus_evaluate_ms']:.0f} ms; evaluate_submission - runs: "
                f"{gm['evaluate_minus_runs_ms']:.0f} ms.", ""]
    if result["stability"]:
        out += ["**b. Timing stability** (pinned, sandboxed baseline runs after one warm-up):", "",
                md_table(["task", "input", "runs", "median s", "min s", "max s", "CV (wall: the scorer's)",
                          "CPU s (median)", "CV (CPU user+sys)", "load avg"],
                         [[s["task"], s["input"], s["repeats"], s["median_sec"], s["min_sec"], s["max_sec"],
                           f"{s['cv'] * 100:.2f}%", s["cpu_median_sec"], f"{s['cpu_cv'] * 100:.2f}%", s["load"]]
                          for s in result["stability"]]),
                "", "CPU seconds come from bash's `times` after the command inside the same sandbox (a diagnostic; "
                    "the scorer times wall seconds).", ""]
    if result["identical"]:
        out += ["**c. Identical candidate** (baseline vs itself through `EvalContext.time_pair`):", "",
                md_table(["task", "input", "calls", "credited faster", "significantly slower", "median speedup",
                          "range", "median CI width", "run s (median)", "run CV", "ratio, baseline ran first",
                          "ratio, candidate ran first"],
                         [[v["task"], v["input"], v["calls"], v["credited"], v["significantly_slower"],
                           v["median_speedup"], f"{v['min_speedup']:.3f}-{v['max_speedup']:.3f}",
                           v["median_ci_width"], v["median_run_sec"], f"{v['run_cv'] * 100:.1f}%",
                           v["ratio_baseline_first"], v["ratio_candidate_first"]]
                          for v in result["identical"]]), "",
                "Ratio = baseline time / candidate time per pair; the two right-hand columns split the pairs by "
                "which side ran first (interleaved_pairs alternates, starting with the baseline).", ""]
    hw = result["half_work"]
    if hw:
        out += [f"**d. Half-work candidate** ({hw['task']}: {hw['input']} vs the same batch twice, "
                f"{hw['calls']} call(s)): measured {hw['speedup']:.3f}x "
                f"(calls: {', '.join(f'{s:.3f}' for s in hw['speedups'])}); nominal 2x → "
                f"{hw['off_from_2'] * 100:+.1f}%; exact expectation (2*t1 - s)/t1 = {hw['expected_exact']:.3f}x with "
                f"t1 = {hw['t1_sec']:.3f} s, s (empty input) = {hw['startup_sec']:.3f} s → "
                f"{hw['off_from_expected'] * 100:+.1f}%.", ""]
    cal = result.get("calibration") or {}
    if cal:
        out.append("Calibration (this machine, now): " + "; ".join(
            f"{k}: fixed {v['fixed_sec']:.3f} s + {v['per_unit_sec'] * 1e6:.3g} µs/item, full split "
            f"~{v['predicted_full_run_sec']:.2f} s" for k, v in cal.items()) + ".")
    out += [f"- {n}" for n in result["notes"]]
    return "\n".join(out)

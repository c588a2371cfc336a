"""Run the benchmarks: `python -m bench.run [--quick] [--only latency,experiments,scorer,scale,pacing,adversary]`.

Prints a markdown report and writes bench/results.json and bench/results.md. Every figure that
matters is a ratio against a reference measured in the same run (machines are noisy; absolute
times alone mean little); the machine's load average is recorded next to them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

if __package__ in (None, ""):  # run as a script (bench/run.py): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import adversary, common, experiments, latency, pacing, scale, scorer_bench
from bench.common import BENCH, REPO, cmdline, md_table, setup_environment

SECTIONS = {
    "latency": latency,
    "experiments": experiments,
    "scorer": scorer_bench,
    "scale": scale,
    "pacing": pacing,
    "adversary": adversary,
}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    import mcp  # noqa: F401  (version below)

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "kernel": platform.release(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "mcp": version("mcp"),
        "commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain")),
        "root": os.geteuid() == 0,
    }


def orphaned_scorers() -> list[int]:
    """Scorer processes of bench tasks whose server is gone (re-parented to init): ours, so we end them."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        line = cmdline(pid)
        if "-m scorer" in line and str(common.OUT) in line:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == 1:
                found.append(pid)
    return found


def reap_orphans(notes: list[str], after: str) -> None:
    time.sleep(0.5)
    pids = orphaned_scorers()
    if not pids:
        return
    notes.append(f"after {after}: {len(pids)} scorer process(es) outlived their `autolab-mcp serve` "
                 f"(pids {pids}); the bench ended them")
    for pid in pids:
        line = cmdline(pid).split()
        socket_dir = Path(line[line.index("--socket") + 1]).parent if "--socket" in line[:-1] else None
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        # the server that made the scorer's private socket directory never got to remove it
        if socket_dir is not None and socket_dir.name.startswith("autolab-scorer-"):
            for _ in range(50):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
            shutil.rmtree(socket_dir, ignore_errors=True)


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# autolab-mcp benchmarks",
        "",
        f"{m['date']}, commit {m['commit']}{' (dirty tree)' if m['dirty'] else ''}, {m['host']}: "
        f"{m['usable_cpus']} CPUs, Linux {m['kernel']}, Python {m['python']}, mcp {m['mcp']}, "
        f"{'root' if m['root'] else 'not root'}. Mode: {'quick' if results['quick'] else 'full'}; "
        f"total {results['seconds']:.0f} s.",
        f"Load average (1 min) at start {results['load_start'][0]:.2f}, at end {results['load_end'][0]:.2f} "
        f"on {m['usable_cpus']} CPUs" + (" — the machine was busy with other work: absolute times are inflated, "
                                          "compare the ratios" if max(results['load_start'][0],
                                                                      results['load_end'][0]) > m['usable_cpus']
                                          else "") + ".",
        "",
        "## Targets",
        "",
        md_table(["target", "result", "met"],
                 [[t["name"], t["value"], "yes" if t["met"] else "**no**"] for t in results["targets"]]),
        "",
        "## Results",
        "",
    ]
    for name, section in SECTIONS.items():
        if name in results["sections"]:
            lines += [section.render(results["sections"][name]), ""]
    if results["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in results["notes"]], ""]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    setup_environment()
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "sections": {}, "targets": [],
                               "notes": [], "load_start": os.getloadavg(), "section_seconds": {}}
    started = time.monotonic()
    for name in only:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        load0 = os.getloadavg()[0]
        module = SECTIONS[name]
        if name == "latency":
            transports = tuple(t.strip() for t in args.transports.split(",") if t.strip())
            result = await module.run(args.quick, args.calls, transports, not args.no_peers)
        else:
            result = await module.run(args.quick)
        result["load"] = {"start": load0, "end": os.getloadavg()[0]}
        results["sections"][name] = result
        results["targets"] += result.get("targets", [])
        results["section_seconds"][name] = round(time.monotonic() - t0, 1)
        print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        reap_orphans(results["notes"], name)
    results["seconds"] = time.monotonic() - started
    results["load_end"] = os.getloadavg()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fast subset: fewer calls and runs (about 2 min)")
    parser.add_argument("--only", default="", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--calls", type=int, default=None, help="calls per latency case (default 500, quick 100)")
    parser.add_argument("--transports", default=",".join(latency.TRANSPORTS),
                        help="latency: which of our transports (memory,stdio,http)")
    parser.add_argument("--no-peers", action="store_true",
                        help="latency: skip the reference filesystem server and the bare-SDK server")
    parser.add_argument("--out", type=Path, default=BENCH, help="where results.json and results.md go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("httpx", "mcp", "autolab"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    results = anyio.run(main_async, args)
    report = render(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "results.md").write_text(report)
    print(report)
    print(f"bench: wrote {args.out / 'results.json'} and {args.out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

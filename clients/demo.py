"""`make demo`: one full episode over MCP (stdio) with the scripted agent and the trusted scorer."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from autolab_mcp.core.taskspec import find_task
from clients.scripted import run_episode, server_params


def _remote_scorer_args(task_name: str, scorer_url: str) -> tuple[str, list[str], list[str]]:
    """Bundle the task's public part for the server and point it at the scorer service: the server's
    whole view of the task is that bundle, with no tests/ and no solution/."""
    bundle_root = Path(tempfile.mkdtemp(prefix="autolab-demo-bundle-"))
    made = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "bundle", task_name, str(bundle_root)],
                          capture_output=True, text=True, check=True)
    bundle = made.stdout.strip()
    extra = ["--scorer-url", scorer_url]
    verify = []
    if token_file := os.environ.get("AUTOLAB_SCORER_TOKEN_FILE"):
        extra += ["--scorer-token-file", token_file]
    if public_key := os.environ.get("AUTOLAB_SCORER_PUBLIC_KEY"):
        extra += ["--scorer-public-key", public_key]
        verify = ["--public-key", public_key]
    print(f"  the server gets only the public bundle {bundle}: {', '.join(sorted(os.listdir(bundle)))}")
    print(f"  (no tests/, no solution/); the hidden evaluation lives with the scorer at {scorer_url}"
          + (f" ({where})" if (where := os.environ.get("AUTOLAB_SCORER_HIDDEN_AT")) else ""))
    return bundle, extra, verify


async def demo(task_name: str, run_dir: Path, scorer_url: str | None = None) -> int:
    task = find_task(task_name)
    opt = task.config.optimization
    print(f"autolab-mcp demo: task `{task.name}` — axis {task.axis}, metric {opt.metric} ({opt.direction} is better)")
    print(f"  baseline {opt.baseline.score:g} ({opt.baseline.method}); reference {opt.reference.score:g} "
          f"({opt.reference.method})")
    served, extra, verify = task_name, [], []
    if scorer_url:
        served, extra, verify = _remote_scorer_args(task_name, scorer_url)
        print("  starting `autolab-mcp serve` over stdio against that scorer...")
    else:
        print("  starting `autolab-mcp serve` over stdio (it starts the scorer as a separate process)...")
    started = time.monotonic()
    async with Client(server_params(served, run_dir, extra), read_timeout_seconds=900) as client:
        result = await run_episode(client, task, measure_baseline=True)
    print(f"done in {time.monotonic() - started:.1f}s. Normalized score {result['score']:.3f} "
          "(baseline = 0, reference = 1).")
    print(f"  run log, snapshots, signed result: {Path(result['result_file']).parent}")
    print(f"  inspect: .venv/bin/autolab-mcp runs {Path(result['result_file']).parent.name} "
          f"--run-dir {run_dir} --verify {' '.join(verify)}".rstrip())
    return 0 if result["valid"] else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="sorting_network")
    parser.add_argument("--run-dir", type=Path, default=Path("runs"))
    parser.add_argument("--scorer-url", default=os.environ.get("AUTOLAB_SCORER_URL"),
                        help="a scorer service to use (its container: make demo SCORER=container)")
    args = parser.parse_args()
    sys.exit(anyio.run(demo, args.task, args.run_dir, args.scorer_url))


if __name__ == "__main__":
    main()

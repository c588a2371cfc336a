"""`make demo`: one full episode over MCP (stdio) with the scripted agent and the trusted scorer."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio
from mcp import Client

from autolab_mcp.core.taskspec import find_task
from clients.scripted import run_episode, server_params


async def demo(task_name: str, run_dir: Path) -> int:
    task = find_task(task_name)
    opt = task.config.optimization
    print(f"autolab-mcp demo: task `{task.name}` — axis {task.axis}, metric {opt.metric} ({opt.direction} is better)")
    print(f"  baseline {opt.baseline.score:g} ({opt.baseline.method}); reference {opt.reference.score:g} "
          f"({opt.reference.method})")
    print("  starting `autolab-mcp serve` over stdio (it starts the scorer as a separate process)...")
    started = time.monotonic()
    async with Client(server_params(task_name, run_dir), read_timeout_seconds=900) as client:
        result = await run_episode(client, task, measure_baseline=True)
    print(f"done in {time.monotonic() - started:.1f}s. Normalized score {result['score']:.3f} "
          "(baseline = 0, reference = 1).")
    print(f"  run log, snapshots, signed result: {Path(result['result_file']).parent}")
    print(f"  inspect: .venv/bin/autolab-mcp runs {Path(result['result_file']).parent.name} "
          f"--run-dir {run_dir} --verify")
    return 0 if result["valid"] else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="sorting_network")
    parser.add_argument("--run-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    sys.exit(anyio.run(demo, args.task, args.run_dir))


if __name__ == "__main__":
    main()

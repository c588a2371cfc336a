"""`make demo`: one full episode over MCP (stdio) with the scripted agent and the trusted scorer."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from autolab_mcp.core.taskdirs import find_task
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


# Run the server in a mount namespace of its own where every task's tests/ and solution/ under $1 are
# empty read-only tmpfs mounts; its pid (exec keeps it) goes to $2 so the demo can look at its view.
_HIDE = ('for d in "$1"/*/tests "$1"/*/solution; do [ -d "$d" ] && mount -t tmpfs -o ro,size=4k,mode=0555 '
         'autolab-hidden "$d"; done; echo $$ > "$2"; shift 2; exec "$@"')


def hidden_from_server(params: StdioServerParameters, tasks_root: Path, pid_file: Path) -> StdioServerParameters:
    """`params` run inside a mount namespace that hides tasks_root/*/tests and solution; the pid in pid_file."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise SystemExit("--hide-from-server needs root and unshare(1) (util-linux)")
    args = ["--mount", "--propagation", "private", "sh", "-c", _HIDE, "sh", str(tasks_root), str(pid_file),
            params.command, *params.args]
    return params.model_copy(update={"command": shutil.which("unshare"), "args": args})


def hidden_files_seen(pid_file: Path, task_dir: Path) -> list[Path]:
    """The files of task_dir's tests/ and solution/ that the running server sees, looked at through its
    own mount namespace (/proc/PID/root)."""
    root = Path(f"/proc/{pid_file.read_text().strip()}/root")
    return [p for sub in ("tests", "solution") for p in (root / str(task_dir / sub).lstrip("/")).rglob("*")
            if p.is_file()]


def _report_server_view(task_dir: Path, bundle: str, pid_file: Path) -> None:
    seen = hidden_files_seen(pid_file, task_dir)
    in_bundle = sorted(os.listdir(f"/proc/{pid_file.read_text().strip()}/root{bundle}"))
    print(f"  the server's view of the filesystem: {len(seen)} files in {task_dir}/tests and solution "
          f"(its mount namespace hides them); its bundle holds only {', '.join(in_bundle)}")


async def demo(task_name: str, run_dir: Path, scorer_url: str | None = None,
               hide_from_server: Path | None = None) -> int:
    task = find_task(task_name)
    opt = task.optimization
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
    params = server_params(served, run_dir, extra)
    if hide_from_server:
        pid_file = Path(tempfile.mkdtemp(prefix="autolab-demo-")) / "server.pid"
        params = hidden_from_server(params, hide_from_server.resolve(), pid_file)
    async with Client(params, read_timeout_seconds=900) as client:
        result = await run_episode(client, task, measure_baseline=True)
        if hide_from_server:
            _report_server_view(hide_from_server.resolve() / task_name, served, pid_file)
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
    parser.add_argument("--hide-from-server", type=Path, metavar="TASKS_DIR",
                        help="run the server in a mount namespace where TASKS_DIR/*/tests and solution are empty, "
                        "and report its view (root; used by make demo SCORER=container)")
    args = parser.parse_args()
    sys.exit(anyio.run(demo, args.task, args.run_dir, args.scorer_url, args.hide_from_server))


if __name__ == "__main__":
    main()

"""Shared helpers: statistics, process memory, the scratch area, the servers the benchmarks talk to.

Everything scratch lives under bench/out/ (gitignored): run directories, generated task
files, server logs. Results go to bench/results.json and bench/results.md.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
#: Scratch root (gitignored); AUTOLAB_BENCH_SCRATCH moves it (the smoke test uses its own).
OUT = Path(os.environ.get("AUTOLAB_BENCH_SCRATCH") or BENCH / "out")
PY = sys.executable

#: One workspace file per read size the latency benchmark uses.
SMALL_BYTES = 4 * 1024
BIG_BYTES = 256 * 1024


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of unsorted values."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    """n, p50, p99, mean, min in milliseconds (rounded for display, raw counts kept)."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else math.nan,
        "min_ms": round(min(ms), 4) if ms else math.nan,
    }


def cv(values: list[float]) -> float:
    """Coefficient of variation (sample stdev / mean)."""
    if len(values) < 2:
        return math.nan
    return statistics.stdev(values) / statistics.fmean(values)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.{digits}g}" if abs(value) < 0.01 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines)


class Timer:
    """Accumulates per-call wall times (seconds) of whatever runs inside `with timer:`."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._t0 = 0.0

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.samples.append(time.perf_counter() - self._t0)


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# --------------------------------------------------------------------------- processes and memory


def rss_mb(pid: int | None = None) -> float:
    """Resident set size (VmRSS) of a process in MiB."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def pss_mb(pid: int | None = None) -> float:
    """Proportional set size (shared pages split between their users) in MiB; NaN if unreadable."""
    try:
        with open(f"/proc/{pid or 'self'}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch(name: str, *, fresh: bool = True) -> Path:
    path = OUT / name
    if fresh and path.exists():
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def setup_environment() -> None:
    """The bench signs with its own scorer key (never the machine's); spawned servers inherit it."""
    OUT.mkdir(parents=True, exist_ok=True)
    os.chmod(OUT, 0o755)
    os.environ.setdefault("AUTOLAB_SCORER_SIGNING_KEY", str(OUT / "scorer.ed25519"))
    os.environ.setdefault("AUTOLAB_SCORER_KEY_FILE", str(OUT / "scorer.key"))


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a spawned `autolab-mcp serve`: what the SDK passes plus our AUTOLAB_ settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- a task made for the benchmark


BENCH_TASK_TOML = """\
version = "1.0"

[metadata]
axis = "smaller"
description = "Benchmark fixture: files of known sizes, one editable file, a trivial scorer."

[agent]
timeout_sec = 36000

[environment]
cpus = 1
memory_mb = 512
requirements = []

[optimization]
metric = "lines"
direction = "lower"

[optimization.baseline]
score = 10

[optimization.reference]
score = 5

[autolab]
editable = ["edit.txt"]
scale = "linear"
experiment_timeout_sec = 60
eval_timeout_sec = 60

[autolab.budget]
compute_sec = 100000
experiments = 100000
score_calls = 1000
"""

BENCH_EVALUATE = '''\
"""Benchmark fixture scorer: counts the lines of edit.txt (no sandbox run)."""

from scorer.harness import EvalContext, Measurement


def evaluate(ctx: EvalContext) -> Measurement:
    lines = (ctx.candidate_dir / "edit.txt").read_text().count("\\n")
    return Measurement(valid=True, metric=float(lines), reason=f"{lines} lines")
'''


def _text(size: int, seed: str) -> str:
    """Deterministic printable ASCII of exactly `size` bytes, in 64-byte lines."""
    line = (seed * 64)[:63] + "\n"
    body = []
    i = 0
    while sum(len(b) for b in body) < size:
        body.append(f"{i:08d} " + line[9:])
        i += 1
    return "".join(body)[:size]


EDIT_TEXT = "".join(f"line {i}: value = 0\n" for i in range(40))


def patch_pair() -> tuple[str, str]:
    """Two unified diffs on edit.txt: the first sets line 20's value to 1, the second sets it back."""
    old = "line 20: value = 0\n"
    new = "line 20: value = 1\n"
    ctx_before = "".join(f" line {i}: value = 0\n" for i in range(17, 20))
    ctx_after = "".join(f" line {i}: value = 0\n" for i in range(21, 24))
    head = "--- a/edit.txt\n+++ b/edit.txt\n@@ -18,7 +18,7 @@\n"
    forward = head + ctx_before + "-" + old + "+" + new + ctx_after
    back = head + ctx_before + "-" + new + "+" + old + ctx_after
    return forward, back


def bench_task() -> Path:
    """bench/out/bench_io: a task whose workspace holds small.txt (4 KiB), big.txt (256 KiB), edit.txt."""
    root = OUT / "bench_io"
    if root.exists():
        shutil.rmtree(root)
    (root / "environment").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "solution").mkdir()
    (root / "task.toml").write_text(BENCH_TASK_TOML)
    (root / "instruction.md").write_text("# Benchmark fixture\n\nNothing to do here.\n")
    (root / "environment" / "small.txt").write_text(_text(SMALL_BYTES, "abcdefghijklmnopqrstuvwxyz"))
    (root / "environment" / "big.txt").write_text(_text(BIG_BYTES, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    (root / "environment" / "edit.txt").write_text(EDIT_TEXT)
    (root / "solution" / "edit.txt").write_text(EDIT_TEXT)
    (root / "tests" / "evaluate.py").write_text(BENCH_EVALUATE)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
        del dirnames
    return root


# --------------------------------------------------------------------------- servers


def serve_stdio_params(task_root: Path, run_dir: Path, log: Path) -> tuple[Any, Any]:
    """(transport, errlog file) for `autolab-mcp serve` over stdio."""
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=PY, args=["-m", "autolab_mcp.cli", "serve", "--task", str(task_root), "--run-dir", str(run_dir)],
        env=server_env(), cwd=str(REPO),
    )
    errlog = open(log, "w")  # noqa: SIM115 (closed by the caller)
    return stdio_client(params, errlog=errlog), errlog


@contextlib.asynccontextmanager
async def http_server(task_root: Path, run_dir: Path, log: Path) -> AsyncIterator[tuple[str, str, int]]:
    """`autolab-mcp serve --http` with a bearer token; yields (url, token, pid)."""
    import anyio

    port = free_port()
    token = "bench-token-" + os.urandom(12).hex()
    env = {**os.environ, "AUTOLAB_TOKEN": token}
    with open(log, "w") as errlog:
        proc = subprocess.Popen(
            [PY, "-m", "autolab_mcp.cli", "serve", "--task", str(task_root), "--run-dir", str(run_dir), "--http",
             "--port", str(port)],
            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"HTTP server did not come up; see {log}") from None
                await anyio.sleep(0.1)
        yield url, token, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_transport(url: str, token: str) -> tuple[Any, Any]:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return streamable_http_client(url, http_client=http), http


def peer_fs_entry() -> Path | None:
    """The reference filesystem server's entry point, installing it with npm when missing (None if no npm)."""
    entry = BENCH / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
    if entry.is_file():
        return entry
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    print("bench: installing @modelcontextprotocol/server-filesystem into bench/node_modules (npm)",
          file=sys.stderr, flush=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=BENCH,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        print(f"bench: npm install failed: {done.stderr[-2000:]}", file=sys.stderr)
        return None
    return entry if entry.is_file() else None


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""

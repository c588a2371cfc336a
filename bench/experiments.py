"""2. Experiment overhead: what it costs to run `true` in a sandbox, against running it on the host.

- host: `subprocess.run(["true"])` (the raw process);
- bwrap: `BwrapBackend.run` of `true` with the request an episode makes (workspace, read-only
  task files, runtime venv, agent uid, log file, cgroup limits);
- run_experiment: the `run_experiment("true")` tool end to end over the in-memory MCP client
  (budget reservation and settlement, experiment record, snapshot check, event log);
- docker backend: `DockerBackend.run` of the same request, against `podman run --rm IMAGE true`
  with the same binds and isolation flags (and the same with binds only, and the docker CLI over
  the same API socket when present). Skipped with a note when no engine is reachable.

The cases run in interleaved rounds so a slow phase of the machine hits all of them alike.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import REPO, bench_task, md_table, ratio, scratch, summary_ms

if TYPE_CHECKING:
    from autolab_mcp.core.sandbox.base import ExecRequest

ROUNDS = 5
PODMAN_DIR = Path(os.environ.get("AUTOLAB_PODMAN_DIR", "/var/tmp/autolab-podman"))
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _docker_host() -> tuple[str | None, str]:
    """DOCKER_HOST, or the one of a running scripts/podman-service.sh; (None, why) when there is none."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"], "DOCKER_HOST"
    service = REPO / "scripts" / "podman-service.sh"
    if not service.is_file():
        return None, "DOCKER_HOST is unset and scripts/podman-service.sh is missing"
    out = subprocess.run(["bash", str(service), "env"], capture_output=True, text=True, timeout=30, check=False)
    line = out.stdout.strip()
    if out.returncode != 0 or not line.startswith("export DOCKER_HOST="):
        return None, ("DOCKER_HOST is unset and the podman service is not running "
                      "(start it: eval \"$(scripts/podman-service.sh start)\")")
    return line.split("=", 1)[1], "scripts/podman-service.sh"


def _podman_argv(image: str, like_for_like: bool, uid: int | None, memory_mb: int) -> list[str]:
    argv = ["podman", "run", "--rm", "--network", "none"]
    for d in SYSTEM_DIRS:
        if os.path.isdir(d):
            argv += ["-v", f"{d}:{d}:ro"]
    if like_for_like:
        argv += ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                 "--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m", "--pids-limit", "256",
                 "--tmpfs", "/tmp:size=512m,mode=1777", "--cpus", "1", "--log-driver", "none"]
        if uid is not None:
            argv += ["--user", f"{uid}:{uid}"]
    return [*argv, image, "/bin/true"]


def _raw_bwrap(backend: Any, request: Any) -> Callable[[], None] | None:
    """`true` through the same bwrap argv the backend builds (prlimit, bwrap, setpriv, the bash preamble), started
    with a plain subprocess.run: what the sandbox tool chain costs before any of our process management."""
    try:
        ready_r, ready_w = os.pipe()
        argv = [backend._tools["prlimit"], f"--fsize={request.limits.file_mb * 1024 * 1024}", "--core=0", "--",
                backend._tools["bwrap"], *backend._bwrap_args(request, ready_w, [])]
    except (AttributeError, KeyError, TypeError):
        return None

    def run() -> None:
        subprocess.run(argv, check=True, pass_fds=(ready_w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        os.read(ready_r, 1)

    return run


def exit_latency(backend: Any, request: Callable[[str], Any], n: int) -> list[float]:
    """Seconds from a sandboxed program's last instruction (it prints CLOCK_MONOTONIC, which the sandbox shares
    with the host) to BwrapBackend.run returning: how late the backend notices that a run ended."""
    out = []
    for i in range(n):
        result = backend.run(request(f"python3 -c 'import time; time.sleep({0.1 + 0.37 * (i % 4) / 4:.3f}); "
                                     "print(time.monotonic())'"))
        seen = time.monotonic()
        if not result.ok:
            raise RuntimeError(f"exit-latency probe failed: {result.output_tail[-300:]}")
        out.append(seen - float(result.output_tail.split()[-1]))
    return out


def _run_checked(argv: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]}... failed ({done.returncode}): {done.stderr.decode()[-500:]}")


HOST_CASE = "host subprocess.run(true)"
MCP_CASE = "run_experiment(true) via MCP"
DOCKER_CASE = "DockerBackend.run(true)"


def _host_true() -> None:
    subprocess.run(["true"], check=True)


class _Rig:
    """What every case shares: one episode on a bwrap backend, the ExecRequest such an episode makes, the
    seconds each backend charged for `true`, and the notes for the report."""

    def __init__(self, quick: bool) -> None:
        from autolab_mcp.core.editable import matches
        from autolab_mcp.core.sandbox.base import AGENT_UID
        from autolab_mcp.core.sandbox.bwrap import BwrapBackend
        from autolab_mcp.core.taskspec import load_task
        from autolab_mcp.episode import Episode

        self.n = 20 if quick else 100
        self.n_docker = 5 if quick else 20
        self.work = scratch("experiments")
        task = load_task(bench_task())
        self.bwrap = BwrapBackend()
        self.episode = Episode.create(task, self.work / "runs", backend=self.bwrap, scorer=None)
        self.env_cfg = task.config.environment
        self.read_only = sorted(
            str(p.relative_to(task.environment_dir)) for p in task.environment_dir.rglob("*")
            if p.is_file() and not matches(str(p.relative_to(task.environment_dir)), task.config.autolab.editable)
        )
        self.uid = AGENT_UID if os.geteuid() == 0 else None
        self.count = 0
        self.charged: dict[str, list[float]] = {"bwrap": [], "run_experiment": [], "docker": []}
        self.notes: list[str] = [f"bwrap limits mode: {self.bwrap.limits_mode}"]

    def request(self, command: str = "true") -> ExecRequest:
        """A fresh ExecRequest (each with its own log file), as an episode would make for `command`."""
        from autolab_mcp.core.sandbox.base import ExecRequest, Limits

        self.count += 1
        return ExecRequest(
            command=command, workspace=self.episode.workspace.root, read_only_paths=self.read_only,
            runtime=self.episode.runtime, env={"LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
            limits=Limits(wall_sec=60, memory_mb=self.env_cfg.memory_mb, cpus=self.env_cfg.cpus), uid=self.uid,
            log_path=self.work / "logs" / f"{self.count}.log",
        )

    def bwrap_true(self) -> None:
        result = self.bwrap.run(self.request())
        if not result.ok:
            raise RuntimeError(f"bwrap true failed: {result}")
        self.charged["bwrap"].append(result.duration_sec)

    def sync_cases(self) -> dict[str, Callable[[], None]]:
        """The host process, the raw bwrap CLI (when the backend's argv helpers still fit) and our backend."""
        cases: dict[str, Callable[[], None]] = {HOST_CASE: _host_true}
        raw = _raw_bwrap(self.bwrap, self.request())
        if raw is None:
            self.notes.append("the raw bwrap reference was skipped (BwrapBackend's argv helpers changed)")
        else:
            cases["bwrap CLI, same argv, no cgroup (reference)"] = raw
        cases["BwrapBackend.run(true)"] = self.bwrap_true
        return cases


class _DockerTrue:
    """DockerBackend.run of `true`, recording what it charged."""

    def __init__(self, rig: _Rig, docker: Any) -> None:
        self.rig, self.docker = rig, docker

    def __call__(self) -> None:
        result = self.docker.run(self.rig.request())
        if not result.ok:
            raise RuntimeError(f"docker true failed: {result}")
        self.rig.charged["docker"].append(result.duration_sec)


def _docker_backend(rig: _Rig) -> tuple[Any, str, str] | None:
    """(backend, DOCKER_HOST, where it came from), or None with the reason in the notes."""
    docker_host, source = _docker_host()
    if docker_host is None:
        rig.notes.append(f"docker backend skipped: {source}")
        return None
    if not (REPO / "autolab_mcp" / "core" / "sandbox" / "docker.py").is_file():
        rig.notes.append("docker backend skipped: autolab_mcp/core/sandbox/docker.py is missing")
        return None
    os.environ["DOCKER_HOST"] = docker_host
    try:
        from autolab_mcp.core.sandbox.docker import DockerBackend

        return DockerBackend(), docker_host, source
    except Exception as exc:  # no engine, or the backend is mid-rewrite
        rig.notes.append(f"docker backend skipped: {exc}")
        return None


def _podman_env(docker_host: str) -> dict[str, str] | None:
    """The environment for the podman CLI to reach the same engine as scripts/podman-service.sh, when that runs it."""
    if (PODMAN_DIR / "containers.conf").is_file() and docker_host.endswith(str(PODMAN_DIR / "podman.sock")):
        return {**os.environ, "CONTAINERS_CONF": str(PODMAN_DIR / "containers.conf"),
                "CONTAINERS_STORAGE_CONF": str(PODMAN_DIR / "storage.conf")}
    return None


def _docker_cases(rig: _Rig) -> tuple[dict[str, Callable[[], None]], dict[str, Any]]:
    """Our docker backend and the engine CLIs that are its peers, with the engine's description for the report;
    both empty when no engine is reachable."""
    found = _docker_backend(rig)
    if found is None:
        return {}, {}
    docker, docker_host, source = found
    info: dict[str, Any] = {"engine": docker.engine, "docker_host": docker_host, "from": source, "image": docker.image}
    cases: dict[str, Callable[[], None]] = {DOCKER_CASE: _DockerTrue(rig, docker)}
    podman_env = _podman_env(docker_host)
    if shutil.which("podman") and (podman_env is not None or "podman" in docker.engine.lower()):
        full = _podman_argv(docker.image, True, rig.uid, rig.env_cfg.memory_mb)
        bare = _podman_argv(docker.image, False, rig.uid, rig.env_cfg.memory_mb)
        cases["podman run --rm (same limits)"] = functools.partial(_run_checked, full, podman_env)
        cases["podman run --rm (binds only)"] = functools.partial(_run_checked, bare, podman_env)
        info["podman_argv"] = " ".join(full)
    if shutil.which("docker"):
        cli = ["docker", "-H", docker_host, *_podman_argv(docker.image, True, rig.uid, rig.env_cfg.memory_mb)[1:]]
        cases["docker CLI run --rm (same API socket)"] = functools.partial(_run_checked, cli)
    if len(cases) == 1:
        rig.notes.append("no podman/docker CLI for a peer; the docker backend is shown alone")
    return cases, info


class _McpTrue:
    """run_experiment("true") end to end over an MCP client, recording the seconds it charged."""

    def __init__(self, client: Any, charged: list[float]) -> None:
        self.client, self.charged = client, charged

    async def __call__(self) -> None:
        result = await self.client.call_tool("run_experiment", {"command": "true", "wait_sec": 30})
        info = result.structured_content or {}
        if result.is_error or info.get("status") != "finished" or info.get("exit_code") != 0:
            raise RuntimeError(f"run_experiment true failed: {result.content}")
        self.charged.append(info["seconds"])


def _timed(fn: Callable[[], None], times: int, into: list[float]) -> None:
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        into.append(time.perf_counter() - t0)


def _share(total: int, r: int) -> int:
    """Round r's slice of `total` runs spread over ROUNDS rounds (the first ones take the remainder)."""
    return total // ROUNDS + (1 if r < total % ROUNDS else 0)


async def _measure(rig: _Rig, sync_cases: dict[str, Callable[[], None]],
                   docker_cases: dict[str, Callable[[], None]]) -> tuple[dict[str, list[float]], float]:
    """Warm every case up once, then time them in interleaved rounds; the samples per case and the wall seconds."""
    from mcp import Client

    from autolab_mcp.server import build_server

    samples: dict[str, list[float]] = {k: [] for k in [*sync_cases, MCP_CASE, *docker_cases]}
    async with Client(build_server(rig.episode), read_timeout_seconds=120) as client:
        mcp_true = _McpTrue(client, rig.charged["run_experiment"])
        started = time.monotonic()
        for fn in [*sync_cases.values(), *docker_cases.values()]:
            fn()  # warm-up (page cache, image, cgroup parents)
        await mcp_true()
        for charged_list in rig.charged.values():
            charged_list.clear()
        for r in range(ROUNDS):
            count, dcount = _share(rig.n, r), _share(rig.n_docker, r)
            for name, fn in sync_cases.items():
                _timed(fn, count, samples[name])
            for _ in range(count):
                t0 = time.perf_counter()
                await mcp_true()
                samples[MCP_CASE].append(time.perf_counter() - t0)
            for name, fn in docker_cases.items():
                _timed(fn, dcount, samples[name])
        seconds = time.monotonic() - started
    return samples, seconds


def _overhead(rows: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every case against the raw host process, and the targets for our two sandboxed paths."""
    host_p50 = rows[HOST_CASE]["p50_ms"]
    out_rows = []
    for name, row in rows.items():
        extra = {"over_host_p50_ms": row["p50_ms"] - host_p50, "over_host_ratio": ratio(row["p50_ms"], host_p50)}
        out_rows.append({"case": name, **row, **extra})
    targets = []
    for name in ("BwrapBackend.run(true)", MCP_CASE):
        over = rows[name]["p50_ms"] - host_p50
        targets.append({"name": f"{name}: p50 overhead beyond the raw process < 15 ms", "value": f"+{over:.1f} ms",
                        "met": over < 15.0})
    return out_rows, targets


def _docker_comparison(rows: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Our docker backend against each engine CLI (p50 and p99 ratios), and the 1.2x targets against podman."""
    ratios: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    if DOCKER_CASE not in rows:
        return ratios, targets
    ours = rows[DOCKER_CASE]
    for name, row in rows.items():
        if name.startswith(("podman", "docker CLI")):
            ratios[name] = {"p50": ratio(ours["p50_ms"], row["p50_ms"]), "p99": ratio(ours["p99_ms"], row["p99_ms"])}
    for case, what in (("podman run --rm (same limits)", "same binds and limits"),
                       ("podman run --rm (binds only)", "binds only")):
        peer = ratios.get(case)
        if peer:
            targets.append({"name": f"docker backend within 1.2x of `podman run --rm` ({what}), p50",
                            "value": f"{peer['p50']:.2f}x", "met": peer["p50"] <= 1.2})
    return ratios, targets


async def run(quick: bool = False) -> dict[str, Any]:
    rig = _Rig(quick)
    sync_cases = rig.sync_cases()
    docker_cases, docker_info = _docker_cases(rig)
    samples, seconds = await _measure(rig, sync_cases, docker_cases)
    rig.episode.close()
    late = exit_latency(rig.bwrap, rig.request, 8 if quick else 24)

    rows = {name: summary_ms(values) for name, values in samples.items()}
    out_rows, targets = _overhead(rows)
    docker_ratios, docker_targets = _docker_comparison(rows)
    return {
        "config": {"runs": rig.n, "docker_runs": rig.n_docker, "rounds": ROUNDS, "seconds": round(seconds, 1),
                   **docker_info},
        "rows": out_rows, "charged_ms": {k: summary_ms(v) for k, v in rig.charged.items() if v},
        "exit_latency_ms": summary_ms(late), "docker_ratios": docker_ratios,
        "targets": [*targets, *docker_targets], "notes": rig.notes,
    }


def render(result: dict[str, Any]) -> str:
    cfg = result["config"]
    out = [f"### 2. Experiment overhead ({cfg['runs']} runs each, docker {cfg['docker_runs']}, "
           f"{cfg['rounds']} interleaved rounds)", ""]
    out.append(md_table(["case", "n", "p50 ms", "p99 ms", "p50 - host ms", "p50 / host"],
                        [[r["case"], r["n"], r["p50_ms"], r["p99_ms"], r["over_host_p50_ms"], r["over_host_ratio"]]
                         for r in result["rows"]]))
    if result["docker_ratios"]:
        out += ["", md_table(["docker backend vs", "p50 ratio", "p99 ratio"],
                             [[k, v["p50"], v["p99"]] for k, v in result["docker_ratios"].items()])]
    if result["charged_ms"]:
        out += ["", "Seconds charged to the budget for `true` (ExecResult.duration_sec): " + ", ".join(
            f"{k} p50 {v['p50_ms']:.1f} ms" for k, v in result["charged_ms"].items())]
    late = result["exit_latency_ms"]
    out += ["", f"Exit noticed by BwrapBackend.run after the sandboxed program's last instruction (python3 printing "
                f"CLOCK_MONOTONIC after a 0.1-0.4 s sleep; {late['n']} runs): p50 {late['p50_ms']:.1f} ms, "
                f"p99 {late['p99_ms']:.1f} ms, min {late['min_ms']:.1f} ms (interpreter exit and namespace "
                "teardown included). This delay is charged to the agent and lands in every scorer timing."]
    if cfg.get("engine"):
        out += ["", f"Engine: {cfg['engine']} at {cfg['docker_host']} (from {cfg['from']}), image {cfg['image']}."]
    out += [f"- {n}" for n in result["notes"]]
    return "\n".join(out)

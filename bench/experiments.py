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

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO, bench_task, md_table, ratio, scratch, summary_ms

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


async def run(quick: bool = False) -> dict[str, Any]:
    from mcp import Client

    from autolab_mcp.core.editable import matches
    from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, Limits
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import Episode
    from autolab_mcp.server import build_server

    n = 20 if quick else 100
    n_docker = 5 if quick else 20
    work = scratch("experiments")
    task = load_task(bench_task())
    bwrap = BwrapBackend()
    episode = Episode.create(task, work / "runs", backend=bwrap, scorer=None)
    env_cfg = task.config.environment
    read_only = sorted(
        str(p.relative_to(task.environment_dir)) for p in task.environment_dir.rglob("*")
        if p.is_file() and not matches(str(p.relative_to(task.environment_dir)), task.config.autolab.editable)
    )
    uid = AGENT_UID if os.geteuid() == 0 else None
    counter = {"i": 0}

    def request(command: str = "true") -> ExecRequest:
        counter["i"] += 1
        return ExecRequest(
            command=command, workspace=episode.workspace.root, read_only_paths=read_only, runtime=episode.runtime,
            env={"LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
            limits=Limits(wall_sec=60, memory_mb=env_cfg.memory_mb, cpus=env_cfg.cpus), uid=uid,
            log_path=work / "logs" / f"{counter['i']}.log",
        )

    charged: dict[str, list[float]] = {"bwrap": [], "run_experiment": [], "docker": []}
    notes: list[str] = [f"bwrap limits mode: {bwrap.limits_mode}"]

    def host() -> None:
        subprocess.run(["true"], check=True)

    def bwrap_true() -> None:
        result = bwrap.run(request())
        if not result.ok:
            raise RuntimeError(f"bwrap true failed: {result}")
        charged["bwrap"].append(result.duration_sec)

    sync_cases: dict[str, Callable[[], None]] = {"host subprocess.run(true)": host}
    raw = _raw_bwrap(bwrap, request())
    if raw is None:
        notes.append("the raw bwrap reference was skipped (BwrapBackend's argv helpers changed)")
    else:
        sync_cases["bwrap CLI, same argv, no cgroup (reference)"] = raw
    sync_cases["BwrapBackend.run(true)"] = bwrap_true
    docker_cases: dict[str, Callable[[], None]] = {}
    docker_info: dict[str, Any] = {}
    docker_host, source = _docker_host()
    if docker_host is None:
        notes.append(f"docker backend skipped: {source}")
    elif not (REPO / "autolab_mcp" / "sandbox" / "docker.py").is_file():
        notes.append("docker backend skipped: autolab_mcp/core/sandbox/docker.py is missing")
    else:
        os.environ["DOCKER_HOST"] = docker_host
        try:
            from autolab_mcp.core.sandbox.docker import DockerBackend

            docker = DockerBackend()
        except Exception as exc:  # no engine, or the backend is mid-rewrite
            notes.append(f"docker backend skipped: {exc}")
        else:
            docker_info = {"engine": docker.engine, "docker_host": docker_host, "from": source, "image": docker.image}

            def docker_true() -> None:
                result = docker.run(request())
                if not result.ok:
                    raise RuntimeError(f"docker true failed: {result}")
                charged["docker"].append(result.duration_sec)

            docker_cases["DockerBackend.run(true)"] = docker_true
            podman_env = None
            if (PODMAN_DIR / "containers.conf").is_file() and docker_host.endswith(str(PODMAN_DIR / "podman.sock")):
                podman_env = {**os.environ, "CONTAINERS_CONF": str(PODMAN_DIR / "containers.conf"),
                              "CONTAINERS_STORAGE_CONF": str(PODMAN_DIR / "storage.conf")}
            if shutil.which("podman") and (podman_env is not None or "podman" in docker.engine.lower()):
                full = _podman_argv(docker.image, True, uid, env_cfg.memory_mb)
                bare = _podman_argv(docker.image, False, uid, env_cfg.memory_mb)
                docker_cases["podman run --rm (same limits)"] = lambda: _run_checked(full, podman_env)
                docker_cases["podman run --rm (binds only)"] = lambda: _run_checked(bare, podman_env)
                docker_info["podman_argv"] = " ".join(full)
            if shutil.which("docker"):
                cli = ["docker", "-H", docker_host, *_podman_argv(docker.image, True, uid, env_cfg.memory_mb)[1:]]
                docker_cases["docker CLI run --rm (same API socket)"] = lambda: _run_checked(cli)
            if len(docker_cases) == 1:
                notes.append("no podman/docker CLI for a peer; the docker backend is shown alone")

    samples: dict[str, list[float]] = {k: [] for k in [*sync_cases, "run_experiment(true) via MCP", *docker_cases]}
    async with Client(build_server(episode), read_timeout_seconds=120) as client:

        async def mcp_true() -> None:
            result = await client.call_tool("run_experiment", {"command": "true", "wait_sec": 30})
            info = result.structured_content or {}
            if result.is_error or info.get("status") != "finished" or info.get("exit_code") != 0:
                raise RuntimeError(f"run_experiment true failed: {result.content}")
            charged["run_experiment"].append(info["seconds"])

        started = time.monotonic()
        for fn in [*sync_cases.values(), *docker_cases.values()]:
            fn()  # warm-up (page cache, image, cgroup parents)
        await mcp_true()
        for charged_list in charged.values():
            charged_list.clear()
        for r in range(ROUNDS):
            count = n // ROUNDS + (1 if r < n % ROUNDS else 0)
            dcount = n_docker // ROUNDS + (1 if r < n_docker % ROUNDS else 0)
            for name, fn in sync_cases.items():
                for _ in range(count):
                    t0 = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t0)
            for _ in range(count):
                t0 = time.perf_counter()
                await mcp_true()
                samples["run_experiment(true) via MCP"].append(time.perf_counter() - t0)
            for name, fn in docker_cases.items():
                for _ in range(dcount):
                    t0 = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t0)
        seconds = time.monotonic() - started
    episode.close()
    late = exit_latency(bwrap, request, 8 if quick else 24)

    rows = {name: summary_ms(values) for name, values in samples.items()}
    exit_seen = summary_ms(late)
    host_p50 = rows["host subprocess.run(true)"]["p50_ms"]
    out_rows = []
    for name, row in rows.items():
        extra = {"over_host_p50_ms": row["p50_ms"] - host_p50, "over_host_ratio": ratio(row["p50_ms"], host_p50)}
        out_rows.append({"case": name, **row, **extra})
    charged_ms = {k: summary_ms(v) for k, v in charged.items() if v}
    targets = []
    for name in ("BwrapBackend.run(true)", "run_experiment(true) via MCP"):
        over = rows[name]["p50_ms"] - host_p50
        targets.append({"name": f"{name}: p50 overhead beyond the raw process < 15 ms", "value": f"+{over:.1f} ms",
                        "met": over < 15.0})
    docker_ratios = {}
    if "DockerBackend.run(true)" in rows:
        ours = rows["DockerBackend.run(true)"]
        for name, row in rows.items():
            if name.startswith(("podman", "docker CLI")):
                docker_ratios[name] = {"p50": ratio(ours["p50_ms"], row["p50_ms"]),
                                       "p99": ratio(ours["p99_ms"], row["p99_ms"])}
        primary = docker_ratios.get("podman run --rm (same limits)")
        if primary:
            targets.append({"name": "docker backend within 1.2x of `podman run --rm` (same binds and limits), p50",
                            "value": f"{primary['p50']:.2f}x", "met": primary["p50"] <= 1.2})
        bare = docker_ratios.get("podman run --rm (binds only)")
        if bare:
            targets.append({"name": "docker backend within 1.2x of `podman run --rm` (binds only), p50",
                            "value": f"{bare['p50']:.2f}x", "met": bare["p50"] <= 1.2})
    return {
        "config": {"runs": n, "docker_runs": n_docker, "rounds": ROUNDS, "seconds": round(seconds, 1), **docker_info},
        "rows": out_rows, "charged_ms": charged_ms, "exit_latency_ms": exit_seen, "docker_ratios": docker_ratios,
        "targets": targets, "notes": notes,
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

"""Attack family 11: fork bomb, memory bomb, disk fill, infinite loop, 100 MB of output, huge trees.

Each bomb runs as a real experiment while the test keeps calling other tools: the server must answer within
a few seconds, the limit must hold (pids, memory, file size, wall time, output kept), nothing of the bomb
may survive (no process, no cgroup), and the budget is exact: compute used equals the seconds reported,
nothing stays reserved.

Weaker guarantees, documented:
- Disk: each file is capped (RLIMIT_FSIZE, 1 GiB by default) but the workspace as a whole has no quota; the
  xfail test below shows an experiment allocating 4 GiB on the host disk.
- /tmp is a 512 MiB tmpfs; in privileged mode it is root-owned and not writable by the sandbox uid at all.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import anyio
import pytest

from tests.attacks.helpers import assert_consistent, run
from tests.helpers import connect, tool

pytestmark = pytest.mark.anyio

RESPONSIVE_SEC = 5.0
CGROUP_PARENTS = [Path("/sys/fs/cgroup/pids/autolab"), Path("/sys/fs/cgroup/memory/autolab"),
                  Path("/sys/fs/cgroup/autolab")]


def processes_with(marker: str) -> list[str]:
    """Command lines of live processes that mention `marker` (read-only scan of /proc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def my_cgroups() -> list[Path]:
    """Per-run cgroups this server process created (named '<server pid>-<n>-<hex>') that still exist."""
    prefix = f"{os.getpid()}-"
    return [d for parent in CGROUP_PARENTS if parent.is_dir() for d in parent.iterdir()
            if d.is_dir() and d.name.startswith(prefix)]


async def still_responsive(client) -> None:
    for name, args in [("remaining_budget", {}), ("list_files", {}), ("read_file", {"path": "network.py"}),
                       ("history", {})]:
        started = time.monotonic()
        await tool(client, name, args)
        took = time.monotonic() - started
        assert took < RESPONSIVE_SEC, f"{name} took {took:.1f} s while a bomb was running"


async def bomb(client, command: str, timeout_sec: float) -> dict:
    """Start a bomb, prove the server answers while it runs, then wait for its end."""
    info = await tool(client, "run_experiment", {"command": command, "timeout_sec": timeout_sec, "wait_sec": 1})
    if info["status"] == "running":
        await still_responsive(client)
    while info["status"] == "running":
        info = await tool(client, "experiment_status", {"id": info["id"], "wait_sec": 10})
    return info


async def test_fork_bomb(make_episode):
    episode = make_episode()
    name = f"bomb_{secrets.token_hex(4)}"
    async with connect(episode) as client:
        info = await bomb(client, f"{name}() {{ {name} | {name} & }}; {name}; sleep 30", timeout_sec=5)
        assert info["status"] == "finished" or info["killed_by"] == "timeout", info
        assert info["seconds"] <= 5 + 0.5
        await anyio.sleep(0.5)
        assert processes_with(name) == [], "fork bomb processes survived"
        assert my_cgroups() == []
        after = await run(client, "echo alive")  # the next sandbox starts normally
        assert after["exit_code"] == 0 and "alive" in after["output_tail"]
        await assert_consistent(client, episode, experiments=[info, after], experiments_used=2, score_calls=0)


async def test_memory_bomb(make_episode):
    episode = make_episode()  # memory_mb = 1024
    hog = "python3 -c \"chunks = []\nwhile True: chunks.append(b'x' * (64 << 20))\""
    async with connect(episode) as client:
        info = await bomb(client, hog, timeout_sec=60)
        assert info["exit_code"] != 0, info
        if info["limits_mode"] in ("cgroup", "container"):  # a memory cgroup: the kernel's OOM killer ends it
            assert (info["status"], info["killed_by"]) == ("killed", "oom") and info["oom_killed"], info
        else:
            assert "MemoryError" in info["output_tail"], info
        assert my_cgroups() == []
        await assert_consistent(client, episode, experiments=[info], experiments_used=1, score_calls=0)


async def test_infinite_loop_and_output_flood(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        loop = await bomb(client, "while :; do :; done", timeout_sec=3)
        assert loop["killed_by"] == "timeout" and loop["timed_out"] and 2.5 < loop["seconds"] < 8, loop
        flood = await bomb(client, "head -c 100000000 /dev/zero | tr '\\0' x; printf '\\xff\\xfe\\x1b[2J\\n'; "
                                   "echo END", timeout_sec=60)
        assert flood["status"] == "finished" and flood["output_truncated"], flood
        assert len(flood["output_tail"]) <= 4096 + 16 and flood["output_tail"].rstrip().endswith("END")
        log = episode.run_dir / flood["log_file"]
        assert log.stat().st_size <= 8 * 1024 * 1024
        await assert_consistent(client, episode, experiments=[loop, flood], experiments_used=2, score_calls=0)


async def test_disk_fill_per_file_cap_and_private_tmp(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        info = await bomb(client, (
            "truncate -s 2G sparse 2>&1; echo truncate=$?; fallocate -l 1100M alloc 2>&1; echo fallocate=$?; "
            "dd if=/dev/zero of=edge bs=1M seek=1023 count=2 2>&1 | tail -1; ls -ls sparse alloc edge; "
            "head -c 700M /dev/zero > /tmp/fill 2>&1; echo tmp=$?; ls -l /tmp/fill 2>&1; df -m /tmp | tail -1"
        ), timeout_sec=60)
        out = info["output_tail"]
        assert "truncate=0" not in out and "fallocate=0" not in out, out
        root = episode.workspace.root
        for name in ("sparse", "alloc", "edge"):
            path = root / name
            assert not path.exists() or path.stat().st_size <= 1024 ** 3, (name, out)
        assert "tmp=0" not in out, "700 MB fitted into the 512 MB /tmp"
        listing = await tool(client, "list_files")
        assert listing["entries"]
        await assert_consistent(client, episode, experiments=[info], experiments_used=1, score_calls=0)


async def test_huge_and_deep_trees_keep_tools_bounded(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        info = await bomb(client, (
            "mkdir many && cd many && seq 1 30000 | xargs touch && cd .. && "
            "mkdir -p $(printf 'd/%.0s' $(seq 1 150)) && echo built"
        ), timeout_sec=120)
        assert "built" in info["output_tail"], info
        started = time.monotonic()
        listing = await tool(client, "list_files")
        assert listing["truncated"] and len(listing["entries"]) <= 10_000
        await tool(client, "list_files", {"path": "d"})
        metric = await tool(client, "get_metric")  # freezing only looks where editable files can be
        assert metric["valid"] and metric["metric"] == 66
        assert time.monotonic() - started < 30
        await assert_consistent(client, episode, experiments=[info], experiments_used=1, score_calls=1)


@pytest.mark.xfail(strict=True, reason=(
    "weaker guarantee: the workspace has no hard disk quota, only a watchdog that kills a run whose writable "
    "mounts exceed limits.disk_mb (checked every 2 s) and a 1 GiB cap per file; instant allocations "
    "(fallocate) can overshoot by what fits in one check interval"))
async def test_workspace_has_a_disk_quota(make_episode):
    episode = make_episode()
    if shutil.disk_usage(episode.workspace.root).free < 30 * 1024 ** 3:
        pytest.skip("needs 30 GiB free to show the missing quota safely")
    try:
        async with connect(episode) as client:
            info = await bomb(client, "for i in 1 2 3 4; do fallocate -l 1000M fill$i; done; du -sm .",
                              timeout_sec=60)
            await assert_consistent(client, episode, experiments=[info], experiments_used=1, score_calls=0)
        used = sum(p.stat().st_blocks * 512 for p in episode.workspace.root.iterdir() if p.is_file())
        assert used <= 2 * 1024 ** 3, f"one experiment put {used / 1024 ** 3:.1f} GiB on the host disk"
    finally:
        for path in episode.workspace.root.glob("fill*"):
            path.unlink()


async def test_disk_watchdog_stops_a_steady_writer(make_episode):
    """A run that keeps writing is killed once the workspace passes limits.disk_mb (2 GiB by default)."""
    episode = make_episode()
    try:
        async with connect(episode) as client:
            info = await bomb(client, "i=0; while true; do head -c 200M /dev/zero > w$i || exit 9; i=$((i+1)); done",
                              timeout_sec=120)
            assert (info["status"], info["killed_by"]) == ("killed", "disk"), info
            await assert_consistent(client, episode, experiments=[info], experiments_used=1, score_calls=0)
    finally:
        for path in episode.workspace.root.glob("w*"):
            path.unlink()

"""1. Tool-call latency: our tools over three transports, a reference MCP server, a bare SDK server, a plain read.

All clients are open at once and the measurement goes in rounds (every case gets a slice of
its calls in each round), so a slow phase of the machine hits every case alike.

- ours: `read_file` (4 KiB, 256 KiB), `apply_patch` (a 1-line change, alternating forward/back:
  each call writes the file and records a snapshot), `remaining_budget` (no I/O: the pure
  overhead of our MCP layer), over the in-memory client, stdio and streamable HTTP (bearer token);
- peer: `read_text_file` of @modelcontextprotocol/server-filesystem (node, stdio), same files,
  same Python client;
- bare: a minimal server on the same Python SDK (bench/bare_server.py) over stdio: what the SDK
  and transport cost before anything of ours runs;
- floor: `open(path).read()` in this process.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import (
    BIG_BYTES,
    PY,
    REPO,
    SMALL_BYTES,
    bench_task,
    http_server,
    http_transport,
    md_table,
    node_version,
    patch_pair,
    peer_fs_entry,
    ratio,
    scratch,
    serve_stdio_params,
    summary_ms,
)

ROUNDS = 5
WARMUP = 10


class Case:
    def __init__(self, server: str, transport: str, tool: str, call: Callable[[], Awaitable[Any]]) -> None:
        self.server, self.transport, self.tool, self.call = server, transport, tool, call
        self.samples: list[float] = []

    @property
    def key(self) -> str:
        return f"{self.server}/{self.transport}/{self.tool}"


def _text_of(result: Any) -> str:
    if getattr(result, "is_error", False):
        raise RuntimeError(f"tool call failed: {result.content}")
    return "".join(getattr(c, "text", "") for c in result.content)


TRANSPORTS = ("memory", "stdio", "http")


def _read_call(c: Any, path: str, size: int) -> Callable[[], Awaitable[None]]:
    """Our read_file, checked for the full size so a short read cannot pass for a fast one."""
    async def call() -> None:
        result = await c.call_tool("read_file", {"path": path})
        if result.is_error or result.structured_content["bytes_read"] != size:
            raise RuntimeError(f"read_file {path}: {result.content}")
    return call


def _patch_call(c: Any, forward: str, back: str) -> Callable[[], Awaitable[None]]:
    """apply_patch alternating forward and back, so every call really changes the file."""
    toggle = {"i": 0}

    async def call() -> None:
        patch = forward if toggle["i"] % 2 == 0 else back
        toggle["i"] += 1
        result = await c.call_tool("apply_patch", {"patch": patch})
        if result.is_error:
            raise RuntimeError(f"apply_patch: {result.content}")
    return call


def _budget_call(c: Any) -> Callable[[], Awaitable[None]]:
    """remaining_budget: no I/O, the bare cost of our MCP layer."""
    async def call() -> None:
        result = await c.call_tool("remaining_budget", {})
        if result.is_error:
            raise RuntimeError(f"remaining_budget: {result.content}")
    return call


def _text_read_call(c: Any, tool: str, arg: str, size: int) -> Callable[[], Awaitable[None]]:
    """A peer's or the bare server's read tool, which answers plain text rather than our structured result."""
    async def call() -> None:
        text = _text_of(await c.call_tool(tool, {"path": arg}))
        if len(text) != size:
            raise RuntimeError(f"{tool} {arg}: got {len(text)} chars, expected {size}")
    return call


def _noop_call(c: Any) -> Callable[[], Awaitable[None]]:
    """The bare server's noop: the SDK and transport alone."""
    async def call() -> None:
        _text_of(await c.call_tool("noop", {}))
    return call


def _floor_call(path: Path, size: int) -> Callable[[], Awaitable[None]]:
    """A plain read in this process: the floor any server's read sits above."""
    async def call() -> None:
        with open(path, encoding="utf-8") as f:
            if len(f.read()) != size:
                raise RuntimeError("floor read: wrong size")
    return call


async def _open_ours(stack: contextlib.AsyncExitStack, episode: Any, transports: tuple[str, ...], task_root: Path,
                     work: Path) -> dict[str, Any]:
    """A client of our server per transport asked for, all held open by `stack` for the whole measurement."""
    from mcp import Client

    from autolab_mcp.server import build_server

    clients: dict[str, Any] = {}
    if "memory" in transports:
        clients["memory"] = await stack.enter_async_context(
            Client(build_server(episode), read_timeout_seconds=120))
    if "stdio" in transports:
        transport, errlog = serve_stdio_params(task_root, work / "runs-stdio", work / "stdio-server.log")
        stack.callback(errlog.close)
        clients["stdio"] = await stack.enter_async_context(Client(transport, read_timeout_seconds=120))
    if "http" in transports:
        url, token, _pid = await stack.enter_async_context(http_server(task_root, work / "runs-http",
                                                                        work / "http-server.log"))
        http_tr, http = http_transport(url, token)
        await stack.enter_async_context(http)
        clients["http"] = await stack.enter_async_context(Client(http_tr, read_timeout_seconds=120))
    return clients


async def _open_others(stack: contextlib.AsyncExitStack, peer_entry: Path | None, peers: bool, workspace: Path,
                       work: Path) -> dict[str, Any]:
    """Clients of the reference filesystem server and of the bare SDK server, when they take part."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    clients: dict[str, Any] = {}
    peer_log = open(work / "peer-server.log", "w")  # noqa: SIM115
    stack.callback(peer_log.close)
    if peer_entry is not None:
        params = StdioServerParameters(command="node", args=[str(peer_entry), str(workspace)])
        clients["peer"] = await stack.enter_async_context(
            Client(stdio_client(params, errlog=peer_log), read_timeout_seconds=120))
    if peers:
        bare_params = StdioServerParameters(command=PY, args=["-m", "bench.bare_server", str(workspace)],
                                            cwd=str(REPO))
        clients["bare"] = await stack.enter_async_context(
            Client(stdio_client(bare_params, errlog=peer_log), read_timeout_seconds=120))
    return clients


def _our_cases(clients: dict[str, Any], transports: tuple[str, ...], forward: str, back: str) -> list[Case]:
    cases: list[Case] = []
    for name in transports:
        client = clients[name]
        cases += [
            Case("ours", name, "read_file 4KiB", _read_call(client, "small.txt", SMALL_BYTES)),
            Case("ours", name, "read_file 256KiB", _read_call(client, "big.txt", BIG_BYTES)),
            Case("ours", name, "apply_patch", _patch_call(client, forward, back)),
            Case("ours", name, "remaining_budget", _budget_call(client)),
        ]
    return cases


def _other_cases(clients: dict[str, Any], workspace: Path) -> list[Case]:
    """The peer and bare-SDK rows (for whichever of them is open) and the floor, which is always there."""
    cases: list[Case] = []
    if "peer" in clients:
        cases += [
            Case("peer", "stdio", "read_file 4KiB",
                 _text_read_call(clients["peer"], "read_text_file", str(workspace / "small.txt"), SMALL_BYTES)),
            Case("peer", "stdio", "read_file 256KiB",
                 _text_read_call(clients["peer"], "read_text_file", str(workspace / "big.txt"), BIG_BYTES)),
        ]
    if "bare" in clients:
        cases += [
            Case("bare-sdk", "stdio", "read_file 4KiB",
                 _text_read_call(clients["bare"], "read_text", "small.txt", SMALL_BYTES)),
            Case("bare-sdk", "stdio", "read_file 256KiB",
                 _text_read_call(clients["bare"], "read_text", "big.txt", BIG_BYTES)),
            Case("bare-sdk", "stdio", "read_file 4KiB (async tool)",
                 _text_read_call(clients["bare"], "read_text_async", "small.txt", SMALL_BYTES)),
            Case("bare-sdk", "stdio", "noop", _noop_call(clients["bare"])),
        ]
    return [
        *cases,
        Case("floor", "python", "read_file 4KiB", _floor_call(workspace / "small.txt", SMALL_BYTES)),
        Case("floor", "python", "read_file 256KiB", _floor_call(workspace / "big.txt", BIG_BYTES)),
    ]


async def _measure(cases: list[Case], n: int) -> float:
    """Warm every case up, then time n calls each in interleaved rounds; the wall seconds it all took."""
    started = time.monotonic()
    for case in cases:
        for _ in range(WARMUP):
            await case.call()
    per_round = [n // ROUNDS + (1 if r < n % ROUNDS else 0) for r in range(ROUNDS)]
    for count in per_round:
        for case in cases:
            for _ in range(count):
                t0 = time.perf_counter()
                await case.call()
                case.samples.append(time.perf_counter() - t0)
    return time.monotonic() - started


def _comparison(by: dict[tuple[str, str, str], dict[str, Any]], tool: str, transport: str) -> dict[str, Any]:
    """Our p50/p99 for one read over one transport against the floor, and against peer and bare SDK over stdio."""
    floor = by[("floor", "python", tool)]
    bare = by.get(("bare-sdk", "stdio", tool))
    peer = by.get(("peer", "stdio", tool))
    ours = by[("ours", transport, tool)]
    vs_peer = peer is not None and transport == "stdio"
    return {
        "tool": tool, "transport": transport,
        "ours_p50_ms": ours["p50_ms"], "ours_p99_ms": ours["p99_ms"],
        "peer_p50_ms": peer["p50_ms"] if vs_peer else None,
        "ours_over_peer_p50": ratio(ours["p50_ms"], peer["p50_ms"]) if vs_peer else None,
        "ours_over_peer_p99": ratio(ours["p99_ms"], peer["p99_ms"]) if vs_peer else None,
        "ours_over_bare_p50": ratio(ours["p50_ms"], bare["p50_ms"]) if bare and transport == "stdio" else None,
        "ours_over_floor_p50": ratio(ours["p50_ms"], floor["p50_ms"]),
        "ours_minus_floor_p50_ms": ours["p50_ms"] - floor["p50_ms"],
        "peer_minus_floor_p50_ms": peer["p50_ms"] - floor["p50_ms"] if vs_peer else None,
    }


def _targets(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stdio read targets: at or below the reference server (when it ran), within 1 ms of the floor."""
    targets = []
    for tool in ("read_file 4KiB", "read_file 256KiB"):
        comp = next((c for c in comparisons if c["tool"] == tool and c["transport"] == "stdio"), None)
        if comp is None:
            continue
        if comp["ours_over_peer_p50"] is not None:
            targets.append({
                "name": f"{tool} over stdio: p50 at or below the reference filesystem server",
                "value": f"ours {comp['ours_p50_ms']:.3f} ms vs peer {comp['peer_p50_ms']:.3f} ms "
                         f"({comp['ours_over_peer_p50']:.2f}x)",
                "met": comp["ours_over_peer_p50"] <= 1.0,
            })
        targets.append({
            "name": f"{tool} over stdio: p50 within 1 ms of the floor (plain Python read)",
            "value": f"+{comp['ours_minus_floor_p50_ms']:.3f} ms",
            "met": comp["ours_minus_floor_p50_ms"] <= 1.0,
        })
    return targets


async def run(quick: bool = False, calls: int | None = None, transports: tuple[str, ...] = TRANSPORTS,
              peers: bool = True) -> dict[str, Any]:
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import Episode

    n = calls or (100 if quick else 500)
    task_root = bench_task()
    work = scratch("latency")
    episode = Episode.create(load_task(task_root), work / "runs-mem", backend=BwrapBackend(), scorer=None)
    workspace = episode.workspace.root
    forward, back = patch_pair()
    notes: list[str] = []
    peer_entry = peer_fs_entry() if peers and "stdio" in transports else None
    if peers and "stdio" in transports and peer_entry is None:
        notes.append("reference filesystem server not available (no node/npm): peer rows skipped")

    async with contextlib.AsyncExitStack() as stack:
        stack.callback(episode.close)
        clients = await _open_ours(stack, episode, transports, task_root, work)
        clients.update(await _open_others(stack, peer_entry, peers, workspace, work))
        cases = [*_our_cases(clients, transports, forward, back), *_other_cases(clients, workspace)]
        seconds = await _measure(cases, n)

    rows = [{"server": c.server, "transport": c.transport, "tool": c.tool, **summary_ms(c.samples)} for c in cases]
    by = {(r["server"], r["transport"], r["tool"]): r for r in rows}
    comparisons = [_comparison(by, tool, transport)
                   for tool in ("read_file 4KiB", "read_file 256KiB") for transport in transports]
    return {
        "config": {"calls_per_case": n, "rounds": ROUNDS, "warmup": WARMUP, "node": node_version(),
                   "transports": list(transports),
                   "peer": "@modelcontextprotocol/server-filesystem (read_text_file)" if peer_entry else None,
                   "seconds": round(seconds, 1)},
        "rows": rows, "comparisons": comparisons, "targets": _targets(comparisons), "notes": notes,
    }


def render(result: dict[str, Any]) -> str:
    cfg = result["config"]
    out = [f"### 1. Tool-call latency ({cfg['calls_per_case']} calls per case, {cfg['rounds']} interleaved rounds, "
           f"node {cfg['node'] or 'n/a'})", ""]
    out.append(md_table(["server", "transport", "tool", "n", "p50 ms", "p99 ms", "mean ms"],
                        [[r["server"], r["transport"], r["tool"], r["n"], r["p50_ms"], r["p99_ms"], r["mean_ms"]]
                         for r in result["rows"]]))
    out += ["", md_table(
        ["read", "transport", "ours p50 ms", "ours/peer p50", "ours/peer p99", "ours/bare-sdk p50",
         "ours/floor p50", "ours - floor p50 ms", "peer - floor p50 ms"],
        [[c["tool"], c["transport"], c["ours_p50_ms"], c["ours_over_peer_p50"], c["ours_over_peer_p99"],
          c["ours_over_bare_p50"], c["ours_over_floor_p50"], c["ours_minus_floor_p50_ms"],
          c["peer_minus_floor_p50_ms"]]
         for c in result["comparisons"]])]
    out += ["", "apply_patch writes the file and records a snapshot on every call; remaining_budget does no "
                "I/O and is the floor of our MCP layer per transport. Peer and bare-sdk run over stdio only.",
            *[f"- {n}" for n in result["notes"]]]
    return "\n".join(out)

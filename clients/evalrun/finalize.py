"""Finalize: submit an episode a client left open (e.g. a `claude -p` session that ended without `submit`),
by resuming its server and submitting the last state, as the wall budget's end would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import stdio_client

from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.rundir_files import RunDirCorrupt
from clients.evalrun.launch import READ_TIMEOUT, resume_params
from clients.evalrun.monitor import RunMonitor, wait_for_result
from clients.evalrun.paths import finalize_log

__all__ = ["finalize"]


def finalize(run_dir: Path) -> dict[str, Any]:
    """Submit an episode a client left open (e.g. a `claude -p` session that ended without `submit`):
    resume its server and submit the last state, as the wall budget's end would."""
    run = RunDir(Path(run_dir).resolve())
    if run.submitted():
        return _signed_record(run)
    if not run.exists():
        raise FileNotFoundError(f"{run.path} is not a run directory (no {run.meta.name})")
    return anyio.run(_finalize_async, run)


def _signed_record(run: RunDir) -> dict[str, Any]:
    record = run.read_final_record()
    if record is None:
        raise RunDirCorrupt(f"result file {run.result} holds no signed record")
    return record


async def _finalize_async(run: RunDir) -> dict[str, Any]:
    with open(finalize_log(run), "a", encoding="utf-8") as errlog:
        async with Client(stdio_client(resume_params(run.path), errlog=errlog),
                          read_timeout_seconds=READ_TIMEOUT) as client:
            result = await _submit(client)
            if result.is_error:  # the wall budget was spent: the server is submitting by itself
                await wait_for_result(RunMonitor(run.path.parent, run))
    if run.submitted():
        return _signed_record(run)
    raise RuntimeError(" ".join(getattr(c, "text", "") for c in result.content))


async def _submit(client: Client) -> Any:
    """submit, then keep the server up (polling) until the score is in."""
    result = await client.call_tool("submit", {})
    while not result.is_error and (result.structured_content or {}).get("status") == "pending":
        job = (result.structured_content or {})["id"]
        result = await client.call_tool("score_status", {"id": job, "wait_sec": 50})
    return result

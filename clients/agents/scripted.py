"""The reference-solution agent (clients/scripted.py) as an eval agent. It ignores the seed."""

from __future__ import annotations

from clients.agents.base import EpisodeContext


class ScriptedAgent:
    name = "scripted"
    model_name: str | None = None

    async def run(self, ctx: EpisodeContext) -> None:
        from clients.scripted import run_episode

        await run_episode(ctx.client, ctx.task, out=ctx.log)  # type: ignore[arg-type]  # duck-typed client

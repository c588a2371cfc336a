"""Attack family 15: races between tool calls.

- submit racing apply_patch / write_file / restore, many rounds with varied timing: a change either lands
  before the frozen snapshot (and is in what was scored) or is refused; never accepted after the freeze
  without being in it. The workspace afterwards equals the submitted snapshot.
- submit while an experiment keeps rewriting the editable file: what is scored is exactly the frozen
  snapshot, the experiment is stopped and charged exactly, no snapshot is recorded after the freeze.
- get_metric calls fired at once past the score-call budget: exactly the limit succeed.
- concurrent submits: exactly one wins; concurrent experiments past the count budget: exactly the limit run.
"""

from __future__ import annotations

import hashlib
import json
import random

import anyio
import pytest

from tests.attacks.helpers import assert_consistent, baseline_network, verify
from tests.helpers import connect, tool

pytestmark = pytest.mark.anyio

ROUNDS = 12


def snapshot_bytes(episode, snapshot_id: str) -> bytes:
    store = episode.workspace.store
    return store.get_blob(store.manifest(snapshot_id)["network.py"])


async def race_round(episode, round_no: int, delays: tuple[float, float]) -> str:
    """One episode: submit and one edit fired together; returns 'landed' or 'refused' after checking both."""
    original = baseline_network(episode)
    first = original.splitlines()[0]
    edited = original.replace(first, f"{first}\n# edit {round_no}", 1)
    kind = ["apply_patch", "write_file", "restore"][round_no % 3]
    submit_delay, edit_delay = delays
    async with connect(episode) as client:
        if kind == "restore":  # restore back to the original from an edited state
            await tool(client, "write_file", {"path": "network.py", "content": edited})
            edited, original = original, edited
            args = {"snapshot": episode.workspace.history()[0].id}
        elif kind == "apply_patch":
            args = {"patch": f"--- a/network.py\n+++ b/network.py\n@@ -1 +1,2 @@\n {first}\n+# edit {round_no}\n"}
        else:
            args = {"path": "network.py", "content": edited}
        results: dict[str, object] = {}

        async def do_submit() -> None:
            await anyio.sleep(submit_delay)
            results["submit"] = await client.call_tool("submit", {})

        async def do_edit() -> None:
            await anyio.sleep(edit_delay)
            results["edit"] = await client.call_tool(kind, args)

        async with anyio.create_task_group() as tg:
            tg.start_soon(do_submit)
            tg.start_soon(do_edit)
        submit, edit = results["submit"], results["edit"]
        assert not submit.is_error, submit.content
        scored = snapshot_bytes(episode, submit.structured_content["snapshot"]).decode()
        if edit.is_error:
            message = edit.content[0].text
            assert "submitted" in message or "ended" in message, message
            assert scored == original, f"round {round_no}: a refused {kind} is in the scored snapshot"
            outcome = "refused"
        else:
            assert scored == edited, f"round {round_no}: {kind} was accepted but is not in the scored snapshot"
            outcome = "landed"
        on_disk = (episode.workspace.root / "network.py").read_text()
        assert on_disk == scored, f"round {round_no}: the workspace changed after the freeze"
        record = json.loads((episode.run_dir / "result.json").read_text())["record"]
        assert record["files"]["network.py"] == hashlib.sha256(scored.encode()).hexdigest()
        await assert_consistent(client, episode, experiments_used=0)
    return outcome


async def test_submit_racing_edits(make_episode):
    rng = random.Random(1234)
    outcomes = []
    for round_no in range(ROUNDS):
        # who goes first, and by how much, varies from round to round (both outcomes must be safe)
        delays = rng.choice([(0.0, 0.0), (0.0, 0.002), (0.002, 0.0), (0.005, 0.0), (0.01, 0.0), (0.0, 0.005),
                             (0.02, 0.0), (0.001, 0.0)])
        episode = make_episode()
        outcomes.append(await race_round(episode, round_no, delays))
        episode.close()
    assert len(outcomes) == ROUNDS


async def test_submit_while_an_experiment_rewrites_the_file(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        exp = await tool(client, "run_experiment", {
            "command": "i=0; while :; do i=$((i+1)); echo \"# $i\" >> network.py; sleep 0.002; done", "timeout_sec": 60,
            "wait_sec": 1})
        assert exp["status"] == "running"
        result = await tool(client, "submit")
        scored = snapshot_bytes(episode, result["snapshot"])
        record = json.loads((episode.run_dir / "result.json").read_text())["record"]
        assert record["files"]["network.py"] == hashlib.sha256(scored).hexdigest(), "scored != frozen snapshot"
        assert result["valid"] and result["metric"] == 66
        final = await tool(client, "experiment_status", {"id": exp["id"], "wait_sec": 10})
        assert (final["status"], final["killed_by"]) == ("killed", "cancel") and final["snapshot_after"] is None, final
        history = episode.workspace.history()
        assert history[-1].id == result["snapshot"] and history[-1].reason == "freeze"
        await assert_consistent(client, episode, experiments=[final], experiments_used=1, score_calls=0)
    assert verify(episode)[0] == 0


async def test_concurrent_get_metric_past_the_budget(make_episode):
    episode = make_episode(score_calls=3)
    async with connect(episode) as client:
        results = []

        async def one() -> None:
            results.append(await client.call_tool("get_metric", {}))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
        ok = [r for r in results if not r.is_error]
        assert len(ok) == 3, [r.content[0].text[:100] for r in results]
        assert all("score calls" in r.content[0].text for r in results if r.is_error)
        assert all(0 <= r.structured_content["score_calls_left"] <= 2 for r in ok)
        await assert_consistent(client, episode, experiments_used=0, score_calls=3)
    assert sum(1 for e in episode.log.read() if e["kind"] == "score") == 3


async def test_concurrent_submits_and_experiments_past_the_count(make_episode):
    episode = make_episode(experiments=3)
    async with connect(episode) as client:
        runs = []

        async def start() -> None:
            runs.append(await client.call_tool("run_experiment", {"command": "sleep 0.3", "wait_sec": 10}))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(start)
        accepted = [r for r in runs if not r.is_error]
        assert len(accepted) == 3 and all("experiments" in r.content[0].text for r in runs if r.is_error)
        submits = []

        async def submit() -> None:
            submits.append(await client.call_tool("submit", {}))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(submit)
        assert sum(not r.is_error for r in submits) == 1, [r.content[0].text[:80] for r in submits]
        await assert_consistent(client, episode, experiments=[r.structured_content for r in accepted],
                                experiments_used=3, score_calls=0)
    assert sum(1 for e in episode.log.read() if e["kind"] == "submitted") == 1
    assert verify(episode)[0] == 0

"""Attack family: carry trained weights or precomputed answers into the editable files as data.

tiny_lm's reference GRU, trained in a long experiment and pasted into lm.py as base64 (902 KB),
scored past the training-time limit. Every task caps the editable files' total size (stated in
the instruction, enforced by the scorer), with room for the reference several times over.
"""

from __future__ import annotations

import json

import pytest

from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.taskdirs import bundled_tasks_dir, list_tasks
from tests.attacks.helpers import assert_consistent
from tests.helpers import connect, tool

pytestmark = pytest.mark.anyio


async def test_a_submission_over_the_size_cap_earns_nothing(make_episode):
    episode = make_episode()
    cap = episode.task.config.autolab.max_editable_bytes
    reference = (episode.task.solution_dir / "network.py").read_text()
    padded = reference + "\n# " + "A" * cap + "\n"  # the reference itself, plus a payload of data
    async with connect(episode) as client:
        spec = json.loads((await client.read_resource("autolab://task")).contents[0].text)
        instruction = (await client.read_resource("autolab://instruction")).contents[0].text
        assert spec["max_editable_bytes"] == cap and f"at most {cap} bytes" in instruction  # the rule is stated
        await tool(client, "write_file", {"path": "network.py", "content": padded})
        metric = await tool(client, "get_metric")
        assert metric["valid"] is False and metric["score"] == 0, metric
        assert f"at most {cap}" in metric["reason"]
        await tool(client, "write_file", {"path": "network.py", "content": reference})
        assert (await tool(client, "get_metric"))["score"] >= 0.9  # the same program under the cap
        await assert_consistent(client, episode, experiments_used=0, score_calls=2)


def test_every_reference_fits_its_tasks_cap_with_room_to_spare():
    for task in list_tasks([bundled_tasks_dir()]):
        cap = task.config.autolab.max_editable_bytes
        size = sum((task.solution_dir / rel).stat().st_size
                   for rel in editable_files(task.solution_dir, task.config.autolab.editable))
        assert 0 < size * 3 <= cap, (task.name, size, cap)
    assert {t.name: t.config.autolab.max_editable_bytes for t in list_tasks([bundled_tasks_dir()])}["tiny_lm"] <= 16384

"""Attack family 5: change the non-editable harness (check.py, data) and smuggle extra files to the scorer.

Via patch and write_file (refused, naming the editable set), and via experiments (`sed -i check.py`, `mv`,
`cp`, `rm`, python): the read-only bind holds, the host copy stays pristine, and get_metric scores with the
scorer's pristine copy. Files an experiment adds next to the editable file (a module shadowing `json`, a
helper the candidate imports) never travel to the scorer: only the declared editable files do.
"""

from __future__ import annotations

import shlex

import pytest

from tests.attacks.helpers import assert_consistent, baseline_network, run, workspace_files
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio

#: A stand-in for the stdlib json module that writes an (invalid) 1-comparator network whatever it is given.
SHADOW_JSON = (
    "def dump(obj, handle, **kw):\n"
    "    handle.write('{\"n\": 12, \"comparators\": [[0, 1]]}')\n"
    "def dumps(obj, **kw):\n"
    "    return '{\"n\": 12, \"comparators\": [[0, 1]]}'\n"
    "def load(handle, **kw):\n"
    "    import ast\n"
    "    return ast.literal_eval(handle.read())\n"
)


async def test_harness_edits_are_refused_and_the_scorer_uses_its_own_copy(make_episode):
    episode = make_episode()
    before = workspace_files(episode)
    check = before["check.py"].decode()
    first = check.splitlines()[0]
    async with connect(episode) as client:
        message = await refused(client, "apply_patch", {
            "patch": f"--- a/check.py\n+++ b/check.py\n@@ -1 +1 @@\n-{first}\n+import sys; print('OK'); sys.exit(0)\n"})
        assert "network.py" in message and "editable" in message
        message = await refused(client, "write_file", {"path": "check.py", "content": "print('OK')\n"})
        assert "network.py" in message
        await refused(client, "write_file", {"path": "./check.py", "content": "print('OK')\n"})
        await refused(client, "write_file", {"path": "sub/../check.py", "content": "print('OK')\n"})
        exp = await run(client, (
            "sed -i 's/MAX_COMPARATORS = 1000/MAX_COMPARATORS = 1/' check.py; echo sed=$?; "
            "echo hacked >> check.py; echo append=$?; cp network.py check.py; echo cp=$?; "
            "mv network.py check.py; echo mv=$?; rm -f check.py; echo rm=$?; truncate -s 0 check.py; "
            "echo truncate=$?; chmod 777 check.py; echo chmod=$?; ln -sf /etc/passwd check.py; echo ln=$?; "
            "python3 -c \"open('check.py', 'w').write('x')\" 2>&1 | tail -1; touch -d 2000-01-01 check.py; "
            "echo touch=$?; python check.py"
        ))
        out = exp["output_tail"]
        for step in ("sed", "append", "cp", "rm", "truncate", "ln"):
            assert f"{step}=0" not in out, (step, out)
        assert "comparators = 66" in out, "the read-only check.py still runs as shipped"
        assert workspace_files(episode) == before
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 66
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=1)
    record = next(e for e in episode.log.read() if e["kind"] == "score")["record"]
    assert set(record["files"]) == {"network.py"}


async def test_files_smuggled_next_to_the_editable_file_never_reach_the_scorer(make_episode):
    episode = make_episode()
    candidate = baseline_network(episode).replace("import json\n", "import json\nimport helper  # noqa\n")
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "network.py", "content": candidate})
        await refused(client, "write_file", {"path": "json.py", "content": SHADOW_JSON})
        await refused(client, "write_file", {"path": "helper.py", "content": ""})
        write = (f"printf %s {shlex.quote(SHADOW_JSON)} > json.py; : > helper.py; mkdir -p __pycache__ .local; "
                 "echo 'import os' > sitecustomize.py; echo 'import helper' > usercustomize.py; "
                 "python network.py out.json; cat out.json; echo")
        exp = await run(client, write)
        assert '"comparators": [[0, 1]]' in exp["output_tail"], exp["output_tail"]  # the shadow works locally
        metric = await tool(client, "get_metric")
        # in the scorer, helper.py is missing (only network.py travels) and json is the real one
        assert not metric["valid"]
        assert "exited with a non-zero code" in metric["reason"], metric  # `import helper` fails: it never travels
        await tool(client, "write_file", {"path": "network.py", "content": baseline_network(episode)})
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 66, "the shadow json.py must not reach the scorer"
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=2)


async def test_non_editable_data_in_subdirectories_stays_pristine_for_experiments(make_episode):
    """An experiment may rename a directory of non-editable files and plant a forged copy in the workspace,
    but every later experiment sees the pristine task files bound read-only over those paths (and the
    scorer never reads the workspace's copies at all)."""
    episode = make_episode("edit_distance")
    pristine = (episode.task.environment_dir / "data" / "expected.txt").read_bytes()[:20]
    async with connect(episode) as client:
        exp = await run(client, "mv data data2; mkdir -p data; echo 0 > data/expected.txt; "
                                "cp data2/pairs.txt data/pairs.txt; ls data")
        again = await run(client, "echo forged >> data/expected.txt; head -c 20 data/expected.txt")
        await assert_consistent(client, episode, experiments=[exp, again], experiments_used=2, score_calls=0)
    assert "forged" not in again["output_tail"]
    assert "Permission denied" in again["output_tail"]  # the pristine file is bound read-only
    assert pristine.decode()[:10] in again["output_tail"]

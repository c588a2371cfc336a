"""Attack family 1: read the hidden tests/ and solution/ through the file tools.

Paths are tried relative, absolute, with `..`, URL-encoded, with Unicode look-alikes of '.' and '/', with
backslashes, and through symlinks planted by an experiment (`ln -s`) or by a patch (`new file mode 120000`).
Every attempt must be refused (or find nothing), no hidden text may reach the agent, and the workspace and
budget stay as they were.
"""

from __future__ import annotations

import os

import pytest

from tests.attacks.helpers import assert_consistent, baseline_network, leaks, run, workspace_files
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio


def hidden_paths(episode) -> list[str]:
    tests = episode.task.tests_dir
    solution = episode.task.solution_dir
    root = episode.workspace.root
    rel_tests = os.path.relpath(tests / "evaluate.py", root)
    return [
        "tests/evaluate.py",
        "solution/network.py",
        "../tests/evaluate.py",
        "../../tests/evaluate.py",
        rel_tests,
        "./" + rel_tests,
        "network.py/../" + rel_tests,
        str(tests / "evaluate.py"),
        str(solution / "network.py"),
        "/proc/self/root" + str(tests / "evaluate.py"),
        "//" + str(tests / "evaluate.py"),
        "%2e%2e/tests/evaluate.py",
        "%2e%2e%2f%2e%2e%2ftests%2fevaluate.py",
        rel_tests.replace("..", "%2e%2e"),
        rel_tests.replace("..", "\uff0e\uff0e"),  # fullwidth full stops
        rel_tests.replace("..", "\u2024\u2024"),  # one dot leaders
        rel_tests.replace("/", "\u2215"),  # division slash
        rel_tests.replace("/", "\uff0f"),  # fullwidth solidus
        rel_tests.replace("/", "\\"),
        "..\\tests\\evaluate.py",
        "....//tests/evaluate.py",
        "~/tests/evaluate.py",
        "$HOME/../tests/evaluate.py",
        "file://" + str(tests / "evaluate.py"),
        "tests/evaluate.py\x00.txt",
        "../" * 200 + "etc/passwd",
        "a/" * 3000 + "x",
    ]


async def test_hidden_paths_through_read_and_list(make_episode):
    episode = make_episode()
    before = workspace_files(episode)
    async with connect(episode) as client:
        for path in hidden_paths(episode):
            for name, args in [("read_file", {"path": path}), ("list_files", {"path": path}),
                               ("read_file", {"path": path, "offset": 0, "limit": 10})]:
                result = await client.call_tool(name, args)
                text = " ".join(getattr(c, "text", "") for c in result.content) + str(result.structured_content)
                assert result.is_error, f"{name}({path!r}) was not refused: {text[:300]}"
                assert not leaks(text), f"{name}({path!r}) leaked hidden text"
        listing = await tool(client, "list_files", {"path": "."})
        assert {e["path"] for e in listing["entries"]} == {"check.py", "network.py", "network_rules.py"}
        for ref in ["../../manifests/x", "HEAD", "initial", "0" * 65, "../" + "a" * 12]:
            await refused(client, "diff", {"a": ref})
            await refused(client, "restore", {"snapshot": ref})
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)
    assert workspace_files(episode) == before
    assert len(episode.workspace.history()) == 1


async def test_symlinks_planted_by_an_experiment(make_episode):
    episode = make_episode()
    tests, solution = episode.task.tests_dir, episode.task.solution_dir
    async with connect(episode) as client:
        exp = await run(client, (
            f"ln -s {tests} hidden; ln -s {tests}/evaluate.py ev.py; ln -s {solution}/network.py sol.py; "
            "ln -s ../../.. up; ln -s /proc/1/root root1; mkdir d; ln -s .. d/back; "
            "cat hidden/evaluate.py ev.py sol.py 2>&1 | head -5; ls up/ 2>&1 | head -5; ls -la"
        ))
        assert not leaks(exp["output_tail"])
        for path in ["hidden/evaluate.py", "ev.py", "sol.py", "up/tests/evaluate.py", "root1/etc/passwd",
                     "d/back/network.py", "hidden", "up"]:
            message = await refused(client, "read_file", {"path": path})
            assert "symlink" in message.lower(), message
            assert not leaks(message)
        listing = await tool(client, "list_files")
        kinds = {e["path"]: e["type"] for e in listing["entries"]}
        assert kinds["hidden"] == kinds["ev.py"] == kinds["up"] == "symlink"
        assert not any(p.startswith(("hidden/", "up/", "d/back/")) for p in kinds), "a symlink was entered"
        assert not leaks(str(listing))
        diff = await tool(client, "diff", {"a": episode.workspace.history()[0].id})
        assert diff["diff"] == "" and not leaks(str(diff))
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)
    assert (episode.workspace.root / "network.py").read_text() == baseline_network(episode)


async def test_symlinks_planted_by_a_patch(make_episode):
    episode = make_episode()
    target = str(episode.task.tests_dir / "evaluate.py")
    original = baseline_network(episode)
    lines = original.splitlines()
    delete_body = "".join(f"-{line}\n" for line in lines)
    patches = [
        # a new symlink next to the editable file
        f"diff --git a/ev.py b/ev.py\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/ev.py\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n",
        # the editable file itself turned into a symlink (git prints a type change as delete + create)
        f"diff --git a/network.py b/network.py\ndeleted file mode 100644\n--- a/network.py\n+++ /dev/null\n"
        f"@@ -1,{len(lines)} +0,0 @@\n{delete_body}"
        f"diff --git a/network.py b/network.py\nnew file mode 120000\n--- /dev/null\n+++ b/network.py\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n",
        # a mode change to a symlink
        "diff --git a/network.py b/network.py\nold mode 100644\nnew mode 120000\n",
        # a symlink that is then edited through
        f"diff --git a/network.py b/network.py\nindex 1111111..2222222 120000\n--- a/network.py\n+++ b/network.py\n"
        f"@@ -1 +1 @@\n-{lines[0]}\n+{target}\n",
    ]
    async with connect(episode) as client:
        for patch in patches:
            message = await refused(client, "apply_patch", {"patch": patch})
            assert "symlink" in message or "editable" in message or "mode" in message, message
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)
    root = episode.workspace.root
    assert not (root / "ev.py").exists() and not (root / "ev.py").is_symlink()
    assert not (root / "network.py").is_symlink() and (root / "network.py").read_text() == original
    assert len(episode.workspace.history()) == 1

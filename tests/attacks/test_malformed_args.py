"""Attack family 14: very large or malformed tool arguments.

10 MB patches and contents, binary garbage, bytes that are not UTF-8, lone surrogates, wrong types,
absurd numbers. Each must get a clear error (one that says what is wrong, not just "Error executing tool"),
change nothing (workspace, history, budget) and leave the server answering.

Bytes that are not UTF-8 cannot be sent at all: JSON-RPC carries text, and the MCP client refuses to encode
them. Binary garbage that *is* valid Unicode is just text (see the second test). Lone surrogates cannot
arrive over the real JSON transports (stdio, HTTP: the JSON-RPC parser rejects them), only from an
in-process client such as the in-memory one used here; the two xfail tests below show what they do then.
"""

from __future__ import annotations

import os

import pytest

from tests.attacks.helpers import assert_consistent, baseline_network, workspace_files
from tests.helpers import connect, tool

pytestmark = pytest.mark.anyio

MB = 1024 * 1024


def _garbage(n: int) -> str:
    return os.urandom(n).decode("latin-1")


def cases(first_line: str) -> list[tuple[str, dict]]:
    big_patch = "--- a/network.py\n+++ b/network.py\n@@ -1 +1,2 @@\n " + first_line + "\n+" + "x" * (10 * MB) + "\n"
    return [
        ("apply_patch", {"patch": big_patch}),
        ("apply_patch", {"patch": _garbage(100_000)}),
        ("apply_patch", {"patch": "\x00" * 1000}),
        ("apply_patch", {"patch": ["--- a/network.py"]}),
        ("apply_patch", {"patch": None}),
        ("apply_patch", {}),
        ("write_file", {"path": "network.py", "content": "x" * (10 * MB)}),
        ("write_file", {"path": "network.py", "content": 12345}),
        ("write_file", {"path": "network.py", "content": {"a": 1}}),
        ("write_file", {"path": "network.py", "content": None}),
        ("write_file", {"path": 5, "content": "x"}),
        ("write_file", {"path": None, "content": "x"}),
        ("write_file", {"path": ["network.py"], "content": "x"}),
        ("write_file", {"path": _garbage(300), "content": "x"}),
        ("write_file", {"path": "network.py\n", "content": "x"}),
        ("write_file", {"path": "x" * 100_000, "content": "x"}),
        ("write_file", {"path": "network.py"}),
        ("read_file", {"path": "network.py", "offset": "x"}),
        ("read_file", {"path": "network.py", "offset": -1}),
        ("read_file", {"path": "network.py", "limit": 0}),
        ("read_file", {"path": "network.py", "offset": 1.5}),
        ("list_files", {"path": {"x": 1}}),
        ("run_experiment", {"command": 123}),
        ("run_experiment", {"command": "true", "timeout_sec": "abc"}),
        ("run_experiment", {"command": "true", "timeout_sec": -1}),
        ("run_experiment", {"command": "true", "timeout_sec": 0}),
        ("run_experiment", {"command": "true", "timeout_sec": 1e308}),
        # NaN and Infinity are not sent: JSON has no such numbers and the client turns them into null
        ("run_experiment", {"command": "echo \x00 hi"}),
        ("run_experiment", {"command": "x" * (MB + 1)}),
        ("run_experiment", {"command": ""}),
        ("experiment_status", {"id": "../../budget"}),
        ("experiment_status", {"id": None}),
        ("cancel_experiment", {"id": "exp-0001/../../x"}),
        ("diff", {"a": None}),
        ("diff", {"a": "../" * 10}),
        ("restore", {"snapshot": 12}),
        ("restore", {"snapshot": "0" * 10_000}),
        ("submit", {"snapshot": "../../../etc/passwd"}),
        ("submit", {"snapshot": 7}),
    ]


async def test_malformed_arguments_get_clear_errors_and_change_nothing(make_episode):
    episode = make_episode()
    before = workspace_files(episode)
    first_line = baseline_network(episode).splitlines()[0]
    async with connect(episode) as client:
        for name, args in cases(first_line):
            result = await client.call_tool(name, args)
            text = " ".join(getattr(c, "text", "") for c in result.content)
            shown = {k: (v[:40] if isinstance(v, str | bytes) else v) for k, v in args.items()}
            assert result.is_error, f"{name}({shown}) was accepted"
            assert text.strip() != f"Error executing tool {name}" and len(text) > 25, (name, shown, text[:200])
            assert workspace_files(episode) == before, f"{name}({shown}) changed the workspace"
        assert len(episode.workspace.history()) == 1
        assert not episode.submitted
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)


async def test_binary_garbage_content_is_just_text(make_episode):
    """Arbitrary (valid) Unicode in an editable file is allowed: it is stored as UTF-8 and read back exactly."""
    episode = make_episode()
    garbage = _garbage(50_000) + "\u202e\ufeff\U0001f600"
    async with connect(episode) as client:
        change = await tool(client, "write_file", {"path": "network.py", "content": garbage})
        assert change["changed"] == ["network.py"]
        read = await tool(client, "read_file", {"path": "network.py"})
        assert read["content"] == garbage
        metric = await tool(client, "get_metric")
        assert not metric["valid"] and metric["reason"]
        await assert_consistent(client, episode, experiments_used=0, score_calls=1)


async def test_lone_surrogates_get_a_clear_refusal_and_are_logged(make_episode):
    episode = make_episode()
    before = workspace_files(episode)
    async with connect(episode) as client:
        for name, args in [("write_file", {"path": "network.py", "content": "a\ud800b"}),
                           ("write_file", {"path": "net\udcffwork.py", "content": "x"}),
                           ("apply_patch", {"patch": "--- a/network.py\n+++ b/network.py\n@@ -1 +1 @@\n-\ud800\n+x\n"}),
                           ("read_file", {"path": "\udc80"})]:
            result = await client.call_tool(name, args)
            text = " ".join(getattr(c, "text", "") for c in result.content)
            assert result.is_error and workspace_files(episode) == before
            assert "Unicode" in text or "surrogate" in text, (name, text)
        tools_logged = [e["tool"] for e in episode.log.read() if e["kind"] == "tool"]
        assert tools_logged.count("write_file") == 2 and "apply_patch" in tools_logged
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)


async def test_surrogate_in_command_is_refused_before_anything_runs(make_episode):
    episode = make_episode(compute_sec=100)
    async with connect(episode) as client:
        result = await client.call_tool("run_experiment", {"command": "echo \udc80; sleep 1", "timeout_sec": 20})
        assert result.is_error
        await assert_consistent(client, episode, experiments_used=0, score_calls=0)

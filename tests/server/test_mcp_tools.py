"""Every tool through a real MCP client (in-memory), on a real episode: success paths and refusals."""

from __future__ import annotations

import os
import subprocess

import anyio
import pytest

from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio

BASELINE_HEAD = "def network"


async def test_tool_list_and_annotations(make_episode):
    async with connect(make_episode()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= {
            "list_files", "read_file", "write_file", "apply_patch", "run_experiment", "experiment_status",
            "cancel_experiment", "get_metric", "remaining_budget", "history", "diff", "restore", "submit",
        }
        assert tools["read_file"].annotations.read_only_hint is True
        assert tools["apply_patch"].annotations.read_only_hint is False
        assert tools["submit"].annotations.destructive_hint is True
        assert all(t.output_schema for t in tools.values()), "every tool has a structured output model"
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"autolab://instruction", "autolab://task", "autolab://budget"} <= resources
        prompts = [p.name for p in (await client.list_prompts()).prompts]
        assert "start_task" in prompts


async def test_files_read_list_write_and_paging(make_episode):
    async with connect(make_episode()) as client:
        listing = await tool(client, "list_files")
        paths = {e["path"]: e for e in listing["entries"]}
        assert paths["network.py"]["editable"] is True
        assert paths["check.py"]["editable"] is False
        assert not any(p.startswith(("tests", "solution")) for p in paths)
        read = await tool(client, "read_file", {"path": "network.py"})
        assert BASELINE_HEAD in read["content"]
        page = await tool(client, "read_file", {"path": "network.py", "offset": 0, "limit": 10})
        assert page["bytes_read"] == 10 and page["next_offset"] == 10
        change = await tool(client, "write_file", {"path": "network.py", "content": read["content"] + "\n# tuned\n"})
        assert change["changed"] == ["network.py"] and change["snapshot_id"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/passwd", "absolute"),
        ("../tests/evaluate.py", ".."),
        ("a/../../x", ".."),
        ("net\x00work.py", "NUL"),
    ],
)
async def test_path_escapes_are_refused(make_episode, path, expected):
    async with connect(make_episode()) as client:
        message = await refused(client, "read_file", {"path": path})
        assert expected in message
        await refused(client, "write_file", {"path": path, "content": "x"})


async def test_symlink_planted_in_workspace_is_not_followed(make_episode):
    episode = make_episode()
    os.symlink("/etc/passwd", episode.workspace.root / "leak.txt")
    os.symlink(str(episode.task.tests_dir), episode.workspace.root / "hidden")
    async with connect(episode) as client:
        assert "symlink" in (await refused(client, "read_file", {"path": "leak.txt"})).lower()
        assert "symlink" in (await refused(client, "read_file", {"path": "hidden/evaluate.py"})).lower()
        listing = await tool(client, "list_files")
        kinds = {e["path"]: e["type"] for e in listing["entries"]}
        assert kinds["hidden"] == "symlink" and not any(p.startswith("hidden/") for p in kinds)


async def test_non_editable_write_names_the_editable_set(make_episode):
    async with connect(make_episode()) as client:
        message = await refused(client, "write_file", {"path": "check.py", "content": "print('ok')"})
        assert "network.py" in message and "editable" in message


async def test_patch_success_failure_and_atomicity(make_episode):
    episode = make_episode()
    root = episode.workspace.root
    before = (root / "network.py").read_bytes()
    async with connect(episode) as client:
        assert "unified diff" in await refused(client, "apply_patch", {"patch": "this is not a diff"})
        lines = before.decode().splitlines(keepends=True)
        good_hunk = f"@@ -1,1 +1,2 @@\n {lines[0]}+# added\n"
        bad = (
            f"--- a/network.py\n+++ b/network.py\n{good_hunk}"
            "--- a/network.py\n+++ b/network.py\n@@ -1,1 +1,1 @@\n-no such line\n+x\n"
        )
        message = await refused(client, "apply_patch", {"patch": bad})
        assert "hunk" in message
        assert (root / "network.py").read_bytes() == before, "a rejected patch leaves the workspace as it was"
        outside = "--- a/check.py\n+++ b/check.py\n@@ -1,1 +1,1 @@\n-x\n+y\n"
        assert "editable" in await refused(client, "apply_patch", {"patch": outside})
        traversal = "--- a/../x\n+++ b/../../x\n@@ -0,0 +1,1 @@\n+y\n"
        await refused(client, "apply_patch", {"patch": traversal})
        change = await tool(client, "apply_patch", {"patch": f"--- a/network.py\n+++ b/network.py\n{good_hunk}"})
        assert change["changed"] == ["network.py"]
        assert (root / "network.py").read_text().splitlines()[1] == "# added"


async def test_history_diff_restore(make_episode):
    async with connect(make_episode()) as client:
        original = (await tool(client, "read_file", {"path": "network.py"}))["content"]
        first = (await tool(client, "history"))["snapshots"][0]["id"]
        await tool(client, "write_file", {"path": "network.py", "content": original + "# v2\n"})
        history = (await tool(client, "history"))["snapshots"]
        assert len(history) == 2
        diff = (await tool(client, "diff", {"a": first}))["diff"]
        assert "+# v2" in diff
        await tool(client, "restore", {"snapshot": first})
        assert (await tool(client, "read_file", {"path": "network.py"}))["content"] == original
        assert "snapshot" in (await refused(client, "restore", {"snapshot": "ffffffffffff"})).lower()


async def test_experiment_runs_in_sandbox_and_is_charged(make_episode):
    async with connect(make_episode()) as client:
        exp = await tool(client, "run_experiment", {"command": "python check.py && id -u && echo done"})
        assert exp["status"] == "finished" and exp["exit_code"] == 0
        assert "done" in exp["output_tail"]
        budget = await tool(client, "remaining_budget")
        assert budget["experiments"]["used"] == 1
        assert 0 < budget["compute_sec"]["used"] <= exp["seconds"] + 0.01
        failed = await tool(client, "run_experiment", {"command": "exit 3"})
        assert failed["exit_code"] == 3 and failed["status"] == "finished"


async def test_experiment_cannot_see_hidden_files_or_network(make_episode):
    episode = make_episode()
    hidden = str(episode.task.tests_dir)
    async with connect(episode) as client:
        exp = await tool(client, "run_experiment", {"command": (
            f"ls {hidden} 2>&1; ls /work /root 2>&1; cat {episode.run_dir}/budget.json 2>&1; "
            "python - <<'EOF'\nimport socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
            "    print('NET-OPEN')\nexcept OSError as e:\n    print('net blocked', e)\nEOF\n"
            "getent hosts pypi.org || echo dns blocked"
        )})
        out = exp["output_tail"]
        assert "evaluate.py" not in out and "NET-OPEN" not in out
        assert "net blocked" in out and "dns blocked" in out
        assert "compute_used" not in out


async def test_non_editable_files_are_read_only_inside_experiments(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        exp = await tool(client, "run_experiment", {"command": "echo hacked >> check.py; echo rc=$?"})
        assert "rc=0" not in exp["output_tail"]
        assert "hacked" not in (episode.workspace.root / "check.py").read_text()


async def test_experiment_timeout_kills_children(make_episode):
    async with connect(make_episode()) as client:
        exp = await tool(client, "run_experiment", {
            "command": "(sleep 600 &) ; setsid sleep 601 & sleep 602", "timeout_sec": 2, "wait_sec": 30})
        assert (exp["status"], exp["killed_by"], exp["signal"]) == ("killed", "timeout", "SIGKILL") and exp["timed_out"]
        assert 1.5 < exp["seconds"] < 10
        await anyio.sleep(0.5)
        survivors = subprocess.run(["pgrep", "-f", "sleep 60[012]"], capture_output=True, text=True).stdout
        assert survivors.strip() == "", f"processes survived the timeout: {survivors}"


async def test_long_experiment_returns_handle_then_status_and_cancel(make_episode):
    async with connect(make_episode()) as client:
        progress: list[str] = []

        async def on_progress(done, total, message):
            progress.append(message or "")

        result = await client.call_tool(
            "run_experiment", {"command": "for i in $(seq 100); do echo tick $i; sleep 0.5; done",
                               "wait_sec": 2.5}, progress_callback=on_progress)
        exp = result.structured_content
        assert exp["status"] == "running" and progress, "running handle and progress notifications"
        status = await tool(client, "experiment_status", {"id": exp["id"], "wait_sec": 1})
        assert status["status"] == "running" and "tick" in status["output_tail"]
        cancelled = await tool(client, "cancel_experiment", {"id": exp["id"]})
        assert (cancelled["status"], cancelled["killed_by"]) == ("killed", "cancel")
        budget = await tool(client, "remaining_budget")
        assert budget["compute_sec"]["reserved"] == 0
        assert budget["compute_sec"]["used"] == pytest.approx(cancelled["seconds"], abs=0.01)
        assert "no experiment" in await refused(client, "experiment_status", {"id": "exp-9999"})


async def test_concurrent_experiments_never_overspend(make_episode):
    async with connect(make_episode(compute_sec=6, experiments=50)) as client:
        results: list = []

        async def one() -> None:
            results.append(await client.call_tool("run_experiment", {"command": "sleep 3", "timeout_sec": 2.5,
                                                                      "wait_sec": 20}))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
        accepted = [r for r in results if not r.is_error]
        assert 1 <= len(accepted) <= 3
        assert all("compute budget" in r.content[0].text for r in results if r.is_error)
        budget = await tool(client, "remaining_budget")
        assert budget["compute_sec"]["used"] <= 6.0 + 1e-6
        assert budget["experiments"]["used"] == len(accepted)


async def test_budget_exhausted_refusals_charge_nothing(make_episode):
    async with connect(make_episode(experiments=1, score_calls=0)) as client:
        await tool(client, "run_experiment", {"command": "true"})
        assert "experiments" in await refused(client, "run_experiment", {"command": "true"})
        assert "score calls" in await refused(client, "get_metric")
        budget = await tool(client, "remaining_budget")
        assert budget["experiments"]["used"] == 1 and budget["score_calls"]["used"] == 0


async def test_bad_arguments_are_clear(make_episode):
    async with connect(make_episode()) as client:
        assert "empty" in await refused(client, "run_experiment", {"command": "  "})
        assert "timeout_sec" in await refused(client, "run_experiment", {"command": "true", "timeout_sec": 99999})
        await refused(client, "read_file", {"path": "network.py", "offset": "x"})


async def test_metric_then_submit_then_everything_refused_but_reads(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 66 and metric["score"] == 0
        assert metric["score_calls_left"] == episode.ledger.limits.score_calls - 1
        result = await tool(client, "submit")
        assert result["valid"] and result["score"] == 0 and result["split"] == "final"
        for name, args in [("write_file", {"path": "network.py", "content": "x"}),
                           ("apply_patch", {"patch": "--- a/network.py\n+++ b/network.py\n"}),
                           ("run_experiment", {"command": "true"}), ("get_metric", {}), ("submit", {}),
                           ("restore", {"snapshot": result["snapshot"]})]:
            message = await refused(client, name, args)
            assert "submitted" in message or "ended" in message
        assert (await tool(client, "read_file", {"path": "network.py"}))["content"]
        await tool(client, "history")
        await tool(client, "remaining_budget")
    assert (episode.run_dir / "result.json").exists()
    events = episode.log.read()
    assert any(e.get("tool") == "submit" and e["ok"] for e in events)
    assert all("budget" in e for e in events if e["kind"] == "tool")

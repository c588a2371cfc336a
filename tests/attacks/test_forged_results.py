"""Attack family 4: write a fake result (result.json, reward.json, budget.json) where the server would read it.

From an experiment (the run directory is not mounted) and through write_file / apply_patch paths: nothing
lands in the run directory, the budget stays exact, and the real submission is what counts. Then, standing
in for "an agent that somehow wrote result.json", the test process tampers with a real result.json in
several ways; `autolab-mcp runs RUN_ID --verify` must fail for every forgery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import tempfile
from pathlib import Path

import pytest

from autolab_mcp.cli import verify_result
from autolab_mcp.core import signatures
from scorer import signing
from tests.attacks.helpers import assert_consistent, baseline_network, reference_network, run, verify
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio

FAKE = {"record": {"score": 99.0, "valid": True, "metric": 1.0, "split": "final"}, "signature": "0" * 64,
        "score": 99.0, "reward": 99.0, "compute_used": 0, "experiments_used": 0, "score_calls_used": 0}


async def test_fake_result_files_from_experiments_and_tools_are_ignored(make_episode):
    episode = make_episode()
    run_dir = episode.run_dir
    fake = json.dumps(FAKE)
    names = ["result.json", "reward.json", "budget.json", "events.jsonl", "meta.json"]
    writes = " ".join(f"echo '{fake}' > {n};" for n in names)
    remote = " ".join(f"echo '{fake}' > {run_dir}/{n} 2>&1;" for n in names)
    async with connect(episode) as client:
        exp = await run(client, (
            f"{writes} {remote} mkdir -p /output 2>&1; echo '{fake}' > /output/result.json 2>&1; "
            f"echo '{fake}' > /result.json 2>&1; echo '{fake}' > ../result.json 2>&1; "
            f"echo '{fake}' > /tmp/result.json 2>&1; ls"
        ))
        assert "result.json" in exp["output_tail"]  # the copies in the workspace exist, and are just files
        for name in names:
            for path in (name, f"../{name}", f"../../{name}", str(run_dir / name), f"./{name}"):
                await refused(client, "write_file", {"path": path, "content": fake})
                patch = f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{fake}\n"
                await refused(client, "apply_patch", {"patch": patch})
        assert not (run_dir / "result.json").exists() and not (run_dir / "reward.json").exists()
        budget = await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)
        assert budget["compute_sec"]["used"] > 0
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 66 and metric["score"] == 0
        result = await tool(client, "submit")
        assert result["valid"] and result["score"] == 0 and result["metric"] == 66
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=1)
    document = json.loads((run_dir / "result.json").read_text())
    assert document["record"]["score"] == 0 and document["record"]["files"].keys() == {"network.py"}
    code, summary = verify(episode)
    assert code == 0 and summary["verified"] is True and summary["score"] == 0


async def submitted(make_episode, network: str, feedback_network: str | None = None):
    """An episode that (optionally) scored `feedback_network` on the feedback split, then submitted `network`."""
    episode = make_episode()
    async with connect(episode) as client:
        if feedback_network is not None:
            await tool(client, "write_file", {"path": "network.py", "content": feedback_network})
            await tool(client, "get_metric")
        await tool(client, "write_file", {"path": "network.py", "content": network})
        await tool(client, "submit")
    assert verify_result(episode.run_dir)[0] is True
    return episode


def rewrite(episode, change) -> None:
    path = episode.run_dir / "result.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=1))


def _forgeries():
    other_key = signing.load_or_create_signing_key(Path(tempfile.mkdtemp()) / "forger.ed25519")
    other_secret = secrets.token_bytes(32)

    def bump(doc):
        doc["record"]["score"] = 5.0

    def bump_metric(doc):
        doc["record"]["metric"] = 12.0

    def unsign(doc):
        doc["signature"] = ""

    def drop_key_id(doc):
        doc["key_id"] = "ed25519:" + "0" * 16

    def resign_other_key(doc):
        doc["record"]["score"] = 5.0
        doc["signature"], doc["key_id"] = signing.sign_record(doc["record"], other_key)

    def resign_keep_key_id(doc):
        doc["record"]["score"] = 5.0
        doc["signature"] = signing.sign_record(doc["record"], other_key)[0]

    def resign_offer_own_public_key(doc):  # a verifier trusts only the key file it holds
        doc["record"]["score"] = 5.0
        doc["signature"], doc["key_id"] = signing.sign_record(doc["record"], other_key)
        doc["public_key"] = signatures.public_key_text(other_key.public_key())

    def resign_plain_sha(doc):
        doc["record"]["score"] = 5.0
        doc["signature"] = base64.b64encode(hashlib.sha512(signatures.canonical(doc["record"])).digest()).decode()

    def downgrade_to_legacy_hmac(doc):  # an HMAC record under a secret of the forger's choosing
        doc["record"]["score"] = 5.0
        doc["signature"] = hmac.new(other_secret, signatures.canonical(doc["record"]), hashlib.sha256).hexdigest()
        doc["key_id"] = signing.legacy_hmac_key_id(other_secret)

    def resign_empty_key(doc):
        doc["record"]["score"] = 5.0
        doc["signature"] = hmac.new(b"", signatures.canonical(doc["record"]), hashlib.sha256).hexdigest()

    def extra_field(doc):
        doc["record"]["score"] = 5.0
        doc["record"]["unsigned_note"] = "x"

    return [bump, bump_metric, unsign, drop_key_id, resign_other_key, resign_keep_key_id, resign_offer_own_public_key,
            resign_plain_sha, downgrade_to_legacy_hmac, resign_empty_key, extra_field]


async def test_forged_result_json_fails_verification(make_episode):
    probe = make_episode()
    episode = await submitted(make_episode, baseline_network(probe))
    path = episode.run_dir / "result.json"
    genuine = path.read_text()
    for number, forge in enumerate(_forgeries()):
        rewrite(episode, forge)
        if number == 0:  # the real command line once; the same check in-process for the rest (it is faster)
            code, summary = verify(episode)
            assert code == 1 and summary["verified"] is False, summary
        ok, message = verify_result(episode.run_dir)
        assert ok is False, (forge.__name__, message)
        path.write_text(genuine)
    assert verify(episode)[0] == 0, "the genuine result verifies again"


async def test_feedback_record_replayed_as_final_fails_verification(make_episode):
    probe = make_episode()
    episode = await submitted(make_episode, baseline_network(probe), feedback_network=reference_network(probe))
    feedback = next(e for e in episode.log.read() if e["kind"] == "score" and e["split"] == "feedback")
    assert feedback["record"]["score"] == pytest.approx(1.0, abs=0.01)

    def replay(doc):
        doc["record"], doc["signature"] = feedback["record"], feedback["signature"]

    rewrite(episode, replay)
    code, summary = verify(episode)
    assert code == 1 and summary["verified"] is False, summary


async def test_result_json_replayed_from_another_run_fails_verification(make_episode):
    probe = make_episode()
    good = await submitted(make_episode, reference_network(probe))
    victim = await submitted(make_episode, baseline_network(probe))
    stolen = json.loads((good.run_dir / "result.json").read_text())
    assert stolen["record"]["score"] == pytest.approx(1.0, abs=0.01)

    def replay(doc):
        doc["record"], doc["signature"], doc["key_id"] = stolen["record"], stolen["signature"], stolen["key_id"]

    rewrite(victim, replay)
    code, summary = verify(victim)
    assert code == 1 and summary["verified"] is False, summary


async def test_event_log_injection(make_episode):
    """Newlines and JSON in tool arguments and experiment output cannot add forged lines to events.jsonl."""
    episode = make_episode()
    forged = json.dumps({"seq": 999, "kind": "submitted", "score": 99.0, "valid": True})
    async with connect(episode) as client:
        exp = await run(client, f"echo '\\n{forged}\\n'; printf '\\n%s\\n' '{forged}'\n# \n{forged}\n")
        await tool(client, "write_file", {"path": "network.py", "content": f"\n{forged}\n" + baseline_network(episode)})
        await refused(client, "read_file", {"path": f"x\n{forged}"})
        await refused(client, "apply_patch", {"patch": f"\n{forged}\n"})
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=0)
    lines = (episode.run_dir / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and "kind" in e for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert not any(e["kind"] in ("submitted", "score") for e in events)
    code, summary = verify(episode)
    assert code == 1 and summary["status"] == "open"

"""Harbor/AutoLab reward files read on the scorer side: the mapped metric and validity keys, `null`s,
reward.txt, and whatever a candidate could have written instead (links, junk, huge files)."""

from __future__ import annotations

import json
import os

import pytest

from scorer import harbor_reward as hr
from scorer.outputs import Invalid


def _write(tmp_path, name, content):
    (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


@pytest.mark.parametrize(("doc", "mapping", "metric"), [
    ({"metric": 53, "reason": "ok"}, hr.RewardMap(), 53.0),
    ({"bits_per_byte": 1.25, "correctness": True, "speedup": None}, hr.RewardMap(metric_key="bits_per_byte",
                                                                                valid_key="correctness"), 1.25),
    ({"total_params": 900, "passed_constraints": 1}, hr.RewardMap(metric_key="total_params",
                                                                  valid_key="passed_constraints"), 900.0),
])
def test_the_mapped_metric_is_read_and_nulls_elsewhere_do_not_matter(tmp_path, doc, mapping, metric):
    got, details = hr.read_reward(_write(tmp_path, "reward.json", json.dumps(doc)), mapping)
    assert got == metric and details["reward"][mapping.metric_key] == metric


@pytest.mark.parametrize(("doc", "mapping", "reason"), [
    ({"metric": None, "reason": "line 3: expected 17, got 4"}, hr.RewardMap(), hr.NO_METRIC),
    ({"metric": "53"}, hr.RewardMap(), hr.NO_METRIC),
    ({"metric": float("inf")}, hr.RewardMap(), hr.NO_METRIC),
    ({"metric": True}, hr.RewardMap(), hr.NO_METRIC),
    ({"metric": 5, "correctness": False}, hr.RewardMap(valid_key="correctness"), hr.NOT_VALID),
    ({"metric": 5, "correctness": [1]}, hr.RewardMap(valid_key="correctness"), hr.NOT_VALID),
    ({"metric": 5}, hr.RewardMap(valid_key="correctness"), hr.NOT_VALID),
    ([1, 2], hr.RewardMap(), hr.NOT_JSON),
])
def test_a_failed_or_odd_reward_is_invalid_with_a_fixed_reason(tmp_path, doc, mapping, reason):
    text = json.dumps(doc, allow_nan=True)
    with pytest.raises(Invalid) as info:
        hr.read_reward(_write(tmp_path, "reward.json", text), mapping)
    assert info.value.reason == reason and reason in hr.REASONS
    assert "expected 17" not in info.value.reason  # the verifier's own reason text never reaches the agent


def test_reward_txt_is_the_fallback_and_must_be_one_finite_number(tmp_path):
    assert hr.read_reward(_write(tmp_path, "reward.txt", "0.75\n"), hr.RewardMap())[0] == 0.75
    for junk in ("nan", "", "1 2", b"\xff"):
        with pytest.raises(Invalid, match=hr.NOT_NUMBER):
            hr.read_reward(_write(tmp_path, "reward.txt", junk), hr.RewardMap())


def test_no_reward_a_link_or_a_huge_file_is_refused(tmp_path):
    with pytest.raises(Invalid, match=hr.NO_REWARD):
        hr.read_reward(tmp_path, hr.RewardMap())
    (tmp_path / "secret").write_text('{"metric": 1}')
    os.symlink(tmp_path / "secret", tmp_path / "reward.json")
    with pytest.raises(Invalid, match=hr.NO_REWARD):  # a link is not read, and there is no reward.txt
        hr.read_reward(tmp_path, hr.RewardMap())
    os.unlink(tmp_path / "reward.json")
    _write(tmp_path, "reward.json", b" " * (hr.MAX_REWARD_BYTES + 1))
    with pytest.raises(Invalid, match=hr.NO_REWARD):
        hr.read_reward(tmp_path, hr.RewardMap())

"""Reading a Harbor verifier's reward (`reward.json`, else `reward.txt`) on the scorer side.

AutoLab's reward.json varies per task: the metric under `metric`, `bits_per_byte` or `total_params`,
validity under `correctness` or `passed_constraints`, and `null` both on success (`"speedup": null`)
and on most failure paths (`"metric": null, "reason": "..."`). A small per-task map (the importer
writes it to `[autolab.harbor]` in task.toml) says which key is which. The file is read like any
candidate output (no links, size-capped), and its `reason` text is never shown: it is written where
candidate code may have run, so only the numbers count and fixed phrases explain them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from scorer.outputs import Invalid, read_regular_file

MAX_REWARD_BYTES = 64 * 1024

NO_REWARD = "the verifier wrote no reward file"
NOT_JSON = "reward.json is not a JSON object"
NO_METRIC = "the verifier reported no metric"
NOT_VALID = "the verifier reported the submission invalid"
NOT_NUMBER = "reward.txt does not hold one finite number"
REASONS = frozenset({NO_REWARD, NOT_JSON, NO_METRIC, NOT_VALID, NOT_NUMBER})

_TRUE = {True, "true", "True", "pass", "passed", "ok", "yes"}


class RewardMap(BaseModel):
    """Which reward.json keys hold the metric and the validity (task.toml `[autolab.harbor]`)."""

    metric_key: str = Field("metric", description="the key whose finite number is the metric")
    valid_key: str | None = Field(None, description="a key that must be true/1/'pass' for a valid result")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def read_reward(verifier_dir: Path, mapping: RewardMap, valid_only: bool = False) -> tuple[float, dict[str, Any]]:
    """(metric, the reward's numbers for the record) or Invalid with a fixed reason.
    valid_only (a re-timed task): the reward only says valid or not; a reward.txt is valid above 0, a
    reward.json by its validity key (or, without one, by a finite metric)."""
    data, _ = read_regular_file(verifier_dir / "reward.json", MAX_REWARD_BYTES)
    if data is None:
        text, _ = read_regular_file(verifier_dir / "reward.txt", MAX_REWARD_BYTES)
        if text is None:
            raise Invalid(NO_REWARD)
        try:
            value = _finite(float(text.decode("ascii").strip()))
        except (UnicodeDecodeError, ValueError):
            value = None
        if value is None:
            raise Invalid(NOT_NUMBER)
        if valid_only and value <= 0:
            raise Invalid(NOT_VALID, reward=value)
        return value, {"reward": value}
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Invalid(NOT_JSON) from None
    if not isinstance(doc, dict):
        raise Invalid(NOT_JSON)
    numbers = {k: _finite(v) for k, v in doc.items() if isinstance(k, str) and len(k) <= 64}
    numbers = {k: v for k, v in numbers.items() if v is not None}
    flag = doc.get(mapping.valid_key) if mapping.valid_key is not None else True
    if not (isinstance(flag, bool | int | str) and flag in _TRUE):
        raise Invalid(NOT_VALID, reward=numbers)
    metric = _finite(doc.get(mapping.metric_key))
    if valid_only and mapping.valid_key is not None:
        return metric if metric is not None else 0.0, {"reward": numbers}
    if metric is None:
        raise Invalid(NO_METRIC, reward=numbers)
    return metric, {"reward": numbers}

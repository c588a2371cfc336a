"""Normalization, the timing statistics and signatures: the scorer's arithmetic."""

from __future__ import annotations

import math

import pytest

from autolab_mcp.taskspec import TaskConfig
from scorer import signing
from scorer.normalize import normalized_score
from scorer.timing import interleaved_pairs, summarize_pairs


def config(direction: str, scale: str, base: float, ref: float) -> TaskConfig:
    return TaskConfig.model_validate({
        "metadata": {"axis": "smaller"},
        "optimization": {"metric": "m", "direction": direction, "baseline": {"score": base},
                         "reference": {"score": ref}},
        "autolab": {"editable": ["x.py"], "scale": scale},
    })


@pytest.mark.parametrize(
    ("direction", "scale", "base", "ref", "metric", "expected"),
    [
        ("lower", "log", 66, 41, 66, 0.0),
        ("lower", "log", 66, 41, 41, 1.0),
        ("lower", "log", 66, 41, 39, math.log(66 / 39) / math.log(66 / 41)),
        ("lower", "log", 66, 41, 80, 0.0),  # worse than baseline clips to 0
        ("higher", "linear", 0.6, 0.8, 0.7, 0.5),
        ("higher", "linear", 0.6, 0.8, 0.9, 1.5),  # no upper cap
        ("lower", "linear", 3.0, 2.0, 2.5, 0.5),
    ],
)
def test_normalized_score(direction, scale, base, ref, metric, expected):
    assert normalized_score(config(direction, scale, base, ref), metric) == pytest.approx(expected)


def test_speedup_uses_measured_ratio_and_needs_credit():
    cfg = config("lower", "log", 2.0, 0.2)  # reference is 10x
    credited = summarize_pairs([1.0] * 6, [0.1] * 6)
    assert credited.credited
    assert normalized_score(cfg, 0.1, credited) == pytest.approx(1.0)
    noisy = summarize_pairs([1.0, 1.0, 1.0, 1.0, 1.0], [1.02, 0.95, 1.01, 0.97, 1.03])
    assert not noisy.credited
    assert normalized_score(cfg, 0.97, noisy) == 0.0


def test_interleaved_pairs_warm_up_and_alternate():
    order: list[str] = []

    def run(name: str, seconds: float):
        def go() -> float:
            order.append(name)
            return seconds
        return go

    result = interleaved_pairs(run("b", 2.0), run("c", 1.0), pairs=6)
    assert sorted(order[:2]) == ["b", "c"]  # warm-up of each
    assert len(result.ratios) == 6 and result.speedup == pytest.approx(2.0)
    pairs = [tuple(order[i:i + 2]) for i in range(2, len(order), 2)]
    assert sorted(pairs) == [("b", "c")] * 3 + [("c", "b")] * 3  # each way equally often
    assert "faster" in result.verdict and "95% CI" in result.verdict


def test_pair_order_is_not_predictable():
    """The order comes from secret randomness: across calls it differs (a fixed A B A B let a process
    elsewhere on the host know when the baseline ran)."""
    from scorer.timing import pair_orders

    orders = {tuple(pair_orders(10)) for _ in range(50)}
    assert len(orders) > 10
    assert all(sum(order) == 5 for order in orders)


def test_signature_detects_any_change(tmp_path):
    key = signing.load_or_create_key(tmp_path / "k")
    record = {"score": 0.5, "valid": True, "metric": 40}
    sig = signing.sign(record, key)
    assert signing.verify(record, sig, key)
    assert not signing.verify({**record, "score": 5.0}, sig, key)
    assert not signing.verify(record, sig, signing.load_or_create_key(tmp_path / "other"))
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600

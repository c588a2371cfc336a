"""gpt_decode: the token checks and fresh prompt pools; the submissions and the reason channel end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scorer.outputs import Invalid
from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_reason_has_no_digits,
    broken,
    env_module,
    hidden,
    needs_sandbox,
    run_eval,
    task,
)


def test_gpt_decode_token_checks(tmp_path: Path) -> None:
    ev = hidden("gpt_decode")
    expected = np.arange(8 * 96).reshape(8, 96) % 512
    assert ev.rules.mismatch(expected.copy(), expected) is None
    changed = expected.copy()
    changed[3, 17] += 1
    assert ev.rules.mismatch(changed, expected) == {"wrong_tokens": 1, "of": 768, "first_prompt": 3, "first_step": 17}
    for array, fragment in [(expected[:, :95], "shape"), (expected.astype(np.float32), "integer")]:
        np.save(tmp_path / "tokens.npy", array)
        with pytest.raises(Invalid) as rejected:
            ev.read_tokens(tmp_path / "tokens.npy")
        reason = rejected.value.reason
        assert fragment in reason and reason in ev.REASONS, reason


def test_gpt_decode_fresh_inputs() -> None:
    ev = hidden("gpt_decode")
    a, b = ev.prompt_pool(11), ev.prompt_pool(12)
    assert a.shape == (ev.POOL, ev.PROMPT_LEN) and not np.array_equal(a, b)
    assert np.array_equal(a, ev.prompt_pool(11))
    public = np.random.default_rng(env_module("gpt_decode", "check.py").PUBLIC_SEED).integers(0, 512, (8, 48))
    assert not np.array_equal(a[:8], public)
    # near-ties are skipped; a pool short of clean prompts falls back to the widest gaps
    gaps = np.full(ev.POOL, 0.5)
    gaps[[1, 4]] = 1e-3
    prompts, rows = ev.choose_prompts(a, gaps)
    assert list(rows) == [0, 2, 3, 5, 6, 7, 8, 9] and np.array_equal(prompts, a[rows])
    gaps = np.linspace(1e-4, 3e-3, ev.POOL)
    assert list(ev.choose_prompts(a, gaps)[1]) == list(range(ev.POOL - 8, ev.POOL))
    assert not hasattr(ev, "SEEDS")


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_sandbox
def test_gpt_decode_end_to_end() -> None:
    root = TASKS_DIR / "gpt_decode"
    typical = task("gpt_decode").config.optimization.baseline.score
    records = []
    for _ in range(3):  # a busy machine can drag one timing below 0.9; all must be valid
        record = run_eval("gpt_decode", root / "solution")
        assert record.valid, record.reason
        # about 40 s on an idle machine; 12 torch start-ups stretch as much as the baseline does
        slowdown = max(1.0, record.details["baseline_median_sec"] / typical)
        assert record.eval_seconds < 90 * slowdown, (record.eval_seconds, slowdown)
        records.append(record)
        if record.score >= 0.9:
            break
    else:
        raise AssertionError(f"reference scored {[round(r.score, 3) for r in records]}: {records[-1].verdict}")
    assert_baseline(run_eval("gpt_decode", root / "environment"))
    assert_broken(run_eval("gpt_decode", broken("gpt_decode")), "tokens differ from the baseline's")


@pytest.mark.slow
@needs_sandbox
def test_gpt_decode_reason_channel() -> None:
    """Tokens that echo the hidden prompts are refused with a fixed reason; where they differ is a detail."""
    echo = ("import torch\n\n\ndef generate(model, prompts, n_new):\n"
            "    return prompts[:, :1].repeat(1, n_new).to(torch.int64)\n")
    record = run_eval("gpt_decode", {"decode.py": echo})
    assert not record.valid and record.reason == "candidate: tokens differ from the baseline's", record.reason
    assert record.details["mismatch"]["wrong_tokens"] > 0
    assert_reason_has_no_digits(record)

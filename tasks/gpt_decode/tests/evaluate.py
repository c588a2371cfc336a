"""Hidden evaluation for gpt_decode (runs in the trusted scorer, never in a sandbox).

1. Hidden prompts (8 x 48 tokens) from the split's seed, mounted read-only.
2. ctx.time_pair times the pristine baseline against the candidate (warm-up + 5
   interleaved pairs, pinned). Every run must write exactly the same tokens: the
   baseline is deterministic and runs first, so this is "the candidate's tokens equal
   the baseline's" without an extra baseline run (the quality gate).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from scorer.harness import EvalContext, Measurement, RunOutput, load_npy

# Chosen so that no greedy step of the baseline is a near-tie (gap between the two largest
# logits > 4e-3 at every step), so float rounding of a correct implementation cannot flip a token.
SEEDS = {"feedback": 707_071, "final": 717_176}
BATCH, PROMPT_LEN, N_NEW, VOCAB = 8, 48, 96, 512
COMMAND = "python run_decode.py /inputs/prompts/prompts.npy /output/tokens.npy"
RUN_TIMEOUT_SEC = 60
MAX_TOKENS_BYTES = 1_000_000


def read_tokens(path: Path) -> tuple[np.ndarray | None, str]:
    tokens, why = load_npy(path, MAX_TOKENS_BYTES, missing="run_decode.py wrote no /output/tokens.npy")
    if tokens is None:
        return None, why
    if tokens.shape != (BATCH, N_NEW):
        return None, f"generate() must return shape ({BATCH}, {N_NEW}), got {getattr(tokens, 'shape', None)}"
    if tokens.dtype.kind not in "iu":
        return None, f"generate() must return integer tokens, got dtype {tokens.dtype}"
    return tokens.astype(np.int64), ""


def mismatch(tokens: np.ndarray, expected: np.ndarray) -> str | None:
    wrong = tokens != expected
    if not wrong.any():
        return None
    row, step = (int(i) for i in np.argwhere(wrong)[0])
    return (f"tokens differ from the baseline's at {int(wrong.sum())} of {expected.size} positions "
            f"(first: prompt {row}, new token {step})")


def evaluate(ctx: EvalContext) -> Measurement:
    prompts = np.random.default_rng(SEEDS[ctx.split]).integers(0, VOCAB, (BATCH, PROMPT_LEN))
    prompts_dir = ctx.input_dir("prompts")
    np.save(prompts_dir / "prompts.npy", prompts.astype(np.int64))
    seen: list[np.ndarray] = []

    def check(out: RunOutput) -> str | None:
        tokens, why = read_tokens(out.output_dir / "tokens.npy")
        if tokens is None:
            return why
        if not seen:
            seen.append(tokens)  # the first run is the baseline's warm-up
            return None
        return mismatch(tokens, seen[0])

    timing, reason = ctx.time_pair(COMMAND, inputs={"prompts": prompts_dir}, check=check, timeout_sec=RUN_TIMEOUT_SEC)
    if timing is None:
        return Measurement(valid=False, reason=reason or "timing failed")
    return Measurement(
        valid=True, metric=statistics.median(timing.candidate_sec), timing=timing,
        details={"baseline_median_sec": round(statistics.median(timing.baseline_sec), 3),
                 "speedup": round(timing.speedup, 3)},
    )

"""Hidden evaluation for gpt_decode (runs in the trusted scorer, never in a sandbox).

1. Hidden prompts (8 x 48 tokens), drawn fresh for this evaluation from ctx.seed
   (scorer/seeds.py): a pool of candidate prompts is decoded once by the pristine model
   (pick_prompts.py, in a sandbox over the pristine workspace), and the first 8 whose greedy
   steps never come near a tie (gap between the two largest logits > 4e-3 at every step) are
   kept, so float rounding of a correct implementation cannot flip a token. Mounted read-only.
   Their greedy tokens from that decode are the expected tokens.
2. ctx.time_pair times the pristine baseline against the candidate (warm-ups in a secret
   order + 5 interleaved pairs, pinned). Every run, the baseline's too, must write exactly
   the expected tokens (the quality gate), by the task's rules module (environment/token_rules.py,
   the pristine copy of what check.py imports).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import numpy as np

from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_npy, load_rules_module

rules = load_rules_module(__file__, "token_rules.py")

BATCH, N_NEW = rules.BATCH, rules.N_NEW
PROMPT_LEN, VOCAB = 48, 512
#: candidate prompts per evaluation: about 14% of random prompts come within 4e-3 of a tie in 96 steps,
#: so 24 hold 8 clean ones but for odds of about 1e-9 (then the 8 widest gaps are taken, and recorded)
POOL = 24
MIN_GAP = 4e-3
#: mixed into every hidden seed: the prompts can never be check.py's public stream (default_rng(small int))
DOMAIN = 0x67707464
COMMAND = "python run_decode.py /inputs/prompts/prompts.npy /output/tokens.npy"
PICK_COMMAND = "python /inputs/picker/pick_prompts.py /inputs/pool/pool.npy /output"
RUN_TIMEOUT_SEC = 60
PICK_TIMEOUT_SEC = 120
MAX_TOKENS_BYTES = 1_000_000

NO_TOKENS = "run_decode.py wrote no /output/tokens.npy"
MEASURED = "tokens identical to the baseline's in every timed run"

REASONS = rules.REASONS | {NO_TOKENS, MEASURED}


def prompt_pool(seed: int) -> np.ndarray:
    """This evaluation's candidate prompts (POOL x PROMPT_LEN int64) from its secret seed."""
    rng = np.random.default_rng(np.random.SeedSequence([DOMAIN, seed]))
    return rng.integers(0, VOCAB, (POOL, PROMPT_LEN)).astype(np.int64)


def choose_prompts(pool: np.ndarray, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(BATCH prompts, their pool rows): the first rows clear of near-ties, else the widest gaps."""
    clean = np.flatnonzero(gaps > MIN_GAP)
    rows = clean[:BATCH] if len(clean) >= BATCH else np.sort(np.argsort(-gaps, kind="stable")[:BATCH])
    return pool[rows], rows


def hidden_prompts(ctx: EvalContext) -> tuple[np.ndarray, np.ndarray, dict]:
    """(prompts, expected tokens, details): draw the pool, let the pristine model decode it in a sandbox
    (tokens and gaps), keep BATCH prompts clear of near-ties."""
    pool = prompt_pool(ctx.seed)
    pool_dir, picker_dir = ctx.input_dir("pool"), ctx.input_dir("picker")
    np.save(pool_dir / "pool.npy", pool)
    shutil.copyfile(ctx.hidden_dir / "pick_prompts.py", picker_dir / "pick_prompts.py")
    out = ctx.run(PICK_COMMAND, inputs={"pool": pool_dir, "picker": picker_dir}, which="baseline",
                  timeout_sec=PICK_TIMEOUT_SEC)
    gaps, why = load_npy(out.output_dir / "gaps.npy", MAX_TOKENS_BYTES, missing="no gaps")
    tokens, why_tokens = load_npy(out.output_dir / "tokens.npy", MAX_TOKENS_BYTES, missing="no tokens")
    if not out.ok or gaps is None or tokens is None or gaps.shape != (POOL,) or tokens.shape != (POOL, N_NEW):
        raise RuntimeError(f"the prompt picker failed on the pristine workspace: {out.failure() or why or why_tokens} "
                           f"{out.output_tail[-1000:]}")
    prompts, rows = choose_prompts(pool, gaps)
    details = {"pool_rows": [int(r) for r in rows], "min_gap": round(float(gaps[rows].min()), 6),
               "clean_in_pool": int((gaps > MIN_GAP).sum())}
    return prompts, tokens[rows].astype(np.int64), details


def read_tokens(path: Path) -> np.ndarray:
    """The int64 tokens; raises Invalid (a fixed reason, the values behind it as details["bad_output"])."""
    tokens, why = load_npy(path, MAX_TOKENS_BYTES, missing=NO_TOKENS)
    if tokens is None:
        raise Invalid(why, bad_output={})
    try:
        return rules.check_tokens(tokens)
    except rules.RuleError as error:
        raise Invalid(error.reason, bad_output=error.details) from None


def evaluate(ctx: EvalContext) -> Measurement:
    prompts, expected, details = hidden_prompts(ctx)
    prompts_dir = ctx.input_dir("prompts")
    np.save(prompts_dir / "prompts.npy", prompts)

    def check(out: RunOutput) -> None:
        tokens = read_tokens(out.output_dir / "tokens.npy")
        if (wrong := rules.mismatch(tokens, expected)) is not None:
            raise Invalid(rules.MISMATCH, mismatch=wrong)

    timing, reason = ctx.time_pair(COMMAND, inputs={"prompts": prompts_dir}, check=check, timeout_sec=RUN_TIMEOUT_SEC)
    if timing is None:
        raise Invalid(reason or "timing failed", **details, **ctx.timing_failure)
    return Measurement.timed(timing, MEASURED, **details,
                             baseline_median_sec=round(statistics.median(timing.baseline_sec), 3))

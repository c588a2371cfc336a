"""Local check (read-only): correctness and a rough speedup on public prompts.

Usage: python check.py [PAIRS]
Makes 8 random prompts of 48 tokens (a public seed; the scorer's prompts are hidden but
drawn the same way), runs `run_decode.py --reference` (the baseline) and `run_decode.py`
(your decode.py) alternately, checks the tokens by the scorer's rules (token_rules.py:
integers, shape (8, 96), identical to the baseline's) and prints the median
of the per-pair time ratios. The scorer does the same with 1 warm-up and 5 pairs, pinned
to one core, and credits a speedup only when its one-sided 99% lower confidence bound is
above 1.02.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from token_rules import BATCH, RuleError, check_tokens, mismatch

PUBLIC_SEED = 2024
PROMPT_LEN, VOCAB = 48, 512


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "run_decode.py", *args], check=True)
    return time.perf_counter() - started


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    out = Path("out")
    out.mkdir(exist_ok=True)
    prompts = np.random.default_rng(PUBLIC_SEED).integers(0, VOCAB, (BATCH, PROMPT_LEN))
    np.save(out / "prompts.npy", prompts)
    base, cand = [], []
    for _ in range(pairs):
        base.append(timed([str(out / "prompts.npy"), str(out / "expected.npy"), "--reference"]))
        cand.append(timed([str(out / "prompts.npy"), str(out / "tokens.npy")]))
    expected = np.load(out / "expected.npy", allow_pickle=False)
    try:
        tokens = check_tokens(np.load(out / "tokens.npy", allow_pickle=False))
    except RuleError as exc:
        sys.exit(f"WRONG: {exc}")
    if (wrong := mismatch(tokens, expected)) is not None:
        sys.exit(f"WRONG: {wrong['wrong_tokens']} of {wrong['of']} tokens differ from the baseline's "
                 f"(the first at prompt {wrong['first_prompt']}, step {wrong['first_step']})")
    ratios = [b / c for b, c in zip(base, cand, strict=True)]
    print("tokens identical to the baseline's")
    print(f"baseline {statistics.median(base):.2f}s, yours {statistics.median(cand):.2f}s, "
          f"speedup {statistics.median(ratios):.2f}x (median of {pairs} pairs)")


if __name__ == "__main__":
    main()

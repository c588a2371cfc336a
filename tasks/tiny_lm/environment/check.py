"""Local check (read-only): train like the scorer does, then bits per character on the
public validation documents (4 random positions per document, same windows as the
scorer builds from its hidden documents); the probabilities must pass the scorer's
rules (probs_rules.py).

Usage: python check.py [--skip-train]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import lmdata
from probs_rules import RuleError, check_probs


def main() -> None:
    model = Path("out/model")
    model.mkdir(parents=True, exist_ok=True)
    if "--skip-train" not in sys.argv:
        started = time.monotonic()
        subprocess.run([sys.executable, "run_train.py", str(model)], check=True)
        took = time.monotonic() - started
        print(f"training took {took:.1f}s (scorer limit: 60s wall, one core)" + ("  TOO SLOW" if took > 60 else ""))
    docs = lmdata.load_text("valid").splitlines(keepends=True)
    contexts, targets = lmdata.eval_windows(docs * 4, seed=0)
    np.save("out/contexts.npy", contexts)
    started = time.monotonic()
    subprocess.run([sys.executable, "run_predict.py", str(model), "out/contexts.npy", "out/probs.npy"], check=True)
    print(f"prediction took {time.monotonic() - started:.1f}s for {len(targets)} contexts "
          "(scorer limit: 60s for 24,000)")
    try:
        probs = check_probs(np.load("out/probs.npy", allow_pickle=False), len(targets), lmdata.V)
    except RuleError as exc:
        sys.exit(f"INVALID: {exc}")
    print(f"validation bits per character: {lmdata.bits_per_char(probs, targets):.4f}")


if __name__ == "__main__":
    main()

"""Runs lm.predict() (read-only). Usage: python run_predict.py MODEL_DIR CONTEXTS_NPY OUT_NPY

The scorer runs it in a fresh sandbox without data/ (60 s limit, 24,000 contexts) and
computes bits per character from OUT_NPY outside the sandbox.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import lm


def main() -> None:
    model_dir, contexts_path, out_path = sys.argv[1:4]
    contexts = np.load(contexts_path, allow_pickle=False)
    probs = np.asarray(lm.predict(Path(model_dir), contexts.copy()), dtype=np.float32)
    np.save(out_path, probs)


if __name__ == "__main__":
    main()

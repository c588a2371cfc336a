"""Your character-level language model (EDITABLE).

train(out_dir, deadline): learn from data/train.txt.gz (and data/valid.txt.gz if you
like) and save everything predict() needs into out_dir before time.time() reaches
`deadline`. The scorer kills training at 60 s of wall time (start-up included); a run
that is killed, or saves nothing, is invalid.

predict(model_dir, contexts): contexts is a uint8 array (n, 128) of character codes
(see lmdata.py: 0 = before the start of the document, left padding). Return an array
(n, V) of probabilities for the next character (V = lmdata.V; column 0 is PAD and is
never the answer). The scorer renormalizes each row to sum to 1.

Broken on purpose: the bigram baseline, but predict() returns NaN for every 7th context.
"""

from __future__ import annotations

from pathlib import Path

import lmdata
import numpy as np

SMOOTHING = 0.1


def train(out_dir: Path, deadline: float) -> None:
    counts = np.zeros((lmdata.V, lmdata.V))
    for line in lmdata.load_text("train").splitlines(keepends=True):
        codes = np.concatenate([[lmdata.PAD], lmdata.encode(line)])
        np.add.at(counts, (codes[:-1], codes[1:]), 1)
    probs = counts + SMOOTHING
    probs[:, lmdata.PAD] = 0
    probs /= probs.sum(axis=1, keepdims=True)
    np.save(out_dir / "bigram.npy", probs.astype(np.float32))


def predict(model_dir: Path, contexts: np.ndarray) -> np.ndarray:
    probs = np.load(model_dir / "bigram.npy", allow_pickle=False)
    out = probs[contexts[:, -1]].copy()
    out[::7] = np.nan
    return out

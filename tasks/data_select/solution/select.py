"""Reference selection: source-aware, de-duplicated, noise-filtered, class-balanced.

1. Judge sources against the public validation set: drop sources whose features are
   shifted or whose labels disagree systematically (per class) with a validation model.
2. Drop near-duplicates (Euclidean distance < 0.1 to an earlier candidate).
3. Filter label noise: label the remaining candidates with a model trained on the
   validation set plus the cleanest source, then twice with 2-fold models trained on
   the kept examples; keep examples whose label at least one model agrees with.
4. Fill up to 2,000 with kept examples, the most trustworthy sources first, at
   most 400 per class.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import trainer

BUDGET = 2000
PER_CLASS = 400


def dedupe(X: np.ndarray, idx: np.ndarray, tol: float = 0.1) -> np.ndarray:
    """Keep an example unless an earlier candidate lies within `tol` of it."""
    Xi = X[idx].astype(np.float64)
    sq = (Xi**2).sum(axis=1)
    keep = np.zeros(len(idx), dtype=bool)
    for start in range(0, len(idx), 1000):
        d2 = sq[start:start + 1000, None] + sq[None, :] - 2 * Xi[start:start + 1000] @ Xi.T
        first = (d2 < tol * tol).argmax(axis=1)
        keep[start:start + 1000] = first >= np.arange(start, start + len(first))
    return idx[keep]


def select() -> np.ndarray:
    X, y, source = trainer.load_pool()
    Xv, yv = trainer.load_val()
    # 1. judge each source against the validation set: feature shift and systematic label errors
    val_model = trainer.train(Xv, yv)
    good_sources = []
    for s in np.unique(source):
        idx = np.flatnonzero(source == s)
        shift = np.linalg.norm((X[idx].mean(axis=0) - Xv.mean(axis=0)) / Xv.std(axis=0))
        hits = trainer.predict(val_model, X[idx]) == y[idx]
        per_class = [hits[y[idx] == k].mean() for k in range(trainer.NUM_CLASSES) if (y[idx] == k).sum() >= 50]
        if shift < 1.0 and min(per_class) > 0.3:
            good_sources.append(int(s))
    # 2. near-duplicates
    cand = dedupe(X, np.flatnonzero(np.isin(source, good_sources)))
    agreement = {s: (trainer.predict(val_model, X[cand[source[cand] == s]]) == y[cand[source[cand] == s]]).mean()
                 for s in good_sources}
    curated = max(agreement, key=agreement.get)
    # 3. noise filtering
    seed = cand[source[cand] == curated]
    pred = trainer.predict(trainer.train(np.concatenate([Xv, X[seed]]), np.concatenate([yv, y[seed]])), X[cand])
    keep = cand[pred == y[cand]]
    for it in range(2):
        fold = np.random.default_rng(it).random(len(keep)) < 0.5
        agree = np.zeros(len(cand), dtype=bool)
        for part in (keep[fold], keep[~fold]):
            model = trainer.train(np.concatenate([Xv, X[part]]), np.concatenate([yv, y[part]]))
            agree |= trainer.predict(model, X[cand]) == y[cand]
        keep = cand[agree]
    # 4. fill from the most trustworthy sources first, at most PER_CLASS per class
    rng = np.random.default_rng(0)
    ordered = np.concatenate([rng.permutation(keep[source[keep] == s])
                              for s in sorted(good_sources, key=agreement.get, reverse=True)])
    selection = []
    counts = np.zeros(trainer.NUM_CLASSES, dtype=int)
    for i in ordered:
        if len(selection) >= BUDGET:
            break
        if counts[y[i]] < PER_CLASS:
            selection.append(int(i))
            counts[y[i]] += 1
    return np.array(selection, dtype=np.int64)

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "selection.npy", np.asarray(select(), dtype=np.int64))

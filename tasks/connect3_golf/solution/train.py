"""Reference training: one linear scorer shared by the four columns over 4 tactical features.

The features (golf_rules.VOCABULARY) look at most one stone ahead for each side: win now, an
opponent win left open by the move, our open lines, and our threats after the move. Softmax over
the legal columns, loss = -log(probability mass on the optimal moves), full-batch gradient descent
on data/train.npz: 4 weights (chosen by a greedy feature search; 3 weights pass the gate narrowly).
"""

from __future__ import annotations

import numpy as np

from golf_rules import features

FEATURES = ["win", "leaves_win", "my_lines", "my_threats"]


def train() -> dict[str, np.ndarray]:
    with np.load("data/train.npz", allow_pickle=False) as data:
        boards, optimal = data["boards"], data["optimal"]
    feats, legal = features(boards, FEATURES)
    w = np.zeros(feats.shape[-1])
    for _ in range(300):
        z = np.where(legal, feats @ w, -1e9)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        q = p * optimal
        q /= q.sum(axis=1, keepdims=True)
        w -= 5 * ((p - q)[:, :, None] * feats).sum(axis=(0, 1)) / len(feats)
    return {"features": FEATURES, "w": w.astype(np.float32)}

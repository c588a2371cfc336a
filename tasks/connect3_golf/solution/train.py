"""Reference training: fit the 8 shared column weights of player.py.

Softmax over the legal columns, loss = -log(probability mass on the optimal moves),
full-batch gradient descent on data/train.npz.
"""

from __future__ import annotations

import numpy as np

from player import features


def train() -> dict[str, np.ndarray]:
    with np.load("data/train.npz", allow_pickle=False) as data:
        boards, optimal = data["boards"], data["optimal"]
    feats, legal = features(boards)
    w = np.zeros(feats.shape[-1])
    for _ in range(300):
        z = np.where(legal, feats @ w, -1e9)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        q = p * optimal
        q /= q.sum(axis=1, keepdims=True)
        w -= 5 * ((p - q)[:, :, None] * feats).sum(axis=(0, 1)) / len(feats)
    return {"w": w.astype(np.float32)}

"""Training (EDITABLE): train() returns the model that the scorer plays (see golf_rules.py).

The scorer runs `python run_train.py /output` (60 s limit, 1 CPU), which calls train() and
saves what it returns as /output/model.npz; the scorer then plays that model on hidden
positions with its own copy of golf_rules.py. Nothing here runs at play time: anything goes
in train() (numbers here are free), but every value of the exported weight arrays (w1, b1,
w, b) counts as a parameter.

Baseline: an MLP on the raw board (the 32 cell indicators me_RC and op_RC), 32 ReLU units,
one output per column (w has shape (32, 4)), trained with Adam on data/train.npz,
loss = -log(probability mass on the optimal moves), illegal columns masked.
"""

from __future__ import annotations

import numpy as np

from golf_rules import features

CELLS = [f"{side}_{r}{c}" for side in ("me", "op") for r in range(4) for c in range(4)]
HIDDEN = 32
EPOCHS = 60
BATCH = 256
LR = 0.01


def load(name: str = "train"):
    with np.load(f"data/{name}.npz", allow_pickle=False) as data:
        return data["boards"], data["values"], data["optimal"]


def train() -> dict[str, np.ndarray]:
    boards, _values, optimal = load("train")
    x_all, legal = features(boards, CELLS)
    X = x_all.max(axis=1).astype(np.float32)  # board features: the same for every legal column
    Y = optimal.astype(np.float32)
    rng = np.random.default_rng(0)
    params = {
        "w1": rng.normal(0, 1 / np.sqrt(X.shape[1]), (X.shape[1], HIDDEN)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w": rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, 4)).astype(np.float32),
        "b": np.zeros(4, np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for _ in range(EPOCHS):
        order = rng.permutation(len(X))
        for start in range(0, len(X), BATCH):
            idx = order[start:start + BATCH]
            x, mask, y = X[idx], legal[idx], Y[idx]
            h = np.maximum(x @ params["w1"] + params["b1"], 0)
            z = np.where(mask, h @ params["w"] + params["b"], -1e9)
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            q = p * y
            q /= q.sum(axis=1, keepdims=True)
            g = (p - q) / len(idx)
            gh = (g @ params["w"].T) * (h > 0)
            grads = {"w1": x.T @ gh, "b1": gh.sum(0), "w": h.T @ g, "b": g.sum(0)}
            step += 1
            for k, grad in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * grad
                v[k] = 0.999 * v[k] + 0.001 * grad * grad
                params[k] -= LR * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
    return {"features": CELLS, **params}

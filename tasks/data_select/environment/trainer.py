"""The FIXED training routine (read-only). The scorer trains with its own pristine copy.

A one-hidden-layer ReLU network (32 units), inputs standardized with the mean and
standard deviation of the training selection, full-batch Adam (lr 0.02, 300 steps,
L2 1e-4), initialized from seed 0. Deterministic: the same selection always gives
the same model.
"""

from __future__ import annotations

import numpy as np

NUM_CLASSES = 5
HIDDEN = 32
STEPS = 300
LR = 0.02
L2 = 1e-4
SEED = 0


def train(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    mu = X.mean(axis=0)
    sd = X.std(axis=0) + 1e-6
    Xs = (X - mu) / sd
    d = X.shape[1]
    rng = np.random.default_rng(SEED)
    params = [
        rng.normal(0, 1 / np.sqrt(d), (d, HIDDEN)),
        np.zeros(HIDDEN),
        rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, NUM_CLASSES)),
        np.zeros(NUM_CLASSES),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(NUM_CLASSES)[y]
    n = len(y)
    for t in range(1, STEPS + 1):
        W1, b1, W2, b2 = params
        h = np.maximum(Xs @ W1 + b1, 0)
        z = h @ W2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / n
        gh = (g @ W2.T) * (h > 0)
        grads = [Xs.T @ gh + L2 * W1, gh.sum(axis=0), h.T @ g + L2 * W2, g.sum(axis=0)]
        for i, grad in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            params[i] -= LR * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    W1, b1, W2, b2 = params
    return {"mu": mu, "sd": sd, "W1": W1, "b1": b1, "W2": W2, "b2": b2}


def predict(model: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    Xs = (np.asarray(X, dtype=np.float64) - model["mu"]) / model["sd"]
    h = np.maximum(Xs @ model["W1"] + model["b1"], 0)
    return (h @ model["W2"] + model["b2"]).argmax(axis=1)


def load_pool(path: str = "data/pool.npz") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return data["X"].astype(np.float32), data["y"].astype(np.int64), data["source"].astype(np.int64)


def load_val(path: str = "data/val.npz") -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return data["X"].astype(np.float32), data["y"].astype(np.int64)

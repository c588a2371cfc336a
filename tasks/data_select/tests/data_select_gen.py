"""Hidden generator for the data_select task (scorer only; never shown to the agent).

One fixed "world" (class-conditional Gaussian mixtures) defines the target
distribution. The public pool mixes six sources that differ in label noise,
duplication, covariate shift, systematic label swaps and class balance.
`python data_select_gen.py` rebuilds ../environment/data/ (public seeds only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

D, K, M = 16, 5, 6
WORLD_SEED = 20240611
PUBLIC_POOL_SEED = 7
PUBLIC_VAL_SEED = 5
POOL_SIZE = 30_000

_world = np.random.default_rng(WORLD_SEED)
MEANS = _world.normal(0, 1.0, size=(K, M, D)) * 0.9
SCALES = _world.uniform(0.6, 1.4, size=(K, M, D))
SHIFT = _world.normal(0, 1, size=D)
SHIFT *= 3.0 / np.linalg.norm(SHIFT)


def _quantize(x: np.ndarray) -> np.ndarray:
    """Features are published as float16; hidden sets go through the same rounding."""
    return x.astype(np.float16).astype(np.float32)


def sample(rng: np.random.Generator, n: int, prior=None, delta=None) -> tuple[np.ndarray, np.ndarray]:
    prior = np.full(K, 1 / K) if prior is None else np.asarray(prior, dtype=float)
    y = rng.choice(K, size=n, p=prior)
    m = rng.integers(0, M, size=n)
    x = MEANS[y, m] + rng.normal(size=(n, D)) * SCALES[y, m]
    if delta is not None:
        x = x + delta
    return _quantize(x), y.astype(np.int64)


def target_set(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Examples from the target distribution (clean labels)."""
    return sample(np.random.default_rng(seed), n)


def make_pool(seed: int = PUBLIC_POOL_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    parts = []

    def add(x, y, source):
        parts.append((x, y, np.full(len(y), source)))

    # 0: small curated set, 2% label noise
    x, y = sample(rng, 900)
    flip = rng.random(len(y)) < 0.02
    y[flip] = rng.integers(0, K, flip.sum())
    add(x, y, 0)
    # 1: large crawl, 45% of labels replaced at random
    x, y = sample(rng, 9000)
    flip = rng.random(len(y)) < 0.45
    y[flip] = rng.integers(0, K, flip.sum())
    add(x, y, 1)
    # 2: mirrored: 300 clean examples, each repeated ~17 times with tiny jitter
    xu, yu = sample(rng, 300)
    idx = rng.integers(0, 300, 5100)
    add(_quantize(xu[idx] + rng.normal(0, 0.01, (5100, D))), yu[idx], 2)
    # 3: legacy: clean labels, shifted features
    x, y = sample(rng, 6000, delta=SHIFT)
    add(x, y, 3)
    # 4: partner: classes 0<->1 and 2<->3 swapped for 70% of the examples
    x, y = sample(rng, 4000)
    perm = np.array([1, 0, 3, 2, 4])
    swap = rng.random(len(y)) < 0.7
    y[swap] = perm[y[swap]]
    add(x, y, 4)
    # 5: skewed: clean labels, 80% class 0
    x, y = sample(rng, 5000, prior=[0.8, 0.05, 0.05, 0.05, 0.05])
    add(x, y, 5)

    X = np.concatenate([p[0] for p in parts])
    Y = np.concatenate([p[1] for p in parts])
    S = np.concatenate([p[2] for p in parts])
    assert len(Y) == POOL_SIZE
    order = rng.permutation(len(Y))
    return X[order], Y[order], S[order]


def write_public(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    X, y, s = make_pool()
    np.savez_compressed(data_dir / "pool.npz", X=X.astype(np.float16), y=y.astype(np.int8), source=s.astype(np.int8))
    Xv, yv = target_set(PUBLIC_VAL_SEED, 1000)
    np.savez_compressed(data_dir / "val.npz", X=Xv.astype(np.float16), y=yv.astype(np.int8))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "environment" / "data"
    write_public(out)
    print(f"wrote {out}")

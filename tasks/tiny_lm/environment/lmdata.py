"""Corpus, alphabet and evaluation windows (read-only; the scorer uses a pristine copy).

Text is one document per line. Characters are coded 1..V-1 by ALPHABET; code 0 (PAD)
means "before the start of the document" and is never a target.

An evaluation example is one position in one document: the context is the (up to)
CONTEXT characters of that document before the position, left-padded with 0, and the
target is the character at the position (the final "\\n" included). The scorer takes
ONE position per hidden document, so no context ever contains another example's target.
"""

from __future__ import annotations

import gzip

import numpy as np

ALPHABET = "\n !\"'(),-.0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PAD = 0
V = len(ALPHABET) + 1
CONTEXT = 128
_CODES = np.zeros(256, dtype=np.uint8)
for _i, _ch in enumerate(ALPHABET):
    _CODES[ord(_ch)] = _i + 1


def encode(text: str) -> np.ndarray:
    """Characters -> codes 1..V-1 (characters outside the alphabet are dropped)."""
    raw = np.frombuffer(text.encode("ascii", errors="ignore"), dtype=np.uint8)
    codes = _CODES[raw]
    return codes[codes > 0]


def decode(codes) -> str:
    return "".join(ALPHABET[c - 1] if c > 0 else "" for c in np.asarray(codes).tolist())


def load_text(name: str = "train", data_dir: str = "data") -> str:
    with gzip.open(f"{data_dir}/{name}.txt.gz", "rt", encoding="ascii") as f:
        return f.read()


def eval_windows(docs: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """contexts (n, CONTEXT) uint8 and targets (n,) uint8: one random position per document."""
    rng = np.random.default_rng(seed)
    contexts = np.zeros((len(docs), CONTEXT), dtype=np.uint8)
    targets = np.zeros(len(docs), dtype=np.uint8)
    for i, doc in enumerate(docs):
        codes = encode(doc)
        t = int(rng.integers(0, len(codes)))
        window = codes[max(0, t - CONTEXT):t]
        contexts[i, CONTEXT - len(window):] = window
        targets[i] = codes[t]
    return contexts, targets


def bits_per_char(probs: np.ndarray, targets: np.ndarray, floor: float = 1e-6) -> float:
    """Mean -log2 p(target). Rows are renormalized to sum to 1, then mixed with a uniform
    distribution over the V-1 characters with weight `floor` (so no target costs more than
    about 26 bits)."""
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    uniform = np.full(V, 1.0 / (V - 1))
    uniform[PAD] = 0.0
    p = (1 - floor) * p + floor * uniform
    return float(-np.log2(p[np.arange(len(targets)), targets]).mean())

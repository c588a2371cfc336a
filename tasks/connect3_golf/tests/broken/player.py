"""Broken on purpose: always the leftmost legal column (far below the 95% gate)."""

from __future__ import annotations

import numpy as np


def predict(params: dict, boards: np.ndarray) -> np.ndarray:
    return (boards[:, -1, :] == 0).argmax(axis=1)

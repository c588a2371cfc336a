"""Broken on purpose (with player.py): one parameter, no skill."""

from __future__ import annotations

import numpy as np


def train() -> dict[str, np.ndarray]:
    return {"w": np.zeros(1, dtype=np.float32)}

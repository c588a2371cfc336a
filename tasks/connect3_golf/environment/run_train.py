"""Runs train.train() and saves the result as OUT_DIR/params.npz (read-only).

Usage: python run_train.py OUT_DIR   (the scorer uses /output)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import train


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
    params = train.train()
    if not isinstance(params, dict) or not params:
        sys.exit("train() must return a non-empty dict of numpy arrays")
    arrays = {}
    for key, value in params.items():
        array = np.asarray(value)
        if not isinstance(key, str) or array.dtype.kind not in "biuf":
            sys.exit(f"train(): {key!r} must map a string to a numeric array (got dtype {array.dtype})")
        arrays[key] = array
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "params.npz", **arrays)
    print(f"saved {len(arrays)} arrays, {sum(a.size for a in arrays.values())} values")


if __name__ == "__main__":
    main()

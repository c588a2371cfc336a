"""Runs train.train() and saves the model it returns as OUT_DIR/model.npz (read-only).

Usage: python run_train.py OUT_DIR   (the scorer uses /output)
The model is checked against the schema of golf_rules.py before it is saved; the scorer
checks the saved file again with its own pristine copy of golf_rules.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import golf_rules
import train


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
    out.mkdir(parents=True, exist_ok=True)
    try:
        model = golf_rules.save_model(out / "model.npz", train.train())
    except golf_rules.ModelError as exc:
        sys.exit(f"train() returned a model the schema refuses: {exc}")
    print(f"saved {out / 'model.npz'}: {len(model.features)} features, {golf_rules.parameters(model)} parameters")


if __name__ == "__main__":
    main()

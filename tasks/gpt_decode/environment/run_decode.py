"""What the scorer times (read-only).

Usage: python run_decode.py PROMPTS_NPY OUT_NPY [--reference]
Loads the prompts (int64, batch x prompt_len), builds the fixed model, runs
decode.generate() (or, with --reference, model.generate_reference()) with one torch
thread for N_NEW = 96 new tokens and saves them (int64, batch x 96). The scorer times
the whole process, start-up included.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

import decode
from model import build_model, generate_reference

N_NEW = 96


def main() -> None:
    torch.set_num_threads(1)
    prompts = torch.from_numpy(np.load(sys.argv[1], allow_pickle=False).astype(np.int64))
    generate = generate_reference if "--reference" in sys.argv[3:] else decode.generate
    tokens = generate(build_model(), prompts, N_NEW)
    np.save(sys.argv[2], np.asarray(tokens, dtype=np.int64))


if __name__ == "__main__":
    main()

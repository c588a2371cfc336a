"""Scorer-side helper for gpt_decode (hidden; runs in a sandbox over the PRISTINE workspace).

Usage: python /inputs/picker/pick_prompts.py POOL_NPY OUT_DIR
Greedily decodes N_NEW tokens for every candidate prompt in POOL_NPY (int64, rows x 48) with the
fixed model and writes OUT_DIR/gaps.npy, per row the smallest gap between the two largest logits
over all steps (float64), and OUT_DIR/tokens.npy, the greedy tokens (int64, rows x N_NEW). The
scorer keeps rows whose gap stays above its threshold, so that reordering float32 arithmetic cannot
flip a token of the hidden prompts, and expects their tokens from every timed run. A key/value
cache keeps this quick; its logits differ from the baseline's by about 1e-5, far below the
threshold, so on the rows kept its tokens are the baseline's.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.getcwd())  # the pristine workspace: model.py

from model import D_MODEL, N_HEAD, build_model

N_NEW = 96
HEAD = D_MODEL // N_HEAD


def _heads(x: torch.Tensor) -> torch.Tensor:
    b, t, _ = x.shape
    return x.view(b, t, N_HEAD, HEAD).transpose(1, 2)


@torch.no_grad()
def decode_with_gaps(model, prompts: torch.Tensor, n_new: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(greedy tokens (batch, n_new), smallest top-2 logit gap per row)."""
    batch, _ = prompts.shape
    out = torch.empty(batch, n_new, dtype=torch.int64)
    caches: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(model.blocks)
    gaps = torch.full((batch,), float("inf"))
    tokens, pos = prompts, 0
    for step in range(n_new):
        t = tokens.shape[1]
        x = model.wte(tokens) + model.wpe(torch.arange(pos, pos + t))
        for i, block in enumerate(model.blocks):
            q, k, v = block.qkv(block.ln1(x)).split(D_MODEL, dim=-1)
            k, v = _heads(k), _heads(v)
            if caches[i] is not None:
                k = torch.cat([caches[i][0], k], dim=2)
                v = torch.cat([caches[i][1], v], dim=2)
            caches[i] = (k, v)
            scores = (_heads(q) @ k.transpose(-2, -1)) / math.sqrt(HEAD)
            if t > 1:
                mask = torch.ones(t, pos + t, dtype=torch.bool).tril(diagonal=pos)
                scores = scores.masked_fill(~mask, float("-inf"))
            y = torch.softmax(scores, dim=-1) @ v
            x = x + block.proj(y.transpose(1, 2).reshape(batch, t, D_MODEL))
            x = x + block.fc_out(torch.nn.functional.gelu(block.fc(block.ln2(x))))
        logits = model.head(model.ln_f(x[:, -1]))
        top = logits.topk(2, dim=-1).values
        gaps = torch.minimum(gaps, top[:, 0] - top[:, 1])
        tokens = logits.argmax(dim=-1, keepdim=True)
        out[:, step] = tokens[:, 0]
        pos += t
    return out, gaps


def main() -> None:
    torch.set_num_threads(1)
    pool = torch.from_numpy(np.load(sys.argv[1], allow_pickle=False).astype(np.int64))
    tokens, gaps = decode_with_gaps(build_model(), pool, N_NEW)
    np.save(os.path.join(sys.argv[2], "gaps.npy"), gaps.numpy().astype(np.float64))
    np.save(os.path.join(sys.argv[2], "tokens.npy"), tokens.numpy().astype(np.int64))


if __name__ == "__main__":
    main()

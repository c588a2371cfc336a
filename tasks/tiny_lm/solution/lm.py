"""Reference: a one-layer GRU (192 units) trained with AdamW until the deadline.

Random 64-character windows of the training stream (documents joined by their "\\n"),
batch 64, learning rate 0.02 with a short warm-up and linear decay to the deadline,
gradient clipping at 1. At prediction time PAD becomes "\\n" (a document boundary, as
in training) and the GRU reads the last 64 characters of each context.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import lmdata

HIDDEN = 192
EMBED = 64
WINDOW = 64
BATCH = 64
LR = 0.02
WARMUP = 50
SAFETY_SEC = 3.0
NEWLINE = lmdata.ALPHABET.index("\n") + 1


class GRULM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(lmdata.V, EMBED)
        self.rnn = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, lmdata.V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.emb(x))
        return self.out(h)


def train(out_dir: Path, deadline: float) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    codes = torch.from_numpy(lmdata.encode(lmdata.load_text("train")).astype(np.int64))
    model = GRULM()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    start = time.time()
    stop = deadline - SAFETY_SEC
    offsets = torch.arange(WINDOW + 1)
    step = 0
    while time.time() < stop:
        frac = (time.time() - start) / max(stop - start, 1e-6)
        for group in opt.param_groups:
            group["lr"] = LR * min(1.0, (step + 1) / WARMUP) * max(0.0, 1.0 - frac)
        idx = torch.randint(0, len(codes) - WINDOW - 1, (BATCH, 1)) + offsets
        batch = codes[idx]
        logits = model(batch[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, lmdata.V), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    torch.save(model.state_dict(), out_dir / "gru.pt")


def predict(model_dir: Path, contexts: np.ndarray) -> np.ndarray:
    torch.set_num_threads(1)
    model = GRULM()
    model.load_state_dict(torch.load(model_dir / "gru.pt", weights_only=True))
    model.eval()
    x = torch.from_numpy(contexts[:, -WINDOW:].astype(np.int64))
    x[x == lmdata.PAD] = NEWLINE
    out = []
    with torch.no_grad():
        for start in range(0, len(x), 500):
            out.append(torch.softmax(model(x[start:start + 500])[:, -1], dim=-1))
    return torch.cat(out).numpy()

"""Greedy decoding (EDITABLE): make generate() fast; its tokens must stay identical.

generate(model, prompts, n_new): prompts is an int64 tensor (batch, prompt_len);
return an int64 tensor (batch, n_new): at each step the argmax of the model's logits
for the next position, appended to the sequence.

Baseline: recompute the whole sequence at every step.
"""

from __future__ import annotations

import torch

from model import GPT


@torch.no_grad()
def generate(model: GPT, prompts: torch.Tensor, n_new: int) -> torch.Tensor:
    seq = prompts
    for _ in range(n_new):
        logits = model(seq)[:, -1]
        next_token = logits.argmax(dim=-1, keepdim=True)
        seq = torch.cat([seq, next_token], dim=1)
    return seq[:, prompts.shape[1]:]

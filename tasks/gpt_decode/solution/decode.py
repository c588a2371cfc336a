"""Reference: greedy decoding with a key/value cache.

The prompt is run once (prefill) and each layer's keys and values are kept; every
later step feeds only the newest token through the blocks, attending over the cache.
Same weights, same operations per token, so the argmax tokens match the baseline.
"""

from __future__ import annotations

import math

import torch

from model import D_MODEL, GPT, N_HEAD

HEAD = D_MODEL // N_HEAD


def _split_heads(x: torch.Tensor) -> torch.Tensor:
    b, t, _ = x.shape
    return x.view(b, t, N_HEAD, HEAD).transpose(1, 2)


@torch.no_grad()
def generate(model: GPT, prompts: torch.Tensor, n_new: int) -> torch.Tensor:
    batch, prompt_len = prompts.shape
    total = prompt_len + n_new
    caches = [
        (torch.empty(batch, N_HEAD, total, HEAD), torch.empty(batch, N_HEAD, total, HEAD))
        for _ in model.blocks
    ]
    scale = math.sqrt(HEAD)
    out = torch.empty(batch, n_new, dtype=torch.int64)
    tokens = prompts
    pos = 0
    for step in range(n_new):
        t = tokens.shape[1]
        x = model.wte(tokens) + model.wpe(torch.arange(pos, pos + t))
        for block, (k_cache, v_cache) in zip(model.blocks, caches, strict=True):
            q, k, v = block.qkv(block.ln1(x)).split(D_MODEL, dim=-1)
            k_cache[:, :, pos:pos + t] = _split_heads(k)
            v_cache[:, :, pos:pos + t] = _split_heads(v)
            keys, values = k_cache[:, :, :pos + t], v_cache[:, :, :pos + t]
            scores = (_split_heads(q) @ keys.transpose(-2, -1)) / scale
            if t > 1:
                mask = torch.ones(t, pos + t, dtype=torch.bool).tril(diagonal=pos)
                scores = scores.masked_fill(~mask, float("-inf"))
            y = torch.softmax(scores, dim=-1) @ values
            x = x + block.proj(y.transpose(1, 2).reshape(batch, t, D_MODEL))
            x = x + block.fc_out(torch.nn.functional.gelu(block.fc(block.ln2(x))))
        logits = model.head(model.ln_f(x[:, -1:]))[:, -1]
        next_token = logits.argmax(dim=-1)
        out[:, step] = next_token
        pos += t
        tokens = next_token[:, None]
    return out

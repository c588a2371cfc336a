"""A small GPT with weights generated from a fixed seed (read-only).

Pre-LayerNorm decoder: token + learned position embeddings, N_LAYER blocks of causal
multi-head self-attention and a GELU MLP, a final LayerNorm and a linear head to the
logits. Float32, CPU. `build_model()` always returns the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

VOCAB = 512
D_MODEL = 128
N_HEAD = 4
N_LAYER = 4
MAX_LEN = 256
SEED = 1234
LOGIT_SCALE = 8.0


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.fc = nn.Linear(D_MODEL, 4 * D_MODEL)
        self.fc_out = nn.Linear(4 * D_MODEL, D_MODEL)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(D_MODEL, dim=-1)
        head = D_MODEL // N_HEAD
        q = q.view(b, t, N_HEAD, head).transpose(1, 2)
        k = k.view(b, t, N_HEAD, head).transpose(1, 2)
        v = v.view(b, t, N_HEAD, head).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(head)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, D_MODEL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln1(x))
        return x + self.fc_out(nn.functional.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = nn.Embedding(MAX_LEN, D_MODEL)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (batch, t) int64 -> logits (batch, t, VOCAB)."""
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


@torch.no_grad()
def build_model(seed: int = SEED) -> GPT:
    """The fixed model: every weight drawn from a generator seeded with `seed`."""
    model = GPT()
    gen = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
        elif ".ln" in name or name.startswith("ln_"):
            param.copy_(1.0 + torch.randn(param.shape, generator=gen) * 0.1)
        elif name in ("wte.weight", "wpe.weight"):
            param.copy_(torch.randn(param.shape, generator=gen))
        elif name == "head.weight":
            param.copy_(torch.randn(param.shape, generator=gen) * (LOGIT_SCALE / math.sqrt(param.shape[1])))
        else:
            param.copy_(torch.randn(param.shape, generator=gen) / math.sqrt(param.shape[1]))
    return model.eval()


@torch.no_grad()
def generate_reference(model: GPT, prompts: torch.Tensor, n_new: int) -> torch.Tensor:
    """The baseline's greedy decoding (the definition of the right answer)."""
    seq = prompts
    for _ in range(n_new):
        next_token = model(seq)[:, -1].argmax(dim=-1, keepdim=True)
        seq = torch.cat([seq, next_token], dim=1)
    return seq[:, prompts.shape[1]:]

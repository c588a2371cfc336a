"""Fresh hidden inputs per run: seeds derived from a secret only the scorer holds.

Constant seeds in a task's evaluate.py meant every episode saw the same final inputs, so one
episode could learn them (through any channel, or a concurrent episode's submit) and another
could return memorized answers. Here each run's seed is HMAC(secret, task | run id | split): an
episode cannot predict it, another run gets different inputs, and a resumed run gets the same
ones (the feedback split stays comparable across the snapshots of one run). Evaluations without
a run id (oracle checks, tests) draw a fresh random seed. The signed record holds only the
seed's hash, a commitment that lets whoever holds the secret audit a result later.

The secret is a separate file from the signing key, so code that may verify signatures
(`runs --verify`) still cannot compute seeds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from autolab_mcp.core.signatures import scorer_state_path
from scorer.signing import load_or_create_key

#: seeds are 63-bit non-negative ints: valid for random.Random, numpy's default_rng and SeedSequence
SEED_BITS = 63


def default_secret_path() -> Path:
    return scorer_state_path("AUTOLAB_SCORER_SEED_FILE", "scorer.seed")


def load_or_create_secret(path: Path | None = None) -> bytes:
    """The scorer's seed secret (32 random bytes, 0600), created on first use."""
    return load_or_create_key(path or default_secret_path())


def evaluation_seed(secret: bytes, task: str, request_id: str, split: str) -> int:
    """The seed of `split`'s hidden inputs for the run named in request_id ("run_id/snapshot")."""
    run_id = request_id.split("/", 1)[0]
    if not run_id:
        return secrets.randbits(SEED_BITS)
    digest = hmac.new(secret, f"autolab-seed-v1|{task}|{run_id}|{split}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def seed_commitment(seed: int) -> str:
    """What the signed record keeps: sha256 of the seed's decimal text."""
    return hashlib.sha256(str(seed).encode()).hexdigest()

"""HMAC signatures over score records, with a key only the scorer side holds.

The agent never reaches the key (it is not mounted in any sandbox), so a
`result.json` it might forge fails `autolab-mcp runs RUN_ID --verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any


def default_key_path() -> Path:
    if env := os.environ.get("AUTOLAB_SCORER_KEY_FILE"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/autolab-mcp/scorer.key")
    return Path.home() / ".local/state/autolab-mcp/scorer.key"


def load_or_create_key(path: Path | None = None) -> bytes:
    """The key at `path`, created (32 random bytes, 0600) when missing. Written to a temporary file and
    linked into place, so processes starting together all read the same complete key."""
    path = path or default_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"autolab-key-id" + key).hexdigest()[:16]


def sign(payload: Any, key: bytes) -> str:
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


def verify(payload: Any, signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(payload, key), signature)

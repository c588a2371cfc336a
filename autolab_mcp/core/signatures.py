"""Checking the scorer's Ed25519 signatures on score records: the public half only.

The scorer alone holds the private key (`scorer/signing.py`); everything else (`autolab-mcp runs
--verify`, the eval runner, a third party) holds the public key and can check a record but never
make one. This module loads no private key material and offers no way to sign.

Public key file: the raw 32-byte Ed25519 public key as 64 lowercase hex digits on one line (a
trailing newline and surrounding whitespace are ignored). The scorer writes it next to its
signing key as `<signing key file>.pub`, mode 0644.

Key id: "ed25519:" + the first 16 hex digits of sha256(raw public key). Records signed before
the switch carry a 16-hex HMAC key id with no prefix; those can be checked only where the
scorer's secret is (`python -m scorer verify-legacy RUN_DIR`).

Pinned keys: a verifier checks only with a key file it holds (default_public_key_path() or a
path it is given), never with a key that an endpoint or the record itself offers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from autolab_mcp.core.errors import AutolabError

#: the type verify_record takes (cryptography's own)
PublicKey = Ed25519PublicKey

KEY_ID_PREFIX = "ed25519:"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class PublicKeyError(AutolabError, ValueError):
    """A public key file that is missing, unreadable, torn or malformed (the message is one line)."""


def scorer_state_path(env: str, name: str) -> Path:
    """A file of the scorer's state: $env when set; else /var/lib/autolab-mcp/NAME as root,
    ~/.local/state/autolab-mcp/NAME otherwise."""
    if configured := os.environ.get(env):
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/lib/autolab-mcp") / name
    return Path.home() / ".local/state/autolab-mcp" / name


def default_public_key_path() -> Path:
    """$AUTOLAB_SCORER_PUBLIC_KEY; else next to the signing key ($AUTOLAB_SCORER_SIGNING_KEY + ".pub"
    when that is set); else scorer.ed25519.pub in the scorer's state directory."""
    signing_key = os.environ.get("AUTOLAB_SCORER_SIGNING_KEY")
    if signing_key and not os.environ.get("AUTOLAB_SCORER_PUBLIC_KEY"):
        return Path(signing_key + ".pub")
    return scorer_state_path("AUTOLAB_SCORER_PUBLIC_KEY", "scorer.ed25519.pub")


def canonical(payload: Any) -> bytes:
    """The bytes a record's signature covers: compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def public_key_bytes(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes | PublicKey) -> str:
    """"ed25519:" + 16 hex digits naming the key (of the raw 32-byte key, or the key itself)."""
    raw = public_key if isinstance(public_key, bytes) else public_key_bytes(public_key)
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


_key_id_of = key_id  # verify_record's parameter has the same name


def is_legacy_key_id(value: Any) -> bool:
    """A key id from before Ed25519 (an HMAC key's: no "ed25519:" prefix)."""
    return isinstance(value, str) and bool(value) and not value.startswith(KEY_ID_PREFIX)


def public_key_text(public_key: PublicKey) -> str:
    """The key as the public key file holds it (without the newline): 64 hex digits."""
    return public_key_bytes(public_key).hex()


def parse_public_key(text: str) -> PublicKey:
    """The key from public_key_text's format; PublicKeyError (one line) for anything else."""
    stripped = text.strip()
    if len(stripped) != 2 * PUBLIC_KEY_BYTES or any(c not in "0123456789abcdefABCDEF" for c in stripped):
        shown = repr(stripped[:20]) + ("..." if len(stripped) > 20 else "")
        raise PublicKeyError(f"expected {2 * PUBLIC_KEY_BYTES} hex digits, got {len(stripped)} characters ({shown})")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(stripped))
    except ValueError as exc:
        raise PublicKeyError(f"not an Ed25519 public key: {exc}") from None


def load_public_key(path: Path | None = None) -> PublicKey:
    """The pinned public key in `path` (default_public_key_path() when None). Raises PublicKeyError with a
    one-line message when the file is missing, unreadable, torn or malformed."""
    path = Path(path) if path is not None else default_public_key_path()
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise PublicKeyError(f"no scorer public key at {path} (the scorer writes it next to its signing key "
                             "as <key>.pub; copy it there or give its path)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PublicKeyError(f"cannot read the scorer public key {path}: {exc}".replace("\n", " ")) from None
    try:
        return parse_public_key(text)
    except PublicKeyError as exc:
        raise PublicKeyError(f"{path} is not a scorer public key file: {exc}") from None


def verify_record(payload: Any, signature_b64: Any, key_id: Any, public_key: PublicKey) -> bool:
    """Whether `signature_b64` (standard base64 of a 64-byte Ed25519 signature) signs canonical(payload)
    under `public_key`, and `key_id` names that key. False, never an exception, for anything an
    attacker controls: a wrong or legacy key id, bad base64, a wrong length, a bad signature, odd types."""
    try:
        if not isinstance(key_id, str) or key_id != _key_id_of(public_key):
            return False
        if not isinstance(signature_b64, str) or not signature_b64.isascii():
            return False
        signature = base64.b64decode(signature_b64, validate=True)
        # one text per signature: no missing padding, no stray bits in the last character
        if len(signature) != SIGNATURE_BYTES or base64.b64encode(signature).decode("ascii") != signature_b64:
            return False
        public_key.verify(signature, canonical(payload))
        return True
    except (InvalidSignature, binascii.Error):
        return False
    except Exception:  # a verifier answers no, whatever the input (odd types, a payload json cannot encode)
        return False

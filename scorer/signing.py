"""Ed25519 signatures over score records: the private half, which only the scorer holds.

Whoever could check an HMAC signature held the HMAC secret and so could forge one; with Ed25519 the
scorer signs with a private key nothing else reads, and verifiers (`autolab-mcp runs RUN_ID --verify`,
the eval runner, anyone given the public key) check with the public key alone
(`autolab_mcp/core/signatures.py`). The agent never reaches either key file (neither is mounted in any
sandbox).

Files (both created by load_or_create_signing_key):
  - the signing key, default_signing_key_path(): the raw 32-byte Ed25519 private key as 64 hex digits on
    one line, mode 0600, in a 0700 directory;
  - the public key, `<signing key>.pub`: the raw 32-byte public key as 64 hex digits on one line, mode
    0644 (core/signatures.py reads it; default_public_key_path() looks for it there).

The HMAC functions of before remain, under legacy names, so a record signed before the switch can still
be checked where the scorer's HMAC secret is (`python -m scorer verify-legacy RUN_DIR`). Only this
package may load that secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from autolab_mcp.core import signatures
from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.signatures import PublicKey, canonical, public_key_text, scorer_state_path

__all__ = ["SigningKeyError", "canonical", "default_signing_key_path", "legacy_hmac_key_id", "legacy_hmac_key_path",
           "legacy_hmac_sign", "legacy_hmac_verify", "load_legacy_hmac_key", "load_or_create_key",
           "load_or_create_signing_key", "public_key_of", "public_key_path", "sign_record"]


class SigningKeyError(AutolabError):
    """The signing key file is unreadable or malformed (the message is one line)."""


# -- Ed25519 ----------------------------------------------------------------------------------------


def default_signing_key_path() -> Path:
    """$AUTOLAB_SCORER_SIGNING_KEY, else scorer.ed25519 in the scorer's state directory."""
    return scorer_state_path("AUTOLAB_SCORER_SIGNING_KEY", "scorer.ed25519")


def public_key_path(signing_key_path: Path) -> Path:
    """Where the public key of the signing key at `signing_key_path` is written: `<name>.pub` beside it."""
    return signing_key_path.with_name(signing_key_path.name + ".pub")


def public_key_of(private_key: Ed25519PrivateKey) -> PublicKey:
    return private_key.public_key()


def load_or_create_signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The scorer's Ed25519 key at `path` (default_signing_key_path() when None), created when missing
    (0600, written to a temporary file and linked into place, so processes starting together all read
    the same complete key). Also (re)writes the public key file `<path>.pub` (0644) when it is missing or
    does not match. SigningKeyError (one line) when the key file is malformed."""
    path = Path(path) if path is not None else default_signing_key_path()
    if not path.exists():
        raw = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        _create_once(path, raw.hex() + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
        private_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SigningKeyError(f"{path} is not a scorer signing key (64 hex digits): {exc}".replace("\n", " ")) from None
    _ensure_public_key_file(public_key_path(path), public_key_text(private_key.public_key()) + "\n")
    return private_key


def sign_record(payload: Any, private_key: Ed25519PrivateKey) -> tuple[str, str]:
    """(signature, key id): the standard-base64 Ed25519 signature of canonical(payload), and the
    "ed25519:..." id of the key that verifies it."""
    signature = private_key.sign(canonical(payload))
    return base64.b64encode(signature).decode("ascii"), signatures.key_id(private_key.public_key())


def _create_once(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `path` with `text` unless it exists: a complete temporary file linked into place, so a
    concurrent creator's file wins whole and no reader sees a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)


def _ensure_public_key_file(path: Path, text: str) -> None:
    """`path` holds `text`, mode 0644: written whole (temporary file, then rename) when missing or different."""
    try:
        if path.read_text(encoding="ascii") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.fchmod(fd, 0o644)  # whatever the umask
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # concurrent writers all write the same text
    finally:
        temporary.unlink(missing_ok=True)


# -- legacy HMAC (records signed before Ed25519) ----------------------------------------------------


def legacy_hmac_key_path() -> Path:
    """The HMAC secret of before: $AUTOLAB_SCORER_KEY_FILE, else scorer.key in the scorer's state directory."""
    return scorer_state_path("AUTOLAB_SCORER_KEY_FILE", "scorer.key")


def load_legacy_hmac_key(path: Path | None = None) -> bytes:
    """The existing HMAC secret (never created: a new one could verify nothing). FileNotFoundError when
    absent, ValueError when malformed."""
    return bytes.fromhex((path or legacy_hmac_key_path()).read_text().strip())


def legacy_hmac_key_id(secret: bytes) -> str:
    return hashlib.sha256(b"autolab-key-id" + secret).hexdigest()[:16]


def legacy_hmac_sign(payload: Any, secret: bytes) -> str:
    """An HMAC signature as records carried before Ed25519 (for tests and audits; new records are Ed25519)."""
    return hmac.new(secret, canonical(payload), hashlib.sha256).hexdigest()


def legacy_hmac_verify(payload: Any, signature_hex: Any, secret: bytes) -> bool:
    """Whether `signature_hex` is the HMAC of canonical(payload) under `secret`; False for odd input."""
    if not isinstance(signature_hex, str):
        return False
    try:
        return hmac.compare_digest(legacy_hmac_sign(payload, secret), signature_hex)
    except Exception:  # non-ASCII text, a payload json cannot encode: not a valid signature
        return False


# -- generic secret files ---------------------------------------------------------------------------


def load_or_create_key(path: Path) -> bytes:
    """The secret in `path` (32 random bytes as hex, 0600), created when missing, atomically as above.
    A generic secret file: scorer/seeds.py keeps its seed secret this way."""
    if not path.exists():
        _create_once(path, secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())

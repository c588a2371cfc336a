"""Checking a result.json signed with the scorer's old HMAC secret, where that secret is.

Before Ed25519 the scorer HMAC-signed its records, so only a holder of the secret can check one, and
that holder could forge one too: run this on the scorer's side only. New records carry an
"ed25519:" key id and are checked anywhere with the public key (`autolab-mcp runs RUN_ID --verify`).

    python -m scorer verify-legacy RUNS_DIR/RUN_ID

Only the signature: the binding checks (final split, run and snapshot, manifest) are `runs --verify`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scorer import signing


def verify_legacy_result(run_dir: Path, key_path: Path | None = None) -> tuple[bool, str]:
    """(ok, why) for run_dir/result.json's HMAC signature under the scorer's legacy secret
    (signing.legacy_hmac_key_path() unless `key_path`)."""
    path = Path(run_dir) / "result.json"
    try:
        doc = json.loads(path.read_text())
        record = doc["record"]
    except FileNotFoundError:
        return False, "no result.json: the run was not submitted"
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return False, f"result.json is unreadable: {type(exc).__name__}: {exc}"
    try:
        secret = signing.load_legacy_hmac_key(key_path)
    except FileNotFoundError:
        return False, f"no legacy HMAC secret at {key_path or signing.legacy_hmac_key_path()}"
    except (OSError, ValueError) as exc:
        return False, f"the legacy HMAC secret is unreadable: {exc}"
    if doc.get("key_id") != signing.legacy_hmac_key_id(secret):
        return False, "signed with a different key than this scorer's legacy HMAC secret"
    if not signing.legacy_hmac_verify(record, doc.get("signature"), secret):
        return False, "signature does not match the record: result.json was altered or forged"
    return True, "legacy HMAC signature valid (the record's binding to its run is `autolab-mcp runs --verify`'s check)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scorer verify-legacy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="RUNS_DIR/RUN_ID")
    parser.add_argument("--key", type=Path, help="the legacy HMAC secret (default: $AUTOLAB_SCORER_KEY_FILE, "
                        "else the scorer's scorer.key)")
    args = parser.parse_args(argv)
    ok, message = verify_legacy_result(args.run_dir, args.key)
    print(message)
    sys.exit(0 if ok else 1)

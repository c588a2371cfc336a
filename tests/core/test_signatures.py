"""Ed25519 record signatures: the scorer signs with a private key only it holds; verifiers hold the public key.

With HMAC, whoever could verify a result could forge one. These check the two halves directly (no scorer
process): round trips, tampering, re-signing with another key against a pinned key, garbage signatures,
concurrent key creation, torn key files, that the shared kernel cannot sign, and that a record signed with
the old HMAC secret is still checked on the scorer's side.
"""

from __future__ import annotations

import ast
import base64
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autolab_mcp.cli import verify_result
from autolab_mcp.core import signatures
from autolab_mcp.workspace import SnapshotStore
from scorer import signing
from scorer.legacy_verify import verify_legacy_result

REPO = Path(__file__).resolve().parents[2]
RECORD = {"score": 0.5, "valid": True, "metric": 40, "split": "final", "request_id": "r/abc", "note": "ünï"}


def keypair(directory: Path, name: str = "scorer.ed25519"):
    key_path = directory / name
    private = signing.load_or_create_signing_key(key_path)
    return private, signatures.load_public_key(signing.public_key_path(key_path)), key_path


def test_round_trip_and_files(tmp_path):
    private, public, key_path = keypair(tmp_path)
    signature, kid = signing.sign_record(RECORD, private)
    assert kid == signatures.key_id(public) and kid.startswith("ed25519:") and len(kid) == len("ed25519:") + 16
    assert kid == signatures.key_id(signatures.public_key_bytes(public))
    assert len(base64.b64decode(signature, validate=True)) == 64
    assert signatures.verify_record(RECORD, signature, kid, public)
    assert signatures.verify_record(json.loads(json.dumps(RECORD)), signature, kid, public)  # after a JSON trip
    # the files: private 0600, public 0644 beside it, both 64 hex digits on one line
    pub_path = key_path.with_name("scorer.ed25519.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644
    assert pub_path.read_text() == signatures.public_key_text(public) + "\n"
    assert len(key_path.read_text().strip()) == 64 and key_path.read_text().strip() != pub_path.read_text().strip()
    assert signatures.public_key_text(signing.public_key_of(private)) == signatures.public_key_text(public)
    # loading again gives the same key; a missing public key file is written again
    pub_path.unlink()
    again = signing.load_or_create_signing_key(key_path)
    assert signatures.public_key_text(again.public_key()) == signatures.public_key_text(public)
    assert pub_path.read_text() == signatures.public_key_text(public) + "\n"


def test_default_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOLAB_SCORER_SIGNING_KEY", str(tmp_path / "k"))
    monkeypatch.delenv("AUTOLAB_SCORER_PUBLIC_KEY", raising=False)
    assert signing.default_signing_key_path() == tmp_path / "k"
    assert signatures.default_public_key_path() == tmp_path / "k.pub"
    monkeypatch.setenv("AUTOLAB_SCORER_PUBLIC_KEY", str(tmp_path / "pinned.pub"))
    assert signatures.default_public_key_path() == tmp_path / "pinned.pub"
    monkeypatch.delenv("AUTOLAB_SCORER_SIGNING_KEY")
    monkeypatch.delenv("AUTOLAB_SCORER_PUBLIC_KEY")
    base = Path("/var/lib/autolab-mcp") if os.geteuid() == 0 else Path.home() / ".local/state/autolab-mcp"
    assert signing.default_signing_key_path() == base / "scorer.ed25519"
    assert signatures.default_public_key_path() == base / "scorer.ed25519.pub"


def test_tampered_record_fails(tmp_path):
    private, public, _ = keypair(tmp_path)
    signature, kid = signing.sign_record(RECORD, private)
    for changed in ({**RECORD, "score": 5.0}, {**RECORD, "valid": False}, {**RECORD, "extra": 1},
                    {k: v for k, v in RECORD.items() if k != "note"}, {**RECORD, "score": "0.5"}):
        assert not signatures.verify_record(changed, signature, kid, public), changed


def test_resigned_with_another_key_fails_against_the_pinned_key(tmp_path):
    _, pinned, _ = keypair(tmp_path / "a")
    forger, _, _ = keypair(tmp_path / "b")
    forged = {**RECORD, "score": 5.0}
    signature, forger_kid = signing.sign_record(forged, forger)
    assert not signatures.verify_record(forged, signature, forger_kid, pinned)  # the forger's key id
    assert not signatures.verify_record(forged, signature, signatures.key_id(pinned), pinned)  # the pinned one's


@pytest.mark.parametrize("signature", [
    "", "!!!!", "====", "0" * 64, "0" * 128, base64.b64encode(b"x" * 63).decode(), base64.b64encode(b"x" * 65).decode(),
    base64.b64encode(b"\0" * 64).decode(), base64.b64encode(b"\xff" * 64).decode(), "ü" * 88, " " * 88,
    base64.urlsafe_b64encode(b"\xfb\xff" * 32).decode(), None, 0, 1.5, [], {}, b"\0" * 64,
])
def test_garbage_signatures_return_false(tmp_path, signature):
    private, public, _ = keypair(tmp_path)
    _, kid = signing.sign_record(RECORD, private)
    assert signatures.verify_record(RECORD, signature, kid, public) is False


def test_garbage_key_ids_and_payloads_return_false(tmp_path):
    private, public, _ = keypair(tmp_path)
    signature, kid = signing.sign_record(RECORD, private)
    for bad_kid in (None, "", kid.upper(), kid + "0", kid[len("ed25519:"):], 7, [kid]):
        assert signatures.verify_record(RECORD, signature, bad_kid, public) is False
    circular: list = []
    circular.append(circular)
    assert signatures.verify_record(circular, signature, kid, public) is False
    # other texts of a genuine signature's bytes: only the exact standard base64 text is accepted
    assert signature.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stray_bits = signature[:-3] + alphabet[alphabet.index(signature[-3]) ^ 1] + "=="  # a bit past the last byte
    assert base64.b64decode(stray_bits) == base64.b64decode(signature)
    for variant in (signature.rstrip("="), signature + "\n", " " + signature, stray_bits,
                    base64.urlsafe_b64encode(base64.b64decode(signature)).decode().replace("=", "")):
        assert signatures.verify_record(RECORD, variant, kid, public) is False, variant


def _create(path: str, barrier, queue) -> None:
    barrier.wait()
    key = signing.load_or_create_signing_key(Path(path))
    queue.put(signatures.public_key_text(key.public_key()))


def test_concurrent_creation_yields_one_key(tmp_path):
    path = tmp_path / "state" / "scorer.ed25519"
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_create, args=(str(path), barrier, queue)) for _ in range(8)]
    for p in processes:
        p.start()
    texts = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    thread_barrier, results = threading.Barrier(8), []

    def in_thread() -> None:
        thread_barrier.wait()
        results.append(signatures.public_key_text(signing.load_or_create_signing_key(path).public_key()))

    threads = [threading.Thread(target=in_thread) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(texts + results)) == 1
    assert signatures.public_key_text(signatures.load_public_key(signing.public_key_path(path))) == texts[0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["scorer.ed25519", "scorer.ed25519.pub"]  # no temp files
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    # threads racing on a fresh path too
    fresh, out = tmp_path / "fresh" / "k", []
    racers = [threading.Thread(target=lambda: out.append(
        signatures.public_key_text(signing.load_or_create_signing_key(fresh).public_key()))) for _ in range(16)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert len(out) == 16 and len(set(out)) == 1


@pytest.mark.parametrize("content", [b"", b"\n", b"abcdef", b"0" * 63, b"0" * 65, b"g" * 64, b"00 " * 21 + b"0",
                                     b"\xff\xfe" * 32, b"ed25519:" + b"0" * 64, b"0" * 64 + b"\n" + b"0" * 64])
def test_torn_or_malformed_public_key_file_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "bad.pub"
    path.write_bytes(content)
    with pytest.raises(signatures.PublicKeyError) as info:
        signatures.load_public_key(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_torn_genuine_public_key_and_missing_file(tmp_path):
    _, public, _ = keypair(tmp_path)
    torn = tmp_path / "torn.pub"
    torn.write_text(signatures.public_key_text(public)[:40])
    with pytest.raises(signatures.PublicKeyError, match="expected 64 hex digits"):
        signatures.load_public_key(torn)
    for missing in (tmp_path / "absent.pub", tmp_path):  # a missing file, a directory
        with pytest.raises(signatures.PublicKeyError) as info:
            signatures.load_public_key(missing)
        assert "\n" not in str(info.value) and str(missing) in str(info.value)
    (tmp_path / "spaced.pub").write_text(f"  {signatures.public_key_text(public).upper()}  \n\n")
    assert signatures.key_id(signatures.load_public_key(tmp_path / "spaced.pub")) == signatures.key_id(public)


def test_malformed_signing_key_is_a_one_line_error(tmp_path):
    path = tmp_path / "scorer.ed25519"
    path.write_text("0" * 30)
    with pytest.raises(signing.SigningKeyError) as info:
        signing.load_or_create_signing_key(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_the_kernel_module_cannot_sign():
    """autolab_mcp.core.signatures is the public half: no signing function, no private key type, no key loading
    but the public file's, and importing it (or the verifying command line) never imports the scorer."""
    public_api = {name for name in dir(signatures) if not name.startswith("__")}
    assert not [n for n in public_api if "sign" in n.lower() and callable(getattr(signatures, n))
                and n not in {"InvalidSignature"}], public_api
    assert not any("private" in n.lower() for n in public_api), public_api
    assert not hasattr(signatures, "sign_record") and not hasattr(signatures, "sign")
    tree = ast.parse(Path(signatures.__file__).read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom | ast.Import) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [n for n in names if "private" in n.lower() or n in {"sign", "generate"}], names
    assert not [m for m in modules if m and m.split(".")[0] in {"scorer", "hmac", "secrets"}], modules
    code = ("import sys, autolab_mcp.core.signatures, autolab_mcp.cli, clients.evalrun\n"
            "print(sorted(m for m in sys.modules if m == 'scorer' or m.startswith('scorer.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- verify_result and the legacy verifier on fabricated run directories ---------------------------------


def fabricate_run(root: Path, run_id: str = "20250101-000000-abcdef") -> tuple[Path, dict]:
    run_dir = root / run_id
    store = SnapshotStore(run_dir / "snapshots")
    blob = store.put_blob(b"print('hi')\n")
    snapshot = store.put_manifest({"solve.py": blob})
    (run_dir / "meta.json").write_text(json.dumps({"run_id": run_id, "task": "t", "created": "2025-01-01"}))
    record = {"score": 0.75, "valid": True, "metric": 3.0, "split": "final", "request_id": f"{run_id}/{snapshot}",
              "files": {"solve.py": blob}}
    return run_dir, {"run_id": run_id, "snapshot": snapshot, "record": record}


def write_result(run_dir: Path, doc: dict) -> None:
    (run_dir / "result.json").write_text(json.dumps(doc, indent=1))


def signed_run(tmp_path: Path, other: str) -> tuple:
    """A fabricated run whose result.json is signed by a fresh key; also a second key pair, `other`."""
    private, _, key_path = keypair(tmp_path / "keys")
    other_private, _, other_path = keypair(tmp_path / other)
    run_dir, doc = fabricate_run(tmp_path / "runs")
    signature, kid = signing.sign_record(doc["record"], private)
    write_result(run_dir, {**doc, "signature": signature, "key_id": kid})
    return key_path, other_private, other_path, run_dir, doc, signature, kid


def test_verify_result_with_the_pinned_public_key(tmp_path):
    key_path, forger, forger_path, run_dir, doc, signature, kid = signed_run(tmp_path, "forger")
    pub = signing.public_key_path(key_path)
    ok, message = verify_result(run_dir, pub)
    assert ok, message
    ok, message = verify_result(run_dir, signing.public_key_path(forger_path))
    assert not ok and "different scorer key" in message
    # re-signed by another key after a change: fails against the pinned key whatever key id it claims
    forged = {**doc["record"], "score": 1.0}
    forged_signature, forged_kid = signing.sign_record(forged, forger)
    for claimed in (forged_kid, kid):
        write_result(run_dir, {**doc, "record": forged, "signature": forged_signature, "key_id": claimed})
        assert verify_result(run_dir, pub)[0] is False
    # a genuine signature on another snapshot's files
    write_result(run_dir, {**doc, "record": {**doc["record"], "files": {}}, "signature": signature, "key_id": kid})
    assert verify_result(run_dir, pub)[0] is False
    # a torn pinned key: one-line refusal, never a traceback
    torn = tmp_path / "torn.pub"
    torn.write_text(pub.read_text()[:10])
    write_result(run_dir, {**doc, "signature": signature, "key_id": kid})
    ok, message = verify_result(run_dir, torn)
    assert not ok and str(torn) in message and "\n" not in message
    # garbage result.json
    (run_dir / "result.json").write_text("{not json")
    assert verify_result(run_dir, pub)[0] is False
    write_result(run_dir, {"record": [], "signature": signature, "key_id": kid})
    assert verify_result(run_dir, pub)[0] is False


def test_runs_verify_command_line_uses_the_public_key_option(tmp_path):
    key_path, _, other_path, run_dir, *_ = signed_run(tmp_path, "other")

    def runs(public_key: Path) -> tuple[int, dict]:
        proc = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", run_dir.name, "--run-dir",
                               str(run_dir.parent), "--verify", "--json", "--public-key", str(public_key)],
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        return proc.returncode, json.loads(proc.stdout)

    code, summary = runs(signing.public_key_path(key_path))
    assert code == 0 and summary["verified"] is True, summary
    code, summary = runs(signing.public_key_path(other_path))
    assert code == 1 and summary["verified"] is False, summary


def test_legacy_hmac_record_is_checked_on_the_scorer_side(tmp_path):
    secret_path = tmp_path / "scorer.key"
    secret = signing.load_or_create_key(secret_path)
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    run_dir, doc = fabricate_run(tmp_path / "runs")
    legacy = {**doc, "signature": signing.legacy_hmac_sign(doc["record"], secret),
              "key_id": signing.legacy_hmac_key_id(secret)}
    write_result(run_dir, legacy)
    _, _, key_path = keypair(tmp_path / "keys")
    ok, message = verify_result(run_dir, signing.public_key_path(key_path))
    assert not ok and "legacy HMAC key" in message and "python -m scorer verify-legacy" in message
    assert verify_legacy_result(run_dir, secret_path) == (True, verify_legacy_result(run_dir, secret_path)[1])
    assert signing.legacy_hmac_verify(doc["record"], legacy["signature"], secret)
    assert not signing.legacy_hmac_verify(doc["record"], None, secret)
    assert not signing.legacy_hmac_verify(doc["record"], "ü" * 64, secret)
    proc = subprocess.run([sys.executable, "-m", "scorer", "verify-legacy", str(run_dir), "--key", str(secret_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # tampered, or another secret
    write_result(run_dir, {**legacy, "record": {**doc["record"], "score": 1.0}})
    assert verify_legacy_result(run_dir, secret_path)[0] is False
    write_result(run_dir, legacy)
    other = tmp_path / "other.key"
    signing.load_or_create_key(other)
    assert verify_legacy_result(run_dir, other)[0] is False
    assert verify_legacy_result(run_dir, tmp_path / "absent.key")[0] is False

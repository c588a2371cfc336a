"""sha256_c: the generator and fresh hidden inputs, the trusted digests against an independent SHA-256,
the output rules, the three programs on every padding case; the submissions end to end."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from scorer import reasons
from tests.tasks.helpers import (
    TASKS_DIR,
    assert_broken,
    assert_fixed_reason,
    assert_timed_reference,
    broken,
    env_module,
    hidden,
    needs_sandbox,
    run_eval,
)

ROOT = TASKS_DIR / "sha256_c"
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build sha.c")



def _root_bits(p: int, k: int) -> int:
    """The first 32 bits of the fractional part of p ** (1 / k): how FIPS 180-4 defines the constants."""
    x = p << (32 * k)  # the integer k-th root of x is floor(p ** (1 / k) * 2 ** 32)
    lo, hi = 0, 1 << (33 + 32)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if mid**k <= x else (lo, mid - 1)
    return lo & 0xFFFFFFFF


_PRIMES = [n for n in range(2, 312) if all(n % d for d in range(2, int(n**0.5) + 1))][:64]
_K = [_root_bits(p, 3) for p in _PRIMES]
_H0 = [_root_bits(p, 2) for p in _PRIMES[:8]]


def _sha256_pure(message: bytes) -> str:
    """SHA-256 straight from FIPS 180-4 (no hashlib): the independent check of the scorer's answer."""
    mask = 0xFFFFFFFF

    def rotr(x: int, n: int) -> int:
        return ((x >> n) | (x << (32 - n))) & mask

    state = list(_H0)
    padded = message + b"\x80" + b"\x00" * ((55 - len(message)) % 64) + struct.pack(">Q", 8 * len(message))
    assert len(padded) % 64 == 0
    for start in range(0, len(padded), 64):
        w = list(struct.unpack(">16I", padded[start:start + 64]))
        for t in range(16, 64):
            s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w.append((w[t - 16] + s0 + w[t - 7] + s1) & mask)
        a, b, c, d, e, f, g, h = state
        for t in range(64):
            t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[t] + w[t]) & mask
            t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & mask
            a, b, c, d, e, f, g, h = (t1 + t2) & mask, a, b, c, (d + t1) & mask, e, f, g
        state = [(x + y) & mask for x, y in zip(state, (a, b, c, d, e, f, g, h), strict=True)]
    return b"".join(struct.pack(">I", x) for x in state).hex()


def test_sha256_c_fresh_inputs() -> None:
    ev = hidden("sha256_c")
    public = env_module("sha256_c", "make_input.py")
    one = ev.hidden_messages(1 << 33, 300)
    assert one == ev.hidden_messages(1 << 33, 300) and one != ev.hidden_messages((1 << 33) + 1, 300)
    assert ev.hidden_messages(2024, 300) != public.messages(2024, 300)  # never the public input
    assert public.messages(7, 300) == ev.generator.messages(7, 300)
    assert public.generate(7, 50) == public.encode(public.messages(7, 50))
    assert ev.MESSAGES == public.MESSAGES == 5000


def test_sha256_c_hidden_input_shape() -> None:
    """A full hidden input: the size the timing was set for, and every padding case many times."""
    ev = hidden("sha256_c")
    items = ev.hidden_messages(12345)
    sizes = [len(item) for item in items]
    assert len(items) == 5000 and 45e6 < sum(sizes) < 60e6 and max(sizes) <= 65536
    tails = [size % 64 for size in sizes]
    assert set(tails) == set(range(64))
    assert sum(tail >= 56 for tail in tails) > 400  # the two-block padding case
    assert min(sizes) == 0
    data = ev.generator.encode(items)
    assert struct.unpack_from("<I", data, 0)[0] == sizes[0] and len(data) == sum(sizes) + 4 * len(items)


def test_sha256_c_expected_digests_match_an_independent_sha256() -> None:
    ev = hidden("sha256_c")
    assert _sha256_pure(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    assert _sha256_pure(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    messages = [os.urandom(n) for n in range(0, 200)] + [b"a" * n for n in (447, 448, 511, 512, 1000)]
    messages += ev.hidden_messages(99, 30)
    assert ev.expected_digests(messages) == [_sha256_pure(m) for m in messages]


def test_sha256_c_rules() -> None:
    ev = hidden("sha256_c")
    rules = ev.rules
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    good = "".join(d + "\n" for d in digests).encode()

    def verdict(data: bytes) -> tuple[str, dict] | None:
        try:
            rules.check_digests(data, digests)
        except rules.RuleError as error:
            assert all(part in ev.REASONS for part in reasons.phrases(error.reason)), error.reason
            return error.reason, error.details
        return None

    assert verdict(good) is None
    assert verdict(good[:-1]) == (rules.NO_NEWLINE, {})
    assert verdict(good + b"\n")[0] == rules.LINE_COUNT
    assert verdict(good[:65]) == (rules.LINE_COUNT, {"lines": 1, "expected_lines": 3})
    assert verdict(good.upper())[0] == rules.NOT_HEX
    assert verdict(good.replace(b"\n", b"\r\n"))[0] == rules.NOT_HEX
    wrong = good[:65] + bytes([good[65] ^ 1]) + good[66:]
    assert verdict(wrong) == ("digests.txt: wrong digest", {"line": 2, "got": wrong[65:129].decode(),
                                                            "expected": digests[1]})


def _threaded() -> str:
    """The reference, starting (and joining) one idle thread first; exit code 3 when it cannot."""
    source = (ROOT / "solution/sha.c").read_text()
    threaded = source.replace("#include <unistd.h>\n", "#include <unistd.h>\n#include <pthread.h>\n"
                              "static void *idle(void *arg) { return arg; }\n")
    threaded = threaded.replace("    blocks_fn blocks = blocks_portable;\n",
                                "    pthread_t thread;\n"
                                "    if (pthread_create(&thread, NULL, idle, NULL) != 0) return 3;\n"
                                "    pthread_join(thread, NULL);\n    blocks_fn blocks = blocks_portable;\n")
    assert threaded.count("pthread_create") == 1 and threaded.count("pthread_join") == 1
    return threaded


def _build(work: Path, source: str) -> Path:
    work.mkdir()
    (work / "sha.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-std=gnu11", "-Wall", "-Werror", "-o", "sha", "sha.c"], cwd=work, check=True,
                   capture_output=True)
    return work / "sha"


@needs_gcc
def test_sha256_c_programs_on_every_padding_case(tmp_path: Path) -> None:
    """Baseline and reference (both of its paths) are exact on every length mod 64; the broken diff is
    wrong exactly on the two-block padding case (length mod 64 of 56 to 63)."""
    ev = hidden("sha256_c")
    messages = [os.urandom(n) for n in range(0, 260)] + [os.urandom(n) for n in (4087, 4088, 65535, 65536)]
    src = tmp_path / "messages.bin"
    src.write_bytes(ev.generator.encode(messages))
    expected = ev.expected_digests(messages)

    def digests(binary: Path, **env: str) -> list[str]:
        dst = tmp_path / "digests.txt"
        subprocess.run([str(binary), str(src), str(dst)], check=True, env={**os.environ, **env})
        return dst.read_text().split("\n")[:-1]

    baseline = _build(tmp_path / "baseline", (ROOT / "environment/sha.c").read_text())
    reference = _build(tmp_path / "reference", (ROOT / "solution/sha.c").read_text())
    assert digests(baseline) == expected
    assert digests(reference) == expected
    assert digests(_build(tmp_path / "threaded", _threaded())) == expected  # what the sandbox refuses runs here
    wrong = _build(tmp_path / "broken", (broken("sha256_c") / "sha.c").read_text())
    got = digests(wrong)
    assert len(got) == len(expected)
    assert {len(m) % 64 for m, g, e in zip(messages, got, expected, strict=True) if g != e} == set(range(56, 64))


@pytest.mark.slow
@needs_sandbox
def test_sha256_c_end_to_end() -> None:
    assert_timed_reference("sha256_c")
    source = (ROOT / "solution/sha.c").read_text()
    # a wrong bit length for every fifth message length: wrong digests on every fresh draw
    off = source.replace("uint64_t bits = (uint64_t)len * 8;", "uint64_t bits = (uint64_t)len * 8 + (len % 5 == 0);")
    assert off != source
    record = run_eval("sha256_c", {"sha.c": off})
    assert_broken(record, "digests.txt: wrong digest")
    assert record.reason == "candidate: digests.txt: wrong digest" and not record.reason_detail
    assert record.details["got"] != record.details["expected"]
    assert_fixed_reason(record, "sha256_c")
    # a thread: it runs outside the sandbox (test_sha256_c_programs_on_every_padding_case), and
    # thread creation fails in the timed runs (forbid_threads), so the program exits non-zero there
    refused = run_eval("sha256_c", {"sha.c": _threaded()})
    assert not refused.valid and refused.reason == f"candidate: {reasons.EXIT_NONZERO}", refused.reason
    assert_fixed_reason(refused, "sha256_c")
    assert_broken(run_eval("sha256_c", {"sha.c": "int main(void) { return }\n"}), "candidate: build failed")

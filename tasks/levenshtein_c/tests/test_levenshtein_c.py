"""levenshtein_c: the generator and fresh hidden inputs, the trusted distances against a plain DP, the
output rules, the three programs built locally, and submissions through the scorer."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_broken_case,
    assert_fixed_reason,
    assert_timed_reference,
    broken,
    env_module,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
)

NAME = "levenshtein_c"
ROOT = TASKS_DIR / NAME
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build lev.c")


def plain_dp(a: str, b: str) -> int:
    """The textbook dynamic program, independent of the scorer's levenshtein_c_hidden.levenshtein."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def edge_pairs() -> list[tuple[str, str]]:
    """Pairs around the word boundaries of a bit-parallel program (63, 64, 65, 128, ... characters)."""
    rng = random.Random(5)
    pairs = [("a", "a"), ("a", "b"), ("ab", "ba"), ("a" * 64, "a" * 65), ("ab" * 40, "ba" * 40),
             ("x" * 300, "y" * 300), ("a" * 129, "a"), ("b", "a" * 2000)]
    for n in (1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 256, 257):
        for m in (n, n + 1, 3 * n + 7):
            alphabet = "abcdefgh"[: rng.randint(1, 8)]
            pairs.append(("".join(rng.choices(alphabet, k=n)), "".join(rng.choices(alphabet, k=m))))
    return pairs


def test_levenshtein_c_generator_and_fresh_inputs() -> None:
    ev = hidden(NAME)
    public = env_module(NAME, "make_input.py")
    assert public.generate(7, 30) == public.generate(7, 30) == ev.generator.generate(7, 30)
    assert ev.PAIRS == public.PAIRS == 500
    one = ev.hidden_pairs(1 << 40, 20)
    assert one == ev.hidden_pairs(1 << 40, 20) and one != ev.hidden_pairs((1 << 40) + 1, 20)
    assert ev.hidden_pairs(public.PUBLIC_SEED, 20) != public.generate(public.PUBLIC_SEED, 20)  # never public
    assert frozenset({public.PUBLIC_SEED}) == ev.PUBLIC_SEEDS
    pairs = ev.hidden_pairs(3)
    assert len(pairs) == 500
    for a, b in pairs:
        assert 200 <= len(a) <= 2000 and 200 <= len(b) <= 2000
        assert 2 <= len(set(a + b)) <= 8 and (a + b).isascii() and (a + b).islower()
    text = public.render(pairs)
    assert text.count("\n") == 500 and [tuple(line.split(" ")) for line in text.splitlines()] == pairs


def test_levenshtein_c_trusted_distances_match_a_plain_dp() -> None:
    ev = hidden(NAME)
    rng = random.Random(11)
    pairs = edge_pairs()
    for _ in range(150):
        alphabet = "abcdefgh"[: rng.randint(1, 8)]
        pairs.append(("".join(rng.choices(alphabet, k=rng.randint(0, 150))),
                      "".join(rng.choices(alphabet, k=rng.randint(0, 150)))))
    pairs += [("", ""), ("", "abc"), ("abc", "")]
    pairs += ev.hidden_pairs(9, 3)  # full-size pairs from the generator itself
    assert ev.expected_distances(pairs) == [plain_dp(a, b) for a, b in pairs]


def test_levenshtein_c_output_rules() -> None:
    ev = hidden(NAME)
    rules = ev.rules

    def verdict(data: bytes, expected: list[int]) -> tuple[str, dict] | None:
        try:
            rules.check_distances(data, expected)
        except rules.RuleError as error:
            assert all(part in ev.REASONS for part in error.reason.split(": ")), error.reason
            return error.reason, error.details
        return None

    assert verdict(b"1\n20\n0\n", [1, 20, 0]) is None
    assert verdict(b"", []) is None
    assert verdict(b"1\n20\n0", [1, 20, 0]) == (rules.NO_NEWLINE, {"bytes": 6})
    assert verdict(b"1\n20\n", [1, 20, 0]) == (rules.LINE_COUNT, {"lines": 2, "expected_lines": 3})
    assert verdict(b"1\n21\n0\n", [1, 20, 0]) == ("distances.txt: wrong distance",
                                                  {"line": 2, "got": 21, "expected": 20})
    for bad in (b"1\n 20\n0\n", b"1\n020\n0\n", b"1\n20\r\n0\n", b"1\n+20\n0\n", b"1\n\n0\n"):
        assert verdict(bad, [1, 20, 0])[0] == rules.NOT_INTEGER, bad
    assert verdict("1\n٢\n0\n".encode(), [1, 2, 0])[0] == rules.NOT_ASCII
    assert rules.expected_text([3, 0, 12]) == b"3\n0\n12\n"


def _build(where: Path, source: str) -> Path:
    (where / "lev.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-std=gnu11", "-Wall", "-Werror", "-o", "lev", "lev.c"], cwd=where, check=True,
                   capture_output=True)
    return where / "lev"


def _run(binary: Path, pairs: list[tuple[str, str]], tmp: Path) -> bytes:
    src, dst = tmp / "pairs.txt", tmp / "distances.txt"
    src.write_text(env_module(NAME, "make_input.py").render(pairs))
    subprocess.run([str(binary), str(src), str(dst)], check=True, capture_output=True, timeout=60)
    return dst.read_bytes()


@needs_gcc
def test_levenshtein_c_programs_built_locally(tmp_path: Path) -> None:
    """Baseline and reference are exact (word boundaries included); the broken band is wrong on the public
    input; the threaded candidate the scorer refuses does work where threads are allowed."""
    ev = hidden(NAME)
    public = env_module(NAME, "make_input.py")
    cases = edge_pairs() + public.generate(public.PUBLIC_SEED, 40)
    want = ev.rules.expected_text(ev.expected_distances(cases))
    sample = public.generate(public.PUBLIC_SEED, 500)
    sample_want = ev.rules.expected_text(ev.expected_distances(sample))
    for side, source in (("baseline", (ROOT / "environment/lev.c").read_text()),
                         ("reference", (ROOT / "solution/lev.c").read_text()),
                         ("threaded", _threaded_source())):
        work = tmp_path / side
        work.mkdir()
        binary = _build(work, source)
        assert _run(binary, cases, work) == want, side
    work = tmp_path / "broken"
    work.mkdir()
    binary = _build(work, (broken(NAME) / "lev.c").read_text())
    got = _run(binary, sample, work)
    wrong = sum(g != w for g, w in zip(got.splitlines(), sample_want.splitlines(), strict=True))
    assert 0 < wrong < 100, wrong  # wrong on a few pairs only, never all


def _threaded_source() -> str:
    """The baseline with its work moved into a second thread (it exits 3 when the thread cannot start)."""
    source = (ROOT / "environment/lev.c").read_text()
    head = "int main(int argc, char **argv)\n{\n"
    assert source.count(head) == 1
    return "#include <pthread.h>\n" + source.replace(head, "static int real_main(int argc, char **argv)\n{\n") + (
        "struct job { int argc; char **argv; int rc; };\n"
        "static void *work(void *p) { struct job *j = p; j->rc = real_main(j->argc, j->argv); return NULL; }\n"
        "int main(int argc, char **argv)\n{\n"
        "    pthread_t t;\n    struct job j = {argc, argv, 1};\n"
        "    if (pthread_create(&t, NULL, work, &j) != 0) return 3;\n"
        "    pthread_join(t, NULL);\n    return j.rc;\n}\n")


@needs_sandbox
def test_levenshtein_c_wrong_output_and_threads_are_refused() -> None:
    source = (ROOT / "environment/lev.c").read_text()
    old = '        fprintf(out, "%d\\n", levenshtein(a, strlen(a), b, strlen(b)));\n'
    assert source.count(old) == 1
    # off by one whenever the first string's length is a multiple of 7: on about 1 pair in 7
    off_by_one = source.replace(old, '        fprintf(out, "%d\\n", levenshtein(a, strlen(a), b, strlen(b))'
                                     ' + (strlen(a) % 7 == 0));\n')
    record = run_eval(NAME, {"lev.c": off_by_one})
    assert not record.valid and record.reason == "candidate: distances.txt: wrong distance", record.reason
    assert record.details["got"] == record.details["expected"] + 1
    assert_fixed_reason(record, NAME)
    threaded = run_eval(NAME, {"lev.c": _threaded_source()})
    assert not threaded.valid and threaded.reason.startswith("candidate: exited with a non-zero code"), \
        threaded.reason
    assert_fixed_reason(threaded, NAME)


@pytest.mark.slow
@needs_sandbox
def test_levenshtein_c_reference_and_broken_through_the_scorer() -> None:
    assert_broken_case(NAME, "wrong distance")
    assert_timed_reference(NAME)


def test_levenshtein_c_public_expectations_are_the_scorers_distances() -> None:
    """data/expected.txt (what check.py compares against) holds the trusted distances of the public
    input, and check.py's own textbook DP (for other seeds) agrees with them."""
    ev = hidden(NAME)
    public = env_module(NAME, "make_input.py")
    pairs = public.generate(public.PUBLIC_SEED, public.PAIRS)
    shipped = [int(line) for line in (ROOT / "environment/data/expected.txt").read_text().splitlines()]
    assert shipped == ev.expected_distances(pairs)
    check = module_from(ROOT / "environment/check.py", "_lev_check")
    assert [check.textbook(a, b) for a, b in pairs[:3]] == shipped[:3]

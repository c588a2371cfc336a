"""edit_distance: the oracle, the public split, the distance rules, fresh hidden pairs; the submissions end to end."""

from __future__ import annotations

import random

import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken_case,
    assert_fixed_reason,
    assert_timed_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
)


def test_edit_distance_oracle_matches_dp() -> None:
    helpers = module_from(TASKS_DIR / "edit_distance/tests/edit_distance_hidden.py", "_ed_hidden")
    rng = random.Random(11)
    pairs = helpers.generate(99, 60)
    for _ in range(300):
        a = "".join(rng.choice("abc"[: rng.randint(1, 3)]) for _ in range(rng.randint(0, 140)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 140)))
        pairs.append((a, b))
    pairs += [("", ""), ("a", ""), ("", "abc"), ("a" * 64, "a" * 65), ("ab" * 40, "ba" * 40), ("x" * 300, "y" * 300)]
    for a, b in pairs:
        assert helpers.levenshtein(a, b) == helpers.levenshtein_dp(a, b), (a, b)


def test_edit_distance_public_split_matches_generator() -> None:
    helpers = module_from(TASKS_DIR / "edit_distance/tests/edit_distance_hidden.py", "_ed_hidden")
    public = module_from(TASKS_DIR / "edit_distance/environment/make_data.py", "_ed_public")
    assert public.generate(5, 50) == helpers.generate(5, 50)
    env = TASKS_DIR / "edit_distance/environment/data"
    pairs = [tuple(line.split()) for line in (env / "pairs.txt").read_text().splitlines()]
    expected = [int(x) for x in (env / "expected.txt").read_text().split()]
    assert len(pairs) == len(expected) == 2000
    assert pairs == public.generate(20240601, 2000)
    for (a, b), want in list(zip(pairs, expected, strict=True))[:200]:
        assert helpers.levenshtein(a, b) == want
        assert 50 <= len(a) <= 300 and 50 <= len(b) <= 300


def test_edit_distance_compare() -> None:
    rules = hidden("edit_distance").rules

    def compare(data: bytes, expected: list[int]) -> tuple[str, dict] | None:
        try:
            rules.check_distances(data, expected)
        except rules.RuleError as error:
            assert error.reason in hidden("edit_distance").REASONS or all(
                part in hidden("edit_distance").REASONS for part in error.reason.split(": "))
            return error.reason, error.details
        return None

    assert compare(b"1\n2\n3\n", [1, 2, 3]) is None
    assert compare(b"1\n2\n3", [1, 2, 3]) is None
    assert compare(b"1\n2\n", [1, 2, 3]) == (rules.LINE_COUNT, {"lines": 2, "expected_lines": 3})
    assert compare(b"1\n2\n361123\n", [1, 2, 3]) == ("distances.txt: wrong distance",
                                                      {"line": 3, "got": 361123, "expected": 3})
    assert compare(b"1\nnan\n3\n", [1, 2, 3]) == (rules.NOT_INTEGER, {"line": 2, "text": "nan"})
    assert compare(b"1\n-2\n3\n", [1, 2, 3])[0] == rules.NOT_INTEGER
    assert compare("1\n٢\n3\n".encode(), [1, 2, 3])[0] == rules.NOT_ASCII


def test_edit_distance_fresh_inputs() -> None:
    ev = hidden("edit_distance")
    one, two = ev.hidden_pairs(1 << 40, 20), ev.hidden_pairs((1 << 40) + 1, 20)
    assert one != two and one == ev.hidden_pairs(1 << 40, 20)
    assert len(ev.hidden_pairs(5)) == ev.PAIRS == 160
    public = module_from(TASKS_DIR / "edit_distance/environment/make_data.py", "_ed_public")
    assert ev.hidden_pairs(20240601, 20) != public.generate(20240601, 20)  # never the public split


@pytest.mark.slow
@needs_sandbox
def test_edit_distance_oracle_broken_submission_fails_the_gate() -> None:
    assert_broken_case("edit_distance", "wrong distance")


@pytest.mark.slow
@needs_sandbox
def test_edit_distance_end_to_end() -> None:
    root = TASKS_DIR / "edit_distance"
    assert_timed_reference("edit_distance")
    assert_baseline(run_eval("edit_distance", root / "environment", split="feedback"))
    source = (root / "solution/solve.py").read_text()
    # wrong on about a third of the pairs, so on every fresh draw of the hidden batch
    off_by_one = source.replace("    return score\n", "    return score + (len(a) % 3 == 0)\n")
    assert off_by_one != source
    record = run_eval("edit_distance", {"solve.py": off_by_one})
    assert not record.valid and record.reason == "candidate: distances.txt: wrong distance", record.reason
    assert record.details["got"] == record.details["expected"] + 1
    garbage = "import sys\nopen(sys.argv[2], 'w').write('nan\\n' * 10)\n"
    short = run_eval("edit_distance", {"solve.py": garbage})
    assert short.reason == "candidate: distances.txt does not have exactly one line per pair"
    assert short.details["lines"] == 10
    for failed in (record, short):
        assert_fixed_reason(failed, "edit_distance")

"""sort_kv64: the generator and fresh hidden inputs, the expected output against an independent stable
sort, the output rule's fixed reasons; wrong, threaded and reference submissions through the scorer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_fixed_reason,
    assert_timed_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
)

ROOT = TASKS_DIR / "sort_kv64"


def _rules():
    return hidden("sort_kv64").rules


def _records(data: bytes) -> list[tuple[int, int]]:
    return [(int.from_bytes(data[i:i + 8], "little"), int.from_bytes(data[i + 8:i + 16], "little"))
            for i in range(0, len(data), 16)]


def _encode(records: list[tuple[int, int]]) -> bytes:
    return b"".join(key.to_bytes(8, "little") + payload.to_bytes(8, "little") for key, payload in records)


def _reason(got: bytes, expected: bytes) -> tuple[str, dict] | None:
    rules = _rules()
    try:
        rules.check_output(got, expected)
    except rules.RuleError as error:
        assert error.reason in hidden("sort_kv64").REASONS
        return error.reason, error.details
    return None


def test_sort_kv64_generator_is_deterministic_and_hidden_inputs_are_fresh() -> None:
    ev = hidden("sort_kv64")
    one = ev.hidden_input(1 << 40, 5000)
    assert one == ev.hidden_input(1 << 40, 5000) and one != ev.hidden_input((1 << 40) + 1, 5000)
    assert len(one) == 16 * 5000 and ev.N == 2_500_000
    public = module_from(ROOT / "environment/kv_rules.py", "_kv_public_rules")
    assert public.generate(7, 1000) == ev.rules.generate(7, 1000)  # the public generator is the hidden one
    assert ev.hidden_input(public.PUBLIC_SEED, 1000) != public.generate(public.PUBLIC_SEED, 1000)
    keys = ev.rules.records_of(ev.hidden_input(5, 200_000))[:, 0]
    _, counts = np.unique(keys, return_counts=True)
    assert counts.max() > 1000 and (counts > 1).sum() > 10_000  # duplicates are frequent: stability matters
    assert 0.4 < (keys >= 1 << 63).mean() < 0.6  # the upper half of the range is well represented


def test_sort_kv64_expected_output_is_a_stable_sort() -> None:
    rules = _rules()
    data = rules.generate(3, 20_000)
    records = _records(data)
    assert rules.expected_output(data) == _encode(sorted(records, key=lambda r: r[0]))  # list.sort is stable
    tricky = [(1 << 63, 5), (3, 9), ((1 << 64) - 1, 1), (3, 2), (1 << 63, 0), (0, 7), (3, 8), ((1 << 63) - 1, 4)]
    assert _records(rules.expected_output(_encode(tricky))) == [
        (0, 7), (3, 9), (3, 2), (3, 8), ((1 << 63) - 1, 4), (1 << 63, 5), (1 << 63, 0), ((1 << 64) - 1, 1)]
    assert rules.expected_output(b"") == b""


def test_sort_kv64_output_rule_says_how_an_output_is_wrong() -> None:
    rules = _rules()
    data = rules.generate(11, 5000)
    expected = rules.expected_output(data)
    records = _records(expected)
    assert _reason(expected, expected) is None
    assert _reason(expected[:-16], expected) == (rules.WRONG_SIZE, {"bytes": len(expected) - 16,
                                                                   "expected_bytes": len(expected)})
    assert _reason(expected + expected[:16], expected)[0] == rules.WRONG_SIZE
    tie = next(i for i in range(len(records) - 1) if records[i][0] == records[i + 1][0])
    swapped = [*records[:tie], records[tie + 1], records[tie], *records[tie + 2:]]
    assert _reason(_encode(swapped), expected) == (rules.UNSTABLE, {"index": tie, "key": records[tie][0],
                                                                    "out_of_order": 2})
    changed = [*records]
    changed[9] = (changed[9][0], changed[9][1] ^ 1)
    assert _reason(_encode(changed), expected) == (rules.NOT_RECORDS, {"index": 9, "differing": 1})
    assert _reason(_encode(sorted(records)), expected)[0] == rules.UNSTABLE  # ties by payload: not input order
    signed = sorted(_records(data), key=lambda r: r[0] - (1 << 64) if r[0] >= 1 << 63 else r[0])
    assert _reason(_encode(signed), expected)[0] == rules.NOT_SORTED
    assert _reason(_encode(records[::-1]), expected)[0] == rules.NOT_SORTED
    duplicated = [*records]
    duplicated[1] = duplicated[0]  # still sorted by key, but one record lost and one twice
    assert _reason(_encode(duplicated), expected)[0] == rules.NOT_RECORDS


@pytest.mark.slow
@needs_sandbox
def test_sort_kv64_wrong_and_threaded_candidates_are_refused() -> None:
    reference = (ROOT / "solution/kvsort.c").read_text()
    # a signed key order: wrong only for keys at or above 2**63 (about half of every hidden input)
    signed = reference.replace("tmp[pos[(a[i].key >> shift) & 0xff]++] = a[i];",
                               "tmp[pos[((a[i].key ^ (pass == 7 ? 1ull << 63 : 0)) >> shift) & 0xff]++] = a[i];")
    signed = signed.replace("count[d][(k >> (8 * d)) & 0xff]++;",
                            "count[d][((k ^ (1ull << 63)) >> (8 * d)) & 0xff]++;")
    assert signed.count("1ull << 63") == 2
    record = run_eval("sort_kv64", {"kvsort.c": signed})
    assert not record.valid and record.reason == "candidate: sorted.bin is not sorted by key", record.reason
    assert record.details["descents"] >= 1
    assert_fixed_reason(record, "sort_kv64")

    baseline = (ROOT / "environment/kvsort.c").read_text()
    start = "    records = input;\n"
    threaded = "#include <pthread.h>\nstatic void *idle(void *arg) { return arg; }\n" + baseline.replace(
        start, "    pthread_t helper;\n    if (pthread_create(&helper, NULL, idle, NULL) != 0) return 3;\n"
        "    pthread_join(helper, NULL);\n" + start)
    assert "pthread_create(&helper" in threaded
    refused = run_eval("sort_kv64", {"kvsort.c": threaded})
    assert not refused.valid and refused.reason.startswith("candidate: exited with a non-zero code"), refused.reason
    assert_fixed_reason(refused, "sort_kv64")

    failed = run_eval("sort_kv64", {"kvsort.c": "int main(void) { return }\n"})
    assert failed.reason == "candidate: build failed", failed.reason


@pytest.mark.slow
@needs_sandbox
def test_sort_kv64_reference_beats_the_baseline() -> None:
    assert_timed_reference("sort_kv64")

"""sorting_network: the verifier, its rules and the output readers; reference, baseline and broken end to end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_broken_case,
    assert_fixed_reason,
    assert_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
    task,
)


def test_sorting_network_verifier() -> None:
    rules = hidden("sorting_network").rules
    baseline = module_from(TASKS_DIR / "sorting_network/environment/network.py", "_sn_base")
    reference = module_from(TASKS_DIR / "sorting_network/solution/network.py", "_sn_ref")
    assert len(baseline.network(12)) == 66 and rules.unsorted_witness(baseline.network(12)) is None
    assert len(reference.network(12)) == 41 and rules.unsorted_witness(reference.network(12)) is None
    best_known_39 = [
        (0, 8), (1, 7), (2, 6), (3, 11), (4, 10), (5, 9), (0, 1), (2, 5), (3, 4), (6, 9), (7, 8), (10, 11),
        (0, 2), (1, 6), (5, 10), (9, 11), (0, 3), (1, 2), (4, 6), (5, 7), (8, 11), (9, 10), (1, 4), (3, 5),
        (6, 8), (7, 10), (1, 3), (2, 5), (6, 9), (8, 10), (2, 3), (4, 5), (6, 7), (8, 9), (4, 6), (5, 7),
        (3, 4), (5, 6), (7, 8),
    ]
    assert rules.unsorted_witness(best_known_39) is None
    broken = reference.network(12)[:-1]
    witness = rules.unsorted_witness(broken)
    assert witness is not None
    values = list(witness)
    for i, j in broken:
        if values[i] > values[j]:
            values[i], values[j] = values[j], values[i]
    assert values != sorted(values)
    for n in range(2, 11):  # Batcher's network is correct for other sizes too: the verifier agrees
        assert rules.unsorted_witness(reference.network(n), n) is None


@pytest.mark.parametrize(
    ("doc", "reason", "detail"),
    [
        ([[0, 1]], "NOT_OBJECT", None),
        ({"n": 13, "comparators": []}, "WRONG_N", "n"),
        ({"n": 12.0, "comparators": []}, "WRONG_N", "n"),  # check.py once accepted this; one rule now
        ({"comparators": [[1, 0]]}, "BAD_PAIR", "comparator"),
        ({"comparators": [[0, 12]]}, "BAD_PAIR", "comparator"),
        ({"comparators": [[0, True]]}, "BAD_PAIR", "comparator"),
        ({"comparators": [[0.0, 1]]}, "BAD_PAIR", "comparator"),
        ({"comparators": [[0, 1, 2]]}, "BAD_PAIR", "comparator"),
        ({"comparators": [[0, 1]] * 1001}, "TOO_MANY", "comparators"),
        ({"comparators": [[0, 1]]}, "UNSORTED", "unsorted_input"),
    ],
)
def test_sorting_network_rules_reject(doc: object, reason: str, detail: str | None) -> None:
    ev = hidden("sorting_network")
    with pytest.raises(ev.rules.RuleError) as info:
        ev.rules.verify(doc)
    assert info.value.reason == getattr(ev.rules, reason) and info.value.reason in ev.REASONS
    assert detail is None or detail in info.value.details


@pytest.mark.parametrize("payload", [b"not json", b"[" * 100_000, b"\xff\xfe"])
def test_sorting_network_output_that_is_not_json_is_malformed(tmp_path: Path, payload: bytes) -> None:
    from scorer import reasons
    from scorer.outputs import Invalid, read_output

    (tmp_path / "network.json").write_bytes(payload)
    with pytest.raises(Invalid) as info:
        read_output(tmp_path, "network.json", 1_000_000, kind="json")
    assert info.value.reason == f"network.json: {reasons.MALFORMED}" and "error" in info.value.details


def test_sorting_network_refuses_links_and_fifos(tmp_path: Path) -> None:
    from scorer import reasons
    from scorer.outputs import read_regular_file

    (tmp_path / "secret").write_text("host secret")
    (tmp_path / "network.json").symlink_to(tmp_path / "secret")
    data, reason = read_regular_file(tmp_path / "network.json", 1000)
    assert data is None and reason == reasons.NOT_REGULAR
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    data, reason = read_regular_file(fifo, 1000)
    assert data is None and reason == reasons.NOT_REGULAR


def test_sorting_network_has_no_hidden_inputs_and_a_proven_bound() -> None:
    """Exhaustive 0-1 verification: nothing is drawn from ctx.seed. 39 is optimal (Harder 2020), so the
    task flags anything below it for review."""
    assert task("sorting_network").config.autolab.review_metric_beyond == 39
    assert "ctx.seed" not in (task("sorting_network").tests_dir / "evaluate.py").read_text().split('"""')[2]


@pytest.mark.slow
@needs_sandbox
def test_sorting_network_oracle_broken_submission_fails_the_gate() -> None:
    assert_broken_case("sorting_network", "does not sort every 0/1 input")


@pytest.mark.slow
@needs_sandbox
def test_sorting_network_end_to_end() -> None:
    root = TASKS_DIR / "sorting_network"
    ref = run_eval("sorting_network", root / "solution")
    assert_reference(ref)
    assert ref.metric == 41 and ref.score == pytest.approx(1.0)
    base = run_eval("sorting_network", root / "environment", split="feedback")
    assert_baseline(base)
    assert base.metric == 66
    source = (root / "solution/network.py").read_text()
    dropped = source.replace("    return pairs\n\n\ndef main", "    return pairs[:-1]\n\n\ndef main")
    assert dropped != source
    unsorted = run_eval("sorting_network", {"network.py": dropped})
    assert unsorted.reason == "the network does not sort every 0/1 input"
    assert len(unsorted.details["unsorted_input"]) == 12  # the witness is kept for the record, not shown
    crashing = "import sys\nsys.exit('no network today')\n"
    # the reason never echoes the candidate's output or exit code (they could carry hidden data)
    crashed = run_eval("sorting_network", {"network.py": crashing})
    assert_broken(crashed, "network.py failed: exited with a non-zero code")
    assert "no network today" not in crashed.reason and "1" not in crashed.reason
    sneaky = "import os\nos.symlink('/etc/passwd', '/output/network.json')\n"
    linked = run_eval("sorting_network", {"network.py": sneaky})
    assert linked.reason == "network.json: an output is not a regular file"
    for record in (unsorted, crashed, linked):
        assert_fixed_reason(record, "sorting_network")

"""Reason channels: a candidate that encodes hidden data into the way it fails gets fixed phrases back.

The reason of an evaluation is the one text an agent reads that the candidate's run can shape. It
carried hidden data out: edit_distance said `line 22: wrong distance 361123` (the candidate picks the
wrong number), stack_vm_golf printed the VM's `address 812345 outside 0..255` (a program that loads a
hidden entry and uses it as an address prints it; `hidden case 7 of 110` gave away the split's size),
sort_u32 said `sorted.bin has N bytes` (N of the candidate's choosing). Each task now returns fixed
phrases only (its REASONS) and keeps the values in the signed record's details.

Every candidate here encodes a hidden value (or, for sorting_network, which has no hidden inputs,
a value of the scorer's own machine: an inode number of its scratch directory) into its failure, and
fails at its first run, so the timing harness stops at once. The test reads the encoded value back
from the record's details (only the signed record holds them) and checks that the reason the agent
sees is made of fixed phrases and does not contain it.
"""

from __future__ import annotations

import re

import pytest

from autolab_mcp.core.wire import ScoreRecord
from scorer import reasons
from tests.tasks.helpers import assert_fixed_reason, needs_sandbox, run_eval

pytestmark = [pytest.mark.slow, needs_sandbox]


def assert_sealed(record: ScoreRecord, task: str, secrets: list[object], reason: str) -> None:
    """Invalid, with exactly `reason` (fixed phrases of the task, kept as written), and no secret in it."""
    assert not record.valid and record.score == 0.0
    assert_fixed_reason(record, task)
    assert record.reason == reason, (record.reason, record.reason_detail, record.details)
    assert not record.reason_detail  # the task's own reason was fixed: nothing had to be replaced
    for secret in secrets:
        text = str(secret)
        assert text and text not in record.reason, (text, record.reason)
        if text.lstrip("-").isdigit() and len(text.lstrip("-")) >= 3:
            assert text.lstrip("-") not in re.sub(r"\D", "", record.reason), (text, record.reason)


# --------------------------------------------------------------------------- edit_distance

ED_HEAD = "import sys\npairs = [line.split() for line in open(sys.argv[1])]\na, b = pairs[0]\n"


def test_edit_distance_wrong_answer_equal_to_a_hidden_value() -> None:
    # 50050..300300: the lengths of the first hidden pair, never a true distance (at most 300)
    solve = ED_HEAD + "open(sys.argv[2], 'w').write(f'{len(a) * 1000 + len(b)}\\n' * len(pairs))\n"
    record = run_eval("edit_distance", {"solve.py": solve})
    secret = record.details["got"]
    assert 50_050 <= secret <= 300_300 and record.details["line"] == 1
    assert_sealed(record, "edit_distance", [secret, secret // 1000, secret % 1000],
                  "candidate: distances.txt: wrong distance")


def test_edit_distance_output_length_derived_from_hidden_data() -> None:
    solve = ED_HEAD + "open(sys.argv[2], 'w').write('0\\n' * (len(a) + len(b) + 200))\n"
    record = run_eval("edit_distance", {"solve.py": solve})
    secret = record.details["lines"]
    assert secret >= 300
    assert_sealed(record, "edit_distance", [secret, secret - 200, record.details["expected_lines"]],
                  "candidate: distances.txt does not have exactly one line per pair")


def test_edit_distance_output_and_error_echoing_input_text() -> None:
    echo = ED_HEAD + "open(sys.argv[2], 'w').write(a + '\\n' + '0\\n' * (len(pairs) - 1))\n"
    record = run_eval("edit_distance", {"solve.py": echo})
    secret = record.details["text"]
    assert len(secret) == 40 and secret.isalpha()
    assert_sealed(record, "edit_distance", [secret, secret[:12]],
                  "candidate: distances.txt has a line that is not a non-negative integer")
    raising = ED_HEAD + "raise ValueError(a)\n"  # (another evaluation: other hidden pairs)
    record = run_eval("edit_distance", {"solve.py": raising})
    assert_sealed(record, "edit_distance", ["ValueError"], f"candidate: {reasons.EXIT_NONZERO}")


# --------------------------------------------------------------------------- sort_u32

SORT_HEAD = """#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb");
    uint32_t first = 0;
    if (!in || fread(&first, sizeof first, 1, in) != 1) return 2;
"""


def test_sort_u32_output_length_derived_from_hidden_data() -> None:
    source = SORT_HEAD + """    size_t n = first % 100000 + 1;
    uint32_t *zeros = calloc(n, sizeof *zeros);
    FILE *out = fopen(argv[2], "wb");
    fwrite(zeros, sizeof *zeros, n, out);
    return fclose(out) != 0;
}
"""
    record = run_eval("sort_u32", {"sort.c": source})
    secret = record.details["bytes"]
    assert 4 <= secret <= 400_000 and secret != record.details["expected_bytes"]
    assert_sealed(record, "sort_u32", [secret, secret // 4, record.details["expected_bytes"]],
                  "candidate: sorted.bin does not have the size of the input")


def test_sort_u32_error_echoing_a_hidden_value() -> None:
    source = SORT_HEAD + """    fprintf(stderr, "first value %u\\n", first);
    printf("%u\\n", first);
    return 3;
}
"""
    record = run_eval("sort_u32", {"sort.c": source})
    assert_sealed(record, "sort_u32", ["first value", "3"], f"candidate: {reasons.EXIT_NONZERO}")


# --------------------------------------------------------------------------- stack_vm_golf

#: jump to `ref` (the reference program) on the public edge cases, whose a[0] is 0, 1 or +-1000000
VM_EDGE_GUARD = """
        LOAD 0
        JZ ref
        LOAD 0
        PUSH -1
        ADD
        JZ ref
        LOAD 0
        PUSH -1000000
        ADD
        JZ ref
        LOAD 0
        PUSH 1000000
        ADD
        JZ ref
"""


def _vm_reference() -> str:
    from tests.tasks.helpers import TASKS_DIR

    return "ref:\n" + (TASKS_DIR / "stack_vm_golf/solution/dot.asm").read_text()


def test_stack_vm_fault_at_an_address_equal_to_a_hidden_input() -> None:
    program = VM_EDGE_GUARD + "        LOAD 0\n        LOADI\n        HALT\n" + _vm_reference()
    record = run_eval("stack_vm_golf", {"dot.asm": program}, split="final")
    match = re.search(r"address (-?\d+) outside", record.details["error"])
    assert match, record.details
    secret = int(match.group(1))
    assert abs(secret) > 255 and not record.details["edge_case"]
    assert_sealed(record, "stack_vm_golf", [secret, record.details["case"], record.details["cases"]],
                  "the program failed on a hidden case: address outside 0..255")


def test_stack_vm_wrong_result_equal_to_a_hidden_input() -> None:
    program = VM_EDGE_GUARD + "        LOAD 64\n        LOAD 0\n        MUL\n        HALT\n" + _vm_reference()
    record = run_eval("stack_vm_golf", {"dot.asm": program}, split="final")
    secret = record.details["result"]
    assert secret != record.details["expected"] and abs(secret) > 1000
    assert_sealed(record, "stack_vm_golf", [secret, record.details["expected"], record.details["cases"]],
                  "wrong result on a hidden case")


# --------------------------------------------------------------------------- sorting_network

#: the inode number of the scorer's /output directory: a value of the scorer's machine, not the candidate's
SN_HEAD = "import json, os, sys\nsecret = os.stat('/output').st_ino * 1000 + 7\n"


def test_sorting_network_malformed_output_and_error_echoing_scorer_data() -> None:
    network = SN_HEAD + "json.dump({'comparators': [[0, secret]]}, open(sys.argv[1], 'w'))\n"
    record = run_eval("sorting_network", {"network.py": network})
    secret = int(re.search(r"\d+", record.details["comparator"].split(",")[1]).group(0))
    assert secret % 1000 == 7 and record.details["index"] == 0
    assert_sealed(record, "sorting_network", [secret, secret // 1000],
                  "every comparator must be [i, j] with integers 0 <= i < j < 12")
    wrong_n = SN_HEAD + "json.dump({'n': str(secret), 'comparators': []}, open(sys.argv[1], 'w'))\n"
    record = run_eval("sorting_network", {"network.py": wrong_n})
    assert_sealed(record, "sorting_network", [secret // 1000, record.details["n"]], "n must be 12")
    raising = SN_HEAD + "raise SystemExit(f'inode {secret}')\n"
    record = run_eval("sorting_network", {"network.py": raising})
    assert_sealed(record, "sorting_network", ["inode"], f"network.py failed: {reasons.EXIT_NONZERO}")
    assert not re.search(r"\d", record.reason)

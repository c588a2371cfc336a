"""stack_vm_golf: the VM (scorer copy, errors, semantics) and the hidden cases; the submissions end to end."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_broken_case,
    assert_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
    task,
)


def test_stack_vm_scorer_copy_is_identical() -> None:
    root = TASKS_DIR / "stack_vm_golf"
    assert (root / "tests/stack_vm_golf_vm.py").read_bytes() == (root / "environment/vm.py").read_bytes()


@pytest.mark.parametrize(
    ("program", "fragment", "kind"),
    [
        ("PUSH 1\nFOO\nHALT", "unknown instruction", "UNKNOWN_INSTRUCTION"),
        ("PUSH\nHALT", "exactly one operand", "OPERAND_COUNT"),
        ("ADD 3\nHALT", "takes no operand", "OPERAND_COUNT"),
        ("JMP nowhere\nHALT", "undefined label", "UNDEFINED_LABEL"),
        ("x: PUSH 1\nx: HALT", "duplicate label", "DUPLICATE_LABEL"),
        ("LOAD 256\nHALT", "address 256", "BAD_ADDRESS"),
        ("PUSH 1e3\nHALT", "integer operand", "NOT_INTEGER"),
        (f"PUSH {1 << 63}\nHALT", "64-bit", "BAD_PUSH"),
        ("ADD\nHALT", "underflow", "UNDERFLOW"),
        ("HALT", "underflow", "UNDERFLOW"),
        ("PUSH 1", "past the last instruction", "NO_HALT"),
        ("loop: JMP loop", "executed", "STEP_LIMIT_HIT"),
        ("loop: PUSH 1\nJMP loop", "overflow", "OVERFLOW"),
        ("PUSH 300\nLOADI\nHALT", "address 300", "BAD_ADDRESS"),
        ("PUSH 1\n" * 5000 + "HALT", "4096 instructions", "TOO_LARGE"),
    ],
)
def test_stack_vm_errors(program: str, fragment: str, kind: str) -> None:
    """The message says where (check.py and vm.py print it); the kind, a fixed phrase, is what the scorer shows."""
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    with pytest.raises(vm.VMError, match=re.escape(fragment)) as caught:
        vm.run(vm.assemble(program), [0] * 64, [0] * 64)
    assert caught.value.kind == getattr(vm, kind) and caught.value.kind in vm.KINDS
    assert vm.KINDS <= hidden("stack_vm_golf").REASONS


def test_stack_vm_semantics() -> None:
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    a, b = list(range(64)), [2] * 64
    assert vm.run(vm.assemble("PUSH 0x7fffffffffffffff\nPUSH 1\nADD\nHALT"), a, b) == (-(1 << 63), 4)
    assert vm.run(vm.assemble("PUSH -7 ; comment\n# another\n\nPUSH 3\nSUB\nHALT"), a, b)[0] == -10
    assert vm.run(vm.assemble("PUSH 5\nPUSH 2\nPUSH 3\nMAC\nHALT"), a, b)[0] == 11
    assert vm.run(vm.assemble("LOAD 5\nLOAD 64\nOVER\nSWAP\nDROP\nMUL\nHALT"), a, b)[0] == 25
    assert vm.run(vm.assemble("PUSH 9\nPUSH 200\nSTOREI\nLOAD 200\nDUP\nJZ end\nend: HALT"), a, b) == (9, 7)
    assert vm.run(vm.assemble("push 0\njnz x\npush 4\nx: halt"), a, b) == (4, 4)


def test_stack_vm_hidden_cases_and_programs() -> None:
    ev = hidden("stack_vm_golf")
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    root = TASKS_DIR / "stack_vm_golf"
    feedback, final = ev.hidden_cases(1 << 50, "feedback"), ev.hidden_cases(1 << 50, "final")
    assert feedback[:6] == final[:6] == ev.rules.edge_cases()
    assert len(final) > len(feedback) and final == ev.hidden_cases(1 << 50, "final")
    assert ev.hidden_cases((1 << 50) + 1, "final")[6:] != final[6:]  # fresh for every seed
    public = module_from(root / "environment/check.py", "_svm_check")
    assert public.edge_cases() == ev.rules.edge_cases()  # the instruction: the same fixed edge cases as check.py
    assert ev.hidden_cases(12345, "feedback")[6:56] != public.random_cases(12345, 50)  # never the public cases
    assert task("stack_vm_golf").config.autolab.review_metric_beyond == 193
    for path, steps in ((root / "environment/dot.asm", 1158), (root / "solution/dot.asm", 193)):
        program = vm.assemble(path.read_text())
        for a, b in final:
            assert vm.run(program, a, b) == (sum(x * y for x, y in zip(a, b, strict=True)), steps)


def test_stack_vm_check_py_gives_the_scorers_verdict(tmp_path: Path) -> None:
    """check.py reads dot.asm by the scorer's rules (program_rules.py): a byte that is not UTF-8, even in a
    comment, is refused by both, with the same fixed phrase."""
    ws = tmp_path / "ws"
    shutil.copytree(TASKS_DIR / "stack_vm_golf/environment", ws)
    (ws / "dot.asm").write_bytes((TASKS_DIR / "stack_vm_golf/solution/dot.asm").read_bytes() + b"; \xff\n")
    proc = subprocess.run([sys.executable, "check.py"], cwd=ws, capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "INVALID: dot.asm is not UTF-8 text" in proc.stdout, proc.stdout + proc.stderr
    assert hidden("stack_vm_golf").rules.NOT_UTF8 == "dot.asm is not UTF-8 text"


@pytest.mark.slow
@needs_sandbox
def test_stack_vm_golf_oracle_broken_submission_fails_the_gate() -> None:
    assert_broken_case("stack_vm_golf", "wrong result on a hidden case")


@pytest.mark.slow
@needs_sandbox
def test_stack_vm_golf_end_to_end() -> None:
    root = TASKS_DIR / "stack_vm_golf"
    ref = run_eval("stack_vm_golf", root / "solution")
    assert_reference(ref)
    assert ref.metric == 193
    base = run_eval("stack_vm_golf", root / "environment", split="feedback")
    assert_baseline(base)
    assert base.metric == 1158
    lines = (root / "solution/dot.asm").read_text().splitlines()
    assert lines[-4:] == ["LOAD 63", "LOAD 127", "MAC", "HALT"]
    short = "\n".join([*lines[:-4], "MAC", "HALT"])
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": short}), "the program failed on a hidden case: stack underflow")
    no_last = "\n".join([*lines[:-4], "HALT"])
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": no_last}), "wrong result on a hidden case")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": "x: JMP x\n"}), "more than 20000 instructions executed")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": b"\xff\xfe"}), "dot.asm is not UTF-8 text")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": "JMP nowhere\n"}), "assembly failed: undefined label")

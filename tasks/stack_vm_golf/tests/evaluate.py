"""Hidden evaluation of stack_vm_golf (runs in the trusted scorer, never in a sandbox).

The submission is data, not code: dot.asm is read from the candidate's files and
run here on the scorer's own copy of the VM (stack_vm_golf_vm.py, identical to
the public environment/vm.py), which enforces program size, stack and step caps.
Nothing of the candidate's is executed on the host, so no sandbox is needed.
Cases: the public edge cases plus random vectors drawn afresh for every evaluation
from the scorer's secret seed (`ctx.seed`). Reading dot.asm and judging every run are
the task's rules module (environment/program_rules.py, the pristine copy of what
check.py imports), so the local check and the scorer cannot disagree.

Reasons are fixed phrases (REASONS; the VM's error kinds among them). The VM's own
message is never shown: a program that loads a hidden entry and faults on it as an
address made the message print hidden values (and `hidden case 7 of 110` the split's
size). Messages, case numbers and results go to the measurement's details.
"""

from __future__ import annotations

import random

import stack_vm_golf_vm as vm

from scorer.harness import EvalContext, Invalid, Measurement, load_rules_module

rules = load_rules_module(__file__, "program_rules.py")
assert (rules.MAX_PROGRAM_BYTES, rules.VECTOR_LEN) == (vm.MAX_PROGRAM_BYTES, vm.VECTOR_LEN)

RANDOM_CASES = {"feedback": 40, "final": 100}
SPARSE_CASES = 4
LIMIT = rules.LIMIT
#: the public random cases' seed (environment/check.py): hidden cases never use it
PUBLIC_SEEDS = frozenset({12345})

VALID = "exact on every case"
REASONS = rules.REASONS | {VALID, *vm.KINDS}


def hidden_cases(seed: int, split: str) -> list[tuple[list[int], list[int]]]:
    """The edge cases, then the split's random dense cases, then a few sparse ones, all from `seed`."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    rng = random.Random(seed)
    cases = rules.edge_cases()
    for _ in range(RANDOM_CASES[split]):
        a = [rng.randint(-LIMIT, LIMIT) for _ in range(vm.VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(vm.VECTOR_LEN)]
        cases.append((a, b))
    # a few sparse vectors, so programs that skip zeros are checked too
    for _ in range(SPARSE_CASES):
        a = [rng.randint(-LIMIT, LIMIT) if rng.random() < 0.2 else 0 for _ in range(vm.VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(vm.VECTOR_LEN)]
        cases.append((a, b))
    return cases


def evaluate(ctx: EvalContext) -> Measurement:
    try:
        text = rules.read_program(ctx.candidate_dir / "dot.asm")
        program, steps_per_case = rules.check_program(vm, text, hidden_cases(ctx.seed, ctx.split))
    except rules.RuleError as error:
        raise Invalid.from_rule(error) from None
    worst = max(steps_per_case)
    return Measurement(
        valid=True,
        metric=float(worst),
        reason=VALID,
        details={
            "cases": len(steps_per_case),
            "max_executed": worst,
            "mean_executed": round(sum(steps_per_case) / len(steps_per_case), 2),
            "program_instructions": len(program),
            "split": ctx.split,
        },
    )

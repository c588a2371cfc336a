"""Hidden evaluation of sorting_network (runs in the trusted scorer, never in a sandbox).

The candidate's network.py runs in a sandbox and writes /output/network.json; the network is
checked here, outside the sandbox, by the task's rules module (environment/network_rules.py,
the pristine copy of what check.py imports): exhaustively, with the 0-1 principle. There are no
hidden inputs (nothing to draw from ctx.seed): both splits are the same exhaustive check, and
what the scorer keeps to itself is only that it, not the candidate, does the checking.

Reasons are fixed phrases (REASONS); the offending comparator, the count and the unsorted 0/1
input go to the measurement's details (check.py prints them locally).
"""

from __future__ import annotations

from scorer.harness import EvalContext, Invalid, Measurement, load_rules_module

rules = load_rules_module(__file__, "network_rules.py")

MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "python network.py /output/network.json"

RUN_FAILED = "network.py failed"
OUTPUT = "network.json"
VALID = "sorts every 0/1 input"
REASONS = rules.REASONS | {RUN_FAILED, OUTPUT, VALID}


def evaluate(ctx: EvalContext) -> Measurement:
    out = ctx.run(COMMAND, timeout_sec=60).require_ok(RUN_FAILED)
    doc = out.read(OUTPUT, MAX_OUTPUT_BYTES, kind="json")
    try:
        pairs = rules.verify(doc)
    except rules.RuleError as error:
        raise Invalid.from_rule(error) from None
    return Measurement(valid=True, metric=float(len(pairs)), reason=VALID,
                       details={"comparators": len(pairs), "depth": rules.depth(pairs), "split": ctx.split})

"""Hidden evaluation of sha256_c (runs in the trusted scorer, never in a sandbox).

1. The pristine build.sh compiles the baseline and the candidate sha.c, each once, in its own
   sandbox (untimed; scorer/native.py); the binary is put into that side's workspace copy, so the
   timed runs measure hashing only.
2. A hidden input of MESSAGES messages, drawn afresh for every evaluation from the scorer's secret
   seed (`ctx.seed`) by the public generator (environment/make_input.py, the pristine copy), goes to
   /inputs/data/messages.bin. The scorer hashes every message itself with hashlib, outside the
   sandbox.
3. Baseline and candidate are timed against each other with interleaved pairs pinned to the timing
   core, every run under forbid_threads (seccomp: thread creation fails). Every timed run's
   /output/digests.txt must be exactly the expected digests, one lowercase hex line per message, by
   the task's output rules (environment/digest_rules.py, the pristine copy of what check.py imports).

Reasons are fixed phrases (REASONS); a line number, a digest or a count go to the details only.
"""

from __future__ import annotations

import hashlib

from scorer import native
from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_rules_module

rules = load_rules_module(__file__, "digest_rules.py")
generator = load_rules_module(__file__, "make_input.py")

MESSAGES = generator.MESSAGES  # about 52 MB; the baseline takes about 0.8 s on the scorer machine
#: the public inputs' seed (environment/make_input.py, check.py): a hidden input never uses it
PUBLIC_SEEDS = frozenset({2024})
RUN_TIMEOUT_SEC = 6.0  # keeps the worst case (a slow candidate) near 45 s per evaluation
MAX_OUTPUT_BYTES = 65 * MESSAGES + 4096
COMMAND = "./sha /inputs/data/messages.bin /output/digests.txt"

VALID = "every digest exact in every run"
REASONS = rules.REASONS | native.REASONS | {VALID}


def hidden_messages(seed: int, count: int = MESSAGES) -> list[bytes]:
    """The messages of one evaluation: the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return generator.messages(seed, count)


def expected_digests(messages: list[bytes]) -> list[str]:
    """The trusted answer: hashlib's SHA-256 of each message, as lowercase hex."""
    return [hashlib.sha256(message).hexdigest() for message in messages]


def evaluate(ctx: EvalContext) -> Measurement:
    binaries = native.build_both(ctx, "sha")
    messages = hidden_messages(ctx.seed)
    expected = expected_digests(messages)
    total = sum(len(message) for message in messages)
    inputs = ctx.input_dir("data")
    (inputs / "messages.bin").write_bytes(generator.encode(messages))
    del messages

    def check(out: RunOutput) -> None:
        try:
            rules.check_digests(out.read(rules.OUTPUT, MAX_OUTPUT_BYTES), expected)
        except rules.RuleError as error:
            raise Invalid.from_rule(error, split=ctx.split) from None

    timing = ctx.time(COMMAND, inputs={"data": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC,
                      forbid_threads=True)
    return Measurement.timed(timing, VALID, messages=len(expected), message_bytes=total, split=ctx.split,
                             binary_bytes=binaries)

"""Hidden evaluation of edit_distance (runs in the trusted scorer, never in a sandbox).

A hidden batch of string pairs (seeded per split; the seeds live only here) is
written to /inputs/pairs/pairs.txt. Baseline and candidate `solve.py` are timed
against each other with interleaved pairs; every run's /output/distances.txt must
equal the distances computed here, outside the sandbox, by a trusted
implementation. Metric: the candidate's median seconds; the score comes from the
measured speedup over the baseline.
"""

from __future__ import annotations

from edit_distance_hidden import generate, levenshtein

from scorer.harness import EvalContext, Measurement, RunOutput, read_regular_file

SEEDS = {"feedback": 7_301_559, "final": 90_412_873}
PAIRS = 160  # the baseline takes about 2 s on the scorer machine
RUN_TIMEOUT_SEC = 10.0  # keeps the worst case (a slow candidate) under 90 s per evaluation
MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "python solve.py /inputs/pairs/pairs.txt /output/distances.txt"


def compare(data: bytes, expected: list[int]) -> str | None:
    """None when data holds exactly the expected distances, one per line; else a short reason."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return "distances.txt is not ASCII text"
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(expected):
        return f"distances.txt has {len(lines)} lines; expected {len(expected)} (one per pair)"
    for index, (line, want) in enumerate(zip(lines, expected, strict=True)):
        token = line.strip()
        if not (token.isdigit() and len(token) <= 6):
            return f"line {index + 1}: {token[:40]!r} is not a non-negative integer"
        if int(token) != want:
            return f"line {index + 1}: wrong distance {int(token)} (pair {index + 1} of {len(expected)})"
    return None


def evaluate(ctx: EvalContext) -> Measurement:
    pairs = generate(SEEDS[ctx.split], PAIRS)
    expected = [levenshtein(a, b) for a, b in pairs]
    inputs = ctx.input_dir("pairs")
    (inputs / "pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))

    def check(out: RunOutput) -> str | None:
        data, reason = read_regular_file(out.output_dir / "distances.txt", MAX_OUTPUT_BYTES)
        if data is None:
            return reason
        return compare(data, expected)

    timing, reason = ctx.time_pair(
        COMMAND, inputs={"pairs": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC
    )
    if timing is None:
        return Measurement(valid=False, reason=reason or "timing failed")
    median_sec = sorted(timing.candidate_sec)[len(timing.candidate_sec) // 2]
    return Measurement(
        valid=True,
        metric=median_sec,
        timing=timing,
        reason=f"all {len(pairs)} distances exact; {timing.verdict}",
        details={"pairs": len(pairs), "split": ctx.split, "speedup": round(timing.speedup, 3)},
    )

"""Hidden evaluation of edit_distance (runs in the trusted scorer, never in a sandbox).

A hidden batch of string pairs, drawn afresh for every evaluation from the scorer's secret
seed (`ctx.seed`), is written to /inputs/pairs/pairs.txt. Baseline and candidate `solve.py`
are timed against each other with interleaved pairs; every run's /output/distances.txt must
equal the distances computed here, outside the sandbox, by a trusted implementation. Metric:
the candidate's median seconds; the score comes from the measured speedup over the baseline.

Reasons are fixed phrases (REASONS): a wrong distance, a line number or a line count would
let a candidate choose what the agent reads (`line 22: wrong distance 361123` carried a hidden
value out); those values go to the measurement's details, which only the signed record keeps.
"""

from __future__ import annotations

from typing import Any

from edit_distance_hidden import generate, levenshtein

from scorer.harness import EvalContext, Measurement, RunOutput, read_regular_file

PAIRS = 160  # both splits; the baseline takes about 1.5-2 s on the scorer machine
#: the public split's seed (environment/make_data.py): a hidden batch never uses it
PUBLIC_SEEDS = frozenset({20240601})
RUN_TIMEOUT_SEC = 10.0  # keeps the worst case (a slow candidate) under 90 s per evaluation
MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "python solve.py /inputs/pairs/pairs.txt /output/distances.txt"

OUTPUT = "distances.txt"
NOT_ASCII = "distances.txt is not ASCII text"
LINE_COUNT = "distances.txt does not have exactly one line per pair"
NOT_INTEGER = "distances.txt has a line that is not a non-negative integer"
WRONG = "wrong distance"
VALID = "all distances exact"
REASONS = frozenset({OUTPUT, NOT_ASCII, LINE_COUNT, NOT_INTEGER, WRONG, VALID})


def hidden_pairs(seed: int, count: int = PAIRS) -> list[tuple[str, str]]:
    """The hidden batch of one evaluation: `count` pairs from the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return generate(seed, count)


def compare(data: bytes, expected: list[int]) -> tuple[str, dict[str, Any]] | None:
    """None when data holds exactly the expected distances, one per line; else (fixed reason, details)."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return NOT_ASCII, {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(expected):
        return LINE_COUNT, {"lines": len(lines), "expected_lines": len(expected)}
    for index, (line, want) in enumerate(zip(lines, expected, strict=True)):
        token = line.strip()
        if not (token.isdigit() and len(token) <= 6):
            return NOT_INTEGER, {"line": index + 1, "text": token[:40]}
        if int(token) != want:
            return f"{OUTPUT}: {WRONG}", {"line": index + 1, "got": int(token), "expected": want}
    return None


def evaluate(ctx: EvalContext) -> Measurement:
    pairs = hidden_pairs(ctx.seed)
    expected = [levenshtein(a, b) for a, b in pairs]
    inputs = ctx.input_dir("pairs")
    (inputs / "pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))
    failures: list[dict[str, Any]] = []

    def check(out: RunOutput) -> str | None:
        data, reason = read_regular_file(out.output_dir / "distances.txt", MAX_OUTPUT_BYTES)
        if data is None:
            return f"{OUTPUT}: {reason}"
        problem = compare(data, expected)
        if problem is None:
            return None
        failures.append(problem[1])
        return problem[0]

    timing, reason = ctx.time_pair(
        COMMAND, inputs={"pairs": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC
    )
    details: dict[str, Any] = {"pairs": len(pairs), "split": ctx.split}
    if timing is None:
        return Measurement(valid=False, reason=reason or "timing failed",
                           details={**details, **(failures[0] if failures else {})})
    median_sec = sorted(timing.candidate_sec)[len(timing.candidate_sec) // 2]
    return Measurement(
        valid=True,
        metric=median_sec,
        timing=timing,
        reason=VALID,
        details={**details, "speedup": round(timing.speedup, 3)},
    )

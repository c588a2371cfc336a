"""Results past what a task declares possible are flagged for a person's review.

A score past a proven optimum (39 comparators for 12 inputs), a physical limit, or a speedup
far above the reference is more likely a hole in the evaluation than a breakthrough. The scorer
still reports what it measured, but the signed record and the eval report say "needs review",
so a leaderboard never takes such a number on trust.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autolab_mcp.core.taskspec import TaskConfig

if TYPE_CHECKING:
    from scorer.harness import Measurement

#: default bound on a measured speedup: this many times the reference's
SPEEDUP_REVIEW_FACTOR = 4.0


def reference_speedup(config: TaskConfig) -> float | None:
    opt = config.objective()
    base, ref = opt.baseline.score, opt.reference.score
    if base <= 0 or ref <= 0:
        return None
    return base / ref if opt.direction == "lower" else ref / base


def review_flags(config: TaskConfig, measurement: Measurement) -> list[str]:
    """Why this valid result is implausible (empty: nothing to review)."""
    flags = []
    bound = config.autolab.review_metric_beyond
    metric = measurement.metric
    if bound is not None and metric is not None:
        lower = config.objective().direction == "lower"
        if (lower and metric < bound) or (not lower and metric > bound):
            side = "below" if lower else "above"
            flags.append(f"metric {metric:g} is {side} {bound:g}, which this task declares impossible or implausible")
    timing = measurement.timing
    if timing is not None:
        limit = config.autolab.review_speedup_above
        if limit is None and (ref := reference_speedup(config)) is not None:
            limit = ref * SPEEDUP_REVIEW_FACTOR
        if limit is not None and timing.speedup > limit:
            flags.append(f"speedup {timing.speedup:.2f}x is above {limit:.2f}x (far beyond the reference)")
    harbor = config.autolab.harbor
    if harbor is not None and not harbor.trusted:
        flags.append("untrusted verifier: candidate code runs where an imported task's verifier writes its "
                     f"reward, so the reward may be forged ({harbor.trust_reason or 'see the import report'})")
    return flags

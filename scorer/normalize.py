"""Normalized score: baseline = 0, reference = 1, below baseline clipped to 0, no upper cap."""

from __future__ import annotations

import math

from autolab_mcp.core.taskspec import TaskConfig
from scorer.timing import TimingResult


def normalized_score(config: TaskConfig, metric: float | None, timing: TimingResult | None = None) -> float:
    """Map a raw metric (or a measured speedup) to the task's normalized scale.

    Timing tasks never use a stored baseline time: the speedup was measured against
    the baseline in the same call, and only the reference *ratio* comes from task.toml.
    A speedup whose 95% interval reaches 1 earns nothing.
    """
    opt = config.objective()
    base, ref = opt.baseline.score, opt.reference.score
    lower_better = opt.direction == "lower"
    if timing is not None:
        if not timing.credited:
            return 0.0
        ref_speedup = base / ref if lower_better else ref / base
        if ref_speedup <= 1:
            raise ValueError("the reference must beat the baseline to normalize a speedup")
        return max(0.0, math.log(timing.speedup) / math.log(ref_speedup))
    if metric is None or not math.isfinite(metric):
        return 0.0
    if config.autolab.scale == "log":
        if metric <= 0 or base <= 0 or ref <= 0:
            raise ValueError("log scale needs positive metrics")
        gain = math.log(base / metric) if lower_better else math.log(metric / base)
        span = math.log(base / ref) if lower_better else math.log(ref / base)
    else:
        gain = (base - metric) if lower_better else (metric - base)
        span = (base - ref) if lower_better else (ref - base)
    if span <= 0:
        raise ValueError("the reference must beat the baseline")
    return max(0.0, gain / span)

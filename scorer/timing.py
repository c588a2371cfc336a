"""Noise-aware comparison of two programs' run times.

Interleaved pairs (A B A B ...) cancel slow drifts of the machine; the median of
per-pair ratios resists outliers; a bootstrap interval says how sure we are. A
speedup earns credit only when the whole interval lies above 1.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence

from pydantic import BaseModel

MIN_PAIRS = 5


class TimingResult(BaseModel):
    baseline_sec: list[float]
    candidate_sec: list[float]
    ratios: list[float]
    speedup: float
    ci_low: float
    ci_high: float
    credited: bool

    @property
    def verdict(self) -> str:
        interval = f"{self.speedup:.3f}x (95% CI {self.ci_low:.3f}-{self.ci_high:.3f})"
        if self.credited:
            return f"faster: {interval}"
        return f"no significant speedup: {interval}"


def bootstrap_median_ci(
    values: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (seeded, so a verdict is reproducible)."""
    rng = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(resamples))
    tail = (1 - level) / 2
    low = medians[int(tail * resamples)]
    high = medians[min(resamples - 1, int((1 - tail) * resamples))]
    return low, high


def summarize_pairs(baseline: Sequence[float], candidate: Sequence[float]) -> TimingResult:
    if len(baseline) != len(candidate) or len(baseline) < 1:
        raise ValueError("need the same number (>= 1) of baseline and candidate timings")
    ratios = [b / max(c, 1e-9) for b, c in zip(baseline, candidate, strict=True)]
    low, high = bootstrap_median_ci(ratios)
    return TimingResult(
        baseline_sec=list(baseline),
        candidate_sec=list(candidate),
        ratios=ratios,
        speedup=statistics.median(ratios),
        ci_low=low,
        ci_high=high,
        credited=low > 1.0,
    )


def pair_orders(pairs: int, rng: random.Random | None = None) -> list[bool]:
    """For each pair, whether the baseline runs first: half the pairs each way (neither side always gets
    the warm cache), in an order drawn from the OS's secret randomness, so a process watching the load
    cannot tell which program runs when (an order it could predict let a burner slow one side)."""
    rng = rng or random.SystemRandom()
    firsts = [index % 2 == 0 for index in range(pairs)]
    rng.shuffle(firsts)
    return firsts


def interleaved_pairs(
    run_baseline: Callable[[], float], run_candidate: Callable[[], float], pairs: int = MIN_PAIRS,
    rng: random.Random | None = None,
) -> TimingResult:
    """One warm-up each (in a secret order too), then `pairs` interleaved (baseline, candidate) timings."""
    pairs = max(pairs, MIN_PAIRS)
    warm = [run_baseline, run_candidate]
    (rng or random.SystemRandom()).shuffle(warm)
    for run in warm:
        run()
    baseline, candidate = [], []
    for baseline_first in pair_orders(pairs, rng):
        if baseline_first:
            baseline.append(run_baseline())
            candidate.append(run_candidate())
        else:
            candidate.append(run_candidate())
            baseline.append(run_baseline())
    return summarize_pairs(baseline, candidate)

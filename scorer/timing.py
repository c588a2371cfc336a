"""Noise-aware comparison of two programs' run times.

Interleaved pairs (A B A B ...) cancel slow drifts of the machine; the median of
per-pair ratios resists outliers and is the speedup reported; a bootstrap interval
shows the spread. Credit is a decision, so it has its own rule with a known error
rate: a speedup is credited only when the one-sided 99% lower confidence bound of
the ratio (Student t on the log ratios of the pairs) exceeds CREDIT_MARGIN. For an
unchanged candidate that is a false credit at most 1% of the time when the noise of
a pair is log-normal; outliers widen the bound, so they make credit rarer, not likelier
(tests/scoring/test_scoring_math.py simulates both).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence

from pydantic import BaseModel

MIN_PAIRS = 5
#: a speedup must beat this ratio with 99% confidence to earn credit (measurement noise, not a win)
CREDIT_MARGIN = 1.02
CREDIT_LEVEL = 0.99
#: one-sided 99% quantiles of Student's t by degrees of freedom (scipy.stats.t.ppf(0.99, df))
_T99 = {1: 31.821, 2: 6.965, 3: 4.541, 4: 3.747, 5: 3.365, 6: 3.143, 7: 2.998, 8: 2.896, 9: 2.821,
        10: 2.764, 11: 2.718, 12: 2.681, 13: 2.650, 14: 2.624, 15: 2.602, 16: 2.583, 17: 2.567,
        18: 2.552, 19: 2.539, 20: 2.528, 25: 2.485, 30: 2.457, 40: 2.423, 60: 2.390, 120: 2.358}


class TimingResult(BaseModel):
    baseline_sec: list[float]
    candidate_sec: list[float]
    ratios: list[float]
    speedup: float
    ci_low: float
    ci_high: float
    lower_bound: float = 0.0
    credited: bool

    @property
    def verdict(self) -> str:
        interval = f"{self.speedup:.3f}x (95% CI {self.ci_low:.3f}-{self.ci_high:.3f})"
        if self.credited:
            return f"faster: {interval}"
        return f"no significant speedup: {interval}; credit needs the 99% lower bound above {CREDIT_MARGIN}"


def _t99(df: int) -> float:
    """The one-sided 99% t quantile for df degrees of freedom (the nearest tabulated df at or below)."""
    return _T99[max(k for k in _T99 if k <= df)]


def lower_confidence_bound(ratios: Sequence[float]) -> float:
    """One-sided 99% lower bound of the typical ratio: exp(mean - t * sd / sqrt(n)) of the log ratios.
    Fewer than two pairs give no bound (0.0): nothing can be credited from one measurement."""
    logs = [math.log(max(r, 1e-12)) for r in ratios]
    if len(logs) < 2:
        return 0.0
    spread = statistics.stdev(logs)
    return math.exp(statistics.fmean(logs) - _t99(len(logs) - 1) * spread / math.sqrt(len(logs)))


def is_credited(ratios: Sequence[float]) -> bool:
    """The credit rule: the 99% lower bound and the median ratio both above CREDIT_MARGIN."""
    return lower_confidence_bound(ratios) > CREDIT_MARGIN and statistics.median(ratios) > CREDIT_MARGIN


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
    bound = lower_confidence_bound(ratios)
    return TimingResult(
        baseline_sec=list(baseline),
        candidate_sec=list(candidate),
        ratios=ratios,
        speedup=statistics.median(ratios),
        ci_low=low,
        ci_high=high,
        lower_bound=bound,
        credited=is_credited(ratios),
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

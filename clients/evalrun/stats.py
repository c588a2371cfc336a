"""Intervals over seeds: a Student t interval, because a batch has a handful of seeds, not hundreds."""

from __future__ import annotations

import math
import statistics

__all__ = ["INTERVAL_METHOD", "mean_ci", "t975"]

INTERVAL_METHOD = "Student t 95% interval over seeds: mean +- t(0.975, n-1) * sd / sqrt(n); none for n = 1"

# Student t 0.975 quantiles for 1..30 degrees of freedom
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    """The t distribution's 0.975 quantile from a table (no scipy needed); coarse past 30 degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if df <= len(_T975):
        return _T975[df - 1]
    return 2.021 if df <= 40 else 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


def mean_ci(values: list[float]) -> tuple[float | None, list[float] | None]:
    """The mean and its 95% interval; no interval for one value (no spread to estimate), nothing for none."""
    if not values:
        return None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, [mean - half, mean + half]

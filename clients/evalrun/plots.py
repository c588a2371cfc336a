"""curves.png: how the best feedback score grew as the budget was spent, one line per episode.
matplotlib is an optional extra: without it the batch still reports, minus the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from clients.evalrun.models import EpisodeOutcome

__all__ = ["draw_curves"]


def draw_curves(outcomes: list[EpisodeOutcome], path: Path) -> str | None:
    """curves.png: per task, best feedback score so far against budget used, one line per episode.
    Returns None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[eval]')"
    tasks = list(dict.fromkeys(o.task for o in outcomes))
    if not tasks:
        return "no episodes"
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, tasks, strict=False):
        _draw_task(ax, name, [o for o in outcomes if o.task == name])
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle("best feedback score so far vs budget used (dot: a feedback score; star: final score; "
                 "dashed: reference = 1, dotted: baseline = 0)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _draw_task(ax: Any, name: str, outcomes: list[EpisodeOutcome]) -> None:
    for o in outcomes:
        _draw_episode(ax, o)
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.axhline(0.0, color="grey", linewidth=0.6, linestyle=":")
    ax.set_title(name)
    ax.set_xlabel("budget used (% of the tightest budget)")
    ax.set_ylabel("best feedback score so far")
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, loc="lower right")


def _draw_episode(ax: Any, o: EpisodeOutcome) -> None:
    """A step line through the feedback scores, a star at the final score (alone: the agent never asked)."""
    points = [p for p in o.curve if p.best_score is not None]
    label = f"seed {o.seed}"
    color = None
    if points:
        # every episode starts from the untouched workspace, the baseline: score 0 at no budget
        xs = [0.0, *(p.budget_used * 100 for p in points)]
        ys = [0.0, *(p.best_score for p in points)]
        end = max(xs[-1], (o.budget_used or 0) * 100)
        line = ax.step([*xs, end], [*ys, ys[-1]], where="post", label=label)[0]
        color = line.get_color()
        ax.plot(xs[1:], ys[1:], marker="o", markersize=3, linestyle="none", color=color)
    if o.score is not None:
        ax.plot([(o.budget_used or 0) * 100], [o.score], marker="*", markersize=10, linestyle="none",
                color=color, label=None if points else f"{label} (final only)")

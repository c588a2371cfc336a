"""Budget used, one number per episode: the tightest budget kind decides how far an episode got."""

from __future__ import annotations

from typing import Any

from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.rundir_files import RunDirCorrupt

__all__ = ["BUDGET_KINDS", "BUDGET_USED", "budget_fractions", "budget_used", "ledger_budget"]

BUDGET_USED = ("the largest fraction spent of any budget kind (wall seconds, compute seconds, experiments, "
               "score calls), so 1.0 means some budget ran out")
BUDGET_KINDS = ("wall_sec", "compute_sec", "experiments", "score_calls")

#: budget.json's counter per BudgetReport kind
_LEDGER_USED = (("wall_sec", "wall_used"), ("compute_sec", "compute_used"), ("experiments", "experiments_used"),
                ("score_calls", "score_calls_used"))


def budget_fractions(report: dict[str, Any] | None) -> dict[str, float]:
    """used / limit per kind of a BudgetReport; a kind without a limit counts as spent once it is reported."""
    out = {}
    for kind in BUDGET_KINDS:
        line = (report or {}).get(kind) or {}
        limit = line.get("limit") or 0
        out[kind] = (line.get("used", 0.0) / limit) if limit else (1.0 if line else 0.0)
    return out


def budget_used(report: dict[str, Any] | None) -> tuple[float, str]:
    """The largest fraction spent (see BUDGET_USED) and its kind."""
    fractions = budget_fractions(report)
    kind = max(fractions, key=lambda k: fractions[k]) if fractions else ""
    return (round(fractions.get(kind, 0.0), 5), kind)


def ledger_budget(run: RunDir | None) -> dict[str, Any] | None:
    """budget.json (the ledger as last persisted) in the shape of a BudgetReport: limit and used per kind.
    None before the ledger's first write, or while it is being replaced."""
    if run is None:
        return None
    try:
        state = run.read_budget_document()
    except RunDirCorrupt:  # being replaced right now
        return None
    if not state:
        return None
    limits = state["limits"]
    return {kind: {"limit": limits[kind], "used": state[used]} for kind, used in _LEDGER_USED}

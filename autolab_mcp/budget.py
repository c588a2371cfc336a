"""The budget ledger: every kind checked and charged under one lock, persisted.

Experiments reserve their whole timeout up front and give back what they did not
use, so concurrent experiments can never together overspend compute. A refused
call charges nothing. Wall time counts only while a server is running the
episode: a crash does not eat the agent's budget, and a resume continues it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field


class BudgetExhausted(RuntimeError):
    """A call was refused because a budget kind is spent; nothing was charged."""


class BudgetLimits(BaseModel):
    wall_sec: float = Field(gt=0)
    compute_sec: float = Field(gt=0)
    experiments: int = Field(ge=0)
    score_calls: int = Field(ge=0)


class Reservation(BaseModel):
    seconds: float
    elapsed: float = 0.0


class LedgerState(BaseModel):
    """What budget.json holds."""

    limits: BudgetLimits
    wall_used: float = 0.0
    wall_credited: float = Field(0.0, description="seconds given back: waits for the host's shared timing core")
    compute_used: float = 0.0
    experiments_used: int = 0
    score_calls_used: int = 0
    reservations: dict[str, Reservation] = Field(default_factory=dict)


class BudgetLine(BaseModel):
    limit: float
    used: float
    reserved: float = 0.0
    left: float


class BudgetReport(BaseModel):
    wall_sec: BudgetLine
    compute_sec: BudgetLine
    experiments: BudgetLine
    score_calls: BudgetLine


class Ledger:
    """Thread-safe budget accounting persisted to `path` after every change."""

    def __init__(self, path: Path, state: LedgerState) -> None:
        self._path = path
        self._state = state
        self._lock = threading.Lock()
        self._session_start = time.monotonic()
        self._wall_before = state.wall_used

    @classmethod
    def create(cls, path: Path, limits: BudgetLimits) -> Ledger:
        ledger = cls(path, LedgerState(limits=limits))
        ledger._persist()
        return ledger

    @classmethod
    def load(cls, path: Path) -> Ledger:
        return cls(path, LedgerState.model_validate_json(path.read_text()))

    # -- reading -----------------------------------------------------------------

    @property
    def limits(self) -> BudgetLimits:
        return self._state.limits

    def wall_used(self) -> float:
        return self._wall_before + (time.monotonic() - self._session_start)

    def wall_left(self) -> float:
        return max(0.0, self._state.limits.wall_sec - self.wall_used())

    def _compute_reserved(self) -> float:
        return sum(r.seconds for r in self._state.reservations.values())

    def report(self) -> BudgetReport:
        with self._lock:
            return self._report()

    def _report(self) -> BudgetReport:
        s, lim = self._state, self._state.limits
        wall = self.wall_used()
        reserved = self._compute_reserved()
        return BudgetReport(
            wall_sec=BudgetLine(limit=lim.wall_sec, used=round(wall, 3), left=round(max(0.0, lim.wall_sec - wall), 3)),
            compute_sec=BudgetLine(
                limit=lim.compute_sec, used=round(s.compute_used, 3), reserved=round(reserved, 3),
                left=round(max(0.0, lim.compute_sec - s.compute_used - reserved), 3),
            ),
            experiments=BudgetLine(
                limit=lim.experiments, used=s.experiments_used, left=lim.experiments - s.experiments_used
            ),
            score_calls=BudgetLine(
                limit=lim.score_calls, used=s.score_calls_used, left=lim.score_calls - s.score_calls_used
            ),
        )

    def open_reservations(self) -> dict[str, Reservation]:
        with self._lock:
            return {k: v.model_copy() for k, v in self._state.reservations.items()}

    # -- charging ----------------------------------------------------------------

    def _require_wall(self) -> None:
        if self.wall_used() >= self._state.limits.wall_sec:
            raise BudgetExhausted(
                f"the episode's wall-clock budget ({self._state.limits.wall_sec:g} s) is spent; "
                "the last snapshot is submitted automatically"
            )

    def check_wall(self) -> None:
        with self._lock:
            self._require_wall()

    def reserve_experiment(self, experiment_id: str, requested_sec: float) -> float:
        """Charge one experiment and hold up to `requested_sec` of compute; returns the seconds granted."""
        with self._lock:
            self._require_wall()
            s, lim = self._state, self._state.limits
            if s.experiments_used >= lim.experiments:
                raise BudgetExhausted(f"all {lim.experiments} experiments are used")
            compute_left = lim.compute_sec - s.compute_used - self._compute_reserved()
            if compute_left <= 0.5:
                raise BudgetExhausted(
                    f"compute budget spent: {s.compute_used:.1f} of {lim.compute_sec:g} s used"
                    + (f", {self._compute_reserved():.1f} s held by running experiments" if s.reservations else "")
                )
            granted = min(requested_sec, compute_left)
            s.experiments_used += 1
            s.reservations[experiment_id] = Reservation(seconds=granted)
            self._persist()
            return granted

    def cancel_reservation(self, experiment_id: str) -> None:
        """Undo a reservation for an experiment that never started: nothing is charged."""
        with self._lock:
            if self._state.reservations.pop(experiment_id, None) is not None:
                self._state.experiments_used = max(0, self._state.experiments_used - 1)
                self._persist()

    def note_progress(self, experiment_id: str, elapsed: float) -> None:
        """Record how long a running experiment has run, so a crash charges what was used."""
        with self._lock:
            reservation = self._state.reservations.get(experiment_id)
            if reservation is not None:
                reservation.elapsed = min(elapsed, reservation.seconds)
                self._persist()

    def settle_experiment(self, experiment_id: str, actual_sec: float | None = None) -> float:
        """Charge what the experiment used (capped at its reservation) and release the rest."""
        with self._lock:
            reservation = self._state.reservations.pop(experiment_id, None)
            if reservation is None:
                return 0.0
            used = reservation.elapsed if actual_sec is None else actual_sec
            charged = max(0.0, min(used, reservation.seconds))
            self._state.compute_used += charged
            self._persist()
            return charged

    def charge_score_call(self) -> None:
        with self._lock:
            self._require_wall()
            s = self._state
            if s.score_calls_used >= s.limits.score_calls:
                raise BudgetExhausted(f"all {s.limits.score_calls} score calls are used")
            s.score_calls_used += 1
            self._persist()

    def credit_wall(self, seconds: float) -> None:
        """Give back wall seconds the agent spent waiting on something outside the episode: the scorer
        queued for the host's timing core behind other episodes' evaluations. Without it, the same agent
        would get less wall time under `eval --parallel 8` than alone."""
        if seconds <= 0:
            return
        with self._lock:
            give = min(seconds, self.wall_used())
            self._wall_before -= give
            self._state.wall_credited += give
            self._persist()

    def refund_score_call(self) -> None:
        with self._lock:
            self._state.score_calls_used = max(0, self._state.score_calls_used - 1)
            self._persist()

    def persist(self) -> None:
        with self._lock:
            self._persist()

    def _persist(self) -> None:
        self._state.wall_used = self.wall_used()
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state.model_dump(), indent=1))
        os.replace(tmp, self._path)

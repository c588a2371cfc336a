"""The budget ledger: every kind checked and charged under one lock, persisted.

Experiments reserve their whole timeout up front and give back what they did not
use, so concurrent experiments can never together overspend compute. A refused
call charges nothing, even when the write that would record it fails.

Wall time has two modes. "serving" counts only while a server is running the
episode: a crash does not eat the agent's budget, and a resume continues it.
"real" counts from the episode's start, downtime between servers included, so an
agent that restarts the server per call cannot stretch its budget. Either way a
submit freezes the wall clock: the result's wall time is the last word.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, model_validator

from autolab_mcp.core.errors import Refusal
from autolab_mcp.core.rundir_files import RunDirWriteError, atomic_write_text, read_model

log = logging.getLogger("autolab.budget")

WallMode = Literal["serving", "real"]


class BudgetExhausted(Refusal):
    """A call was refused because a budget kind is spent; nothing was charged."""


class Clock(Protocol):
    """The time sources the ledger reads; tests pass a fake one to simulate downtime without sleeping."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class BudgetLimits(BaseModel):
    wall_sec: float = Field(gt=0)
    compute_sec: float = Field(gt=0)
    experiments: int = Field(ge=0)
    score_calls: int = Field(ge=0)


class Reservation(BaseModel):
    seconds: float = Field(gt=0, allow_inf_nan=False)
    elapsed: float = Field(0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _elapsed_within(self) -> Reservation:
        if self.elapsed > self.seconds:
            raise ValueError(f"elapsed {self.elapsed:g} s exceeds the reservation of {self.seconds:g} s")
        return self


class LedgerState(BaseModel):
    """What budget.json holds. Counters are validated at load, so a hand-edited or corrupt file cannot hand
    the agent budget back (a negative counter) or claim more was used than the limits allow."""

    limits: BudgetLimits
    wall_mode: WallMode = "serving"  # files written before the modes existed were "serving"
    started_at: float | None = Field(None, ge=0, allow_inf_nan=False, description="unix seconds at creation")
    frozen: bool = Field(False, description="wall time stopped at submit; wall_used is final")
    frozen_at: float | None = Field(None, allow_inf_nan=False, description="unix seconds when frozen")
    wall_used: float = Field(0.0, ge=0, allow_inf_nan=False)
    wall_credited: float = Field(0.0, ge=0, allow_inf_nan=False,
                                 description="seconds given back: waits for the host's shared timing core")
    compute_used: float = Field(0.0, ge=0, allow_inf_nan=False)
    experiments_used: int = Field(0, ge=0)
    score_calls_used: int = Field(0, ge=0)
    reservations: dict[str, Reservation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LedgerState:
        lim = self.limits
        if self.experiments_used > lim.experiments:
            raise ValueError(f"experiments_used {self.experiments_used} exceeds the limit of {lim.experiments}")
        if self.score_calls_used > lim.score_calls:
            raise ValueError(f"score_calls_used {self.score_calls_used} exceeds the limit of {lim.score_calls}")
        if self.wall_mode == "real" and self.started_at is None:
            raise ValueError("wall_mode 'real' needs started_at")
        return self


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
    wall_mode: WallMode = Field(description="serving: wall time counts only while a server runs; real: since the "
                                "episode started, downtime included")


class Ledger:
    """Thread-safe budget accounting persisted to `path` after every change.

    Every charging call either changes memory and disk together or neither: when the write fails the
    in-memory state is rolled back and RunDirWriteError is raised. The exceptions record what really
    happened (settle_experiment, note_progress) and are documented there.
    """

    def __init__(self, path: Path, state: LedgerState, clock: Clock | None = None) -> None:
        self._path = path
        self._state = state
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._session_start = self._clock.monotonic()
        self._wall_before = state.wall_used
        self._unsaved = False  # the last write failed; the next persist retries it

    @classmethod
    def create(cls, path: Path, limits: BudgetLimits, *, wall_mode: WallMode = "serving",
               clock: Clock | None = None) -> Ledger:
        """A fresh ledger, written to `path` (RunDirWriteError if it cannot be)."""
        clock = clock or SystemClock()
        ledger = cls(path, LedgerState(limits=limits, wall_mode=wall_mode, started_at=clock.time()), clock)
        ledger._persist()
        return ledger

    @classmethod
    def load(cls, path: Path, *, clock: Clock | None = None) -> Ledger:
        """The ledger in `path`; a missing, corrupt or impossible file is a one-line RunDirCorrupt."""
        return cls(path, read_model(path, LedgerState, "budget file"), clock)

    # -- reading -----------------------------------------------------------------

    @property
    def limits(self) -> BudgetLimits:
        return self._state.limits

    @property
    def wall_mode(self) -> WallMode:
        return self._state.wall_mode

    @property
    def frozen(self) -> bool:
        return self._state.frozen

    @property
    def unsaved(self) -> bool:
        """True while the last write of budget.json failed (a settled charge is held in memory only)."""
        return self._unsaved

    def wall_used(self) -> float:
        s = self._state
        if s.frozen:
            return s.wall_used
        if s.wall_mode == "real":
            assert s.started_at is not None  # guaranteed by LedgerState's validator
            return max(0.0, self._clock.time() - s.started_at - s.wall_credited)
        return self._wall_before + (self._clock.monotonic() - self._session_start)

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
            wall_mode=s.wall_mode,
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

    def _saved(self) -> tuple[LedgerState, float]:
        return self._state.model_copy(deep=True), self._wall_before

    def _commit(self, saved: tuple[LedgerState, float]) -> None:
        """Persist, or put the state back as it was before the call and raise RunDirWriteError."""
        try:
            self._persist()
        except RunDirWriteError:
            self._state, self._wall_before = saved
            raise

    def _persist_keeping(self, what: str) -> None:
        """Persist a change that really happened; if the write fails keep it in memory and log, so the next
        persist (any charge, or close) writes it."""
        try:
            self._persist()
        except RunDirWriteError as exc:
            if not self._unsaved:
                log.warning("%s is kept in memory only until the next write succeeds: %s", what, exc)
            self._unsaved = True

    def reserve_experiment(self, experiment_id: str, requested_sec: float) -> float:
        """Charge one experiment and hold up to `requested_sec` of compute; returns the seconds granted."""
        if not requested_sec > 0:  # NaN too: a zero reservation could never be settled into a valid file
            raise ValueError(f"requested_sec must be > 0 (got {requested_sec})")
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
            saved = self._saved()
            s.experiments_used += 1
            s.reservations[experiment_id] = Reservation(seconds=granted)
            self._commit(saved)
            return granted

    def cancel_reservation(self, experiment_id: str) -> None:
        """Undo a reservation for an experiment that never started: nothing is charged. Giving back never
        fails: if the write fails the undo is kept in memory and written by the next persist."""
        with self._lock:
            if self._state.reservations.pop(experiment_id, None) is not None:
                self._state.experiments_used = max(0, self._state.experiments_used - 1)
                self._persist_keeping(f"the cancelled reservation of {experiment_id}")

    def note_progress(self, experiment_id: str, elapsed: float) -> None:
        """Record how long a running experiment has run, so a crash charges what was used.

        Never raises for a failed write: the experiment is running regardless, the elapsed time is kept in
        memory and written by the next successful persist (a warning is logged once per failing stretch)."""
        with self._lock:
            reservation = self._state.reservations.get(experiment_id)
            if reservation is not None:
                reservation.elapsed = max(0.0, min(elapsed, reservation.seconds))
                self._persist_keeping(f"progress of {experiment_id}")

    def settle_experiment(self, experiment_id: str, actual_sec: float | None = None) -> float:
        """Charge what the experiment used (capped at its reservation) and release the rest.

        Never raises for a failed write: the experiment did run, so the charge stays in memory (reports and
        later refusals see it), a warning is logged, and the next persist retries the write."""
        with self._lock:
            reservation = self._state.reservations.pop(experiment_id, None)
            if reservation is None:
                return 0.0
            used = reservation.elapsed if actual_sec is None else actual_sec
            charged = max(0.0, min(used, reservation.seconds))
            self._state.compute_used += charged
            self._persist_keeping(f"the charge for {experiment_id}")
            return charged

    def charge_score_call(self) -> None:
        with self._lock:
            self._require_wall()
            s = self._state
            if s.score_calls_used >= s.limits.score_calls:
                raise BudgetExhausted(f"all {s.limits.score_calls} score calls are used")
            saved = self._saved()
            s.score_calls_used += 1
            self._commit(saved)

    def credit_wall(self, seconds: float) -> None:
        """Give back wall seconds the agent spent waiting on something outside the episode: the scorer
        queued for the host's timing core behind other episodes' evaluations. Without it, the same agent
        would get less wall time under `eval --parallel 8` than alone. Works in both wall modes; a frozen
        ledger takes no credit."""
        if not seconds > 0:  # NaN too: it would make budget.json unloadable
            return
        with self._lock:
            if self._state.frozen:
                return
            saved = self._saved()
            give = min(seconds, self.wall_used())
            if self._state.wall_mode == "serving":
                self._wall_before -= give
            self._state.wall_credited += give  # "real" derives wall used from it
            self._commit(saved)

    def refund_score_call(self) -> None:
        """Give a score call back (the evaluation failed or was interrupted); like every give-back it never
        fails: a failed write keeps the refund in memory for the next persist."""
        with self._lock:
            self._state.score_calls_used = max(0, self._state.score_calls_used - 1)
            self._persist_keeping("a refunded score call")

    def freeze(self) -> float:
        """Stop the wall clock for good (after submit) and return the wall seconds used; idempotent.
        Afterwards wall_used(), report() and a reload never move, so they agree with result.json."""
        with self._lock:
            if self._state.frozen:
                return self._state.wall_used
            saved = self._saved()
            s = self._state
            s.wall_used = self.wall_used()
            s.frozen = True
            s.frozen_at = self._clock.time()
            self._commit(saved)
            return s.wall_used

    def persist(self) -> None:
        """Write the current state (RunDirWriteError if that fails; memory is kept)."""
        with self._lock:
            self._persist()

    def _persist(self) -> None:
        self._state.wall_used = self.wall_used()
        atomic_write_text(self._path, json.dumps(self._state.model_dump(), indent=1))
        if self._unsaved:
            log.info("%s is written again", self._path)
        self._unsaved = False

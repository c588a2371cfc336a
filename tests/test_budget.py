"""The ledger: exact under concurrency, refusals charge nothing, persisted across restarts."""

from __future__ import annotations

import threading
import time

import pytest

from autolab_mcp.budget import BudgetExhausted, BudgetLimits, Ledger


def make(tmp_path, **kw):
    limits = dict(wall_sec=3600, compute_sec=100, experiments=50, score_calls=10) | kw
    return Ledger.create(tmp_path / "budget.json", BudgetLimits(**limits))


def test_concurrent_reservations_never_overspend(tmp_path):
    ledger = make(tmp_path, compute_sec=100, experiments=1000)
    granted: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            seconds = ledger.reserve_experiment(f"e{i}", 7.0)
        except BudgetExhausted as exc:
            with lock:
                refused.append(str(exc))
            return
        with lock:
            granted.append(seconds)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) <= 100 + 1e-9
    assert len(granted) == ledger.report().experiments.used
    assert refused, "past the compute budget some reservations must be refused"
    assert "compute budget spent" in refused[0]


def test_concurrent_score_calls_stop_exactly_at_limit(tmp_path):
    ledger = make(tmp_path, score_calls=10)
    ok = []

    def worker() -> None:
        try:
            ledger.charge_score_call()
            ok.append(1)
        except BudgetExhausted:
            pass

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == 10
    assert ledger.report().score_calls.used == 10
    assert ledger.report().score_calls.left == 0


def test_refused_call_charges_nothing(tmp_path):
    ledger = make(tmp_path, experiments=1)
    ledger.reserve_experiment("a", 5)
    before = ledger.report()
    with pytest.raises(BudgetExhausted, match="all 1 experiments are used"):
        ledger.reserve_experiment("b", 5)
    after = ledger.report()
    assert after.experiments.used == before.experiments.used
    assert after.compute_sec.reserved == before.compute_sec.reserved


def test_settle_charges_actual_time_capped_at_reservation(tmp_path):
    ledger = make(tmp_path)
    granted = ledger.reserve_experiment("a", 10)
    assert granted == 10
    assert ledger.report().compute_sec.reserved == 10
    assert ledger.settle_experiment("a", 3.5) == 3.5
    report = ledger.report()
    assert report.compute_sec.used == 3.5 and report.compute_sec.reserved == 0
    ledger.reserve_experiment("b", 10)
    assert ledger.settle_experiment("b", 99) == 10


def test_reservation_limited_to_compute_left(tmp_path):
    ledger = make(tmp_path, compute_sec=12)
    assert ledger.reserve_experiment("a", 10) == 10
    assert ledger.reserve_experiment("b", 10) == pytest.approx(2)


def test_cancelled_reservation_refunds_experiment(tmp_path):
    ledger = make(tmp_path)
    ledger.reserve_experiment("a", 10)
    ledger.cancel_reservation("a")
    report = ledger.report()
    assert report.experiments.used == 0 and report.compute_sec.reserved == 0


def test_persisted_and_resumed_with_progress_charged(tmp_path):
    ledger = make(tmp_path)
    ledger.charge_score_call()
    ledger.reserve_experiment("a", 30)
    ledger.note_progress("a", 4.0)
    # the server dies here; a new one loads the file
    resumed = Ledger.load(tmp_path / "budget.json")
    assert resumed.report().score_calls.used == 1
    assert resumed.open_reservations()["a"].elapsed == 4.0
    assert resumed.settle_experiment("a") == 4.0
    assert resumed.report().compute_sec.used == 4.0


def test_wall_budget_refuses_when_spent(tmp_path):
    ledger = make(tmp_path, wall_sec=0.2)
    ledger.check_wall()
    time.sleep(0.25)
    with pytest.raises(BudgetExhausted, match="wall-clock budget"):
        ledger.check_wall()
    with pytest.raises(BudgetExhausted):
        ledger.charge_score_call()
    assert ledger.report().score_calls.used == 0


def test_wall_time_counts_only_while_serving(tmp_path):
    ledger = make(tmp_path)
    time.sleep(0.1)
    ledger.persist()
    used = ledger.report().wall_sec.used
    time.sleep(0.3)  # "server down"
    resumed = Ledger.load(tmp_path / "budget.json")
    assert resumed.report().wall_sec.used < used + 0.1


def test_credited_wall_seconds_are_given_back_and_persisted(tmp_path):
    ledger = make(tmp_path, wall_sec=10)
    time.sleep(0.3)
    before = ledger.wall_used()
    ledger.credit_wall(0.2)
    assert ledger.wall_used() == pytest.approx(before - 0.2, abs=0.05)
    ledger.credit_wall(100)  # never more than was used: wall used stays >= 0
    assert 0 <= ledger.wall_used() < 0.05
    resumed = Ledger.load(tmp_path / "budget.json")
    assert resumed.wall_used() < 0.1
    assert resumed._state.wall_credited == pytest.approx(before, abs=0.05)

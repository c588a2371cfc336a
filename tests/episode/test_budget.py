"""The ledger: exact under concurrency, refusals charge nothing, persisted across restarts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import pytest

from autolab_mcp.budget import BudgetExhausted, BudgetLimits, Ledger
from autolab_mcp.core.rundir_files import RunDirCorrupt, RunDirWriteError
from tests.helpers.disks import fill, read_only, small_tmpfs


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


class FakeClock:
    """Unix and monotonic time that move only when told: downtime without sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.mono = 500.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float, *, serving: bool = True) -> None:
        """Time passes; a monotonic clock only matters within one server process, so a restart resets it."""
        self.now += seconds
        self.mono = self.mono + seconds if serving else 0.0


LIMITS = BudgetLimits(wall_sec=3600, compute_sec=100, experiments=5, score_calls=3)


def test_real_mode_charges_downtime_between_servers(tmp_path):
    clock = FakeClock()
    path = tmp_path / "budget.json"
    ledger = Ledger.create(path, LIMITS, wall_mode="real", clock=clock)
    clock.advance(10)
    assert ledger.wall_used() == pytest.approx(10)
    ledger.persist()  # the server stops
    clock.advance(1200, serving=False)  # 20 minutes with no server
    resumed = Ledger.load(path, clock=clock)
    assert resumed.wall_used() == pytest.approx(1210)
    assert resumed.report().wall_mode == "real"
    assert json.loads(path.read_text())["started_at"] == pytest.approx(1_700_000_000.0)


def test_serving_mode_skips_downtime_with_the_same_clock(tmp_path):
    clock = FakeClock()
    path = tmp_path / "budget.json"
    ledger = Ledger.create(path, LIMITS, clock=clock)
    clock.advance(10)
    ledger.persist()
    clock.advance(1200, serving=False)
    resumed = Ledger.load(path, clock=clock)
    assert resumed.wall_used() == pytest.approx(10)
    assert resumed.report().wall_mode == "serving"


def test_budget_json_without_the_new_fields_loads_as_serving(tmp_path):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"limits": LIMITS.model_dump(), "wall_used": 74.0, "wall_credited": 0.0,
                                "compute_used": 5.0, "experiments_used": 1, "score_calls_used": 1,
                                "reservations": {}}))
    ledger = Ledger.load(path, clock=FakeClock())
    assert ledger.wall_mode == "serving" and not ledger.frozen
    assert ledger.wall_used() == pytest.approx(74.0)


def test_credit_wall_in_real_mode(tmp_path):
    clock = FakeClock()
    ledger = Ledger.create(tmp_path / "budget.json", LIMITS, wall_mode="real", clock=clock)
    clock.advance(100)
    ledger.credit_wall(30)
    assert ledger.wall_used() == pytest.approx(70)
    clock.advance(10, serving=False)
    resumed = Ledger.load(tmp_path / "budget.json", clock=clock)
    assert resumed.wall_used() == pytest.approx(80)
    resumed.credit_wall(float("nan"))
    assert resumed.wall_used() == pytest.approx(80)
    resumed.credit_wall(1000)  # never more than was used
    assert resumed.wall_used() == pytest.approx(0)
    clock.advance(5)
    assert resumed.wall_used() == pytest.approx(5)


@pytest.mark.parametrize("mode", ["serving", "real"])
def test_freeze_stops_wall_time_for_good(tmp_path, mode):
    clock = FakeClock()
    path = tmp_path / "budget.json"
    ledger = Ledger.create(path, LIMITS, wall_mode=mode, clock=clock)
    clock.advance(50)
    assert ledger.freeze() == pytest.approx(50)
    clock.advance(500)
    ledger.credit_wall(20)  # a frozen clock takes no credit either
    assert ledger.wall_used() == pytest.approx(50)
    assert ledger.report().wall_sec.used == pytest.approx(50)
    assert ledger.freeze() == pytest.approx(50), "freezing twice changes nothing"
    clock.advance(3000, serving=False)
    resumed = Ledger.load(path, clock=clock)
    assert resumed.frozen and resumed.wall_used() == pytest.approx(50)
    clock.advance(100)
    resumed.persist()
    assert Ledger.load(path, clock=clock).report().wall_sec.used == pytest.approx(50)


def test_report_shows_wall_mode(tmp_path):
    ledger = Ledger.create(tmp_path / "budget.json", LIMITS, wall_mode="real")
    assert ledger.report().model_dump()["wall_mode"] == "real"


# -- a write that fails charges nothing -------------------------------------------------------------------------

def prepared(directory, clock: FakeClock) -> Ledger:
    """A ledger with something to cancel and something to refund."""
    ledger = Ledger.create(directory / "budget.json", LIMITS, clock=clock)
    ledger.reserve_experiment("a", 10)
    ledger.charge_score_call()
    clock.advance(30)
    return ledger


CHARGES: dict[str, Callable[[Ledger], object]] = {
    "reserve_experiment": lambda ledger: ledger.reserve_experiment("b", 10),
    "charge_score_call": lambda ledger: ledger.charge_score_call(),
    "credit_wall": lambda ledger: ledger.credit_wall(5),
    "freeze": lambda ledger: ledger.freeze(),
}
#: give-backs never fail: a refused write keeps them in memory for the next persist
GIVE_BACKS: dict[str, Callable[[Ledger], object]] = {
    "cancel_reservation": lambda ledger: ledger.cancel_reservation("a"),
    "refund_score_call": lambda ledger: ledger.refund_score_call(),
}


@pytest.mark.parametrize("name", sorted(GIVE_BACKS))
def test_give_backs_survive_a_failed_write(tmp_path, name):
    run = tmp_path / "run"
    run.mkdir()
    ledger = prepared(run, FakeClock())
    before = ledger.report()
    with read_only(run):
        GIVE_BACKS[name](ledger)  # no error: the agent gets its budget back either way
        assert ledger.unsaved and ledger.report() != before
    ledger.persist()
    assert not ledger.unsaved
    assert Ledger.load(run / "budget.json").report().model_dump(exclude={"wall_sec"}) == \
        ledger.report().model_dump(exclude={"wall_sec"})


@pytest.mark.parametrize("name", sorted(CHARGES))
def test_failed_write_on_read_only_dir_rolls_back(tmp_path, name):
    run = tmp_path / "run"
    run.mkdir()
    clock = FakeClock()
    ledger = prepared(run, clock)
    state, report, on_disk = ledger._state.model_dump(), ledger.report(), (run / "budget.json").read_bytes()
    with read_only(run):
        with pytest.raises(RunDirWriteError) as info:
            CHARGES[name](ledger)
        assert str(info.value) == f"cannot write {run / 'budget.json'}: read-only file system"
        assert ledger._state.model_dump() == state
        assert ledger.report() == report
        assert (run / "budget.json").read_bytes() == on_disk
    CHARGES[name](ledger)  # the disk is back: the same call now goes through
    assert ledger._state.model_dump() != state


def test_failed_write_on_full_disk_rolls_back_and_leaves_no_temp(tmp_path):
    clock = FakeClock()
    with small_tmpfs(tmp_path / "fs") as fs:
        ledger = prepared(fs, clock)
        before = ledger.report()
        fill(fs)
        with pytest.raises(RunDirWriteError, match=r"budget\.json: no space left on device \(disk full\)$"):
            ledger.reserve_experiment("b", 10)
        with pytest.raises(RunDirWriteError):
            ledger.charge_score_call()
        assert ledger.report() == before
        assert sorted(p.name for p in fs.iterdir()) == ["budget.json", "filler"]
        stored = Ledger.load(fs / "budget.json", clock=clock).report()  # its wall time is from the last write
        assert stored.model_dump(exclude={"wall_sec"}) == before.model_dump(exclude={"wall_sec"})


def test_settle_keeps_the_charge_when_the_write_fails_and_writes_it_later(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    clock = FakeClock()
    ledger = prepared(run, clock)
    with read_only(run), caplog.at_level(logging.WARNING, logger="autolab.budget"):
        ledger.note_progress("a", 2.0)  # never raises
        assert ledger.open_reservations()["a"].elapsed == 2.0
        assert ledger.settle_experiment("a", 4.0) == 4.0  # the experiment did run: no exception
        assert ledger.report().compute_sec.used == 4.0
        assert ledger.unsaved
        assert Ledger.load(run / "budget.json", clock=clock).report().compute_sec.used == 0
    assert "kept in memory only" in caplog.text
    ledger.charge_score_call()  # the next write carries the settled charge too
    assert not ledger.unsaved
    stored = Ledger.load(run / "budget.json", clock=clock).report()
    assert stored.compute_sec.used == 4.0 and stored.compute_sec.reserved == 0 and stored.score_calls.used == 2


def test_reserve_refuses_a_non_positive_request(tmp_path):
    ledger = make(tmp_path)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="requested_sec must be > 0"):
            ledger.reserve_experiment("a", bad)
    assert ledger.report().experiments.used == 0


# -- strict state at load ---------------------------------------------------------------------------------------

GOOD_STATE = {"limits": LIMITS.model_dump(), "wall_used": 1.0, "wall_credited": 0.0, "compute_used": 2.0,
              "experiments_used": 2, "score_calls_used": 1, "reservations": {"a": {"seconds": 5, "elapsed": 1}}}


@pytest.mark.parametrize(("change", "expected"), [
    ({"compute_used": -1.0}, "compute_used: Input should be greater than or equal to 0"),
    ({"wall_used": -3.0}, "wall_used: Input should be greater than or equal to 0"),
    ({"wall_credited": -1.0}, "wall_credited: Input should be greater than or equal to 0"),
    ({"experiments_used": -1}, "experiments_used: Input should be greater than or equal to 0"),
    ({"score_calls_used": -1}, "score_calls_used: Input should be greater than or equal to 0"),
    ({"experiments_used": 6}, "experiments_used 6 exceeds the limit of 5"),
    ({"score_calls_used": 4}, "score_calls_used 4 exceeds the limit of 3"),
    ({"reservations": {"a": {"seconds": 0}}}, "reservations.a.seconds: Input should be greater than 0"),
    ({"reservations": {"a": {"seconds": 5, "elapsed": -1}}}, "reservations.a.elapsed: Input should be greater"),
    ({"reservations": {"a": {"seconds": 5, "elapsed": 6}}}, "elapsed 6 s exceeds the reservation of 5 s"),
    ({"compute_used": float("nan")}, "compute_used: Input should be a finite number"),
    ({"wall_mode": "real"}, "wall_mode 'real' needs started_at"),
    ({"wall_mode": "fast"}, "wall_mode: Input should be 'serving' or 'real'"),
])
def test_impossible_state_is_refused_at_load(tmp_path, change, expected):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(GOOD_STATE | change))
    with pytest.raises(RunDirCorrupt) as info:
        Ledger.load(path)
    message = str(info.value)
    assert message.startswith(f"budget file {path} is invalid: ") and expected in message, message
    assert "\n" not in message


def test_good_state_loads(tmp_path):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(GOOD_STATE))
    assert Ledger.load(path).report().experiments.used == 2


@pytest.mark.parametrize(("content", "expected"), [
    (None, "is missing"),
    (b"", "is empty"),
    (b'{"limits": {"wall_sec": 1', "is not JSON (line 1, column 26: Expecting ',' delimiter)"),
    (b'{"limits": "\xff"}', "is not UTF-8 text (byte 0xff at offset 12)"),
])
def test_corrupt_budget_file_is_one_line(tmp_path, content, expected):
    path = tmp_path / "budget.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RunDirCorrupt) as info:
        Ledger.load(path)
    assert str(info.value).startswith(f"budget file {path} {expected}"), info.value

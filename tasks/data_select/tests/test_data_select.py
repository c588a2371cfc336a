"""data_select: the generator, trainer and selection reader, fresh test sets; submissions and reasons end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scorer.evaluate import SubmissionError
from scorer.outputs import Invalid
from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_reason_has_no_digits,
    assert_reference,
    broken,
    env_module,
    hidden,
    hidden_module,
    needs_sandbox,
    run_eval,
    source,
)


@pytest.mark.slow
def test_data_select_public_data_matches_generator(tmp_path: Path) -> None:
    gen = hidden_module("data_select", "data_select_gen.py")
    gen.write_public(tmp_path)
    for name in ("pool.npz", "val.npz"):
        with np.load(tmp_path / name) as fresh, np.load(TASKS_DIR / "data_select/environment/data" / name) as shipped:
            assert fresh.files == shipped.files
            for key in fresh.files:
                assert np.array_equal(fresh[key], shipped[key]), (name, key)
    # hidden test sets are fresh draws from the target distribution, never the public validation set
    ev = hidden("data_select")
    Xv, _yv = gen.target_set(gen.PUBLIC_VAL_SEED, 1000)
    for seed in (0, gen.PUBLIC_VAL_SEED, gen.PUBLIC_POOL_SEED):
        assert not np.array_equal(ev.hidden_test_set(seed, 1000)[0], Xv)


def test_data_select_trainer_is_deterministic() -> None:
    trainer = env_module("data_select", "trainer.py")
    X, y, source = trainer.load_pool(str(TASKS_DIR / "data_select/environment/data/pool.npz"))
    assert X.shape == (30_000, 16) and set(np.unique(source)) == set(range(6))
    sel = np.arange(0, 30_000, 60)
    a, b = trainer.train(X[sel], y[sel]), trainer.train(X[sel], y[sel])
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (np.arange(2001), "at most 2000"),
        (np.array([1, 2, 2]), "repeats indices"),
        (np.array([0, 30_000]), "outside"),
        (np.array([-1, 5]), "outside"),
        (np.arange(10, dtype=np.float64), "integers"),
        (np.arange(10).reshape(2, 5), "1-D"),
        (np.array([], dtype=np.int64), "empty"),
        (np.array([{"a": 1}], dtype=object), "not a readable"),
        (b"\x93NUMPY garbage", "not a readable"),
        (b"x" * 2_000_000, "larger than"),
    ],
)
def test_data_select_rejects_bad_selections(tmp_path: Path, payload, fragment: str) -> None:
    ev = hidden("data_select")
    path = tmp_path / "selection.npy"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        np.save(path, payload, allow_pickle=True)
    with pytest.raises(Invalid) as rejected:
        ev.read_selection(path)
    reason = rejected.value.reason
    assert fragment in reason, reason
    from scorer.reasons import GENERIC

    assert reason in ev.REASONS | GENERIC  # a fixed phrase: the values go to the details


def test_data_select_refuses_symlinked_output(tmp_path: Path) -> None:
    ev = hidden("data_select")
    (tmp_path / "selection.npy").symlink_to("/etc/passwd")
    with pytest.raises(Invalid):
        ev.read_selection(tmp_path / "selection.npy")


def test_data_select_fresh_inputs() -> None:
    ev = hidden("data_select")
    a, b = ev.hidden_test_set(11, 500), ev.hidden_test_set(12, 500)
    assert not np.array_equal(a[0], b[0])  # another evaluation, another test set
    again = ev.hidden_test_set(11, 500)
    assert np.array_equal(a[0], again[0]) and np.array_equal(a[1], again[1])  # a seed fixes its inputs
    assert not hasattr(ev, "SEEDS")


@pytest.mark.slow
@needs_sandbox
def test_data_select_end_to_end() -> None:
    root = TASKS_DIR / "data_select"
    assert_reference(run_eval("data_select", root / "solution"))
    assert_reference(run_eval("data_select", root / "solution", split="feedback"))
    base = run_eval("data_select", root / "environment")
    assert_baseline(base)
    assert base.eval_seconds < 30
    assert_broken(run_eval("data_select", broken("data_select")), "at most 2000 allowed")
    crash = source("data_select", "environment", "select.py").replace("def select() -> np.ndarray:\n",
                                                                       "def select() -> np.ndarray:\n    1 / 0\n")
    assert_broken(run_eval("data_select", {"select.py": crash}), "non-zero code")
    # a read-only file (the trainer) cannot be submitted: only select.py travels
    with pytest.raises(SubmissionError, match="editable set"):
        run_eval("data_select", {"trainer.py": "x = 1\n"})


@pytest.mark.slow
@needs_sandbox
def test_data_select_reason_channel() -> None:
    """Values a candidate chooses (a count of duplicates, an exception's text) never reach the reason."""
    repeats = ("import sys\nimport numpy as np\n"
               "np.save(sys.argv[1] + '/selection.npy', np.concatenate([np.arange(723), np.zeros(777, int)]))\n")
    record = run_eval("data_select", {"select.py": repeats})
    assert not record.valid and record.details == {"duplicates": 777}
    assert_reason_has_no_digits(record)
    loud = "raise SystemExit('secret 4321: ' + open('data/val.npz', 'rb').read(64).hex())\n"
    record = run_eval("data_select", {"select.py": loud})
    assert not record.valid and record.reason.startswith("select.py failed")
    assert_reason_has_no_digits(record)

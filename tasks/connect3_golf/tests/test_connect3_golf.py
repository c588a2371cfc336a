"""connect3_golf: the solver and public data, the reference player in process; the submissions end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scorer.evaluate import SubmissionError
from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_reference,
    broken,
    env_module,
    hidden_module,
    needs_sandbox,
    run_eval,
    source,
)


@pytest.mark.slow
def test_connect3_solver_and_public_data(tmp_path: Path) -> None:
    game = hidden_module("connect3_golf", "connect3_game.py")
    solver = game.Solver()
    assert solver.value(0, 0) == 1  # the first player wins 4x4 Connect-3
    # bottom row: own stones in columns 1 and 2, two opponent stones stacked in column 0
    me = 0b0110
    op = 0b0001 | 0b0001 << 4
    values = solver.move_values(me, op)
    assert values[3] == 1  # completes three in a row at once
    assert solver.value(me, op) == 1
    assert game.won(0b0111) and not game.won(0b1001)
    game.write_public(tmp_path)
    for name in ("train.npz", "valid.npz"):
        with np.load(tmp_path / name) as fresh, np.load(TASKS_DIR / "connect3_golf/environment/data" / name) as shipped:
            for key in ("boards", "values", "optimal"):
                assert np.array_equal(fresh[key], shipped[key]), (name, key)
    with np.load(TASKS_DIR / "connect3_golf/environment/data/valid.npz") as data:
        boards, values, optimal = data["boards"], data["values"], data["optimal"]
    assert boards.shape[1:] == (4, 4) and set(np.unique(boards)) <= {0, 1, 2}
    assert optimal.any(axis=1).all() and (~optimal).any(axis=1).all()  # every position has a wrong move
    assert not optimal[values == -2].any()  # a full column is never optimal


def test_connect3_reference_player_in_process() -> None:
    """The reference's 4 vocabulary features reach the gate on the public validation split with 4 weights
    (the schema, the count and the scorer's path: tests/tasks/test_connect3_golf_rules.py)."""
    root = TASKS_DIR / "connect3_golf"
    rules = env_module("connect3_golf", "golf_rules.py")
    with np.load(root / "environment/data/valid.npz") as data:
        boards, optimal = data["boards"], data["optimal"]
    features = ["win", "leaves_win", "my_lines", "my_threats"]
    weights = np.array([9.04, -9.74, 1.39, 1.7])
    model = rules.make_model({"features": np.array(features), "w": weights})
    assert rules.parameters(model) == 4
    assert rules.accuracy(rules.predict(model, boards), optimal) >= 0.95
    assert f"FEATURES = {features!r}".replace("'", '"') in source("connect3_golf", "solution", "train.py")


@pytest.mark.slow
@needs_sandbox
def test_connect3_golf_end_to_end() -> None:
    root = TASKS_DIR / "connect3_golf"
    ref = run_eval("connect3_golf", root / "solution")
    assert_reference(ref)
    assert ref.metric == 4 and ref.details["accuracy"] >= 0.96 and ref.details["positions"] == 40_000
    assert not ref.review  # 4 is above review_metric_beyond
    assert_reference(run_eval("connect3_golf", root / "solution", split="feedback"))
    base = run_eval("connect3_golf", root / "environment")
    assert_baseline(base)
    assert base.metric == 1188
    assert_broken(run_eval("connect3_golf", broken("connect3_golf")), "fewer than 95%")
    # a training that fails is reported with a fixed reason (the 60 s limit is the sandbox's wall limit)
    crash = "def train():\n    raise SystemExit('no model')\n"
    assert_broken(run_eval("connect3_golf", {"train.py": crash}), "training failed: exited with a non-zero code")
    # the player is what the scorer plays, not a file of the workspace: no player.py, no golf_rules.py
    for rel in ("player.py", "golf_rules.py", "run_train.py"):
        with pytest.raises(SubmissionError, match="editable set"):
            run_eval("connect3_golf", {rel: "x = 1\n", "train.py": source("connect3_golf", "solution", "train.py")})
    # a bigger model counts every weight: the reference's features with a per-column bias (4 + 4)
    biased = source("connect3_golf", "solution", "train.py").replace(
        'return {"features": FEATURES, "w": w.astype(np.float32)}',
        'return {"features": FEATURES, "w": w.astype(np.float32), "b": np.zeros(4)}')
    assert biased != source("connect3_golf", "solution", "train.py")
    counted = run_eval("connect3_golf", {"train.py": biased})
    assert counted.valid and counted.metric == 8, (counted.metric, counted.details)

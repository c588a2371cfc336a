"""The bundled tasks data_select, tiny_lm, connect3_golf and gpt_decode.

Fast tests check each task's files and its hidden helpers without a sandbox; the
slow ones evaluate the reference solution, the untouched baseline and a deliberately
broken submission (tests/broken/) end to end with real bwrap sandboxes and the
task's real runtime (tiny_lm and gpt_decode: torch).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from scorer.evaluate import (
    SubmissionError,
    editable_files,
)
from tests.task_helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
    task,
)

NAMES = ["data_select", "tiny_lm", "connect3_golf", "gpt_decode"]


def env_module(name: str, file: str) -> ModuleType:
    return module_from(TASKS_DIR / name / "environment" / file, f"_b_{name}_{Path(file).stem}")


def hidden_module(name: str, file: str) -> ModuleType:
    return module_from(TASKS_DIR / name / "tests" / file, f"_b_hidden_{name}_{Path(file).stem}")


# --------------------------------------------------------------------------- every task


@pytest.mark.parametrize("name", NAMES)
def test_task_loads_and_is_complete(name: str) -> None:
    t = task(name)
    cfg = t.config
    opt = cfg.optimization
    if opt.direction == "lower":
        assert opt.reference.score < opt.baseline.score
    else:
        assert opt.reference.score > opt.baseline.score
    assert cfg.agent.timeout_sec >= 3600 and cfg.autolab.budget.score_calls >= 10
    env_files = editable_files(t.environment_dir, cfg.autolab.editable)
    sol_files = editable_files(t.solution_dir, cfg.autolab.editable)
    assert env_files and env_files == sol_files, "solution/ must replace exactly the editable files"
    assert editable_files(t.tests_dir / "broken", cfg.autolab.editable) == env_files
    assert (t.environment_dir / "check.py").is_file()
    for rel in sol_files:
        assert (t.solution_dir / rel).read_bytes() != (t.environment_dir / rel).read_bytes()
    assert "tests/" not in t.instruction


@pytest.mark.parametrize("name", NAMES)
def test_environment_reveals_no_hidden_seed(name: str) -> None:
    seeds = hidden(name).SEEDS
    assert set(seeds) == {"feedback", "final"} and len(set(seeds.values())) == 2
    secrets = [str(v) for v in seeds.values()] + [f"{v:_}" for v in seeds.values()]
    t = task(name)
    visible = [p for p in t.environment_dir.rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".txt"}]
    for path in [*visible, t.root / "instruction.md", t.root / "task.toml"]:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{path} reveals the hidden seed {secret}"
    assert not any(p.name.startswith(".") for p in t.environment_dir.rglob("*"))


# --------------------------------------------------------------------------- data_select


@pytest.mark.slow
def test_data_select_public_data_matches_generator(tmp_path: Path) -> None:
    gen = hidden_module("data_select", "data_select_gen.py")
    gen.write_public(tmp_path)
    for name in ("pool.npz", "val.npz"):
        with np.load(tmp_path / name) as fresh, np.load(TASKS_DIR / "data_select/environment/data" / name) as shipped:
            assert fresh.files == shipped.files
            for key in fresh.files:
                assert np.array_equal(fresh[key], shipped[key]), (name, key)
    # hidden test sets are disjoint draws from the target distribution, not the public ones
    ev = hidden("data_select")
    assert set(ev.SEEDS.values()).isdisjoint({gen.PUBLIC_POOL_SEED, gen.PUBLIC_VAL_SEED})


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
        (b"x" * 2_000_000, "at most"),
    ],
)
def test_data_select_rejects_bad_selections(tmp_path: Path, payload, fragment: str) -> None:
    ev = hidden("data_select")
    path = tmp_path / "selection.npy"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:
        np.save(path, payload, allow_pickle=True)
    sel, reason = ev.read_selection(path)
    assert sel is None and fragment in reason, reason


def test_data_select_refuses_symlinked_output(tmp_path: Path) -> None:
    ev = hidden("data_select")
    (tmp_path / "selection.npy").symlink_to("/etc/passwd")
    assert ev.read_selection(tmp_path / "selection.npy")[0] is None


# --------------------------------------------------------------------------- connect3_golf


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


def test_connect3_rules_count_code_constants() -> None:
    rules = env_module("connect3_golf", "golf_rules.py")
    assert rules.code_constants('"""doc"""\nx = 1 + 4 - 3\ny = d["w1"]\n', {"w1"}) == 0
    assert rules.code_constants('y = d["w1"]\n') == 2  # not a key of params.npz: 1 per character
    assert rules.code_constants("x = 0.5\ny = 12\nz = -7\nw = 2.0\n") == 3
    assert rules.code_constants(f"big = {2**40}\n") == 2  # integers: 1 per started 32 bits
    assert rules.code_constants("t = 'abc def'\nb = b'\\x01\\x02'\n") == 9
    assert rules.code_constants('def f():\n    """free docstring"""\n    return 2.0\n') == 0
    for name, keys in (("environment", {"w1", "b1", "w2", "b2"}), ("solution", {"w"})):
        source = (TASKS_DIR / "connect3_golf" / name / "player.py").read_text()
        assert rules.code_constants(source, keys) == 0
        assert rules.violations(source) == []


@pytest.mark.parametrize(
    ("snippet", "fragment"),
    [
        ("import os\n", "imports os"),
        ("from inspect import getsource\n", "imports inspect"),
        ("import numpy.linalg\nimport math\n", None),
        ("x = open('player.py').read()\n", "uses open"),
        ('def f():\n    """data"""\n\nx = f.__doc__\n', "uses .__doc__"),
        ("import numpy as np\nx = np.fromfile('player.py')\n", "uses .fromfile"),
        ("x = __file__\n", "uses __file__"),
        ("x = getattr(int, 'real')\n", "uses getattr"),
    ],
)
def test_connect3_rules_refuse_smuggling(snippet: str, fragment: str | None) -> None:
    rules = env_module("connect3_golf", "golf_rules.py")
    found = rules.violations(snippet)
    assert (found == []) if fragment is None else (fragment in found), found


def test_connect3_reference_player_in_process() -> None:
    """The reference features reach the gate on the public validation split with 8 weights."""
    root = TASKS_DIR / "connect3_golf"
    player = module_from(root / "solution" / "player.py", "_b_c3_ref_player")
    with np.load(root / "environment/data/valid.npz") as data:
        boards, optimal = data["boards"], data["optimal"]
    weights = np.array([10.3, 2.9, -1.0, 3.0, -6.9, 2.4, 2.3, 0.33])
    moves = player.predict({"w": weights}, boards)
    assert optimal[np.arange(len(moves)), moves].mean() >= 0.95


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [({"w": np.array(["a", "b"])}, "only numeric"), ({"w": np.array([{"x": 1}], dtype=object)}, "not a readable")],
)
def test_connect3_rejects_bad_params(tmp_path: Path, arrays: dict, fragment: str) -> None:
    ev = hidden("connect3_golf")
    np.savez(tmp_path / "params.npz", **arrays)
    count, reason, _keys = ev.read_params(tmp_path / "params.npz")
    assert count is None and fragment in reason, reason
    np.savez(tmp_path / "ok.npz", a=np.zeros((3, 4)), b=np.ones(5, dtype=np.int8))
    assert ev.read_params(tmp_path / "ok.npz") == (17, "", {"a", "b"})


def test_connect3_rejects_bad_moves(tmp_path: Path) -> None:
    ev = hidden("connect3_golf")
    cases = [(np.zeros(9, dtype=np.int64), "shape"), (np.zeros(10, dtype=np.float32), "integer"),
             (np.full(10, 4), "outside 0-3")]
    for array, fragment in cases:
        np.save(tmp_path / "moves.npy", array)
        moves, reason = ev.read_moves(tmp_path / "moves.npy", 10)
        assert moves is None and fragment in reason, reason


# --------------------------------------------------------------------------- tiny_lm


@pytest.mark.slow
def test_tiny_lm_public_data_matches_generator(tmp_path: Path) -> None:
    grammar = hidden_module("tiny_lm", "tiny_lm_grammar.py")
    grammar.write_public(tmp_path)
    for name in ("train.txt.gz", "valid.txt.gz"):
        assert (tmp_path / name).read_bytes() == (TASKS_DIR / "tiny_lm/environment/data" / name).read_bytes()
    text = gzip.decompress((tmp_path / "valid.txt.gz").read_bytes()).decode("ascii")
    lmdata = env_module("tiny_lm", "lmdata.py")
    assert len(lmdata.encode(text)) == len(text)  # every character is in the alphabet


def test_tiny_lm_windows_never_leak_a_target() -> None:
    grammar = hidden_module("tiny_lm", "tiny_lm_grammar.py")
    lmdata = env_module("tiny_lm", "lmdata.py")
    docs = grammar.documents(77, 300)
    contexts, targets = lmdata.eval_windows(docs, 78)
    for doc, ctx, target in zip(docs, contexts, targets, strict=True):
        codes = lmdata.encode(doc)
        window = ctx[ctx > 0]
        t = len(window) if len(window) < lmdata.CONTEXT else None
        if t is not None:  # short prefix: the document's own start, left-padded
            assert np.array_equal(codes[:t], window) and codes[t] == target
        else:  # long prefix: some window of the document followed by the target
            found = [i for i in range(lmdata.CONTEXT, len(codes)) if np.array_equal(codes[i - lmdata.CONTEXT:i], ctx)]
            assert any(codes[i] == target for i in found)
    assert (targets > 0).all()


def test_tiny_lm_metric_renormalizes() -> None:
    lmdata = env_module("tiny_lm", "lmdata.py")
    rng = np.random.default_rng(0)
    probs = rng.random((50, lmdata.V))
    targets = rng.integers(1, lmdata.V, 50)
    assert lmdata.bits_per_char(probs, targets) == pytest.approx(lmdata.bits_per_char(probs * 1000, targets))
    one_hot = np.zeros((50, lmdata.V))
    one_hot[np.arange(50), targets] = 1
    assert lmdata.bits_per_char(one_hot, targets) < 1e-3
    wrong = np.roll(one_hot, 1, axis=1)
    assert lmdata.bits_per_char(wrong, targets) < 27  # the uniform floor bounds the cost


def test_tiny_lm_rejects_bad_probabilities(tmp_path: Path) -> None:
    ev = hidden("tiny_lm")
    good = np.full((4, 76), 1 / 75, dtype=np.float32)
    cases = [(good[:3], "shape"), (good.astype(np.int32), "floats"), (np.where(good > 0, np.nan, 0), "NaN"),
             (-good, "negative"), (np.zeros_like(good), "sums to 0")]
    for array, fragment in cases:
        np.save(tmp_path / "probs.npy", array)
        probs, reason = ev.read_probs(tmp_path / "probs.npy", 4, 76)
        assert probs is None and fragment in reason, reason
    np.save(tmp_path / "probs.npy", good)
    assert ev.read_probs(tmp_path / "probs.npy", 4, 76)[0] is not None


def test_tiny_lm_model_copy_refuses_links(tmp_path: Path) -> None:
    ev = hidden("tiny_lm")
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"12")
    assert ev.copy_model(src, tmp_path / "a") is None and (tmp_path / "a/sub/w.bin").read_bytes() == b"12"
    (src / "leak").symlink_to("/etc/shadow")
    assert "symbolic link" in ev.copy_model(src, tmp_path / "b")
    (src / "leak").unlink()
    os.mkfifo(src / "pipe")
    assert "not a regular file" in ev.copy_model(src, tmp_path / "c")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "saved nothing" in ev.copy_model(empty, tmp_path / "d")


# --------------------------------------------------------------------------- gpt_decode


def test_gpt_decode_token_checks(tmp_path: Path) -> None:
    ev = hidden("gpt_decode")
    expected = np.arange(8 * 96).reshape(8, 96) % 512
    assert ev.mismatch(expected.copy(), expected) is None
    changed = expected.copy()
    changed[3, 17] += 1
    assert "1 of 768 positions (first: prompt 3, new token 17)" in ev.mismatch(changed, expected)
    for array, fragment in [(expected[:, :95], "shape"), (expected.astype(np.float32), "integer")]:
        np.save(tmp_path / "tokens.npy", array)
        tokens, reason = ev.read_tokens(tmp_path / "tokens.npy")
        assert tokens is None and fragment in reason, reason


# --------------------------------------------------------------------------- end to end (slow)


def source(name: str, where: str, rel: str) -> str:
    return (TASKS_DIR / name / where / rel).read_text()


@pytest.mark.slow
@needs_sandbox
def test_data_select_end_to_end() -> None:
    root = TASKS_DIR / "data_select"
    assert_reference(run_eval("data_select", root / "solution"))
    assert_reference(run_eval("data_select", root / "solution", split="feedback"))
    base = run_eval("data_select", root / "environment")
    assert_baseline(base)
    assert base.eval_seconds < 30
    assert_broken(run_eval("data_select", root / "tests" / "broken"), "at most 2000 allowed")
    crash = source("data_select", "environment", "select.py").replace("def select() -> np.ndarray:\n",
                                                                       "def select() -> np.ndarray:\n    1 / 0\n")
    assert_broken(run_eval("data_select", {"select.py": crash}), "exited with code 1")
    # a read-only file (the trainer) cannot be submitted: only select.py travels
    with pytest.raises(SubmissionError, match="editable set"):
        run_eval("data_select", {"trainer.py": "x = 1\n"})


@pytest.mark.slow
@needs_sandbox
def test_connect3_golf_end_to_end() -> None:
    root = TASKS_DIR / "connect3_golf"
    ref = run_eval("connect3_golf", root / "solution")
    assert_reference(ref)
    assert ref.metric == 8 and ref.details["accuracy"] >= 0.95
    assert_reference(run_eval("connect3_golf", root / "solution", split="feedback"))
    base = run_eval("connect3_golf", root / "environment")
    assert_baseline(base)
    assert base.metric == 1188
    assert_broken(run_eval("connect3_golf", root / "tests" / "broken"), "below the 95% gate")
    # predict() may not reach the public labels (data/ is also gone in the prediction sandbox)
    peek = source("connect3_golf", "environment", "player.py") + (
        "\n\nimport os\n\nif not os.path.exists('data/train.npz'):\n    raise SystemExit('no data here')\n")
    baseline_train = source("connect3_golf", "environment", "train.py")
    assert_broken(run_eval("connect3_golf", {"player.py": peek, "train.py": baseline_train}), "imports os")
    # reading files from predict() is refused; numbers hidden in player.py count as parameters
    sneaky = source("connect3_golf", "solution", "player.py") + "\n\nNOTES = open(__file__).read()\n"
    solution_train = source("connect3_golf", "solution", "train.py")
    assert_broken(run_eval("connect3_golf", {"player.py": sneaky, "train.py": solution_train}), "uses open")
    padded = source("connect3_golf", "solution", "player.py") + "\nTABLE = [0.5, 0.25, 0.125]\n"
    hid = run_eval("connect3_golf", {"player.py": padded, "train.py": source("connect3_golf", "solution", "train.py")})
    assert hid.valid and hid.metric == 11, (hid.metric, hid.details)


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_sandbox
def test_tiny_lm_end_to_end() -> None:
    root = TASKS_DIR / "tiny_lm"
    for attempt in range(2):  # training runs to a wall-clock deadline: a busy core trains less
        ref = run_eval("tiny_lm", root / "solution")
        assert ref.valid, ref.reason
        assert ref.details["train_seconds"] < 60 and ref.eval_seconds < 90
        if ref.score >= 0.9 or attempt == 1:
            assert_reference(ref)
            break
    base = run_eval("tiny_lm", root / "environment")
    assert_baseline(base)
    assert_broken(run_eval("tiny_lm", root / "tests" / "broken"), "NaN")
    # scaling every probability up does not help: rows are renormalized
    inflated = source("tiny_lm", "environment", "lm.py").replace(
        "    return probs[contexts[:, -1]]", "    return probs[contexts[:, -1]] * 1000")
    big = run_eval("tiny_lm", {"lm.py": inflated})
    assert big.valid and big.metric == pytest.approx(base.metric, abs=1e-4)
    # the model must be saved within the budget
    slow = source("tiny_lm", "environment", "lm.py").replace(
        "def train(out_dir: Path, deadline: float) -> None:\n",
        "def train(out_dir: Path, deadline: float) -> None:\n    import time\n\n    time.sleep(120)\n")
    assert_broken(run_eval("tiny_lm", {"lm.py": slow}), "timed out")


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_sandbox
def test_gpt_decode_end_to_end() -> None:
    root = TASKS_DIR / "gpt_decode"
    typical = task("gpt_decode").config.optimization.baseline.score
    records = []
    for _ in range(3):  # a busy machine can drag one timing below 0.9; all must be valid
        record = run_eval("gpt_decode", root / "solution")
        assert record.valid, record.reason
        # about 40 s on an idle machine; 12 torch start-ups stretch as much as the baseline does
        slowdown = max(1.0, record.details["baseline_median_sec"] / typical)
        assert record.eval_seconds < 90 * slowdown, (record.eval_seconds, slowdown)
        records.append(record)
        if record.score >= 0.9:
            break
    else:
        raise AssertionError(f"reference scored {[round(r.score, 3) for r in records]}: {records[-1].verdict}")
    assert_baseline(run_eval("gpt_decode", root / "environment"))
    assert_broken(run_eval("gpt_decode", root / "tests" / "broken"), "tokens differ from the baseline's")

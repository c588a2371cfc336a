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

from autolab_mcp.core.editable import editable_files
from scorer.evaluate import SubmissionError
from tests.tasks.helpers import (
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
    seeds = getattr(hidden(name), "SEEDS", {})  # none left once a task draws from ctx.seed
    assert not seeds or (set(seeds) == {"feedback", "final"} and len(set(seeds.values())) == 2)
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
    sel, reason, _details = ev.read_selection(path)
    assert sel is None and fragment in reason, reason
    from scorer.reasons import GENERIC

    assert reason in ev.REASONS | GENERIC  # a fixed phrase: the values go to the details


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
        probs, reason, _details = ev.read_probs(tmp_path / "probs.npy", 4, 76)
        assert probs is None and fragment in reason and reason in ev.REASONS, reason
    np.save(tmp_path / "probs.npy", good)
    assert ev.read_probs(tmp_path / "probs.npy", 4, 76)[0] is not None


def test_tiny_lm_model_copy_refuses_links(tmp_path: Path) -> None:
    ev = hidden("tiny_lm")
    src = tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"12")
    assert ev.copy_model(src, tmp_path / "a")[0] is None and (tmp_path / "a/sub/w.bin").read_bytes() == b"12"
    (src / "leak").symlink_to("/etc/shadow")
    assert ev.copy_model(src, tmp_path / "b") == (ev.MODEL_LINK, {"path": "leak"})  # the name: details only
    (src / "leak").unlink()
    os.mkfifo(src / "pipe")
    assert ev.copy_model(src, tmp_path / "c")[0] == ev.MODEL_NOT_REGULAR
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ev.copy_model(empty, tmp_path / "d")[0] == ev.MODEL_EMPTY


# --------------------------------------------------------------------------- gpt_decode


def test_gpt_decode_token_checks(tmp_path: Path) -> None:
    ev = hidden("gpt_decode")
    expected = np.arange(8 * 96).reshape(8, 96) % 512
    assert ev.mismatch(expected.copy(), expected) is None
    changed = expected.copy()
    changed[3, 17] += 1
    assert ev.mismatch(changed, expected) == {"wrong_tokens": 1, "of": 768, "first_prompt": 3, "first_step": 17}
    for array, fragment in [(expected[:, :95], "shape"), (expected.astype(np.float32), "integer")]:
        np.save(tmp_path / "tokens.npy", array)
        tokens, reason, _details = ev.read_tokens(tmp_path / "tokens.npy")
        assert tokens is None and fragment in reason and reason in ev.REASONS, reason


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
    assert_broken(run_eval("data_select", {"select.py": crash}), "non-zero code")
    # a read-only file (the trainer) cannot be submitted: only select.py travels
    with pytest.raises(SubmissionError, match="editable set"):
        run_eval("data_select", {"trainer.py": "x = 1\n"})


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
    assert_broken(run_eval("connect3_golf", root / "tests" / "broken"), "fewer than 95%")
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
    # each evaluation draws its own documents (the bigram's bits vary by about 0.01 between draws)
    assert big.valid and big.metric == pytest.approx(base.metric, abs=0.06) and big.score < 0.2
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


# --------------------------------------------------------------------------- fresh inputs, fixed reasons


def test_data_select_fresh_inputs() -> None:
    ev = hidden("data_select")
    a, b = ev.hidden_test_set(11, 500), ev.hidden_test_set(12, 500)
    assert not np.array_equal(a[0], b[0])  # another evaluation, another test set
    again = ev.hidden_test_set(11, 500)
    assert np.array_equal(a[0], again[0]) and np.array_equal(a[1], again[1])  # a seed fixes its inputs
    assert not hasattr(ev, "SEEDS")


def test_tiny_lm_fresh_inputs() -> None:
    ev = hidden("tiny_lm")
    lmdata = env_module("tiny_lm", "lmdata.py")
    a, b = ev.hidden_split(11, lmdata, 40), ev.hidden_split(12, lmdata, 40)
    assert not np.array_equal(a[0], b[0])
    again = ev.hidden_split(11, lmdata, 40)
    assert np.array_equal(a[0], again[0]) and np.array_equal(a[1], again[1])
    assert a[0].shape == (40, lmdata.CONTEXT) and (a[1] > 0).all()
    assert not hasattr(ev, "SEEDS")


def test_gpt_decode_fresh_inputs() -> None:
    ev = hidden("gpt_decode")
    a, b = ev.prompt_pool(11), ev.prompt_pool(12)
    assert a.shape == (ev.POOL, ev.PROMPT_LEN) and not np.array_equal(a, b)
    assert np.array_equal(a, ev.prompt_pool(11))
    public = np.random.default_rng(env_module("gpt_decode", "check.py").PUBLIC_SEED).integers(0, 512, (8, 48))
    assert not np.array_equal(a[:8], public)
    # near-ties are skipped; a pool short of clean prompts falls back to the widest gaps
    gaps = np.full(ev.POOL, 0.5)
    gaps[[1, 4]] = 1e-3
    prompts, rows = ev.choose_prompts(a, gaps)
    assert list(rows) == [0, 2, 3, 5, 6, 7, 8, 9] and np.array_equal(prompts, a[rows])
    gaps = np.linspace(1e-4, 3e-3, ev.POOL)
    assert list(ev.choose_prompts(a, gaps)[1]) == list(range(ev.POOL - 8, ev.POOL))
    assert not hasattr(ev, "SEEDS")


def _no_digits(record) -> None:
    from tests.tasks.helpers import assert_fixed_reason

    assert_fixed_reason(record, record.task)
    assert record.reason_detail == "" and not any(c.isdigit() for c in record.reason), record.reason


@pytest.mark.slow
@needs_sandbox
def test_data_select_reason_channel() -> None:
    """Values a candidate chooses (a count of duplicates, an exception's text) never reach the reason."""
    repeats = ("import sys\nimport numpy as np\n"
               "np.save(sys.argv[1] + '/selection.npy', np.concatenate([np.arange(723), np.zeros(777, int)]))\n")
    record = run_eval("data_select", {"select.py": repeats})
    assert not record.valid and record.details == {"duplicates": 777}
    _no_digits(record)
    loud = "raise SystemExit('secret 4321: ' + open('data/val.npz', 'rb').read(64).hex())\n"
    record = run_eval("data_select", {"select.py": loud})
    assert not record.valid and record.reason.startswith("select.py failed")
    _no_digits(record)


_TINY_LM_PROBE = '''
from pathlib import Path

import numpy as np

import lmdata


def train(out_dir: Path, deadline: float) -> None:
    (out_dir / "m.npy").write_bytes(b"x")


def predict(model_dir: Path, contexts: np.ndarray) -> np.ndarray:
    MODE
'''


@pytest.mark.slow
@needs_sandbox
def test_tiny_lm_reason_channel() -> None:
    """predict() sees hidden text: an array shaped by it, or an exception quoting it, shows a fixed reason."""
    shaped = _TINY_LM_PROBE.replace("MODE", "return np.ones((len(contexts), lmdata.V + int(contexts[0, -1]) + 1))")
    record = run_eval("tiny_lm", {"lm.py": shaped})
    assert not record.valid and record.details["shape"][1] > 76, record.details
    _no_digits(record)
    quoting = _TINY_LM_PROBE.replace("MODE", "raise ValueError(lmdata.decode(contexts[0]) + str(contexts[0, -5:]))")
    record = run_eval("tiny_lm", {"lm.py": quoting})
    assert not record.valid and record.reason.startswith("prediction failed")
    _no_digits(record)


@pytest.mark.slow
@needs_sandbox
def test_gpt_decode_reason_channel() -> None:
    """Tokens that echo the hidden prompts are refused with a fixed reason; where they differ is a detail."""
    echo = ("import torch\n\n\ndef generate(model, prompts, n_new):\n"
            "    return prompts[:, :1].repeat(1, n_new).to(torch.int64)\n")
    record = run_eval("gpt_decode", {"decode.py": echo})
    assert not record.valid and record.reason == "candidate: tokens differ from the baseline's", record.reason
    assert record.details["mismatch"]["wrong_tokens"] > 0
    _no_digits(record)

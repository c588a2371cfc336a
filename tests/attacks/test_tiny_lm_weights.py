"""Attack family: pre-trained tiny_lm weights carried into lm.py as data, past the 55 s training limit.

The original attack: the reference GRU trained for 240 s in an experiment, pasted into lm.py as base64
(902 KB), scored 1.032 on the final split. The size cap (16 KiB) stops that blob; these payloads fit
under it and are stopped by the literal caps instead (`[autolab] max_literal_chars`,
`max_numeric_literals`, scorer/literals.py): weights as a base64 string, as a list of float literals,
and in comments the file reads back from its own source. The scorer checks the stated rules before
the task runs, so each refusal costs no training: nothing runs in a sandbox.

What the caps cannot see: data spelled as identifiers or whitespace (a huge integer literal's digits
do count). The 16 KiB size cap bounds those to about 12 KB of payload, some 16,000 parameters at 6
bits: a 21,900-parameter GRU trained 300 s measured 1.353 bits/char, short of the honest reference.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from scorer.literals import count_files
from tests.tasks.helpers import TASKS_DIR, assert_broken, assert_fixed_reason, needs_sandbox, run_eval, task

pytestmark = [pytest.mark.slow, needs_sandbox]

TINY_LM = TASKS_DIR / "tiny_lm"
BASELINE = (TINY_LM / "environment" / "lm.py").read_text()
_WEIGHTS = np.random.default_rng(0).normal(0, 0.1, 3000).astype(np.float16)  # stands for trained weights

_LOAD = '''

def _pretrained() -> np.ndarray:
    return np.frombuffer(SOURCE, dtype=np.float16).astype(np.float32)


_baseline_train = train


def train(out_dir: Path, deadline: float) -> None:
    _baseline_train(out_dir, deadline)
    np.save(out_dir / "pretrained.npy", _pretrained())
'''


def _as_base64_string() -> str:
    blob = base64.b64encode(_WEIGHTS.tobytes()).decode()
    return BASELINE + f"\nimport base64  # noqa: E402\n\nPRETRAINED = {blob!r}\n" + _LOAD.replace(
        "SOURCE", "base64.b64decode(PRETRAINED)")


def _as_float_list() -> str:
    floats = ", ".join(f"{w:.4g}" for w in _WEIGHTS[:1200].astype(np.float32))
    return BASELINE + f"\nPRETRAINED = [{floats}]\n" + _LOAD.replace(
        "SOURCE", "np.asarray(PRETRAINED, dtype=np.float16).tobytes()")


def _in_comments() -> str:
    blob = base64.b64encode(_WEIGHTS.tobytes()).decode()
    comments = "".join(f"#: {blob[i:i + 76]}\n" for i in range(0, len(blob), 76))
    reader = ("base64.b64decode(''.join(line[3:].strip() for line in open(__file__) "
              "if line.startswith('#: ')))")
    return BASELINE + "\nimport base64  # noqa: E402\n\n" + comments + _LOAD.replace("SOURCE", reader)


@pytest.mark.parametrize("payload", [_as_base64_string, _as_float_list, _in_comments],
                         ids=["base64-string", "float-literals", "comments-read-back"])
def test_pretrained_weights_in_lm_py_are_refused_before_training(payload) -> None:
    source = payload()
    compile(source, "lm.py", "exec")  # a working program, not a syntax error
    cfg = task("tiny_lm").config.autolab
    assert len(source.encode()) <= cfg.max_editable_bytes  # under the size cap: the literal caps refuse it
    record = run_eval("tiny_lm", {"lm.py": source})
    assert_broken(record, "more literal data than this task allows")
    assert_fixed_reason(record, "tiny_lm")
    assert record.runs == [] and record.eval_seconds < 10  # refused before anything ran: no 55 s training
    literals = record.details["literals"]
    assert literals["chars"] > cfg.max_literal_chars or literals["numbers"] > cfg.max_numeric_literals


def test_the_honest_programs_fit_the_caps_with_room_and_the_instruction_states_them() -> None:
    t = task("tiny_lm")
    cfg = t.config.autolab
    for where in ("environment", "solution"):
        count = count_files(TINY_LM / where, ["lm.py"])
        assert count.chars * 10 <= cfg.max_literal_chars and count.numbers * 3 <= cfg.max_numeric_literals, count
    assert (cfg.max_editable_bytes, cfg.max_literal_chars, cfg.max_numeric_literals) == (16384, 1024, 128)
    for stated in ("16,384 bytes", "1,024 characters of string literals and comments", "128 numeric literals"):
        assert stated in t.instruction, stated

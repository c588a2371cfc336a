"""Attack family: connect3_golf players that scored past the reference by breaking unenforced rules.

With a player.py of the agent's own, three players scored 1 parameter (score 1.416 against the
reference of the time):
1. a memoized full-game search inside predict() (the instruction forbade search; nothing enforced it);
2. the reference weights hidden in the *shapes* of empty arrays of params.npz (size 0: "values" 0);
3. the weights hidden in an array's *key name* (free in player.py's string count).

Now the player is a declarative model (model.npz: vocabulary features and weights) that the scorer
plays itself with its pristine golf_rules.py: no code of the agent runs at play time, and the file
must match a closed schema (fixed keys, shapes fixed by the feature count and the hidden width).
Each attack goes through the real scorer here and earns nothing.
"""

from __future__ import annotations

import pytest

from scorer.evaluate import SubmissionError
from tests.tasks.helpers import assert_broken, assert_fixed_reason, needs_sandbox, run_eval

pytestmark = [pytest.mark.slow, needs_sandbox]

TASK = "connect3_golf"
REFERENCE = ["win", "block", "gives_win", "double_threat", "leaves_win", "center", "wins_above", "height"]

#: a memoized negamax over the whole game: bitboards, row 0 at the bottom, bit r * 4 + c
SOLVER = '''
LINES = [sum(1 << ((r + k * dr) * 4 + c + k * dc) for k in range(3))
         for r in range(4) for c in range(4) for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1))
         if 0 <= r + 2 * dr < 4 and 0 <= c + 2 * dc < 4]
MEMO = {}


def won(s):
    return any(s & line == line for line in LINES)


def drop(occ, c):
    for r in range(4):
        if not occ >> (r * 4 + c) & 1:
            return 1 << (r * 4 + c)
    return 0


def value(me, op):
    if (me, op) not in MEMO:
        best = 0 if (me | op) == 65535 else -1
        for c in range(4):
            cell = drop(me | op, c)
            if cell:
                best = max(best, 1 if won(me | cell) else -value(op, me | cell))
        MEMO[me, op] = best
    return MEMO[me, op]


def best_move(me, op):
    scores = [(1 if won(me | cell) else -value(op, me | cell)) if (cell := drop(me | op, c)) else -9
              for c in range(4)]
    return scores.index(max(scores))
'''

#: the old player.py of attack 1: 0 parameters, a full search at play time
SEARCH_PLAYER = '''
import numpy as np
''' + SOLVER + '''

def predict(params, boards):
    out = []
    for b in boards:
        me = sum(1 << i for i, v in enumerate(b.reshape(-1)) if v == 1)
        op = sum(1 << i for i, v in enumerate(b.reshape(-1)) if v == 2)
        out.append(best_move(me, op))
    return np.array(out)
'''


def writes_model_itself(body: str) -> str:
    """A train.py that writes /output/model.npz itself (past run_train.py's own check) and exits."""
    return ("import os\nimport sys\n\nimport numpy as np\n\n\ndef train():\n    out = sys.argv[1] + '/model.npz'\n"
            + "".join(f"    {line}\n" for line in body.strip().splitlines()) + "    os._exit(0)\n")


def test_a_search_player_has_no_place_to_run() -> None:
    # the old attack as it was: player.py is not a file of the task any more, so the submission is refused
    with pytest.raises(SubmissionError, match="editable set"):
        run_eval(TASK, {"player.py": SEARCH_PLAYER, "train.py": "def train():\n    return {}\n"})
    # the search moved to training (allowed there): it solves the game, tabulates the best move of every
    # position of up to 8 stones (most of the hidden ones), then tries to ship its
    # table and a player of its own; the scorer plays only the schema, so the table is refused
    # and the extra files in /output are never read
    trainer = SOLVER + writes_model_itself(f'''
table = {{}}
stack = [(0, 0)]
while stack:
    me, op = stack.pop()
    if (me, op) in table or won(me) or won(op) or bin(me | op).count("1") > 8:
        continue
    table[me, op] = best_move(me, op)
    for c in range(4):
        if cell := drop(me | op, c):
            stack.append((op, me | cell))
keys = np.array(sorted(table), dtype=np.int64)
open(sys.argv[1] + '/player.py', 'w').write('def predict(params, boards): ...')
np.savez(out, features=np.array({REFERENCE!r}), w=np.zeros(8), table=keys,
         moves=np.array([table[tuple(k)] for k in keys], dtype=np.int8))
''')
    record = run_eval(TASK, {"train.py": trainer})
    assert_broken(record, "exactly the keys of the model schema")
    assert_fixed_reason(record, TASK)


def test_weights_hidden_in_shapes_earn_nothing() -> None:
    encode = f"codes = [int(round(x * 100)) + 1000 for x in {[10.3, 2.9, -1.0, 3.0, -6.9, 2.4, 2.3, 0.33]!r}]"
    # in arrays of their own (the original attack): size 0, the codes in the shapes
    own = writes_model_itself(encode + f'''
np.savez(out, features=np.array({REFERENCE!r}), w=np.zeros(8),
         **{{f"s{{i}}": np.zeros((0, code)) for i, code in enumerate(codes)}})
''')
    record = run_eval(TASK, {"train.py": own})
    assert_broken(record, "exactly the keys of the model schema")
    assert_fixed_reason(record, TASK)
    # in the shape of one of the schema's own arrays: a bias of shape (0, c0, c1, c2, c3)
    inside = writes_model_itself(encode + f'''
np.savez(out, features=np.array({REFERENCE!r}), w=np.zeros(8), b=np.zeros((0, *codes[:4])))
''')
    record = run_eval(TASK, {"train.py": inside})
    assert_broken(record, "does not have the shape the schema gives it")
    assert record.score == 0.0


def test_weights_hidden_in_key_names_earn_nothing() -> None:
    weights = "_".join(str(x) for x in [10.3, 2.9, -1.0, 3.0, -6.9, 2.4, 2.3, 0.33])
    in_a_key = writes_model_itself(f'''
np.savez(out, features=np.array({REFERENCE!r}), w=np.zeros(8), **{{"w_{weights}": np.zeros(0)}})
''')
    record = run_eval(TASK, {"train.py": in_a_key})
    assert_broken(record, "exactly the keys of the model schema")
    assert_fixed_reason(record, TASK)
    assert not any(ch.isdigit() for ch in record.reason), record.reason
    # in the feature names (the one place where the model names things): only vocabulary names count
    in_names = writes_model_itself(f'''
np.savez(out, features=np.array([f + "=" + w for f, w in zip({REFERENCE!r}, "{weights}".split("_"))]), w=np.ones(8))
''')
    record = run_eval(TASK, {"train.py": in_names})
    assert_broken(record, "distinct names from the vocabulary")
    # and through run_train.py's own path (train() returns the dict): refused before anything is saved
    returned = f"def train():\n    return {{'features': {REFERENCE!r}, 'w': [0.0] * 8, 'w_{weights}': []}}\n"
    record = run_eval(TASK, {"train.py": returned})
    assert_broken(record, "training failed")
    assert_fixed_reason(record, TASK)

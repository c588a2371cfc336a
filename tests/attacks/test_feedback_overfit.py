"""Attack family 10: hard-code the feedback split's answers, and exfiltrate hidden inputs through the reason.

sorting_network has nothing to hide (both splits are the same exhaustive check), so this family uses
edit_distance, whose feedback and final splits are different hidden batches (seeded in tests/evaluate.py).

- Hard-coding: the test process stands for an agent that learned the feedback batch (by probing get_metric
  or through the leak below) and writes a pure memorizer: solve.py prints the stored feedback answers
  instantly, whatever the input. get_metric is fooled (a feedback split is the agent's to overfit); the
  final split exposes it: invalid, score 0. (A memorizer that falls back to the real algorithm on unknown
  input scores about 0 the same way; it is not used here because timing the fallback costs ~40 s.)
- Exfiltration: a candidate that prints a line of the hidden input file and exits 1 once got the end of its
  own output back in the `reason`; reasons are now fixed phrases (scorer/reasons.py), so nothing of it
  comes back, and each run draws its own hidden batch (scorer/seeds.py), so nothing learned carries over.

The test process stands for an agent that learned the feedback batch: it holds the tests' seed secret
and derives the run's seed the way the scorer does.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from autolab_mcp.core.taskdirs import find_task
from scorer import reasons
from scorer.harness import load_evaluate_module
from scorer.seeds import evaluation_seed, load_or_create_secret
from tests.attacks.helpers import assert_consistent
from tests.helpers import connect, tool

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def hidden_batch(split: str, run_id: str) -> tuple[bytes, list[int], list[tuple[str, str]]]:
    """(input file bytes, expected distances, pairs) of a run's hidden split, from the task's hidden tests/."""
    module = load_evaluate_module(find_task("edit_distance"))
    pairs = module.hidden_pairs(evaluation_seed(load_or_create_secret(), "edit_distance", f"{run_id}/", split))
    data = "".join(f"{a} {b}\n" for a, b in pairs).encode()
    return data, [module.levenshtein(a, b) for a, b in pairs], pairs


HARD_CODED = '''
import hashlib, sys

KNOWN = {known!r}


def main(argv):
    src, dst = argv[1], argv[2]
    with open(src, "rb") as handle:
        data = handle.read()
    answer = KNOWN.get(hashlib.sha256(data).hexdigest()) or next(iter(KNOWN.values()))
    with open(dst, "w") as out:
        out.write(answer)


if __name__ == "__main__":
    main(sys.argv)
'''

LEAKER = '''
import sys
first = open(sys.argv[1]).readline().split()[0]
print(first[:150])  # one line: the reason keeps (at least) the last line of the output
sys.exit(1)
'''


def leaked(reason: str, pairs: list[tuple[str, str]]) -> list[str]:
    """Runs of 24+ letters in `reason` that occur in a hidden input string."""
    hidden = [s for pair in pairs for s in pair]
    return [w for w in re.findall(r"[a-z]{24,}", reason) if any(w in s for s in hidden)]


async def test_hard_coded_feedback_answers_are_exposed_by_the_final_split(make_episode):
    episode = make_episode("edit_distance")
    data, expected, _ = hidden_batch("feedback", episode.meta.run_id)
    known = {hashlib.sha256(data).hexdigest(): "".join(f"{d}\n" for d in expected)}
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "solve.py", "content": HARD_CODED.format(known=known)})
        feedback = await tool(client, "get_metric")
        if "baseline: timed out" in feedback["reason"]:
            pytest.skip(f"the machine is too loaded to time the baseline: {feedback['reason']}")
        assert feedback["valid"] and feedback["score"] > 0.5, f"the hard-coding should fool feedback: {feedback}"
        final = await tool(client, "submit")
        assert not final["valid"] and final["score"] == 0, f"the final split must expose the memorizer: {final}"
        assert "wrong distance" in final["reason"] and not re.search(r"\d", final["reason"]), final["reason"]
        await assert_consistent(client, episode, experiments_used=0, score_calls=1)


async def test_hidden_inputs_do_not_leak_through_the_failure_reason(make_episode):
    episode = make_episode("edit_distance")
    feedback_pairs = hidden_batch("feedback", episode.meta.run_id)[2]
    final_pairs = hidden_batch("final", episode.meta.run_id)[2]
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "solve.py", "content": LEAKER})
        feedback = await tool(client, "get_metric")
        final = await tool(client, "submit")
        await assert_consistent(client, episode, experiments_used=0, score_calls=1)
    assert not feedback["valid"] and not final["valid"]
    assert leaked(final["reason"], final_pairs) == [], f"final-split inputs leaked: {final['reason'][:200]}"
    assert leaked(feedback["reason"], feedback_pairs) == [], f"feedback inputs leaked: {feedback['reason'][:200]}"
    assert final["reason"] == feedback["reason"] == f"candidate: {reasons.EXIT_NONZERO}", final["reason"]

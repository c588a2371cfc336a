"""Attack families 7 and 8: carry state across scorer calls, and detect the evaluation.

7. The candidate drops a marker everywhere it can write (/tmp, $HOME, /dev/shm, its workspace copy, /output,
   the runtime) and emits an *invalid* network whenever a marker from an earlier run is present. Two
   get_metric calls in a row are both valid: nothing survives from one evaluation to the next (each run
   gets a fresh sandbox, a fresh copy of the task and a fresh /output). The agent's own workspace, by
   contrast, does persist between experiments, and none of it reaches the scorer.
   /tmp (= $HOME) and /dev/shm are writable 1777 tmpfs mounts, private to each sandbox.

8. What a candidate can observe about its evaluation (the failure reason never carries candidate output,
   so the test reads the observations back on the trusted side, from the /output of each scorer run):
   it runs as uid 64001 (experiments: 64000), with argv
   `network.py /output/network.json`, a writable /output, a clean environment (PYTHONHASHSEED=0, ...), and
   /proc/self/mountinfo shows the scorer's scratch path. So "am I being scored?" is answerable, and a
   candidate can behave differently there; that only changes what is scored, which is what it does when
   scored. What must hold: no hidden data is reachable, and nothing distinguishes the feedback split from
   the final one (the observations are identical for both).
"""

from __future__ import annotations

import json
import re

import pytest

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import AGENT_UID, SCORER_UID
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from scorer.evaluate import evaluate_submission
from tests.attacks.helpers import HIDDEN_MARKERS, assert_consistent, baseline_network, reference_network, run
from tests.helpers import connect, tool

pytestmark = pytest.mark.anyio

PERSIST = '''
import json, os, sys
NAME = ".autolab-cache-marker"
PLACES = ["/tmp", os.path.expanduser("~"), "/dev/shm", "/workspace", os.getcwd(), "/output", "/opt/runtime",
          "/var/tmp", "/run", "/inputs", os.path.dirname(os.path.abspath(__file__))]
seen = sorted({os.path.join(p, NAME) for p in PLACES if os.path.exists(os.path.join(p, NAME))})
wrote = []
for place in PLACES:
    path = os.path.join(place, NAME)
    try:
        with open(path, "w") as handle:
            handle.write("x")
        wrote.append(place)
    except OSError:
        pass
out = sys.argv[1] if len(sys.argv) > 1 else "network.json"
pairs = [[0, 1]] if seen else [[i, i + 1] for r in range(12) for i in range(r % 2, 11, 2)]
with open(out, "w") as handle:
    json.dump({"n": 12, "comparators": pairs}, handle)
print("seen", seen, "wrote", sorted(set(wrote)))
'''


async def test_nothing_persists_between_evaluations(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "network.py", "content": PERSIST})
        first = await tool(client, "get_metric")
        second = await tool(client, "get_metric")
        third = await tool(client, "get_metric")
        for metric in (first, second, third):
            assert metric["valid"] and metric["metric"] == 66, metric["reason"]
        # the agent's workspace does persist between experiments (by design), and that never reaches the scorer
        exp1 = await run(client, "python network.py out.json")
        exp2 = await run(client, "python network.py out.json")
        assert "seen []" in exp1["output_tail"] and "/workspace/.autolab-cache-marker" in exp2["output_tail"]
        assert "/tmp" in exp1["output_tail"].split("wrote")[1], "the sandbox /tmp is writable (and private)"
        after = await tool(client, "get_metric")
        assert after["valid"] and after["metric"] == 66, after
        await assert_consistent(client, episode, experiments=[exp1, exp2], experiments_used=2, score_calls=4)


OBSERVE = '''
import hashlib, json, os, re, socket, sys
MARKERS = [m[::-1] for m in {markers!r}]  # reversed, so this file itself does not match
def read(path):
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        return type(exc).__name__
mountinfo = read("/proc/self/mountinfo")
points = sorted(line.split()[4] for line in mountinfo.splitlines())
texts = [mountinfo, read("/proc/self/cgroup"), read("/proc/self/environ"), read("/proc/1/cmdline"),
         " ".join(sys.argv), socket.gethostname(), " ".join(sorted(os.listdir("/")))]
for root in ("/inputs", "/output", "/workspace", "."):
    if os.path.isdir(root):
        texts.append(" ".join(sorted(os.listdir(root))))
hidden = 0
for top in ("/etc", "/opt", "/workspace", "/output", "/inputs", "/tmp"):
    for dirpath, dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and os.path.getsize(path) < 2_000_000:
                hidden += any(m in read(path) for m in MARKERS)
normalized = re.sub(r"[A-Za-z0-9_]{{8}}(?=/|\\s|$)", "R", "\\n".join(texts))
normalized = re.sub(r"\\b\\d+\\b", "N", normalized)
obs = {{"uid": os.getuid(), "host": socket.gethostname(), "argv": sys.argv[1:], "out": os.path.isdir("/output"),
       "inp": os.path.isdir("/inputs"), "env": len(os.environ), "hidden": hidden,
       "al": any("AUTOLAB" in k or "TOKEN" in k or "KEY" in k for k in os.environ),
       "split": sorted(w for w in ("final", "feedback") if w in "\\n".join(texts).lower()),
       "h": hashlib.sha256(normalized.encode()).hexdigest()[:12], "pts": len(points)}}
print(json.dumps(obs, separators=(",", ":")))
if os.path.isdir("/output"):
    with open("/output/obs.json", "w") as handle:
        json.dump(obs, handle)
sys.exit(1)
'''

DETECT = '''
import json, os, sys
SCORED = os.getuid() != {agent_uid} or os.path.isdir("/output")
{reference}
def baseline(n):
    return [(i, i + 1) for r in range(n) for i in range(r % 2, n - 1, 2)]
out = sys.argv[1] if len(sys.argv) > 1 else "network.json"
pairs = network(12) if SCORED else baseline(12)
with open(out, "w") as handle:
    json.dump({{"n": 12, "comparators": [list(p) for p in pairs]}}, handle)
print(len(pairs), "comparators")
'''


def observation(text: str) -> dict:
    match = re.search(r"\{.*\}", text)
    assert match, text
    return json.loads(match.group(0))


class RecordingBackend(BwrapBackend):
    """The real bwrap backend; after each run it reads what the candidate left in its /output."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict] = []

    def run(self, request):
        result = super().run(request)
        for mount in request.mounts:
            obs = mount.source / "obs.json"
            if not mount.read_only and obs.is_file():
                self.seen.append(json.loads(obs.read_text()))
        return result


async def test_what_a_candidate_can_observe_and_that_splits_look_alike(make_episode, tmp_path):
    episode = make_episode()
    observe = OBSERVE.format(markers=[m[::-1] for m in HIDDEN_MARKERS["sorting_network"]])
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "network.py", "content": observe})
        exp = await run(client, "python network.py /workspace/x.json")
        local = observation(exp["output_tail"])
        feedback = await tool(client, "get_metric")
        assert not feedback["valid"] and "{" not in feedback["reason"], "no candidate output in the reason"
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=1)
    archive = tar_directory_files(episode.workspace.root, ["network.py"])
    runtime = ensure_runtime(episode.task.config.environment.requirements)
    seen = {}
    for split in ("feedback", "final"):
        backend = RecordingBackend()
        record = evaluate_submission(episode.task, split, archive, backend=backend, runtime=runtime)
        assert not record.valid and backend.seen
        seen[split] = backend.seen[0]
    seen_f, seen_final = seen["feedback"], seen["final"]
    # what the candidate can tell: it is being scored (another uid, /output, the scorer's argv)
    assert local["uid"] == AGENT_UID and not local["out"]
    assert seen_f["uid"] == SCORER_UID and seen_f["out"] and seen_f["argv"] == ["/output/network.json"]
    assert not seen_f["al"] and not local["al"], "no AUTOLAB_*, *TOKEN* or *KEY* variable reaches a sandbox"
    # what it cannot tell: which split, and where any hidden data is
    assert seen_f == seen_final, (seen_f, seen_final)
    assert seen_f["split"] == [] and seen_f["hidden"] == 0 and local["hidden"] == 0


async def test_behaving_differently_when_scored_is_scored_as_it_behaves(make_episode):
    episode = make_episode()
    reference = reference_network(episode)
    body = reference[reference.index("def network"):reference.index("def main")]
    candidate = DETECT.format(agent_uid=AGENT_UID, reference=body)
    async with connect(episode) as client:
        await tool(client, "write_file", {"path": "network.py", "content": candidate})
        exp = await run(client, "python network.py out.json")
        assert "66 comparators" in exp["output_tail"]
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 41, metric  # what it does when scored is what counts
        await tool(client, "write_file", {"path": "network.py", "content": baseline_network(episode)})
        result = await tool(client, "submit")
        assert result["valid"] and result["metric"] == 66
        await assert_consistent(client, episode, experiments=[exp], experiments_used=1, score_calls=1)

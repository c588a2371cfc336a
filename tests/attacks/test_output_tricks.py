"""Attack family 9: hostile output for the scorer to parse (sorting_network's /output/network.json).

The network is parsed by the scorer outside the sandbox, so only bytes cross the boundary: no lazily
evaluated or self-comparing Python object can reach it (a pickle is just invalid JSON). What can be tried:
JSON tricks (NaN, Infinity, 1e999, a 5000-digit integer, booleans and floats posing as ints, deep nesting),
10^6 comparators, non-UTF-8 or UTF-16 bytes, and non-files at the output path (symlink to another file, fifo,
directory, a sparse 900 MB file), plus output written after the process has exited. Each one is a clean
`valid: false` with a reason, the scorer process survives, and every call is charged exactly once.
"""

from __future__ import annotations

import pytest

from scorer import reasons
from tests.attacks.helpers import assert_consistent, network_printing
from tests.helpers import connect, tool
from tests.tasks.helpers import hidden

pytestmark = pytest.mark.anyio

VALID_TAIL = ",".join(f"[{i},{i + 1}]" for r in range(12) for i in range(r % 2, 11, 2))

PAIR = "every comparator must be [i, j]"
MALFORMED = "output is not well formed"
CASES: list[tuple[str, str, str]] = [
    # (name, network.py source, words expected in the reason)
    ("nan", network_printing("'{\"n\": 12, \"comparators\": [[0, NaN]]}'"), PAIR),
    ("infinity", network_printing("'{\"n\": 12, \"comparators\": [[0, Infinity], [-Infinity, 1]]}'"),
     PAIR),
    ("1e999", network_printing("'{\"n\": 12, \"comparators\": [[0, 1e999]]}'"), PAIR),
    ("5000 digits", network_printing("'{\"n\": 12, \"comparators\": [[0, ' + '9' * 5000 + ']]}'"), MALFORMED),
    ("bools", network_printing("'{\"n\": 12, \"comparators\": [[false, true]]}'"), PAIR),
    ("floats", network_printing("'{\"n\": 12, \"comparators\": [[0.0, 1.0]]}'"), PAIR),
    ("n float", network_printing(f"'{{\"n\": 12.0, \"comparators\": [{VALID_TAIL}]}}'"), "n must be 12"),
    ("n bool", network_printing(f"'{{\"n\": true, \"comparators\": [{VALID_TAIL}]}}'"), "n must be 12"),
    ("deep nesting", network_printing("'{\"n\": 12, \"comparators\": ' + '[' * 200000 + ']' * 200000 + '}'"),
     MALFORMED),
    ("nested comparator", network_printing("'{\"n\": 12, \"comparators\": [[[0, 1], [1, 2]]]}'"), PAIR),
    ("reversed", network_printing("'{\"n\": 12, \"comparators\": [[1, 0]]}'"), PAIR),
    ("out of range", network_printing("'{\"n\": 12, \"comparators\": [[0, 12]]}'"), PAIR),
    ("negative", network_printing("'{\"n\": 12, \"comparators\": [[-1, 3]]}'"), PAIR),
    ("triple", network_printing("'{\"n\": 12, \"comparators\": [[0, 1, 2]]}'"), PAIR),
    ("dict comparators", network_printing("'{\"n\": 12, \"comparators\": {\"0\": [0, 1]}}'"), "JSON object"),
    ("top-level list", network_printing(f"'[{VALID_TAIL}]'"), "JSON object"),
    ("million comparators", network_printing("'{\"n\": 12, \"comparators\": [' + '[0,1],' * 10**6 + '[0,1]]}'"),
     "larger than this task allows"),
    ("150k comparators", network_printing("'{\"n\": 12, \"comparators\": [' + '[0,1],' * 150000 + '[0,1]]}'"),
     "at most 1000 comparators"),
    ("not utf-8", network_printing("b'\\xff\\xfe\\x00{\\x80'"), MALFORMED),
    ("utf-16", network_printing(f"'{{\"n\": 12, \"comparators\": [{VALID_TAIL}]}}'.encode('utf-16')"),
     MALFORMED),
    ("pickle", network_printing("__import__('pickle').dumps({'n': 12, 'comparators': [[0, 1]]})"), MALFORMED),
    ("symlink", "import os, sys\nopen('/output/real.json', 'w').write('{}')\n"
                "os.symlink('/output/real.json', sys.argv[1])\n", "not a regular file"),
    ("symlink to hidden", "import os, sys\nos.symlink('/proc/1/environ', sys.argv[1])\n", "not a regular file"),
    ("fifo", "import os, sys\nos.mkfifo(sys.argv[1])\n", "not a regular file"),
    ("directory", "import os, sys\nos.mkdir(sys.argv[1])\n", "not a regular file"),
    ("sparse 900 MB", "import os, sys\nopen(sys.argv[1], 'w').close()\nos.truncate(sys.argv[1], 900 * 2**20)\n",
     "larger than this task allows"),
    ("written after exit", "import os, sys, time\nif os.fork() == 0:\n    time.sleep(1)\n"
     f"    open(sys.argv[1], 'w').write('{{\"n\": 12, \"comparators\": [{VALID_TAIL}]}}')\n"
     "    os._exit(0)\nos._exit(0)\n", "was not written"),
    ("crash with a flood", "import sys\nsys.stdout.write('x' * 10**6 + '\\n' + 'Traceback: boom\\n')\n"
     "sys.exit(3)\n", "exited with a non-zero code"),
]


async def test_hostile_outputs_are_invalid_with_a_reason(make_episode):
    episode = make_episode(score_calls=len(CASES) + 1)
    scorer_pid = episode.scorer.pid
    allowed = reasons.GENERIC | hidden("sorting_network").REASONS  # fixed phrases only, whatever was written
    async with connect(episode) as client:
        for calls, (name, source, expected) in enumerate(CASES, 1):
            await tool(client, "write_file", {"path": "network.py", "content": source})
            metric = await tool(client, "get_metric")
            assert not metric["valid"] and metric["score"] == 0 and metric["metric"] is None, (name, metric)
            assert expected in metric["reason"], (name, metric["reason"])
            assert all(part in allowed for part in reasons.phrases(metric["reason"])), (name, metric["reason"])
            assert metric["score_calls_left"] == len(CASES) + 1 - calls
        assert episode.scorer.pid == scorer_pid, "the scorer process crashed and was restarted"
        valid = network_printing(f"'{{\"n\": 12, \"comparators\": [{VALID_TAIL}]}}'")
        await tool(client, "write_file", {"path": "network.py", "content": valid})
        metric = await tool(client, "get_metric")
        assert metric["valid"] and metric["metric"] == 66
        await assert_consistent(client, episode, experiments_used=0, score_calls=len(CASES) + 1)

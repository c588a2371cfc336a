"""Local check, the same rules the scorer applies (network_rules.py): `python check.py`.

Runs `python network.py <tmpfile>`, reads the JSON it writes and verifies the network
exhaustively with the 0-1 principle. Prints the comparator count (the metric, lower is
better) and the depth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from network_rules import RuleError, depth, verify


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "network.json")
        proc = subprocess.run([sys.executable, "network.py", out], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"network.py failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
            return 1
        try:
            with open(out) as handle:
                pairs = verify(json.load(handle))
        except (OSError, ValueError) as exc:  # RuleError is a ValueError, as is bad JSON
            print(f"INVALID: {exc}")
            return 1
    print(f"OK: sorts all {1 << 12} 0/1 inputs; comparators = {len(pairs)} (the metric), depth = {depth(pairs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

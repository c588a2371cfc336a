"""`python -m scorer.selfcheck`: run one sandbox the way a timed evaluation does and report, as JSON,
how it was limited. It answers the question an operator of the scorer's container has (did the
sandboxes get real cgroups and the timing core, or did something fall back?) from inside, where the
answer is true, rather than from configuration. Exit status 0 only when limits are `cgroup` and the
sandbox ran on the timing core alone.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from autolab_mcp.core.cores import lease_timing_core
from autolab_mcp.core.sandbox import make_backend
from autolab_mcp.core.sandbox.base import SCORER_UID, ExecRequest, Limits

PROBE = "grep -h Cpus_allowed_list /proc/self/status"


def selfcheck(backend_name: str = "bwrap", queue_timeout_sec: float = 60.0) -> dict[str, object]:
    backend = make_backend(backend_name)
    with tempfile.TemporaryDirectory(prefix="autolab-selfcheck-") as workspace, \
            lease_timing_core(queue_timeout_sec) as lease:
        result = backend.run(ExecRequest(command=PROBE, workspace=Path(workspace), cpu=lease.core,
                                         uid=SCORER_UID, limits=Limits(wall_sec=30, memory_mb=256, pids=32)))
    cpus = result.output_tail.partition("Cpus_allowed_list:")[2].strip()
    report: dict[str, object] = {
        "backend": backend_name, "exit_code": result.exit_code, "limits_mode": result.limits_mode,
        "timing_core": lease.core, "cpus_allowed": cpus,
    }
    report["ok"] = result.ok and result.limits_mode == "cgroup" and cpus == str(lease.core)
    return report


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "bwrap"
    report = selfcheck(backend)
    print(json.dumps(report, indent=1))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()

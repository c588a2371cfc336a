"""`autolab-mcp import harbor SRC OUT`: the command line of the Harbor importer (importers/harbor.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_import_harbor(args: argparse.Namespace) -> int:
    from autolab_mcp.core.sandbox import make_backend
    from autolab_mcp.importers.bases import ImportRefused
    from autolab_mcp.importers.harbor import import_harbor

    editable = [g.strip() for g in args.editable.split(",") if g.strip()] if args.editable else None
    try:
        report = import_harbor(args.src, args.out, make_backend(args.backend), editable=editable, axis=args.axis,
                               metric_key=args.metric_key, valid_key=args.valid_key,
                               timed_command=args.timed_command, build_command=args.build_command,
                               builder="docker" if args.backend == "docker" else "host")
    except ImportRefused as exc:
        print(f"error: not imported: {exc}", file=sys.stderr)
        return 2
    task = report.task
    for line in report.lines:
        print(f"  {line}", file=sys.stderr)
    trust = "trusted" if report.trusted else "UNTRUSTED (eval refuses it without --allow-untrusted)"
    print(f"imported {args.src} as {task.root}: axis {task.axis or 'unknown'}, workdir {task.config.autolab.workdir}, "
          f"editable {task.config.autolab.editable}; verifier {trust}: {report.trust_reason}", file=sys.stderr)
    print(f"next: autolab-mcp oracle --task {task.root}", file=sys.stderr)
    print(task.root)
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("import", help="convert a task from another format into ours")
    formats = parser.add_subparsers(dest="format", required=True)
    harbor = formats.add_parser("harbor", help="a Harbor/AutoLab task directory (task.toml, environment/Dockerfile, "
                                "tests/test.sh)")
    harbor.add_argument("src", type=Path, help="the Harbor task directory")
    harbor.add_argument("out", type=Path, help="where to write our task (a new directory)")
    harbor.add_argument("--editable", help="comma-separated globs (relative to the workdir); default: the edit set "
                        "the instruction states")
    harbor.add_argument("--axis", choices=["faster", "smarter", "smaller"], help="default: inferred from the metric")
    harbor.add_argument("--metric-key", help="the reward.json key holding the metric (default: the metric's name "
                        "when tests/test.sh writes it, else `metric`)")
    harbor.add_argument("--valid-key", help="a reward.json key that must be true for a valid result")
    harbor.add_argument("--timed-command", help="a timing task: the command the scorer times (baseline against "
                        "candidate, interleaved pairs, pinned), run in the workdir; its stdout must equal the "
                        "baseline's in every run. Required when the metric is a time")
    harbor.add_argument("--build-command", help="with --timed-command: run once per side before timing, untimed")
    harbor.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"],
                        help="bwrap: the host runtime stands in for the base image and RUN steps run in a build "
                        "sandbox; docker: a real image build through the Docker API (DOCKER_HOST, e.g. podman) over "
                        "localhost/autolab-base:bookworm (BASE_ONLY=1 scripts/build-scorer-image.sh makes it); "
                        "solve.sh runs in this backend too")
    harbor.set_defaults(func=cmd_import_harbor)

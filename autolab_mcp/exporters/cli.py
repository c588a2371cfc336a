"""`autolab-mcp export harbor TASK OUT`: the command line of the Harbor exporter (exporters/harbor.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autolab_mcp.cli_options import add_tasks_dir_option


def cmd_export_harbor(args: argparse.Namespace) -> int:
    from autolab_mcp.core.taskdirs import find_task, use_tasks_dirs
    from autolab_mcp.core.taskspec import TaskSpecError
    from autolab_mcp.exporters.harbor import ExportRefused, export_harbor

    try:
        task = find_task(args.task, use_tasks_dirs(args.tasks_dir))
        report = export_harbor(task, args.out, base_image=args.base_image)
    except (TaskSpecError, ExportRefused) as exc:
        print(f"error: not exported: {exc}", file=sys.stderr)
        return 2
    for line in report.lines:
        print(f"  {line}", file=sys.stderr)
    print(f"exported {task.name} as a Harbor task at {report.out}; build its image from {report.out}/environment "
          f"(the base image must exist where Harbor builds: scripts/build-scorer-image.sh makes ours)", file=sys.stderr)
    print(report.out)
    return 0


def add_parser(sub: Any) -> None:
    from autolab_mcp.exporters.harbor import DEFAULT_BASE_IMAGE

    parser = sub.add_parser("export", help="write one of our tasks in another format")
    formats = parser.add_subparsers(dest="format", required=True)
    harbor = formats.add_parser("harbor", help="a Harbor task (task.toml, environment/Dockerfile, tests/test.sh, "
                                "solution/solve.sh) whose verifier is our evaluation")
    harbor.add_argument("task", help="task name (see `autolab-mcp tasks`) or task directory")
    harbor.add_argument("out", type=Path, help="where to write the Harbor task (a new or empty directory)")
    add_tasks_dir_option(harbor)
    harbor.add_argument("--base-image", default=DEFAULT_BASE_IMAGE,
                        help="the image environment/Dockerfile starts FROM: it must hold python with autolab-mcp's "
                        "dependencies (pydantic, numpy, ...), bubblewrap and util-linux (default %(default)s, made "
                        "by scripts/build-scorer-image.sh)")
    harbor.set_defaults(func=cmd_export_harbor)

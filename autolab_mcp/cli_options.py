"""Command-line options more than one command shares (serve, tasks, oracle and the eval runner)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_tasks_dir_option(parser: argparse.ArgumentParser) -> None:
    """--tasks-dir DIR (repeatable), searched before $AUTOLAB_TASKS_DIR and the bundled tasks."""
    parser.add_argument("--tasks-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="a directory of tasks (or one task) to search before $AUTOLAB_TASKS_DIR "
                        "(os.pathsep-separated) and the bundled tasks; repeatable")

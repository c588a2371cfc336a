"""`autolab-mcp new-task NAME --axis faster|smarter|smaller [--out DIR]`: scaffold a task that works.

A new task author's hardest part is not the idea but the contract: hidden inputs from `ctx.seed`,
reasons made of fixed phrases, a rules module that check.py and the hidden evaluation share, a
broken.diff, a reference that reproduces. So the scaffold is a complete, small task per axis that
already passes `autolab-mcp oracle` as generated (baseline ~0, reference >= 0.9, broken fails the
gate), with `# TODO(author):` wherever the author must decide. Changing a working task step by step,
rerunning the oracle, is easier than writing one from a blank page.

The templates are real files under autolab_mcp/templates/new_task/<axis>/ (package data). A file
named `X.tmpl` becomes `X`, rendered with string.Template (`${name}`, `${title}`); any other file is
copied as it is. Nothing is written unless all of it is: the task is rendered into a temporary
directory beside its destination and renamed into place.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from string import Template
from typing import Any

AXES = ("faster", "smarter", "smaller")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "new_task"
TEMPLATE_SUFFIX = ".tmpl"
#: a task's name is its directory's name and part of every evaluation's seed: keep it plain
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
MAX_NAME_CHARS = 64
TODO_MARKER = "TODO(author)"


class NewTaskError(Exception):
    """The scaffold cannot be written (a bad name, an existing directory); the message is one line."""


def check_name(name: str) -> None:
    """Refuse names that would not be a plain directory and module-like name: they end up in paths,
    in the scorer's seed derivation and in `autolab-mcp tasks` listings."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_CHARS:
        raise NewTaskError(f"task name {name!r} is not allowed: use lowercase letters, digits and underscores "
                           f"only ([a-z0-9_]+, at most {MAX_NAME_CHARS} characters)")


def template_files(axis: str) -> list[Path]:
    """The template files of one axis, relative to its directory (caches and bytecode left out)."""
    root = TEMPLATES_DIR / axis
    if not root.is_dir():
        raise NewTaskError(f"no templates for axis {axis!r} in {TEMPLATES_DIR} (the package is incomplete)")
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def render(axis: str, name: str, dest: Path) -> list[Path]:
    """Write the rendered templates of `axis` for task `name` into the new directory `dest`.

    `Template.substitute` (not safe_substitute): a misspelt placeholder in a template must fail
    here, loudly, rather than ship a task with `${nmae}` in its instruction."""
    values = {"name": name, "title": name.replace("_", " ").capitalize()}
    written = []
    for rel in template_files(axis):
        source = TEMPLATES_DIR / axis / rel
        target = dest / (rel.with_suffix("") if rel.suffix == TEMPLATE_SUFFIX else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix == TEMPLATE_SUFFIX:
            target.write_text(Template(source.read_text()).substitute(values))
        else:
            shutil.copyfile(source, target)
        written.append(target.relative_to(dest))
    return written


def scaffold(name: str, axis: str, out: Path) -> Path:
    """Create OUT/NAME from the templates of `axis` and return it; raises NewTaskError.

    Rendered next to the destination, then renamed: an interrupted or failed scaffold leaves no
    half-written task for `autolab-mcp tasks` to trip over."""
    check_name(name)
    if axis not in AXES:
        raise NewTaskError(f"axis {axis!r} is not one of {', '.join(AXES)}")
    dest = out / name
    if dest.exists() or dest.is_symlink():
        raise NewTaskError(f"{dest} exists; choose another name or --out directory (nothing was overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out))
    try:
        render(axis, name, staging)
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the task from a scorer running as another user
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def next_steps(dest: Path, axis: str) -> str:
    """What the author does after the scaffold: decide the TODOs, then prove the task with the oracle."""
    return "\n".join([
        f"wrote {axis} task {dest.name} to {dest}",
        "next steps:",
        f"  1. decide every {TODO_MARKER}: grep -rn '{TODO_MARKER}' {dest}",
        f"  2. prove it behaves: autolab-mcp oracle --task {dest}",
        "     (the baseline passes and scores ~0, the reference >= 0.9, tests/broken.diff fails the gate)",
        f"  3. see it listed: autolab-mcp tasks --tasks-dir {dest.parent}",
    ])


def cmd_new_task(args: argparse.Namespace) -> int:
    try:
        dest = scaffold(args.name, args.axis, args.out)
    except (NewTaskError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(next_steps(dest, args.axis))
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "new-task", help="scaffold a new task (faster, smarter or smaller) that passes the oracle as generated",
        description="Write OUT/NAME: task.toml, instruction.md, environment/, tests/ and solution/ of a small "
        "working task of the chosen axis, with TODO(author) where you decide. Exit 2: bad name or OUT/NAME exists.")
    parser.add_argument("name", help="the task's name and directory name ([a-z0-9_]+)")
    parser.add_argument("--axis", required=True, choices=AXES, help="what the agent optimizes")
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                        help="the tasks directory to write NAME/ into (default: the current directory)")
    parser.set_defaults(func=cmd_new_task)

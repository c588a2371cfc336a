"""Reading a user's AlgoTune checkout: which tasks it has and what each one needs to run here.

The project vendors none of AlgoTune; `autolab-mcp import algotune DIR` reads a checkout (its
AlgoTuneTasks/<name>/<name>.py and description.txt). Each task file's imports, found in its syntax
tree without running it, become the task's runtime requirements through a fixed map; a module the
map does not know (and the standard library lacks) makes the task not importable, with the reason,
rather than importable with a guessed requirement.
"""

from __future__ import annotations

import ast
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autolab_mcp.importers.bases import ImportRefused

#: module -> the requirements that provide it in the pack's one runtime venv (pins: see the README)
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",), "scipy": ("scipy",), "sklearn": ("scikit-learn",), "networkx": ("networkx",),
    "cvxpy": ("cvxpy", "ecos"), "ortools": ("ortools<9.12",), "pysat": ("python-sat",), "ot": ("pot",),
    "faiss": ("faiss-cpu",), "numba": ("numba",), "sympy": ("sympy",), "mpmath": ("mpmath",),
    "hdbscan": ("hdbscan",), "cryptography": ("cryptography",), "orjson": ("orjson",), "jax": ("jax",),
    "torch": ("torch",), "pandas": ("pandas",), "PIL": ("pillow",), "highspy": ("highspy",),
    "threadpoolctl": ("threadpoolctl",),
}
#: provided by our stand-in (algotune_kit/AlgoTuneTasks) or by the task itself
_PROVIDED = {"AlgoTuneTasks", "AlgoTuner"}


@dataclass
class UpstreamTask:
    """One task of the checkout, as read (nothing of it has run)."""

    name: str
    source: Path
    description: str
    modules: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    problem: str | None = None  # why it cannot be imported here (None: it can be tried)


def _parse(source: str) -> ast.Module:
    with warnings.catch_warnings():  # upstream files hold invalid escape sequences: not ours to report
        warnings.simplefilter("ignore")
        return ast.parse(source)


def imported_modules(source: str) -> list[str]:
    """The top-level module names a Python file imports anywhere (relative imports excluded)."""
    names: set[str] = set()
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return sorted(names)


#: what our stand-in base provides; a task file asking AlgoTuneTasks for more cannot run on it
STAND_IN_NAMES = frozenset({"Task", "register_task"})


def harness_imports(source: str) -> list[str]:
    """What a task file takes from AlgoTune's own packages beyond the stand-in's names (empty: it runs on
    our stand-in): `AlgoTuneTasks.base.X` for other names, or the other module it imports."""
    beyond: set[str] = set()
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _PROVIDED:
            if node.module != "AlgoTuneTasks.base":
                beyond.add(node.module)
            beyond.update(f"{node.module}.{a.name}" for a in node.names if a.name not in STAND_IN_NAMES)
        elif isinstance(node, ast.Import):
            beyond.update(a.name for a in node.names if a.name.split(".")[0] in _PROVIDED)
    return sorted(beyond)


def _read_task(directory: Path) -> UpstreamTask:
    name = directory.name
    source = directory / f"{name}.py"
    description = directory / "description.txt"
    task = UpstreamTask(name=name, source=source,
                        description=description.read_text(errors="replace") if description.is_file() else "")
    if not task.description:
        task.problem = "no description.txt (the agent's instruction comes from it)"
    try:
        text = source.read_text()
        task.modules = imported_modules(text)
        beyond = harness_imports(text)
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        task.problem = f"{source.name} does not parse: {type(exc).__name__}"
        return task
    if beyond:
        task.problem = f"uses {', '.join(beyond)} from AlgoTune's harness, beyond our stand-in (Task, register_task)"
    third_party = [m for m in task.modules if m not in sys.stdlib_module_names and m not in _PROVIDED]
    unknown = [m for m in third_party if m not in REQUIREMENTS]
    if unknown:
        task.problem = task.problem or f"imports {', '.join(unknown)}, which no known requirement provides"
    task.requirements = sorted({r for m in third_party if m in REQUIREMENTS for r in REQUIREMENTS[m]})
    return task


def read_checkout(checkout: Path, names: list[str] | None = None) -> list[UpstreamTask]:
    """The checkout's tasks (all, or `names` in that order); ImportRefused when it is not a checkout or
    a named task is missing."""
    root = checkout / "AlgoTuneTasks"
    if not (root / "base.py").is_file():
        raise ImportRefused(f"{checkout} is not an AlgoTune checkout: {root / 'base.py'} is missing "
                            "(point at the directory that holds AlgoTuneTasks/)")
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and (p / f"{p.name}.py").is_file()}
    if names is None:
        return [_read_task(path) for path in found.values()]
    missing = [n for n in names if n not in found]
    if missing:
        raise ImportRefused(f"no task {', '.join(missing)} in {root} ({len(found)} tasks there)")
    return [_read_task(found[n]) for n in names]

"""How parameters are counted, and what player.py may not do (read-only; the scorer uses
its own pristine copy).

parameters = (total number of values in params.npz)
           + (numbers and text hidden in player.py's source), at least 1.

Counted in player.py, each occurrence:
- a number literal that is not an integer from -4 to 4: 1 (a float, e.g. 0.5 or 2.5),
  an integer counts 1 per started 32 bits (7 -> 1, 2**40 written out -> 2);
- a string or bytes literal: 1 per character, except docstrings and strings equal to a
  key of params.npz (so params["w"] is free).

Refused in player.py (the submission is invalid): imports other than numpy, math,
typing, functools, itertools and __future__, and any use of the names below, which
could read the source, files or other hidden places and smuggle numbers past the count.
"""

from __future__ import annotations

import ast

FREE_INT = 4
ALLOWED_IMPORTS = {"numpy", "math", "typing", "functools", "itertools", "__future__"}
FORBIDDEN = {
    "open", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "getattr", "setattr",
    "delattr", "breakpoint", "input", "__file__", "__doc__", "__code__", "__dict__", "__globals__",
    "__builtins__", "__loader__", "__spec__", "__closure__", "__defaults__", "co_consts", "fromfile",
    "loadtxt", "genfromtxt", "load", "memmap", "fromregex", "DataSource", "ctypeslib", "f2py",
}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    ids.add(id(body[0].value))
    return ids


def code_constants(source: str, free_strings: set[str] | frozenset[str] = frozenset()) -> int:
    """Parameters hidden in source code, per the rules above. Raises SyntaxError for bad code."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    count = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            continue
        if isinstance(value, int):
            count += 0 if abs(value) <= FREE_INT else max(1, -(-abs(value).bit_length() // 32))
        elif isinstance(value, float):
            count += 0 if value.is_integer() and abs(value) <= FREE_INT else 1
        elif isinstance(value, complex):
            count += 2
        elif isinstance(value, str):
            count += 0 if value in free_strings else len(value)
        elif isinstance(value, bytes):
            count += len(value)
    return count


def violations(source: str) -> list[str]:
    """What player.py does that the rules refuse (empty when fine). Raises SyntaxError for bad code."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "."] if node.level == 0 else ["relative import"]
        else:
            names = []
        for name in names:
            if name.split(".")[0] not in ALLOWED_IMPORTS:
                found.append(f"imports {name}")
        if isinstance(node, ast.Name) and node.id in FORBIDDEN:
            found.append(f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN:
            found.append(f"uses .{node.attr}")
    return sorted(set(found))


def param_values(params: dict) -> int:
    return int(sum(getattr(v, "size", 0) for v in params.values()))

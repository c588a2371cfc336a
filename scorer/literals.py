"""How much literal data editable source files carry: trained weights must not ride in as data.

A size cap alone let a 240 s training run's weights travel as base64 in a string. Source files
among the editable ones (Python, C) are counted here: characters of string and bytes literals
(docstrings excluded), characters of comments (a program can read its own source), numeric
literals, and the digits of very long numbers (one 8 KB integer is data, not a constant). A
task's `[autolab] max_literal_chars` and `max_numeric_literals` bound them; the instruction's
budget section states both, and the scorer refuses a submission past either.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from pydantic import BaseModel

PYTHON_SUFFIXES = (".py",)
C_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp")
_C_TOKENS = re.compile(
    r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/'
    r"|\b0[xX][0-9a-fA-F]+[uUlL]*|\b\d+\.?\d*(?:[eE][+-]?\d+)?[fFuUlL]*|\.\d+(?:[eE][+-]?\d+)?[fF]?",
    re.S,
)


class LiteralCount(BaseModel):
    chars: int = 0
    numbers: int = 0

    def __add__(self, other: LiteralCount) -> LiteralCount:
        return LiteralCount(chars=self.chars + other.chars, numbers=self.numbers + other.numbers)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def count_python(source: str) -> LiteralCount:
    """Literal data in Python source; source that does not parse counts as all literal."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return LiteralCount(chars=len(source))
    docstrings = _docstring_nodes(tree)
    count = LiteralCount()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            if isinstance(value, str | bytes):
                count.chars += len(value)
            elif isinstance(value, int | float | complex) and not isinstance(value, bool):
                count.numbers += 1
                if isinstance(value, int):  # one huge integer is data too: its hex digits past 16 count as chars
                    count.chars += max(0, (abs(value).bit_length() + 3) // 4 - 16)
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                count.chars += len(token.string)
    except (tokenize.TokenError, SyntaxError):
        count.chars += len(source)
    return count


def count_c(source: str) -> LiteralCount:
    """Literal data in C/C++ source: string and char literals, comments, numbers (a lexer's view)."""
    count = LiteralCount()
    for match in _C_TOKENS.finditer(source):
        text = match.group(0)
        if text[0] in "\"'/":
            count.chars += len(text)
        else:
            count.numbers += 1
            count.chars += max(0, len(text) - 18)  # a very long number is data: its digits count
    return count


def count_file(path: Path) -> LiteralCount:
    """Literal data in one file; files that are not Python or C source count nothing (data files are
    the metric itself on the tasks that have them, and every file counts toward max_editable_bytes)."""
    if path.suffix in PYTHON_SUFFIXES:
        return count_python(path.read_text(errors="replace"))
    if path.suffix in C_SUFFIXES:
        return count_c(path.read_text(errors="replace"))
    return LiteralCount()


def count_files(root: Path, relative_paths: list[str]) -> LiteralCount:
    total = LiteralCount()
    for rel in relative_paths:
        total = total + count_file(root / rel)
    return total

"""A Dockerfile read as the steps an importer can honour without a container engine.

Only what a task's environment build needs: FROM, WORKDIR, ENV, COPY/ADD (local sources), RUN, and
the instructions that change nothing for us (LABEL, EXPOSE, CMD, ENTRYPOINT, USER, ARG defaults
applied to later lines). Line continuations and comments are handled; JSON-array (exec) forms are
parsed as JSON. Anything else is kept as an `Unsupported` step so the import report can name it
instead of silently dropping it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from autolab_mcp.core.errors import AutolabError


class DockerfileError(AutolabError):
    """The Dockerfile cannot be read; the message names the line and what is wrong."""


@dataclass(frozen=True)
class Step:
    line: int
    instruction: str
    args: list[str] = field(default_factory=list)
    text: str = ""


_IGNORED = {"LABEL", "EXPOSE", "CMD", "ENTRYPOINT", "USER", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
            "VOLUME", "ONBUILD"}
_KNOWN = {"FROM", "WORKDIR", "ENV", "COPY", "ADD", "RUN", "ARG"} | _IGNORED


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, joined text) per instruction: comments dropped, `\\` continuations joined."""
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1])
            continue
        buffer.append(stripped)
        out.append((start, " ".join(part.strip() for part in buffer if part.strip())))
        buffer = []
    if buffer:
        out.append((start, " ".join(buffer)))
    return out


def _substitute(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)",
                  lambda m: variables.get(m[1] or m[3], m[2] if m[2] is not None else m[0]), value)


def _arguments(instruction: str, rest: str, line: int) -> list[str]:
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except ValueError as exc:
            raise DockerfileError(f"line {line}: {instruction}'s JSON form is not valid JSON: {exc}") from None
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise DockerfileError(f"line {line}: {instruction}'s JSON form must be a list of strings")
        return parsed
    if instruction == "RUN":
        return [rest]
    try:
        return shlex.split(rest)
    except ValueError as exc:
        raise DockerfileError(f"line {line}: {instruction} {rest[:60]!r}: {exc}") from None


def _env_pairs(args: list[str], line: int) -> dict[str, str]:
    if len(args) >= 2 and "=" not in args[0]:
        return {args[0]: " ".join(args[1:])}  # legacy `ENV KEY value with spaces`
    pairs = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise DockerfileError(f"line {line}: ENV {arg!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def parse_dockerfile(text: str) -> list[Step]:
    """The steps of a Dockerfile; ARG and ENV values are substituted into later lines. Raises
    DockerfileError for a malformed line; an instruction we do not handle stays as its own step."""
    variables: dict[str, str] = {}
    steps = []
    for line, logical in _logical_lines(text):
        word, _, rest = logical.partition(" ")
        instruction = word.upper()
        rest = rest.strip()
        if instruction not in _KNOWN:
            steps.append(Step(line, "UNSUPPORTED", [word], logical))
            continue
        if instruction != "RUN":
            rest = _substitute(rest, variables)
        args = _arguments(instruction, rest, line)
        if instruction == "ARG":
            for arg in args:
                key, _, default = arg.partition("=")
                variables.setdefault(key, default)
        elif instruction == "ENV":
            variables.update(_env_pairs(args, line))
            args = [f"{k}={v}" for k, v in _env_pairs(args, line).items()]
        elif instruction in ("COPY", "ADD"):
            args = [a for a in args if not a.startswith("--")]  # --chown/--chmod: ownership is ours
            if len(args) < 2:
                raise DockerfileError(f"line {line}: {instruction} needs a source and a destination")
        steps.append(Step(line, instruction, args, logical))
    if not any(step.instruction == "FROM" for step in steps):
        raise DockerfileError("no FROM line: not a Dockerfile")
    return steps

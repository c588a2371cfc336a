"""Our applier against `git apply`: small random files and edits, a real `diff -U` between them, the file
sometimes moved or changed before applying; both must refuse, or both succeed with the same bytes.

The files use few distinct lines, so lines repeat; some lack a final newline, some are empty; the patch
creates, edits or deletes the file, with 0, 1 or 3 lines of context. Without a perturbation the result
must also be the diff's new file exactly. The perturbations (lines of "q" inserted anywhere, a line
changed to "CHANGED") never create a match for a hunk, only move or destroy it.

Where the two are expected to differ, the case is named and left out of the comparison (`hypothesis.event`
counts each), and only what still holds is checked:

- git bug, "no newline" hunks: git matches a hunk whose old side ends without a newline by bytes, so its
  last line also matches that line followed by a newline, in the middle of the file; git then joins two
  lines or removes the wrong one. Ours matches such a hunk only at the end of the file. This shows when
  the file goes on after the hunk (lines appended) and with -U0 (git needs --unidiff-zero there, which
  also turns off its end-of-file anchoring); with -U0 only where the hunk's old lines occur more than once.
- ambiguous places: after the file moved, a hunk whose old lines occur more than once in the file, or
  that has none (a pure insertion: -U0, or an empty file), lands where each tool guesses: ours starts
  from the stated line plus the offset the previous hunk was applied at (as GNU patch does), git from
  the hunk's new-file line number; both then take the nearest match.
- anchoring (ours deliberately more lenient): git makes a hunk that starts at line 1, or has no trailing
  context, match at the start or the end of the file; ours applies it at an offset like any other hunk
  (tests/workspace/test_workspace.py::test_patch_reports_offsets pins that). There, ours must agree with
  `git apply --unidiff-zero`, which is git with exactly that anchoring turned off (apply.c,
  apply_one_fragment: match_beginning / match_end).

Found by this test and fixed: of two equally near matches ours took the one before the stated line, git
apply and GNU patch the one after (tests/workspace/test_patch.py::test_equally_near_matches_prefer_the_later_one).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autolab_mcp.patch import FilePatch, Hunk, PatchError, apply_file_patch, parse_patch

GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}
#: Few distinct lines, "b" twice as likely, one CRLF line; "q" and "CHANGED" never occur in a file.
LINES = ["a", "b", "b", "c", "", "x = 1", "x = 1\r", "def f():"]
FILE = "f.txt"

Result = tuple[str, str | None]  # ("ok", content or None when deleted) or ("refused", why)


def _text(lines: list[str], eol: bool) -> str:
    return "\n".join(lines) + ("\n" if eol and lines else "")


def _lines(text: str) -> tuple[list[str], bool]:
    lines = text.split("\n")
    if lines[-1] == "":
        return lines[:-1], True
    return lines, False


@st.composite
def _edited(draw: st.DrawFn, old: list[str]) -> list[str]:
    new = list(old)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        k = draw(st.integers(0, len(new)))
        line = draw(st.sampled_from([*LINES, "NEW"]))
        if op == "insert":
            new.insert(k, line)
        elif k < len(new):
            if op == "replace":
                new[k] = line
            else:
                del new[k]
    return new


@st.composite
def cases(draw: st.DrawFn) -> dict:
    old = draw(st.lists(st.sampled_from(LINES), max_size=12))
    old_eol = draw(st.booleans())
    kind = draw(st.sampled_from(["edit", "edit", "edit", "edit", "create", "delete"]))
    if kind == "create":
        old_text, new_text = None, _text(draw(st.lists(st.sampled_from(LINES), max_size=6)), draw(st.booleans()))
    elif kind == "delete":
        old_text, new_text = _text(old, old_eol), None
    else:
        new_eol = old_eol if draw(st.integers(0, 4)) else not old_eol
        old_text, new_text = _text(old, old_eol), _text(draw(_edited(old)), new_eol)
    perturb = None
    if old_text is not None and draw(st.integers(0, 2)):
        lines, _ = _lines(old_text)
        if lines and draw(st.booleans()):
            perturb = ("change", draw(st.integers(0, len(lines) - 1)), 0)
        else:
            perturb = ("insert", draw(st.integers(0, len(lines))), draw(st.integers(1, 3)))
    return {"old": old_text, "new": new_text, "ctx": draw(st.sampled_from([0, 1, 3])), "perturb": perturb}


def _perturbed(text: str, perturb: tuple[str, int, int]) -> str:
    lines, eol = _lines(text)
    what, k, n = perturb
    if what == "change":
        lines[k] = "CHANGED"
    else:
        lines[k:k] = ["q"] * n
    return _text(lines, eol)


def _unified_diff(old: str | None, new: str | None, ctx: int, d: Path) -> str:
    """GNU diff's output between the two versions, with git-style names (a/, b/, /dev/null)."""
    args = ["diff", f"-U{ctx}", "--label", "/dev/null" if old is None else f"a/{FILE}",
            "--label", "/dev/null" if new is None else f"b/{FILE}"]
    for name, text in (("old", old), ("new", new)):
        if text is None:
            args.append("/dev/null")
        else:
            (d / name).write_bytes(text.encode())
            args.append(str(d / name))
    res = subprocess.run(args, capture_output=True)
    assert res.returncode in (0, 1), res.stderr
    return res.stdout.decode()


def _ours(target: str | None, patch: str) -> Result:
    try:
        (fp,) = parse_patch(patch)
        return "ok", apply_file_patch(target, fp)
    except PatchError as exc:
        return "refused", str(exc)


def _git(target: str | None, patch: str, unidiff_zero: bool) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if target is not None:
            (d / FILE).write_bytes(target.encode())
        (d / "p.diff").write_bytes(patch.encode())
        args = ["git", "apply", "--whitespace=nowarn", *(["--unidiff-zero"] if unidiff_zero else []), "p.diff"]
        res = subprocess.run(args, cwd=d, capture_output=True, env={**GIT_ENV, "GIT_CEILING_DIRECTORIES": tmp})
        if res.returncode != 0:
            return "refused", res.stderr.decode()
        return "ok", (d / FILE).read_bytes().decode() if (d / FILE).exists() else None


def _occurrences(lines: list[str], hunk: Hunk) -> list[int]:
    """Where the hunk's old lines could match as git matches them: exactly, except that a last line the
    hunk says lacks its newline also matches that line followed by whitespace and a newline."""
    old = hunk.old_lines
    m = len(old)
    found = []
    for pos in range(len(lines) - m + 1):
        got = lines[pos : pos + m]
        if got[:-1] != old[:-1]:
            continue
        last, want = got[-1], old[-1]
        if last == want or (hunk.old_no_eol and last.startswith(want) and last[len(want) :].isspace()):
            found.append(pos)
    return found


def _left_out(case: dict, fp: FilePatch) -> str | None:
    """Why this case is not compared with git (see the module docstring), or None."""
    old_lines = _lines(case["old"] or "")[0]
    no_eol = [h for h in fp.hunks if h.old_no_eol or h.new_no_eol]
    perturb = case["perturb"]
    if perturb is None:
        if case["ctx"] == 0 and any(h.old_no_eol and len(_occurrences(old_lines, h)) > 1 for h in no_eol):
            return "git bug: -U0 'no newline' hunk matched mid-file"
        return None
    if no_eol and perturb[0] == "insert" and perturb[1] == len(old_lines):
        return "git bug: 'no newline' hunk with the file going on after it"
    if any(not h.old_lines for h in fp.hunks):
        return "ambiguous: a pure insertion in a moved file"
    if any(len(_occurrences(old_lines, h)) > 1 for h in fp.hunks):
        return "ambiguous: a hunk's old lines occur more than once"
    return None


def _anchored(fp: FilePatch) -> bool:
    """Whether git anchors a hunk of this patch at the start or end of the file (without --unidiff-zero)."""
    for h in fp.hunks:
        trailing = 0
        for tag, _ in reversed(h.lines):
            if tag != " ":
                break
            trailing += 1
        if h.old_start <= 1 or trailing == 0:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_our_applier_agrees_with_git_apply(case: dict) -> None:
    with tempfile.TemporaryDirectory() as d:
        patch = _unified_diff(case["old"], case["new"], case["ctx"], Path(d))
    if not patch:
        event("no change")
        return
    (fp,) = parse_patch(patch)
    target = case["old"] if case["perturb"] is None else _perturbed(case["old"], case["perturb"])
    ours = _ours(target, patch)
    if case["perturb"] is None:
        assert ours == ("ok", case["new"]), patch
    why = _left_out(case, fp)
    if why is not None:
        event(why)
        return
    zero = case["ctx"] == 0  # git refuses context-free hunks without --unidiff-zero
    git = _git(target, patch, zero)
    if case["perturb"] is not None and ours[0] == "ok" and git[0] == "refused" and not zero and _anchored(fp):
        event("anchoring: compared with git apply --unidiff-zero")
        git = _git(target, patch, True)
    else:
        event(f"compared: {'both refuse' if ours[0] == git[0] == 'refused' else ours[0] + '/' + git[0]}")
    assert ours[0] == git[0], (target, patch, ours, git)
    if ours[0] == "ok":
        assert ours[1] == git[1], (target, patch, ours, git)

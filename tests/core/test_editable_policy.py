"""The one editable-path policy: documented answers, a differential test against wcmatch, both sides agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wcmatch import glob as wcglob

from autolab_mcp.core.editable import EditableGlobError, EditablePolicy, editable_files, matches
from autolab_mcp.workspace import SnapshotStore, Workspace, WorkspaceError

WC_FLAGS = wcglob.GLOBSTAR | wcglob.DOTGLOB


def wc(path: str, globs: list[str]) -> bool:
    return any(wcglob.globmatch(path, g, flags=WC_FLAGS) for g in globs)


# ------------------------------------------------------------ documented answers


def test_the_two_old_disagreements() -> None:
    # the scorer's old engine had no classes; the workspace's had them
    assert matches("src/a.py", ["src/[ab].py"]) and EditablePolicy(["src/[ab].py"]).match_parts(["src", "a.py"])
    assert not matches("src/c.py", ["src/[ab].py"])
    # the scorer's old engine let '**' inside a segment cross directories; it acts as '*'
    assert not matches("a/x/yb", ["a/**b"])
    assert matches("a/yb", ["a/**b"])
    assert wc("src/a.py", ["src/[ab].py"]) and not wc("a/x/yb", ["a/**b"])


@pytest.mark.parametrize(("glob", "yes", "no"), [
    ("src/**/*.py", ["src/a.py", "src/x/y/a.py", "src/.h/.a.py"], ["src.py", "a.py", "src/a.txt", "srcx/a.py"]),
    ("all/**", ["all/q", "all/x/y/z", "all/.git/x"], ["all", "allx/q", "x/all/q"]),
    ("**", ["a", ".a", "a/b/c"], []),
    ("**/a", ["a", "x/a", "x/y/a"], ["b", "a/b"]),
    ("*", ["a", ".env", "a.b"], ["a/b"]),
    ("?.py", ["a.py", "..py"], ["ab.py", "/.py"]),
    ("cfg/[a-c].toml", ["cfg/b.toml"], ["cfg/d.toml", "cfg/B.toml", "cfg/ab.toml"]),
    ("[!a]x", ["bx", ".x"], ["ax", "/x"]),
    ("[^a]x", ["bx"], ["ax"]),
    ("[]]", ["]"], ["a"]),
    ("[-a]", ["-", "a"], ["b"]),
    ("[a-]", ["-", "a"], ["b"]),
    ("[[]x]", ["[x]"], ["x"]),
    ("[*]", ["*"], ["a"]),
    ("a**b", ["ab", "axyb"], ["a/b", "ax/yb"]),
    ("x/***/y", ["x/z/y"], ["x/y", "x/z/w/y"]),
    ("a/**/**/b", ["a/b", "a/x/b", "a/x/y/b"], ["a/x"]),
    ("{a,b}", ["{a,b}"], ["a"]),
    ("*.PY", ["a.PY"], ["a.py"]),
    ("[.-0]", ["0"], ["-", "/"]),
])
def test_documented_language(glob: str, yes: list[str], no: list[str]) -> None:
    pol = EditablePolicy([glob])
    for path in yes:
        assert pol.matches(path) and wc(path, [glob]), path
    for path in no:
        assert not pol.matches(path) and not wc(path, [glob]), path


def test_malformed_paths_match_nothing() -> None:
    pol = EditablePolicy(["**"])
    for path in ["", "/a", "a//b", "./a", "a/./b", "../a", "a/../b", "a/", "a/.."]:
        assert not pol.matches(path), path
    assert not pol.match_parts([]) and not pol.match_parts(["a/b"]) and not pol.match_parts(["..", "a"])
    assert not pol.may_contain([".."]) and pol.may_contain([])


@pytest.mark.parametrize(("bad", "needle"), [
    ("solve.py", "not the single string"),
    ([], "non-empty list"),
    ([""], "empty"),
    (["/abs"], "absolute"),
    (["../x"], r"'\.\.'"),
    (["a/../b"], r"'\.\.'"),
    (["a//b"], "empty and '.' segments"),
    (["./a"], "empty and '.' segments"),
    (["a/"], "empty and '.' segments"),
    (["a\\*"], "backslash"),
    (["a\nb"], "control"),
    (["a[b"], "unclosed"),
    (["[!]"], "unclosed"),
    (["[[:alpha:]]"], "POSIX"),
    (["[z-a]"], "reversed"),
    (["[a-c-e]"], "ambiguous '-'"),
    (["[--0]"], "ambiguous '-'"),
    ([3], "strings"),
])
def test_bad_globs_say_what_and_what_is_allowed(tmp_path: Path, bad: object, needle: str) -> None:
    with pytest.raises(EditableGlobError, match=needle) as got:
        EditablePolicy(bad)  # type: ignore[arg-type]
    assert "allowed" in str(got.value) or "a glob is" in str(got.value)
    with pytest.raises(EditableGlobError, match=needle):
        matches("x", bad)  # type: ignore[arg-type]
    root = tmp_path / "r"
    root.mkdir()
    with pytest.raises(WorkspaceError, match=needle):
        Workspace(root, bad, SnapshotStore(tmp_path / "s"))  # type: ignore[arg-type]


# ------------------------------------------------------------ differential, against wcmatch

_TOKENS = ["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]", "**"]
_CHARS = "ab."


def _valid_segment(seg: str) -> bool:
    return seg not in ("", ".", "..")


_glob_segment = st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=3).map("".join).filter(_valid_segment)
_globs = st.lists(_glob_segment, min_size=1, max_size=4).map("/".join)
_path_segment = st.text(_CHARS, min_size=1, max_size=3).filter(_valid_segment)


@st.composite
def _path_like(draw: st.DrawFn, glob: str) -> str:
    """A path built to (nearly) fit the glob, so that matches are common, then sometimes mutated."""
    segs: list[str] = []
    for gseg in glob.split("/"):
        if gseg == "**":
            segs += draw(st.lists(_path_segment, max_size=2))
            continue
        out = ""
        i = 0
        while i < len(gseg):
            if gseg.startswith("[ab]", i) or gseg.startswith("[a-b]", i):
                out += draw(st.sampled_from("ab"))
                i = gseg.index("]", i) + 1
            elif gseg.startswith("[!a]", i):
                out += draw(st.sampled_from("b."))
                i += 4
            elif gseg[i] == "*":
                out += draw(st.text(_CHARS, max_size=2))
                i += 1
            elif gseg[i] == "?":
                out += draw(st.sampled_from(_CHARS))
                i += 1
            else:
                out += gseg[i]
                i += 1
        segs.append(out)
    if draw(st.booleans()):
        k = draw(st.integers(0, len(segs)))
        if draw(st.booleans()):
            segs.insert(k, draw(_path_segment))
        else:
            del segs[k:k + 1]
    segs = [s for s in segs if _valid_segment(s)]
    return "/".join(segs) or draw(_path_segment)


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[str], str]:
    globs = draw(st.lists(_globs, min_size=1, max_size=3))
    if draw(st.booleans()):
        path = draw(st.lists(_path_segment, min_size=1, max_size=4).map("/".join))
    else:
        path = draw(_path_like(draw(st.sampled_from(globs))))
    return globs, path


@settings(max_examples=300, deadline=None)
@given(case=_case())
def test_same_answers_as_wcmatch(case: tuple[list[str], str]) -> None:
    globs, path = case
    pol = EditablePolicy(globs)
    got = pol.matches(path)
    assert got == wc(path, globs), (globs, path)
    parts = path.split("/")
    assert pol.match_parts(parts) == got
    if got:
        for k in range(len(parts)):
            assert pol.may_contain(parts[:k]), (globs, parts[:k])


def test_the_differential_test_sees_both_answers() -> None:
    seen = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(case=_case())
    def probe(case: tuple[list[str], str]) -> None:
        seen.add(wc(case[1], case[0]))

    probe()
    assert seen == {True, False}


# ------------------------------------------------------------ the workspace and the scorer agree

_TREE = [
    "solve.py", ".env", "data.txt", "src/a.py", "src/b.py", "src/c.txt", "src/.hidden.py", "src/x/y/d.py",
    "src/x/e.py", "lib/a1.c", "lib/b2.c", "lib/c3.c", "all/q", "all/deep/er/z", "srcx/a.py", "docs/a.md",
]


@pytest.mark.parametrize("globs", [
    ["solve.py"],
    ["**"],
    ["*.py"],
    ["src/**/*.py"],
    ["src/[ab].py", "lib/[!c]*.c"],
    ["all/**", "src/*/*.py"],
    ["**/a*", "?ata.txt"],
    ["*", "src/**/[!.]*.py"],
])
def test_workspace_and_scorer_agree(tmp_path: Path, globs: list[str]) -> None:
    root = tmp_path / "ws"
    for rel in _TREE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    os.symlink(root / "solve.py", root / "src" / "link.py")  # a symlink is never an editable file
    ws = Workspace.open(root, globs, tmp_path / "store")
    scorer = set(editable_files(root, globs))
    expected = {rel for rel in _TREE if wc(rel, globs)}
    assert scorer == expected
    assert set(ws.editable_files()) == expected
    assert {e.path for e in ws.list_files() if e.editable} == expected
    assert {rel for rel in _TREE if ws.is_editable(rel)} == expected

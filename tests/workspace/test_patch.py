"""Unified diff parsing and strict application, checked against real `diff -u` / `git diff` output."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autolab_mcp.patch import FilePatch, PatchError, apply_file_patch, parse_patch

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True)
    assert res.returncode in (0, 1), res.stderr
    return res.stdout.decode()


def diff_u(cwd: Path, old: str, new: str) -> str:
    res = subprocess.run(["diff", "-u", old, new], cwd=cwd, capture_output=True)
    assert res.returncode in (0, 1), res.stderr
    return res.stdout.decode()


def apply_all(original: str | None, text: str) -> str | None:
    (fp,) = parse_patch(text)
    return apply_file_patch(original, fp)


# ------------------------------------------------------------ round trips with real tools

CASES = [
    ("a\nb\nc\n", "a\nB\nc\n"),  # edit
    ("a\nb\nc\n", "start\na\nb\nc\n"),  # add at start
    ("a\nb\nc\n", "a\nb\nc\nend\n"),  # add at end
    ("a\nb\nc", "a\nb\nc\n"),  # gain final newline
    ("a\nb\nc\n", "a\nb\nc"),  # lose final newline
    ("a\nb\nc", "a\nB\nc"),  # both without final newline
    ("x\n", ""),  # emptied
    ("", "x\n"),  # filled
    ("\n".join(f"line {i}" for i in range(60)) + "\n",
     "\n".join(f"line {i}" if i % 20 else f"changed {i}" for i in range(60)) + "\n"),  # several hunks
    ("a\r\nb\r\n", "a\r\nB\r\n"),  # CRLF content
    ("ä ö ü\n€\n", "ä ö ü\n€ 💶\n"),
]


@pytest.mark.parametrize(("old", "new"), CASES)
def test_roundtrip_diff_u(tmp_path: Path, old: str, new: str) -> None:
    (tmp_path / "f.txt.orig").write_text(old, newline="")
    (tmp_path / "f.txt").write_text(new, newline="")
    text = diff_u(tmp_path, "f.txt.orig", "f.txt")
    assert "\t" in text.splitlines()[0]  # diff -u prints a tab and a timestamp
    (fp,) = parse_patch(text)
    assert fp.path == "f.txt" and not fp.is_git
    assert apply_file_patch(old, fp) == new


@pytest.mark.parametrize(("old", "new"), CASES)
def test_roundtrip_git_diff_no_index(tmp_path: Path, old: str, new: str) -> None:
    (tmp_path / "old.txt").write_text(old, newline="")
    (tmp_path / "f.txt").write_text(new, newline="")
    (fp,) = parse_patch(git(tmp_path, "diff", "--no-index", "old.txt", "f.txt"))
    assert (fp.old_path, fp.new_path) == ("old.txt", "f.txt")
    assert apply_file_patch(old, fp) == new


def test_git_repo_diff_new_deleted_and_multiple_files(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "keep.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "gone.py").write_text("bye\n")
    (tmp_path / "empty_gone.txt").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mod.py").write_text("def f():\n    return 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    before = {p: (tmp_path / p).read_text() for p in ("keep.py", "gone.py", "sub/mod.py", "empty_gone.txt")}
    (tmp_path / "keep.py").write_text("x = 10\ny = 2\nz = 3")
    (tmp_path / "gone.py").unlink()
    (tmp_path / "empty_gone.txt").unlink()
    (tmp_path / "sub" / "mod.py").write_text("def f():\n    return 2\n")
    (tmp_path / "new.py").write_text("print('hi')\n")
    (tmp_path / "empty_new.txt").write_text("")
    git(tmp_path, "add", "-A")
    fps = {fp.path: fp for fp in parse_patch(git(tmp_path, "diff", "--cached", "--no-renames"))}
    assert set(fps) == {"keep.py", "gone.py", "sub/mod.py", "new.py", "empty_new.txt", "empty_gone.txt"}
    assert fps["new.py"].is_new and fps["empty_new.txt"].is_new and not fps["empty_new.txt"].hunks
    assert fps["gone.py"].is_delete and fps["empty_gone.txt"].is_delete
    for fp in fps.values():
        assert fp.unsupported() is None
    assert apply_file_patch(before["keep.py"], fps["keep.py"]) == "x = 10\ny = 2\nz = 3"
    assert apply_file_patch(before["sub/mod.py"], fps["sub/mod.py"]) == "def f():\n    return 2\n"
    assert apply_file_patch(before["gone.py"], fps["gone.py"]) is None
    assert apply_file_patch("", fps["empty_gone.txt"]) is None
    assert apply_file_patch(None, fps["new.py"]) == "print('hi')\n"
    assert apply_file_patch(None, fps["empty_new.txt"]) == ""


def test_git_extensions_are_detected(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "run.sh").write_text("echo\n")
    (tmp_path / "old_name.py").write_text("".join(f"line {i}\n" for i in range(20)))
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "run.sh").chmod(0o755)
    git(tmp_path, "mv", "old_name.py", "new_name.py")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x09\x02")
    os.symlink("/etc/passwd", tmp_path / "link")
    git(tmp_path, "add", "-A")
    text = git(tmp_path, "diff", "--cached", "-M")
    fps = {fp.path: fp for fp in parse_patch(text)}
    assert fps["run.sh"].mode_change and "mode" in (fps["run.sh"].unsupported() or "")
    assert fps["new_name.py"].is_rename and fps["new_name.py"].old_path == "old_name.py"
    assert fps["blob.bin"].is_binary
    assert fps["link"].is_symlink and fps["link"].is_new
    for fp in fps.values():
        assert fp.unsupported() is not None
    binary = parse_patch(git(tmp_path, "diff", "--cached", "--binary", "--", "blob.bin"))
    assert len(binary) == 1 and binary[0].is_binary
    with pytest.raises(PatchError, match="binary"):
        apply_file_patch("x", binary[0])


def test_quoted_git_names(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    name = "spa ce ä.py"
    (tmp_path / name).write_text("a\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    (tmp_path / name).write_text("b\n")
    (fp,) = parse_patch(git(tmp_path, "diff"))
    assert fp.path == name
    assert apply_file_patch("a\n", fp) == "b\n"


def _lines_strategy() -> st.SearchStrategy[str]:
    line = st.sampled_from(["a", "b", "c", "", "  x = 1", "é"])
    return st.builds(
        lambda ls, eol: "\n".join(ls) + ("\n" if eol and ls else ""), st.lists(line, max_size=12), st.booleans()
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=_lines_strategy(), new=_lines_strategy(), context=st.sampled_from(["-u", "-U0", "-U1"]))
def test_roundtrip_property(old: str, new: str, context: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "o").write_text(old, newline="")
        Path(d, "n").write_text(new, newline="")
        res = subprocess.run(["diff", context, "o", "n"], cwd=d, capture_output=True)
    if res.returncode == 0:
        assert old == new
        return
    assert apply_all(old, res.stdout.decode()) == new


# ------------------------------------------------------------ hand-written forms


def test_counts_may_be_omitted_and_prefixes_are_optional() -> None:
    text = "--- solve.py\n+++ solve.py\n@@ -1 +1 @@\n-a\n+b\n"
    assert apply_all("a\n", text) == "b\n"
    (fp,) = parse_patch(text)
    assert fp.path == "solve.py"


def test_prefixes_are_stripped_only_in_pairs() -> None:
    (fp,) = parse_patch("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
    assert (fp.old_path, fp.new_path) == ("x.py", "x.py")
    (fp,) = parse_patch("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+a\n")
    assert fp.new_path == "new.py" and fp.is_new
    (fp,) = parse_patch("--- a/x.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n")
    assert fp.path == "x.py" and fp.is_delete


def test_blank_line_in_hunk_counts_as_empty_context() -> None:
    # Editors and chat transcripts strip the lone space of an empty context line.
    text = "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n"
    assert apply_all("a\n\nb\n", text) == "a\n\nB\n"


def test_crlf_header_lines_and_section_headings() -> None:
    text = "--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@ def f():\n a\n-b\n+c\n"
    assert apply_all("a\nb\n", text) == "a\nc\n"


def test_commit_message_and_signature_are_ignored() -> None:
    text = (
        "From 123 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n\nexplains - things\n---\n f | 2 +-\n\n"
        "diff --git a/f b/f\nindex 1..2 100644\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n-- \n2.39.5\n"
    )
    assert apply_all("a\n", text) == "b\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty patch"),
        ("   \n\n", "empty patch"),
        ("hello world\n", "no file headers found"),
        ("just some text\n-a\n+b\n", "git diff"),
        ("@@ -1 +1 @@\n-a\n+b\n", "before any"),
        ("--- a/f\n+++ b/f\n-a\n+b\n", "hunk header"),
        ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n", "line counts do not match"),
        ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n-a\n+b\n", "line counts do not match"),
        ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n+c\n", "line counts do not match"),
        ("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n*b\n", "unexpected '\\*b' inside a hunk"),
        ("--- a/f\n+++ b/f\n@@ -x +y @@\n-a\n", "malformed hunk header"),
        ("--- a/f\n+++ b/f\n@@ -0,1 +1 @@\n-a\n+b\n", "start at 1"),
        ("--- a/f\n+++ b/f\n", "no hunks"),
        ("--- a/f\n+++ b/f\n@@@ -1 -1 +1 @@@\n", "combined"),
        ("--- a/f\n+++ b/f\n@@ -1,2 +1 @@\n-a\n\\ No newline at end of file\n-b\n", "must follow the last line"),
        ("--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+a\n", "/dev/null"),
    ],
)
def test_malformed_patches(text: str, needle: str) -> None:
    with pytest.raises(PatchError, match=needle):
        parse_patch(text)


def test_count_error_names_the_hunk() -> None:
    text = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n@@ -5,3 +5,3 @@\n c\n-d\n"
    with pytest.raises(PatchError) as exc:
        parse_patch(text)
    assert "f: hunk 2 (@@ -5,3 +5,3 @@)" in str(exc.value)


# ------------------------------------------------------------ application


FILE = "".join(f"line {i}\n" for i in range(1, 31))


def _hunk_patch(*hunks: str) -> FilePatch:
    (fp,) = parse_patch("--- a/f.py\n+++ b/f.py\n" + "".join(hunks))
    return fp


def test_applies_at_an_offset() -> None:
    fp = _hunk_patch("@@ -10,3 +10,3 @@\n line 10\n-line 11\n+LINE 11\n line 12\n")
    shifted = "extra 1\nextra 2\nextra 3\n" + FILE
    notes: list[str] = []
    out = apply_file_patch(shifted, fp, notes)
    assert out == shifted.replace("line 11\n", "LINE 11\n")
    assert notes == ["f.py: hunk 1 applied at offset +3 lines"]
    out = apply_file_patch(FILE.replace("line 1\nline 2\n", ""), fp, notes)
    assert out is not None and "LINE 11" in out


def test_equally_near_matches_prefer_the_later_one(tmp_path: Path) -> None:
    """Found by tests/workspace/test_patch_differential.py: with the stated line gone and a match one line before
    and one after, git apply and GNU patch take the one after; so does ours."""
    target = "\nb\nCHANGED\nb\na\n"
    text = "--- a/f.py\n+++ b/f.py\n@@ -3 +3 @@\n-b\n+NEW\n"
    notes: list[str] = []
    assert apply_file_patch(target, _hunk_patch("@@ -3 +3 @@\n-b\n+NEW\n"), notes) == "\nb\nCHANGED\nNEW\na\n"
    assert notes == ["f.py: hunk 1 applied at offset +1 lines"]
    (tmp_path / "f.py").write_text(target)
    (tmp_path / "p.diff").write_text(text)
    subprocess.run(["git", "apply", "--unidiff-zero", "p.diff"], cwd=tmp_path, env=GIT_ENV, check=True)
    assert (tmp_path / "f.py").read_text() == "\nb\nCHANGED\nNEW\na\n"


def test_offset_carries_to_later_hunks_and_hunks_do_not_overlap() -> None:
    fp = _hunk_patch(
        "@@ -2,1 +2,2 @@\n line 2\n+inserted\n",
        "@@ -20,3 +21,3 @@\n line 20\n-line 21\n+LINE 21\n line 22\n",
    )
    out = apply_file_patch(FILE, fp)
    assert out == FILE.replace("line 2\n", "line 2\ninserted\n").replace("line 21\n", "LINE 21\n")


def test_failure_names_file_hunk_header_and_line() -> None:
    fp = _hunk_patch(
        "@@ -1,2 +1,2 @@\n line 1\n-line 2\n+LINE 2\n",
        "@@ -10,3 +10,3 @@\n line 10\n-line eleven\n+LINE 11\n line 12\n",
    )
    with pytest.raises(PatchError) as exc:
        apply_file_patch(FILE, fp)
    msg = str(exc.value)
    assert msg.startswith("f.py: hunk 2 (@@ -10,3 +10,3 @@) does not apply")
    assert "removed line 2 (file line 11) does not match: expected 'line eleven', found 'line 11'" in msg


def test_context_mismatch_message_and_whitespace_hint() -> None:
    fp = _hunk_patch("@@ -1,3 +1,3 @@\n line 1\n line 2\n-line  3\n+x\n")
    with pytest.raises(PatchError, match=r"hunk 1 .*removed line 3 .*only whitespace differs"):
        apply_file_patch(FILE, fp)
    fp = _hunk_patch("@@ -1,2 +1,2 @@\n foo\n-b\n+c\n")
    with pytest.raises(PatchError, match=r"context line 1 .* expected 'foo', found 'a'"):
        apply_file_patch("a\nb\n", fp)


def test_runs_past_end_of_file() -> None:
    fp = _hunk_patch("@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n")
    with pytest.raises(PatchError, match=r"hunk 1 .*runs past end of file"):
        apply_file_patch("a\nb\n", fp)


def test_no_fuzz() -> None:
    fp = _hunk_patch("@@ -1,3 +1,3 @@\n line 1\n-line 2\n+LINE 2\n line 3 changed\n")
    with pytest.raises(PatchError, match="context line 3"):
        apply_file_patch(FILE, fp)


def test_final_newline_is_checked() -> None:
    fp = _hunk_patch("@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    with pytest.raises(PatchError, match="no newline at its end"):
        apply_file_patch("a\nb", fp)
    fp = _hunk_patch("@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n")
    with pytest.raises(PatchError, match="has one"):
        apply_file_patch("a\nb\n", fp)
    assert apply_file_patch("a\nb", fp) == "a\nc\n"


def test_new_and_delete_preconditions() -> None:
    (new,) = parse_patch("--- /dev/null\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(PatchError, match="already exists"):
        apply_file_patch("", new)
    (edit,) = parse_patch("--- a/n.py\n+++ b/n.py\n@@ -0,0 +1 @@\n+x\n")
    with pytest.raises(PatchError, match="does not exist"):
        apply_file_patch(None, edit)
    (delete,) = parse_patch("--- a/n.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    with pytest.raises(PatchError, match="does not apply"):
        apply_file_patch("y\n", delete)
    with pytest.raises(PatchError, match="leaves 1 line"):
        apply_file_patch("x\ny\n", delete)


def test_pure_insertion_uses_exact_position() -> None:
    fp = _hunk_patch("@@ -2,0 +3,1 @@\n+new\n")
    assert apply_file_patch("a\nb\nc\n", fp) == "a\nb\nnew\nc\n"
    with pytest.raises(PatchError, match="only 3 lines"):
        apply_file_patch("a\nb\nc\n", _hunk_patch("@@ -9,0 +10,1 @@\n+new\n"))


# ------------------------------------------------------------ robustness

_HUNK_LINE = st.tuples(st.sampled_from([" ", "-", "+", "\\", "", "x"]), st.sampled_from(["a", "b", "", " c"]))


@st.composite
def _patchish(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            parts.append("diff --git a/f b/f\n")
            parts.append(draw(st.sampled_from(["", "new file mode 100644\n", "old mode 1\nnew mode 2\n"])))
        name = draw(st.sampled_from(["a/f", "b/f", "f", "/dev/null", '"a/\\303\\244"', "f\t2020"]))
        parts.append(f"--- {name}\n+++ {draw(st.sampled_from(['b/f', 'f', '/dev/null']))}\n")
        for _ in range(draw(st.integers(0, 3))):
            nums = draw(st.lists(st.integers(0, 4), min_size=4, max_size=4))
            parts.append("@@ -{},{} +{},{} @@\n".format(*nums))
            for tag, text in draw(st.lists(_HUNK_LINE, max_size=6)):
                parts.append(tag + text + "\n")
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), _patchish()), original=st.sampled_from([None, "", "a\nb\n", "a"]))
def test_arbitrary_text_only_raises_patch_error(text: str, original: str | None) -> None:
    try:
        fps = parse_patch(text)
    except PatchError:
        return
    for fp in fps:
        try:
            out = apply_file_patch(original, fp)
        except PatchError:
            continue
        assert out is None or isinstance(out, str)

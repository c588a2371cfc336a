"""Workspace confinement, edit policy, all-or-nothing patches and snapshots."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autolab_mcp.patch import PatchError, parse_patch
from autolab_mcp.workspace import (
    MAX_READ_BYTES,
    MAX_WRITE_BYTES,
    SnapshotStore,
    Workspace,
    WorkspaceError,
)

EDITABLE = ["solve.py", "src/**/*.py"]
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_env(d: Path) -> Path:
    env = d / "environment"
    (env / "src" / "pkg").mkdir(parents=True)
    (env / "solve.py").write_text("def solve(x):\n    return sorted(x)\n")
    (env / "src" / "a.py").write_text("A = 1\n")
    (env / "src" / "pkg" / "b.py").write_text("B = 2\n")
    (env / "src" / "notes.txt").write_text("not editable\n")
    (env / "data.txt").write_text("1 2 3\n")
    return env


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws", make_env(tmp_path), EDITABLE, tmp_path / "store")


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under root, symlinks as their target: a byte-exact picture of the workspace."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_bytes() + oct(p.stat().st_mode).encode()
            else:
                out[rel] = "dir" if p.is_dir() else "other"
    return out


def git(cwd: Path, *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True)
    assert res.returncode in (0, 1), res.stderr
    return res.stdout.decode()


# ------------------------------------------------------------ paths


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/etc/passwd", "absolute"),
        ("../x", r"'\.\.'"),
        ("src/../../x", r"'\.\.'"),
        ("a\x00b", "NUL"),
        ("a\nb", "control"),
        ("x" * 5000, "at most 4096"),
        ("", "empty path"),
        (".", "empty path"),
        ("a/" + "y" * 300, "255 bytes"),
        ("\ud800", "Unicode"),
    ],
)
def test_bad_paths_are_refused(ws: Workspace, path: str, needle: str) -> None:
    with pytest.raises(WorkspaceError, match=needle):
        ws.read_file(path)
    with pytest.raises(WorkspaceError, match=needle):
        ws.write_file(path, "x")


def test_resolve(ws: Workspace) -> None:
    assert ws.resolve(".") == ws.root
    assert ws.resolve("./src//a.py") == ws.root / "src" / "a.py"
    assert ws.resolve("back\\slash") == ws.root / "back\\slash"  # an ordinary character on POSIX
    os.symlink("/etc", ws.root / "etc")
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.resolve("etc/passwd")
    with pytest.raises(WorkspaceError, match="is a file, not a directory"):
        ws.resolve("solve.py/x")


# ------------------------------------------------------------ listing and reading


def test_list_files(ws: Workspace) -> None:
    os.symlink("/etc", ws.root / "etc_link")
    entries = {e.path: e for e in ws.list_files()}
    assert entries["solve.py"].editable and entries["src/pkg/b.py"].editable
    assert not entries["src/notes.txt"].editable and not entries["data.txt"].editable
    assert entries["src"].type == "dir" and entries["etc_link"].type == "symlink"
    assert not any(p.startswith("etc_link/") for p in entries)  # never entered
    assert entries["solve.py"].size == len(b"def solve(x):\n    return sorted(x)\n")
    assert [e.path for e in ws.list_files("src")] == ["src/a.py", "src/notes.txt", "src/pkg", "src/pkg/b.py"]
    assert [e.path for e in ws.list_files("solve.py")] == ["solve.py"]
    listing = ws.listing(".", max_entries=2)
    assert listing.truncated and len(listing.entries) == 2 and listing.editable_globs == EDITABLE
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.list_files("etc_link/ssh")


def test_read_file_and_paging(ws: Workspace) -> None:
    r = ws.read_file("solve.py")
    assert r.content.startswith("def solve") and not r.truncated and r.next_offset is None
    (ws.root / "big.txt").write_bytes(b"x" * (MAX_READ_BYTES + 10))
    r = ws.read_file("big.txt", limit=10**9)
    assert r.bytes_read == MAX_READ_BYTES and r.truncated and r.next_offset == MAX_READ_BYTES
    r2 = ws.read_file("big.txt", offset=r.next_offset)
    assert r2.bytes_read == 10 and not r2.truncated and r2.total_bytes == MAX_READ_BYTES + 10
    assert ws.read_file("big.txt", offset=10**9).content == ""
    assert ws.read_file("big.txt", offset=2**70).next_offset is None
    with pytest.raises(WorkspaceError, match="offset"):
        ws.read_file("solve.py", offset=-1)
    with pytest.raises(WorkspaceError, match="does not exist"):
        ws.read_file("missing.py")
    with pytest.raises(WorkspaceError, match="directory"):
        ws.read_file("src")


def test_read_never_splits_utf8(ws: Workspace) -> None:
    text = "é€💶" * 100
    (ws.root / "u.txt").write_text(text)
    got, offset = [], 0
    while True:
        r = ws.read_file("u.txt", offset=offset, limit=5)
        assert r.note is None
        got.append(r.content)
        if r.next_offset is None:
            break
        offset = r.next_offset
    assert "".join(got) == text
    (ws.root / "bin.dat").write_bytes(b"\xff\x00abc")
    r = ws.read_file("bin.dat")
    assert "\ufffd" in r.content and "U+FFFD" in (r.note or "") and "binary" in (r.note or "")


def test_symlinks_are_never_followed(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("secret\n")
    os.symlink("/etc/passwd", ws.root / "solve.py.link")
    (ws.root / "solve.py").unlink()
    os.symlink("/etc/passwd", ws.root / "solve.py")
    (ws.root / "src" / "pkg").rename(tmp_path / "moved")
    os.symlink(outside, ws.root / "src" / "pkg")
    before = tree(outside)
    for path in ("solve.py", "solve.py.link", "src/pkg/secret.py", "src/pkg"):
        with pytest.raises(WorkspaceError, match="symlink"):
            ws.read_file(path)
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.write_file("solve.py", "x = 1\n")
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.write_file("src/pkg/secret.py", "x = 1\n")
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.write_file("src/pkg/new.py", "x = 1\n")
    patch = "--- a/src/pkg/secret.py\n+++ b/src/pkg/secret.py\n@@ -1 +1 @@\n-secret\n+pwned\n"
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.apply_patch(patch)
    with pytest.raises(WorkspaceError, match="symlink"):
        ws.apply_patch("--- a/solve.py\n+++ b/solve.py\n@@ -1 +1 @@\n-root:x:0:0::/root:/bin/bash\n+x\n")
    assert tree(outside) == before
    assert os.readlink(ws.root / "solve.py") == "/etc/passwd"
    # Snapshots and freeze skip (and report) them rather than follow them.
    info = ws.snapshot("check")
    assert any("solve.py (symlink" in s for s in info.skipped)
    assert not any("secret" in s for s in info.skipped)  # the symlinked dir is not entered
    with pytest.raises(WorkspaceError, match="cannot freeze"):
        ws.freeze()


def test_fifo_read_is_refused_without_blocking(ws: Workspace) -> None:
    os.mkfifo(ws.root / "solve.py.fifo")
    os.mkfifo(ws.root / "src" / "f.py")
    t0 = time.monotonic()
    with pytest.raises(WorkspaceError, match="not a regular file"):
        ws.read_file("solve.py.fifo")
    with pytest.raises(WorkspaceError, match="not a regular file"):
        ws.write_file("src/f.py", "x")
    info = ws.snapshot("fifo")
    assert any("src/f.py" in s for s in info.skipped)
    assert time.monotonic() - t0 < 2


# ------------------------------------------------------------ writing


def test_write_file(ws: Workspace) -> None:
    head = ws.history()[-1].id
    (ws.root / "solve.py").chmod(0o755)
    change = ws.write_file("solve.py", "print(1)\n")
    assert change.changed == ["solve.py"] and change.snapshot_id != head
    assert (ws.root / "solve.py").read_text() == "print(1)\n"
    assert (ws.root / "solve.py").stat().st_mode & 0o777 == 0o755
    change = ws.write_file("src/deep/er/c.py", "C = 3\n")
    assert (ws.root / "src/deep/er/c.py").stat().st_mode & 0o777 == 0o644
    assert not [p for p in ws.root.rglob("*") if "autolab-tmp" in p.name]
    assert ws.history()[-1].changed == ["src/deep/er/c.py"]


def test_write_refusals(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match=r"data.txt is not editable.*solve.py, src/\*\*/\*.py"):
        ws.write_file("data.txt", "x")
    with pytest.raises(WorkspaceError, match="not editable"):
        ws.write_file("src/notes.txt", "x")
    with pytest.raises(WorkspaceError, match="not editable"):
        ws.write_file("other/solve.py", "x")
    with pytest.raises(WorkspaceError, match="at most"):
        ws.write_file("solve.py", "x" * (MAX_WRITE_BYTES + 1))
    with pytest.raises(WorkspaceError, match="Unicode"):
        ws.write_file("solve.py", "\ud800")
    (ws.root / "src" / "dir.py").mkdir()
    with pytest.raises(WorkspaceError, match="directory"):
        ws.write_file("src/dir.py", "x")


def test_glob_semantics(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    ws = Workspace.open(root, ["*.py", "src/**/*.py", "cfg/?.toml", "lib/[ab]*.c", "all/**"], tmp_path / "s")
    yes = ["x.py", "src/a.py", "src/a/b/c.py", "cfg/a.toml", "lib/b1.c", "all/q", "all/x/y/z"]
    no = ["d/x.py", "src/a.txt", "cfg/ab.toml", "lib/c.c", "all", "srcx/a.py"]
    assert all(ws.is_editable(p) for p in yes)
    assert not any(ws.is_editable(p) for p in no)
    for bad in (["/abs"], ["../x"], [], "solve.py"):
        with pytest.raises(WorkspaceError):
            Workspace(root, bad, SnapshotStore(tmp_path / "s"))  # type: ignore[arg-type]


# ------------------------------------------------------------ patches


def test_apply_patch_from_real_git_diff(ws: Workspace, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ws.root, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    (repo / "solve.py").write_text("def solve(x):\n    x.sort()\n    return x")
    (repo / "src" / "pkg" / "b.py").unlink()
    (repo / "src" / "new.py").write_text("N = 0\n")
    (repo / "src" / "more" / "deep").mkdir(parents=True)
    (repo / "src" / "more" / "deep" / "d.py").write_text("")
    git(repo, "add", "-A")
    change = ws.apply_patch(git(repo, "diff", "--cached"))
    assert sorted(change.changed) == ["solve.py", "src/more/deep/d.py", "src/new.py", "src/pkg/b.py"]
    for rel in ("solve.py", "src/new.py", "src/more/deep/d.py", "src/a.py"):
        assert (ws.root / rel).read_bytes() == (repo / rel).read_bytes()
    assert not (ws.root / "src" / "pkg" / "b.py").exists()
    assert ws.history()[-1].id == change.snapshot_id


def test_apply_patch_from_diff_ruN(ws: Workspace, tmp_path: Path) -> None:
    shutil.copytree(ws.root, tmp_path / "a")
    shutil.copytree(ws.root, tmp_path / "b")
    (tmp_path / "b" / "src" / "a.py").write_text("A = 10\n# more\n")
    res = subprocess.run(["diff", "-ruN", "a", "b"], cwd=tmp_path, capture_output=True)
    ws.apply_patch(res.stdout.decode())
    assert (ws.root / "src" / "a.py").read_text() == "A = 10\n# more\n"


def test_failed_patch_leaves_workspace_byte_identical(ws: Workspace) -> None:
    before, history = tree(ws.root), ws.history()
    patch = (
        "--- a/solve.py\n+++ b/solve.py\n@@ -1,2 +1,2 @@\n def solve(x):\n-    return sorted(x)\n+    return x\n"
        "--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-A = 99\n+A = 3\n"
    )
    with pytest.raises(PatchError, match=r"src/a.py: hunk 1 \(@@ -1 \+1 @@\) does not apply"):
        ws.apply_patch(patch)
    assert tree(ws.root) == before and ws.history() == history


def test_write_failure_midway_rolls_back(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    before = tree(ws.root)
    real = Workspace._write_bytes
    calls = []

    def flaky(self: Workspace, parts: list[str], data: bytes, created: list, mode: int | None = None) -> None:
        calls.append(parts)
        if len(calls) == 2:
            os.close(self._open_dir(parts[:-1], created))  # its directories exist by now
            raise OSError(28, "No space left on device")
        real(self, parts, data, created, mode)

    monkeypatch.setattr(Workspace, "_write_bytes", flaky)
    patch = (
        "--- a/solve.py\n+++ b/solve.py\n@@ -1 +1 @@\n-def solve(x):\n+def solve(y):\n"
        "--- /dev/null\n+++ b/src/new/dir/n.py\n@@ -0,0 +1 @@\n+n = 1\n"
    )
    with pytest.raises(WorkspaceError, match="rolled back"):
        ws.apply_patch(patch)
    assert len(calls) == 3  # solve.py, the failing new file, then solve.py put back
    assert tree(ws.root) == before


@pytest.mark.parametrize(
    ("patch", "error", "needle"),
    [
        ("--- a/data.txt\n+++ b/data.txt\n@@ -1 +1 @@\n-1 2 3\n+3\n", WorkspaceError,
         r"data.txt is not editable.*solve.py"),
        ("--- a/solve.py\n+++ b/../../x.py\n@@ -1 +1 @@\n-a\n+b\n", WorkspaceError, r"'\.\.'"),
        ("--- /dev/null\n+++ /etc/cron.d/x\n@@ -0,0 +1 @@\n+a\n", WorkspaceError, "absolute"),
        ("diff --git a/solve.py b/solve.py\nold mode 100644\nnew mode 100755\n", PatchError, "mode"),
        ("diff --git a/s.py b/src/s.py\nnew file mode 120000\n--- /dev/null\n+++ b/src/s.py\n"
         "@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n", PatchError, "symlink"),
        ("diff --git a/solve.py b/src/x.py\nsimilarity index 100%\nrename from solve.py\nrename to src/x.py\n",
         PatchError, "renames"),
        ("diff --git a/solve.py b/solve.py\nindex 1..2 100644\nGIT binary patch\nliteral 3\nKcmZ?wb^rhg00RI3\n\n",
         PatchError, "binary"),
        ("Binary files a/solve.py and b/solve.py differ\n", PatchError, "binary"),
        ("--- /dev/null\n+++ b/solve.py\n@@ -0,0 +1 @@\n+a\n", PatchError, "already exists"),
        ("--- a/src/zz.py\n+++ b/src/zz.py\n@@ -1 +1 @@\n-a\n+b\n", PatchError, "does not exist"),
        ("", PatchError, "empty patch"),
        ("--- /dev/null\n+++ b/src/x.py\n@@ -0,0 +1 @@\n+" + "x" * (3 * 1024 * 1024) + "\n",
         WorkspaceError, "larger than"),
    ],
)
def test_patch_refusals(ws: Workspace, patch: str, error: type[Exception], needle: str) -> None:
    before, history = tree(ws.root), ws.history()
    with pytest.raises(error, match=needle):
        ws.apply_patch(patch)
    assert tree(ws.root) == before and ws.history() == history


def test_patch_reports_offsets(ws: Workspace) -> None:
    (ws.root / "src" / "a.py").write_text("# header\n# more\nA = 1\n")
    change = ws.apply_patch("--- a/src/a.py\n+++ b/src/a.py\n@@ -1 +1 @@\n-A = 1\n+A = 2\n")
    assert change.notes == ["src/a.py: hunk 1 applied at offset +2 lines"]


# ------------------------------------------------------------ snapshots


def test_snapshots_are_content_addressed(ws: Workspace) -> None:
    initial = ws.history()[0]
    assert initial.reason == "initial" and initial.parent is None and initial.files == 3
    a = ws.write_file("solve.py", "v2\n").snapshot_id
    b = ws.write_file("solve.py", "def solve(x):\n    return sorted(x)\n").snapshot_id
    assert a != initial.id and b == initial.id
    hist = ws.history()
    assert [h.parent for h in hist[1:]] == [h.id for h in hist[:-1]]
    assert hist[-1].changed == ["solve.py"]
    # the same content again is no new snapshot: no entry ever names itself as its parent
    same = ws.write_file("solve.py", "def solve(x):\n    return sorted(x)\n")
    assert same.snapshot_id == b and ws.history() == hist
    assert all(h.parent != h.id for h in ws.history())
    # a second store over the same directory sees the same history (resume)
    again = Workspace.open(ws.root, EDITABLE, ws.store.dir)
    assert again.history() == hist


def test_restore_and_diff(ws: Workspace) -> None:
    initial = ws.history()[0].id
    ws.write_file("solve.py", "def solve(x):\n    return x")
    ws.write_file("src/extra.py", "E = 1\n")
    (ws.root / "src" / "a.py").unlink()
    os.symlink("/etc/passwd", ws.root / "src" / "planted.py")
    mid = ws.snapshot("manual").id
    text = ws.diff(initial)
    assert text == ws.diff(initial, mid)
    assert "diff --git a/solve.py b/solve.py" in text and "\\ No newline at end of file" in text
    assert "new file mode 100644\n--- /dev/null\n+++ b/src/extra.py" in text
    assert "deleted file mode 100644\n--- a/src/a.py\n+++ /dev/null" in text
    assert ws.diff(mid) == ""
    assert {fp.path for fp in parse_patch(text)} == {"solve.py", "src/extra.py", "src/a.py"}

    change = ws.restore(initial[:6])
    assert sorted(change.changed) == ["solve.py", "src/a.py", "src/extra.py", "src/planted.py"]
    assert change.snapshot_id == initial and ws.history()[-1].reason == f"restore {initial}"
    assert (ws.root / "solve.py").read_text() == "def solve(x):\n    return sorted(x)\n"
    assert (ws.root / "src" / "a.py").read_text() == "A = 1\n"
    assert not (ws.root / "src" / "extra.py").exists() and not (ws.root / "src" / "planted.py").is_symlink()
    assert (ws.root / "data.txt").read_text() == "1 2 3\n"

    # the diff from `mid` to now applies back onto `mid`'s contents
    ws.restore(mid)
    assert ws.history()[-1].id == mid
    ws.apply_patch(ws.diff(mid, initial))
    assert ws.history()[-1].id == initial
    for bad in ("zzzz", "../../etc", "12", "ffffffffffff"):
        with pytest.raises(WorkspaceError):
            ws.restore(bad)


def test_freeze_has_only_editable_files(ws: Workspace) -> None:
    (ws.root / "src" / "pkg" / "b.py").chmod(0o755)
    sid, blob = ws.freeze()
    sid2, blob2 = ws.freeze()
    assert (sid, blob) == (sid2, blob2)  # deterministic
    assert blob == ws.tar_of(sid)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["solve.py", "src/a.py", "src/pkg/b.py"]
        for m in members:
            assert m.isreg() and m.mtime == 0 and m.mode == 0o644 and m.uid == 0 and m.gid == 0
        assert tar.extractfile("src/a.py").read() == b"A = 1\n"  # type: ignore[union-attr]


def test_create_and_open_checks(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    os.symlink("/etc/passwd", env / "link")
    with pytest.raises(WorkspaceError, match="symlink"):
        Workspace.create(tmp_path / "ws", env, EDITABLE, tmp_path / "store")
    (env / "link").unlink()
    with pytest.raises(WorkspaceError, match="not empty"):
        Workspace.create(tmp_path / "ws", env, EDITABLE, tmp_path / "store")
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        Workspace.open(env, EDITABLE, env / ".snapshots")


# ------------------------------------------------------------ properties


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for k, v in sorted(tree(root).items()):
        h.update(k.encode() + (v if isinstance(v, bytes) else v.encode()))
    return h.hexdigest()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["..", ".", "", "src", "a.py", "/", "\\", "\x00", "etc", "solve.py", "x" * 256]),
             max_size=6).map("/".join),
))
def test_paths_never_escape(ws: Workspace, path: str) -> None:
    os.makedirs(ws.root / "ln", exist_ok=True)
    if not (ws.root / "etc").is_symlink():
        os.symlink("/etc", ws.root / "etc")
    try:
        p = ws.resolve(path)
    except WorkspaceError:
        pass
    else:
        assert p == ws.root or ws.root in p.parents
        assert ".." not in p.relative_to(ws.root).parts
    ops = (ws.read_file, ws.list_files, ws.is_editable, lambda p: ws.write_file(p, "x"))
    for op in ops:
        try:
            op(path)
        except WorkspaceError:
            pass


_GOOD_PATHS = ["solve.py", "src/x.py", "src/pkg/new.py", "deep/" * 3 + "f.py"]
_BAD_PATHS = ["../outside/secret.py", "link/secret.py", "link", "/tmp/x.py", "a/../b.py", "solve.py/x", "."]
_PATH = st.one_of(st.sampled_from(_GOOD_PATHS), st.sampled_from(_BAD_PATHS))


@st.composite
def _patch_text(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(1, 2))):
        path = draw(_PATH)
        old = draw(st.sampled_from(["/dev/null", f"a/{path}", f"a/{path}", f"a/{draw(_PATH)}"]))
        new = draw(st.sampled_from(["/dev/null", f"b/{path}", f"b/{path}"]))
        if draw(st.booleans()):
            out.append(f"diff --git {old} {new}\n")
            out.append(draw(st.sampled_from(["", "", "new file mode 100644\n", "new file mode 120000\n"])))
        out.append(f"--- {old}\n+++ {new}\n")
        tags = "+" if old == "/dev/null" else "-" if new == "/dev/null" else " -+"
        body = draw(st.lists(st.tuples(st.sampled_from(tags), st.sampled_from(["x = 1", "secret", "", "y"])),
                             max_size=4))
        a = sum(t != "+" for t, _ in body)
        b = sum(t != "-" for t, _ in body)
        out.append(f"@@ -{int(a > 0)},{a} +{int(b > 0)},{b} @@\n")
        out += [t + line + "\n" for t, line in body]
    return "".join(out)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(_patch_text(), st.text(max_size=200)))
def test_arbitrary_patches_stay_inside(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        (base / "outside").mkdir()
        (base / "outside" / "secret.py").write_text("secret\n")
        root = base / "ws"
        root.mkdir()
        (root / "solve.py").write_text("x = 1\n")
        (root / "src").mkdir()
        (root / "src" / "x.py").write_text("secret\n")
        os.symlink(base / "outside", root / "link")
        ws = Workspace.open(root, ["**"], base / "store")
        before = _digest(base / "outside")
        try:
            ws.apply_patch(text)
        except (PatchError, WorkspaceError):
            pass
        assert _digest(base / "outside") == before
        assert sorted(os.listdir(base)) == ["outside", "store", "ws"]
        assert os.readlink(root / "link") == str(base / "outside")

"""SafeDir: the kernel's one way to reach files below a directory without following a symlink."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from autolab_mcp.core import safedir
from autolab_mcp.core.safedir import BadPath, FileTooLarge, SafeDir, UnsafeEntry

DEPTH = ["a", "b", "c"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/a/b/c/f.txt, and next to root a directory with a secret the links point at."""
    root = tmp_path / "root"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "c" / "f.txt").write_text("inside\n")
    outside = tmp_path / "outside"
    for k in range(len(DEPTH) + 1):
        d = outside.joinpath(*DEPTH[k:])
        d.mkdir(parents=True, exist_ok=True)
    for d in [outside, *[outside.joinpath(*DEPTH[k:]) for k in range(len(DEPTH))]]:
        (d / "f.txt").write_text("secret\n")
    return root


def _plant_link(root: Path, k: int) -> str:
    """Swap component k of a/b/c/f.txt for a symlink out of the tree, where the rest of the path exists
    (a directory for outside/, the file for outside/f.txt); returns the path to use."""
    parts = [*DEPTH, "f.txt"]
    outside = root.parent / "outside"
    victim = root.joinpath(*parts[: k + 1])
    if k < len(DEPTH):
        os.rename(victim, root.parent / f"moved-{k}")
        os.symlink(outside, victim)
    else:
        victim.unlink()
        os.symlink(outside / "f.txt", victim)
    return "/".join(parts)


@pytest.mark.parametrize("k", range(len(DEPTH) + 1))
def test_a_symlink_at_any_component_is_refused_for_every_operation(tree: Path, k: int) -> None:
    path = _plant_link(tree, k)
    rel = "/".join([*DEPTH, "f.txt"][: k + 1])
    sd = SafeDir(tree)
    wanted = "dir" if k < len(DEPTH) else "file"
    ops = {
        "read": lambda: sd.read(path, 1000),
        "open_read": lambda: sd.open_read(path),
        "open_path": lambda: sd.open_path(path),
        "write": lambda: sd.write(path, b"pwned\n", create=True),
    }
    if k < len(DEPTH):  # a link as the last component is what unlink and lstat work on, not through
        ops["lstat"] = lambda: sd.lstat(path)
        ops["unlink"] = lambda: sd.unlink(path)
    for name, op in ops.items():
        with pytest.raises(UnsafeEntry) as exc:
            op()
        assert (exc.value.rel, exc.value.kind, exc.value.wanted) == (rel, "symlink", wanted), name
    secrets = [p.read_text() for p in (tree.parent / "outside").rglob("f.txt")]
    assert secrets == ["secret\n"] * len(secrets) == ["secret\n"] * (len(DEPTH) + 1)
    assert os.path.islink(tree.joinpath(*rel.split("/")))
    if k == len(DEPTH):
        assert stat.S_ISLNK(sd.lstat(path).st_mode)  # lstat names the link itself
        sd.unlink(path)  # and unlink removes the link, never its target
        assert not os.path.lexists(tree / path) and (tree.parent / "outside" / "f.txt").exists()


def test_a_symlinked_root_is_followed_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert SafeDir(tmp_path / "link").read("f", 10)[0] == b"x"
    with pytest.raises(OSError):
        SafeDir(tmp_path / "link", follow_root=False).open_path("f")
    fd = SafeDir(tmp_path / "real", follow_root=False).open_path("f")
    os.close(fd)


def test_non_regular_files_are_refused_without_blocking(tree: Path) -> None:
    os.mkfifo(tree / "fifo")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tree / "sock"))
        sd = SafeDir(tree)
        t0 = time.monotonic()
        for name, kind in (("fifo", "other"), ("sock", "other"), ("a", "dir")):
            for op in (lambda n: sd.read(n, 10), sd.open_path, lambda n: sd.write(n, b"x")):
                with pytest.raises(UnsafeEntry) as exc:
                    op(name)
                assert (exc.value.kind, exc.value.wanted, exc.value.raced) == (kind, "file", False)
        assert time.monotonic() - t0 < 2
        assert stat.S_ISFIFO(os.lstat(tree / "fifo").st_mode)  # never replaced
    (tree / "plain").write_text("x")
    with pytest.raises(UnsafeEntry) as exc:
        sd.read("plain/f", 10)
    assert (exc.value.rel, exc.value.kind, exc.value.wanted) == ("plain", "file", "dir")
    with pytest.raises(FileNotFoundError):
        sd.read("missing/f", 10)
    with pytest.raises(FileNotFoundError):
        sd.read("missing", 10)


def test_read_cap(tree: Path) -> None:
    (tree / "big").write_bytes(b"x" * 100)
    sd = SafeDir(tree)
    data, st = sd.read("big", 100)
    assert data == b"x" * 100 and st.st_size == 100
    with pytest.raises(FileTooLarge) as exc:
        sd.read("big", 99)
    assert exc.value.size == 100 and exc.value.limit == 99


def test_write_creates_directories_keeps_mode_and_leaves_no_temp_file(tree: Path) -> None:
    sd = SafeDir(tree)
    created: list[list[str]] = []
    sd.write("new/deeper/g.txt", b"g\n", create=True, created=created)
    assert created == [["new"], ["new", "deeper"]]
    assert (tree / "new" / "deeper" / "g.txt").read_bytes() == b"g\n"
    assert stat.S_IMODE((tree / "new" / "deeper" / "g.txt").stat().st_mode) == 0o644
    with pytest.raises(FileNotFoundError):
        sd.write("other/h.txt", b"h")  # without create nothing is made
    (tree / "a" / "b" / "c" / "f.txt").chmod(0o755)
    sd.write(["a", "b", "c", "f.txt"], b"new\n")
    assert stat.S_IMODE((tree / "a/b/c/f.txt").stat().st_mode) == 0o755
    sd.write("a/b/c/f.txt", b"x\n", mode=0o600)
    assert stat.S_IMODE((tree / "a/b/c/f.txt").stat().st_mode) == 0o600
    assert not [p for p in tree.rglob("*") if "autolab-tmp" in p.name]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tree / "a" / "b" / "c" / "f.txt"
    inode = target.stat().st_ino
    real_replace = os.replace

    def failing_replace(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safedir.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        SafeDir(tree).write("a/b/c/f.txt", b"half-written")
    monkeypatch.setattr(safedir.os, "replace", real_replace)
    assert target.read_text() == "inside\n" and target.stat().st_ino == inode
    assert sorted(os.listdir(target.parent)) == ["f.txt"]

    class Boom(Exception):
        pass

    def failing_fchmod(fd: int, mode: int) -> None:
        raise Boom

    monkeypatch.setattr(safedir.os, "fchmod", failing_fchmod)
    with pytest.raises(Boom):
        SafeDir(tree).write("a/b/c/f.txt", b"half-written")
    assert target.read_text() == "inside\n" and sorted(os.listdir(target.parent)) == ["f.txt"]


def test_a_file_swapped_after_the_check_is_refused(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lstat says regular file; the entry is swapped before the open: a symlink (ELOOP) or another
    file (a different inode) is refused as raced."""
    sd = SafeDir(tree)
    path = tree / "a" / "b" / "c" / "f.txt"
    real_open = os.open

    def swap_to(make: object):
        def opener(name: object, flags: int, *args: object, **kwargs: object) -> int:
            if name == "f.txt" and not flags & os.O_DIRECTORY:
                make()  # type: ignore[operator]
            return real_open(name, flags, *args, **kwargs)  # type: ignore[arg-type]
        return opener

    def other_file() -> None:  # made before the old one goes, so it cannot reuse its inode
        (tree / "other").write_text("other\n")
        os.replace(tree / "other", path)

    monkeypatch.setattr(safedir.os, "open", swap_to(lambda: (path.unlink(), os.symlink("/etc/passwd", path))))
    with pytest.raises(UnsafeEntry) as exc:
        sd.read("a/b/c/f.txt", 10_000)
    assert exc.value.raced and exc.value.kind == "symlink"
    path.unlink()
    path.write_text("inside\n")
    monkeypatch.setattr(safedir.os, "open", swap_to(other_file))
    with pytest.raises(UnsafeEntry) as exc:
        sd.read("a/b/c/f.txt", 10_000)
    assert exc.value.raced and exc.value.kind == "file"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "", ".", ["a", ".."], ["a/b"], ["a\x00"]])
def test_bad_paths(tree: Path, path: str | list[str]) -> None:
    sd = SafeDir(tree)
    with pytest.raises(BadPath):
        sd.read(path, 10)
    with pytest.raises(BadPath):
        sd.write(path, b"x", create=True)


def test_listing_and_rmdir(tree: Path) -> None:
    os.symlink("/etc", tree / "a" / "etc")
    sd = SafeDir(tree)
    kinds = {name: safedir.kind_of(st.st_mode) for name, st in sd.list_dir("a")}
    assert kinds == {"b": "dir", "etc": "symlink"}
    sd.write("a/e/x", b"", create=True)
    with pytest.raises(OSError):
        sd.rmdir("a/e")
    sd.unlink("a/e/x")
    sd.rmdir("a/e")
    assert not (tree / "a" / "e").exists()
    assert stat.S_ISDIR(sd.lstat("").st_mode)

"""Files under a directory the untrusted side can write, reached without ever following a symlink.

The agent's workspace, what a candidate leaves in its output directory, a submission extracted over a
task copy: everything there is reached through a `SafeDir`. A path is walked one component at a time
relative to a directory fd, each component opened with O_NOFOLLOW, so a symlink anywhere on the way
(also one swapped in while the walk runs) is refused, never followed. A file is opened for reading only
when it is a regular file (opened without blocking, so a fifo can neither hang nor feed the reader, and
checked again on the fd, so nothing swapped in after the check is read). A write is atomic: a temp file
in the target's directory, renamed over the target relative to that directory's fd.

Errors: what the system says, as OSError (FileNotFoundError for something absent, on the way or at
the end); `UnsafeEntry` when an entry is not what the operation may use (a symlink, a file where a
directory must be, a fifo where a regular file must be, an entry swapped while being opened);
`FileTooLarge` past a read cap; `BadPath` for a path that is not plain and relative. Callers turn them
into their own refusals: this module writes no message for an agent.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from autolab_mcp.core.errors import AutolabError

__all__ = [
    "BadPath",
    "FileTooLarge",
    "Kind",
    "Parts",
    "SafeDir",
    "SafeDirError",
    "UnsafeEntry",
    "kind_of",
    "list_entries",
    "read_fd",
]

Kind = Literal["file", "dir", "symlink", "other"]
#: A path below the directory: "a/b/c" ('' and '.' parts dropped) or its components.
Parts = str | Sequence[str]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_TMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


def kind_of(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


class SafeDirError(AutolabError):
    """Root of what SafeDir raises besides OSError."""


class BadPath(SafeDirError):
    """A path that is absolute, climbs out ('..'), is empty where a file is named, or holds '/' or NUL in a
    component: the caller validates paths; this is the last line, not the message an agent sees."""


class UnsafeEntry(SafeDirError):
    """An entry the operation may not use. `rel` is the path up to and including it, `kind` what was
    found there, `wanted` what the operation needed; `raced`: it changed between the check and the open
    (`kind` is then what the open found: 'symlink' for a link swapped in)."""

    def __init__(self, rel: str, kind: Kind, wanted: Literal["dir", "file"], *, raced: bool = False) -> None:
        self.rel, self.kind, self.wanted, self.raced = rel, kind, wanted, raced
        how = "changed while being opened" if raced else f"is a {kind}"
        super().__init__(f"{rel} {how}; a {'directory' if wanted == 'dir' else 'regular file'} is needed")


class FileTooLarge(SafeDirError):
    """A file over the read cap: `size` is what fstat said, or None when it grew past the cap while read."""

    def __init__(self, rel: str, limit: int, size: int | None) -> None:
        self.rel, self.limit, self.size = rel, limit, size
        super().__init__(f"{rel} is larger than {limit} bytes")


def list_entries(dir_fd: int) -> list[tuple[str, os.stat_result]]:
    """(name, lstat) of each entry of an open directory, in directory order; entries that vanish while
    listed are left out."""
    out = []
    with os.scandir(dir_fd) as it:
        for entry in it:
            try:
                out.append((entry.name, entry.stat(follow_symlinks=False)))
            except OSError:
                continue
    return out


def _split(path: Parts) -> list[str]:
    if isinstance(path, str):
        if path.startswith("/"):
            raise BadPath(f"absolute path {path[:80]!r}")
        parts = [p for p in path.split("/") if p not in ("", ".")]
    else:
        parts = list(path)
    for part in parts:
        if not isinstance(part, str) or part in ("", ".", "..") or "/" in part or "\x00" in part:
            raise BadPath(f"bad path component {part!r}")
    return parts


class SafeDir:
    """Confined, symlink-free access below `root`; every call walks from `root` anew (no fd is kept).

    `follow_root=False` refuses a `root` that is itself a symlink; by default the root is trusted as
    given (it is the caller's own directory) and only what lies below it is walked without following.
    """

    def __init__(self, root: str | os.PathLike[str], *, follow_root: bool = True) -> None:
        self.root = Path(root)
        self.follow_root = follow_root

    # -------------------------------------------------- directories

    def open_dir(self, path: Parts = (), *, create: bool = False, created: list[list[str]] | None = None,
                 dir_mode: int = 0o755, path_only: bool = False) -> int:
        """An fd of the directory at `path` (the caller closes it). With `create`, missing directories
        are made (`dir_mode`, less the umask) and each one made is appended to `created`. `path_only`:
        O_PATH fds, which need no read permission on the directories."""
        parts = _split(path)
        flags = _DIR_PATH if path_only else _DIR
        fd = os.open(self.root, flags & ~os.O_NOFOLLOW if self.follow_root else flags)
        try:
            for k in range(len(parts)):
                nfd = self._step(fd, parts, k, flags, create, created, dir_mode)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _step(self, fd: int, parts: list[str], k: int, flags: int, create: bool,
              created: list[list[str]] | None, dir_mode: int) -> int:
        name = parts[k]
        try:
            return os.open(name, flags, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_mode, dir_fd=fd)
                if created is not None:
                    created.append(parts[: k + 1])
            return os.open(name, flags, dir_fd=fd)
        except OSError:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise  # a directory all the same: permissions, too many fds, ...
            raise UnsafeEntry("/".join(parts[: k + 1]), kind_of(st.st_mode), "dir") from None

    @contextlib.contextmanager
    def dir(self, path: Parts = (), *, create: bool = False, created: list[list[str]] | None = None,
            dir_mode: int = 0o755, path_only: bool = False) -> Iterator[int]:
        """`open_dir` as a context manager that closes the fd."""
        fd = self.open_dir(path, create=create, created=created, dir_mode=dir_mode, path_only=path_only)
        try:
            yield fd
        finally:
            os.close(fd)

    def _parent(self, path: Parts) -> tuple[list[str], str]:
        parts = _split(path)
        if not parts:
            raise BadPath("empty path: a file must be named")
        return parts, parts[-1]

    # -------------------------------------------------- looking

    def lstat(self, path: Parts) -> os.stat_result:
        """stat of the entry at `path`, not following it nor anything on the way; the root's own stat
        for an empty path."""
        parts = _split(path)
        if not parts:
            return os.stat(self.root, follow_symlinks=self.follow_root)
        with self.dir(parts[:-1]) as pfd:
            return os.stat(parts[-1], dir_fd=pfd, follow_symlinks=False)

    def list_dir(self, path: Parts = ()) -> list[tuple[str, os.stat_result]]:
        """(name, lstat) of each entry of the directory at `path` (see `list_entries`)."""
        with self.dir(path) as fd:
            return list_entries(fd)

    # -------------------------------------------------- reading

    def open_read(self, path: Parts) -> int:
        """A read-only, non-blocking fd of the regular file at `path` (the caller closes it)."""
        return self._open_regular(path, _READ)

    def open_path(self, path: Parts) -> int:
        """An O_PATH fd of the regular file at `path`: for binding or linking what was checked."""
        return self._open_regular(path, _PATH, path_only=True)

    def _open_regular(self, path: Parts, flags: int, path_only: bool = False) -> int:
        parts, name = self._parent(path)
        rel = "/".join(parts)
        with self.dir(parts[:-1], path_only=path_only) as pfd:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeEntry(rel, kind_of(st.st_mode), "file")
            try:
                fd = os.open(name, flags, dir_fd=pfd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat
                    raise UnsafeEntry(rel, "symlink", "file", raced=True) from None
                raise
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise UnsafeEntry(rel, kind_of(st2.st_mode), "file", raced=True)
        return fd

    def read(self, path: Parts, max_bytes: int) -> tuple[bytes, os.stat_result]:
        """(content, fstat) of the regular file at `path`; FileTooLarge past `max_bytes`."""
        fd = self.open_read(path)
        try:
            return read_fd(fd, "/".join(_split(path)), max_bytes)
        finally:
            os.close(fd)

    # -------------------------------------------------- changing

    def write(self, path: Parts, data: bytes, *, mode: int | None = None, create: bool = False,
              created: list[list[str]] | None = None, dir_mode: int = 0o755) -> None:
        """Atomically create or replace the regular file at `path` with `data`; anything else there
        (symlink, directory, fifo) is refused, never replaced. `mode`: the permission bits, by default
        those of the file replaced, or 0644. `create`, `created`, `dir_mode`: as for `open_dir`."""
        parts, name = self._parent(path)
        with self.dir(parts[:-1], create=create, created=created, dir_mode=dir_mode) as pfd:
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise UnsafeEntry("/".join(parts), kind_of(st.st_mode), "file")
            if mode is None:
                mode = stat.S_IMODE(st.st_mode) & 0o777 if st is not None else 0o644
            tmp = f".autolab-tmp-{secrets.token_hex(8)}"
            fd = os.open(tmp, _TMP, 0o600, dir_fd=pfd)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    os.fchmod(f.fileno(), mode)
                os.replace(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=pfd)
                raise

    def unlink(self, path: Parts) -> None:
        """Remove the non-directory entry at `path` (a symlink itself, never what it points to)."""
        parts, name = self._parent(path)
        with self.dir(parts[:-1]) as pfd:
            os.unlink(name, dir_fd=pfd)

    def rmdir(self, path: Parts) -> None:
        """Remove the empty directory at `path`."""
        parts, name = self._parent(path)
        with self.dir(parts[:-1]) as pfd:
            os.rmdir(name, dir_fd=pfd)


def read_fd(fd: int, rel: str, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """(content, fstat) of an open file, at most `max_bytes` (FileTooLarge past it, also when the file
    grows while it is read)."""
    st = os.fstat(fd)
    if st.st_size > max_bytes:
        raise FileTooLarge(rel, max_bytes, st.st_size)
    chunks, size = [], 0
    while chunk := os.read(fd, _CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(rel, max_bytes, None)
        chunks.append(chunk)
    return b"".join(chunks), st

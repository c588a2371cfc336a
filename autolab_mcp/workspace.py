"""The agent's files: confined access, the edit policy, and content-addressed snapshots.

The agent is untrusted and so is everything its experiments leave behind in the
workspace (symlinks, fifos, huge files), so nothing here follows a symlink: every
path is walked one component at a time with O_NOFOLLOW relative to a directory
fd, and only regular files are ever read. Writes are atomic (temp file + rename)
and patches are all or nothing. Every change is recorded as a snapshot of the
editable files; a snapshot is what the trusted scorer gets (`freeze`).

History keeps one entry per recorded change, even when the content (and so the
snapshot id) equals an earlier one: the history is a log of events, ids are
content addresses.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import io
import json
import os
import re
import secrets
import stat
import tarfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from autolab_mcp.core.editable import EditableGlobError, EditablePolicy
from autolab_mcp.core.errors import Refusal
from autolab_mcp.patch import PatchError, apply_file_patch, parse_patch

MAX_PATH_CHARS = 4096
MAX_READ_BYTES = 256 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_PATCH_BYTES = 2 * 1024 * 1024
#: Largest single file kept in a snapshot, patched, or frozen for the scorer.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Largest total of one snapshot / frozen tar.
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_SNAPSHOT_FILES = 10_000
MAX_LIST_ENTRIES = 10_000
MAX_DIFF_CHARS = 1024 * 1024
#: Directory depth and entry count beyond which walks stop (an experiment can make deep trees).
MAX_DEPTH = 64
MAX_WALK_ENTRIES = 200_000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_ID_RE = re.compile(r"[0-9a-f]{4,64}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")

FileType = Literal["file", "dir", "symlink", "other"]


class WorkspaceError(Refusal):
    """A refused or failed workspace operation; the message says what was wrong and what is allowed."""


class _TooBig(WorkspaceError):
    """A file over a size cap: it can still be replaced or deleted, just not read."""


class FileEntry(BaseModel):
    path: str = Field(description="relative to the workspace root")
    type: FileType
    size: int | None = Field(None, description="bytes, for regular files")
    editable: bool = False


class FileListing(BaseModel):
    path: str
    entries: list[FileEntry]
    truncated: bool = Field(False, description="more entries exist than were returned")
    editable_globs: list[str]


class FileRead(BaseModel):
    path: str
    content: str
    offset: int
    bytes_read: int
    total_bytes: int
    truncated: bool = Field(description="the file goes on after this chunk")
    next_offset: int | None = Field(None, description="pass as offset to read the next chunk")
    note: str | None = Field(None, description="decoding remarks (invalid UTF-8 replaced, binary)")


class SnapshotInfo(BaseModel):
    id: str = Field(description="first 12 hex digits of the sha256 of the canonical manifest")
    parent: str | None
    time: str
    reason: str
    files: int
    changed: list[str] = Field(default_factory=list, description="paths added, modified or deleted vs parent")
    skipped: list[str] = Field(
        default_factory=list, description="editable paths left out (symlinks, special files, too big)"
    )


class Change(BaseModel):
    action: str
    changed: list[str] = Field(description="files written or deleted")
    snapshot_id: str
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- paths (the globs: autolab_mcp.core.editable)


def _display(name: str) -> str:
    """File names may hold undecodable bytes (surrogateescape); show them escaped, never raw."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def split_path(path: str, *, allow_root: bool = False) -> list[str]:
    """Validate an agent-given relative path and return its components ('.' and '' dropped)."""
    if not isinstance(path, str):
        raise WorkspaceError(f"path must be a string, got {type(path).__name__}")
    if len(path) > MAX_PATH_CHARS:
        raise WorkspaceError(f"path is {len(path)} characters long; at most {MAX_PATH_CHARS} are allowed")
    if "\x00" in path:
        raise WorkspaceError("path contains a NUL byte")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise WorkspaceError(f"path {path!r} contains control characters")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise WorkspaceError(f"path {path!r} is not valid Unicode") from None
    if path.startswith("/"):
        raise WorkspaceError(f"absolute path {path!r} refused: use a path relative to the workspace root")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise WorkspaceError(f"path {path!r} contains '..': paths must stay inside the workspace")
    if any(len(p.encode("utf-8")) > 255 for p in parts):
        raise WorkspaceError(f"path {path[:80]!r}... has a component longer than 255 bytes")
    if not parts and not allow_root:
        raise WorkspaceError("empty path: name a file relative to the workspace root, e.g. 'solve.py'")
    return parts


def _kind(mode: int) -> FileType:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _refuse_kind(rel: str, mode: int) -> WorkspaceError:
    kind = _kind(mode)
    if kind == "symlink":
        return WorkspaceError(f"{rel} is a symlink; symlinks are never followed, only regular files are used")
    if kind == "dir":
        return WorkspaceError(f"{rel} is a directory, not a file")
    return WorkspaceError(f"{rel} is not a regular file (fifo, socket or device); only regular files are used")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------- snapshot store


class SnapshotStore:
    """Content-addressed blobs (`objects/<sha256>`), manifests (`manifests/<id>.json`) and an
    append-only index (`snapshots.jsonl`). Lives outside the workspace, in the run directory."""

    def __init__(self, dir: Path) -> None:
        self.dir = Path(dir)
        (self.dir / "objects").mkdir(parents=True, exist_ok=True)
        (self.dir / "manifests").mkdir(exist_ok=True)
        self._index = self.dir / "snapshots.jsonl"
        self._lock = threading.RLock()
        self._history: list[SnapshotInfo] = self._load()

    def _load(self) -> list[SnapshotInfo]:
        if not self._index.exists():
            return []
        out: list[SnapshotInfo] = []
        lines = self._index.read_text("utf-8").splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(SnapshotInfo.model_validate_json(line))
            except ValueError:
                if n == len(lines):
                    break  # a write cut short by a crash; the entry never completed
                raise WorkspaceError(f"{self._index}: line {n} is corrupt") from None
        return out

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".tmp-{secrets.token_hex(6)}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_blob(self, data: bytes) -> str:
        sha = _sha(data)
        path = self.dir / "objects" / sha
        if not path.exists():
            self._atomic_write(path, data)
        return sha

    def get_blob(self, sha: str) -> bytes:
        if not _SHA_RE.fullmatch(sha):
            raise WorkspaceError(f"bad object id {sha!r}")
        data = (self.dir / "objects" / sha).read_bytes()
        if _sha(data) != sha:
            raise WorkspaceError(f"snapshot object {sha} is corrupt")
        return data

    def put_manifest(self, files: dict[str, str]) -> str:
        canonical = json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()
        sid = _sha(canonical)[:12]
        path = self.dir / "manifests" / f"{sid}.json"
        if not path.exists():
            self._atomic_write(path, canonical)
        return sid

    def manifest(self, sid: str) -> dict[str, str]:
        """path -> blob sha256 for a full snapshot id."""
        if not re.fullmatch(r"[0-9a-f]{12}", sid):
            raise WorkspaceError(f"bad snapshot id {sid!r}")
        try:
            raw = (self.dir / "manifests" / f"{sid}.json").read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(f"unknown snapshot {sid!r}") from None
        files: dict[str, str] = json.loads(raw)["files"]
        return files

    def record(self, info: SnapshotInfo) -> None:
        with self._lock:
            with self._index.open("a", encoding="utf-8") as f:
                f.write(info.model_dump_json() + "\n")
                f.flush()  # no fsync: a torn last line is tolerated by _load
            self._history.append(info)

    def history(self) -> list[SnapshotInfo]:
        with self._lock:
            return list(self._history)

    def head(self) -> str | None:
        with self._lock:
            return self._history[-1].id if self._history else None

    def resolve_id(self, ref: str) -> str:
        """A full id or a unique prefix (at least 4 hex digits) of a recorded snapshot."""
        ids = {h.id for h in self.history()}
        if not isinstance(ref, str) or not _ID_RE.fullmatch(ref):
            raise WorkspaceError(f"bad snapshot id {ref!r}: expected hex digits as shown by history()")
        found = sorted(i for i in ids if i.startswith(ref))
        if not found:
            raise WorkspaceError(f"unknown snapshot {ref!r}; see history() for the ids")
        if len(found) > 1:
            raise WorkspaceError(f"snapshot prefix {ref!r} is ambiguous: {', '.join(found)}")
        return found[0]

    def tar_of(self, sid: str) -> bytes:
        """Deterministic tar of a snapshot: sorted regular files, mtime 0, uid/gid 0, mode 0644."""
        files = self.manifest(self.resolve_id(sid))
        buf = io.BytesIO()
        total = 0
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(files):
                data = self.get_blob(files[rel])
                total += len(data)
                if len(data) > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
                    raise WorkspaceError(f"snapshot {sid} is too large to freeze (at {rel})")
                info = tarfile.TarInfo(rel)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


# ---------------------------------------------------------------- workspace


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Turn OS errors into WorkspaceError naming the path, so callers see one error type."""
    try:
        yield
    except OSError as exc:
        raise WorkspaceError(f"{what}: {exc.strerror or exc}") from None


class Workspace:
    """The agent's workspace directory: confined reads, policy-checked writes, snapshots."""

    def __init__(self, root: Path, editable: list[str], store: SnapshotStore) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"workspace root {self.root} is not a directory")
        try:
            self.policy = EditablePolicy(editable)
        except EditableGlobError as exc:
            raise WorkspaceError(str(exc)) from None
        self.editable = list(self.policy.globs)
        self.store = store
        store_dir = store.dir.resolve()
        if store_dir == self.root or self.root in store_dir.parents or store_dir in self.root.parents:
            raise WorkspaceError(f"snapshot store {store_dir} must be outside the workspace {self.root}")
        self._lock = threading.RLock()

    @classmethod
    def open(cls, root: Path, editable: list[str], store_dir: Path) -> Workspace:
        """Attach to an existing workspace (also on resume); records an 'initial' snapshot if none exists."""
        ws = cls(root, editable, SnapshotStore(store_dir))
        if ws.store.head() is None:
            ws.snapshot("initial")
        return ws

    @classmethod
    def create(cls, root: Path, source_dir: Path, editable: list[str], store_dir: Path) -> Workspace:
        """Copy a task's environment/ into a new (or empty) root and record the 'initial' snapshot.

        The source comes from the task, but a symlink or special file in it would later be
        refused anyway, so it is refused here, where the task author sees it.
        """
        root, source = Path(root), Path(source_dir)
        if not source.is_dir():
            raise WorkspaceError(f"task environment {source} is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise WorkspaceError(f"workspace root {root} is not empty")
        _copy_tree(source, root)
        return cls.open(root, editable, store_dir)

    # -------------------------------------------------- low level, fd based

    def _open_dir(self, parts: list[str], created: list[list[str]] | None = None) -> int:
        """fd of the directory at `parts`, walking with O_NOFOLLOW; creates missing dirs if `created`
        is a list (and records them there). FileNotFoundError when absent and not creating."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for k, name in enumerate(parts):
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if created is None:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                        created.append(parts[: k + 1])
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    rel = "/".join(parts[: k + 1])
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        raise
                    if stat.S_ISREG(st.st_mode):
                        raise WorkspaceError(f"{rel} is a file, not a directory") from None
                    raise _refuse_kind(rel, st.st_mode) from None
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _read_existing(self, parts: list[str], cap: int = MAX_FILE_BYTES) -> tuple[bytes, int] | None:
        """(content, permission bits) of the regular file at `parts`, None if absent."""
        rel = "/".join(parts)
        with _os_errors(rel):
            try:
                fd = self._open_regular(parts)
            except FileNotFoundError:
                return None
            try:
                st = os.fstat(fd)
                if st.st_size > cap:
                    raise _TooBig(f"{rel} is {st.st_size} bytes; the limit is {cap}")
                chunks, size = [], 0
                while chunk := os.read(fd, 1 << 20):
                    size += len(chunk)
                    if size > cap:
                        raise _TooBig(f"{rel} is larger than the limit of {cap} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), stat.S_IMODE(st.st_mode) & 0o777
            finally:
                os.close(fd)

    def _open_regular(self, parts: list[str]) -> int:
        """Open a regular file for reading without following symlinks or blocking on a fifo."""
        rel = "/".join(parts)
        pfd = self._open_dir(parts[:-1])
        try:
            st = os.stat(parts[-1], dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise _refuse_kind(rel, st.st_mode)
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=pfd)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat
                raise WorkspaceError(f"{rel} is a symlink; symlinks are never followed") from None
            raise
        finally:
            os.close(pfd)
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            raise WorkspaceError(f"{rel} changed while being opened; try again")
        return fd

    def _write_bytes(
        self, parts: list[str], data: bytes, created: list[list[str]], mode: int | None = None
    ) -> None:
        """Atomically replace (or create) a regular file; refuses to replace anything else."""
        rel = "/".join(parts)
        with _os_errors(rel):
            pfd = self._open_dir(parts[:-1], created)
            try:
                name = parts[-1]
                try:
                    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and not stat.S_ISREG(st.st_mode):
                    raise _refuse_kind(rel, st.st_mode)
                if mode is None:
                    mode = stat.S_IMODE(st.st_mode) & 0o777 if st is not None else 0o644
                tmp = f".autolab-tmp-{secrets.token_hex(8)}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=pfd)
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                        os.fchmod(f.fileno(), mode)
                    os.replace(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp, dir_fd=pfd)
                    raise
            finally:
                os.close(pfd)

    def _unlink(self, parts: list[str]) -> None:
        """Remove a non-directory entry (unlink never follows symlinks)."""
        rel = "/".join(parts)
        with _os_errors(rel):
            pfd = self._open_dir(parts[:-1])
            try:
                os.unlink(parts[-1], dir_fd=pfd)
            finally:
                os.close(pfd)

    def _walk(
        self, start: list[str], descend: Callable[[list[str]], bool], cut: list[str] | None = None
    ) -> Iterator[tuple[list[str], FileType, int | None]]:
        """Breadth-first (parts, type, size) below `start`; never follows symlinks.

        Bounded in depth and entries (an experiment can build any tree); where it stops
        short, it says so in `cut`, so a snapshot is never silently partial."""
        queue: deque[list[str]] = deque([start])
        seen = 0
        while queue:
            dparts = queue.popleft()
            try:
                fd = self._open_dir(dparts)
            except (OSError, WorkspaceError):
                continue  # vanished or swapped for something else since it was listed
            entries: list[tuple[str, FileType, int | None]] = []
            try:
                with os.scandir(fd) as it:
                    for e in it:
                        try:
                            st = e.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        kind = _kind(st.st_mode)
                        entries.append((e.name, kind, st.st_size if kind == "file" else None))
            finally:
                os.close(fd)
            for name, kind, size in sorted(entries):
                seen += 1
                if seen > MAX_WALK_ENTRIES:
                    if cut is not None:
                        cut.append(f"(stopped after {MAX_WALK_ENTRIES} entries; the rest was not looked at)")
                    return
                parts = [*dparts, name]
                yield parts, kind, size
                if kind == "dir" and descend(parts):
                    if len(parts) < MAX_DEPTH:
                        queue.append(parts)
                    elif cut is not None:
                        cut.append(f"{'/'.join(map(_display, parts))} (deeper than {MAX_DEPTH} levels)")

    # -------------------------------------------------- public: reading

    def resolve(self, path: str) -> Path:
        """Host path for `path` after checking it: confined, and no symlink on the way (lstat walk).

        Only for callers that need a host path; file operations here use fd walks instead,
        which also hold when an experiment swaps a directory for a symlink concurrently.
        """
        parts = split_path(path, allow_root=True)
        cur = self.root
        for k, name in enumerate(parts):
            cur = cur / name
            try:
                st = os.lstat(cur)
            except FileNotFoundError:
                break
            except OSError as exc:
                raise WorkspaceError(f"{'/'.join(parts[: k + 1])}: {exc.strerror}") from None
            rel = "/".join(parts[: k + 1])
            if k < len(parts) - 1 and stat.S_ISREG(st.st_mode):
                raise WorkspaceError(f"{rel} is a file, not a directory")
            if stat.S_ISLNK(st.st_mode) or (k < len(parts) - 1 and not stat.S_ISDIR(st.st_mode)):
                raise _refuse_kind(rel, st.st_mode)
        return self.root.joinpath(*parts)

    def is_editable(self, path: str) -> bool:
        try:
            return self.policy.match_parts(split_path(path))
        except WorkspaceError:
            return False

    def list_files(self, path: str = ".", max_entries: int = 2000) -> list[FileEntry]:
        """Recursive listing, sorted by path (at most `max_entries`; `listing` also says if truncated)."""
        return self.listing(path, max_entries).entries

    def listing(self, path: str = ".", max_entries: int = 2000) -> FileListing:
        """Recursive listing, sorted by path; symlinks are listed as such and never entered."""
        parts = split_path(path, allow_root=True)
        rel = "/".join(parts) or "."
        limit = max(1, min(int(max_entries), MAX_LIST_ENTRIES))
        entries: list[FileEntry] = []
        truncated = False
        with _os_errors(rel):
            if parts:
                pfd = self._open_dir(parts[:-1])
                try:
                    st = os.stat(parts[-1], dir_fd=pfd, follow_symlinks=False)
                finally:
                    os.close(pfd)
                kind = _kind(st.st_mode)
                if kind != "dir":
                    size = st.st_size if kind == "file" else None
                    editable = kind == "file" and self.policy.match_parts(parts)
                    entry = FileEntry(path=rel, type=kind, size=size, editable=editable)
                    return FileListing(path=rel, entries=[entry], editable_globs=self.editable)
            for eparts, kind, size in self._walk(parts, lambda _p: True):
                if len(entries) >= limit:
                    truncated = True
                    break
                entries.append(
                    FileEntry(
                        path="/".join(_display(p) for p in eparts),
                        type=kind,
                        size=size,
                        editable=kind == "file" and self.policy.match_parts(eparts),
                    )
                )
        entries.sort(key=lambda e: e.path.split("/"))
        return FileListing(path=rel, entries=entries, truncated=truncated, editable_globs=self.editable)

    def read_file(self, path: str, offset: int = 0, limit: int | None = None) -> FileRead:
        """Read up to MAX_READ_BYTES from `offset`; page on with `next_offset`."""
        parts = split_path(path)
        rel = "/".join(parts)
        if offset < 0:
            raise WorkspaceError(f"offset must be >= 0, got {offset}")
        if limit is not None and limit < 1:
            raise WorkspaceError(f"limit must be >= 1, got {limit}")
        want = min(limit or MAX_READ_BYTES, MAX_READ_BYTES)
        with _os_errors(rel):
            try:
                fd = self._open_regular(parts)
            except FileNotFoundError:
                raise WorkspaceError(f"{rel} does not exist; list_files() shows what is there") from None
            try:
                total = os.fstat(fd).st_size
                chunks, got = [], 0
                while offset + got < total and got < want and (chunk := os.pread(fd, want - got, offset + got)):
                    chunks.append(chunk)
                    got += len(chunk)
            finally:
                os.close(fd)
        data = b"".join(chunks)
        more = offset + len(data) < total
        if more:
            cut = _incomplete_utf8_tail(data)
            if 0 < cut < len(data):
                data = data[:-cut]
        notes = []
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            content = data.decode("utf-8", "replace")
            notes.append("not valid UTF-8 here: undecodable bytes were replaced with U+FFFD")
        if b"\x00" in data:
            notes.append("contains NUL bytes: probably a binary file")
        end = offset + len(data)
        return FileRead(
            path=rel,
            content=content,
            offset=offset,
            bytes_read=len(data),
            total_bytes=total,
            truncated=more,
            next_offset=end if more else None,
            note="; ".join(notes) or None,
        )

    # -------------------------------------------------- public: changing

    def _check_editable(self, parts: list[str]) -> str:
        rel = "/".join(parts)
        if not self.policy.match_parts(parts):
            raise WorkspaceError(
                f"{rel} is not editable; only files matching these globs may be changed: "
                f"{', '.join(self.editable)}"
            )
        return rel

    def write_file(self, path: str, content: str) -> Change:
        """Create or replace an editable file (atomic; parent dirs created; mode kept or 0644)."""
        parts = split_path(path)
        rel = self._check_editable(parts)
        if not isinstance(content, str):
            raise WorkspaceError(f"content must be a string, got {type(content).__name__}")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise WorkspaceError(f"content is not valid Unicode ({exc.reason})") from None
        if len(data) > MAX_WRITE_BYTES:
            raise WorkspaceError(f"content is {len(data)} bytes; write_file takes at most {MAX_WRITE_BYTES}")
        with self._lock:
            try:
                old = self._read_existing(parts)
            except _TooBig:
                old = None  # replaced all the same; a single atomic write needs no rollback copy
            changed = []
            if old is None or old[0] != data:
                self._apply_changes({rel: (data, old)})
                changed = [rel]
            info = self._snapshot_locked(f"write_file {rel}")
        return Change(action="write_file", changed=changed, snapshot_id=info.id, notes=_skip_notes(info))

    def apply_patch(self, patch_text: str) -> Change:
        """Apply a unified diff to editable files, all or nothing."""
        if not isinstance(patch_text, str):
            raise WorkspaceError(f"patch must be a string, got {type(patch_text).__name__}")
        if len(patch_text) > MAX_PATCH_BYTES or len(patch_text.encode("utf-8", "surrogatepass")) > MAX_PATCH_BYTES:
            raise WorkspaceError(f"patch is larger than {MAX_PATCH_BYTES} bytes; split it or use write_file")
        fps = parse_patch(patch_text)
        targets: list[list[str]] = []
        for fp in fps:
            why = fp.unsupported()
            if why is not None:
                raise PatchError(
                    f"{fp.path}: refused because {why}; patches may only edit, create or delete text files"
                )
            for p in (fp.old_path, fp.new_path):
                if p is not None:
                    try:
                        split_path(p)
                    except WorkspaceError as exc:
                        raise WorkspaceError(f"patch names {p!r}: {exc}") from None
            parts = split_path(fp.path)
            self._check_editable(parts)
            targets.append(parts)
        notes: list[str] = []
        with self._lock:
            originals: dict[str, tuple[bytes, int] | None] = {}
            current: dict[str, str | None] = {}
            for fp, parts in zip(fps, targets, strict=True):
                rel = "/".join(parts)
                if rel not in originals:
                    originals[rel] = old = self._read_existing(parts)
                    try:
                        current[rel] = old[0].decode("utf-8") if old is not None else None
                    except UnicodeDecodeError:
                        raise WorkspaceError(f"{rel} is not UTF-8 text; patches apply to text files only, "
                                             "use write_file") from None
                current[rel] = apply_file_patch(current[rel], fp, notes)
            changes: dict[str, tuple[bytes | None, tuple[bytes, int] | None]] = {}
            for rel, text in current.items():
                data = text.encode("utf-8") if text is not None else None
                if data is not None and len(data) > MAX_FILE_BYTES:
                    raise WorkspaceError(f"{rel} would be {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
                old = originals[rel]
                if (old[0] if old is not None else None) != data:
                    changes[rel] = (data, old)
            self._apply_changes(changes)
            info = self._snapshot_locked(f"apply_patch {', '.join(changes) or '(no change)'}")
        return Change(action="apply_patch", changed=list(changes), snapshot_id=info.id,
                      notes=notes + _skip_notes(info))

    def _apply_changes(self, changes: dict[str, tuple[bytes | None, tuple[bytes, int] | None]]) -> None:
        """Write/delete each path (new content, original); on any failure undo the ones done."""
        done: list[str] = []
        created: list[list[str]] = []
        try:
            for rel, (data, _old) in changes.items():
                parts = rel.split("/")
                if data is None:
                    self._unlink(parts)
                else:
                    self._write_bytes(parts, data, created)
                done.append(rel)
        except (OSError, WorkspaceError) as exc:
            for rel in reversed(done):
                old = changes[rel][1]
                with contextlib.suppress(OSError, WorkspaceError):
                    if old is None:
                        self._unlink(rel.split("/"))
                    else:
                        self._write_bytes(rel.split("/"), old[0], [], mode=old[1])
            for dparts in reversed(created):
                with contextlib.suppress(OSError, WorkspaceError):
                    pfd = self._open_dir(dparts[:-1])
                    try:
                        os.rmdir(dparts[-1], dir_fd=pfd)
                    finally:
                        os.close(pfd)
            raise WorkspaceError(f"{exc}; nothing was changed (the files already written were rolled back)") from None

    # -------------------------------------------------- snapshots

    def _scan(self) -> tuple[dict[str, bytes], list[str]]:
        """Current editable regular files; everything else at an editable path is reported, not read."""
        files: dict[str, bytes] = {}
        skipped: list[str] = []
        total = 0
        for parts, kind, _size in self._walk([], self.policy.may_contain, skipped):
            if kind == "dir" or not self.policy.match_parts(parts):
                continue
            shown = "/".join(_display(p) for p in parts)
            try:
                rel = "/".join(split_path("/".join(parts)))
            except WorkspaceError:
                skipped.append(f"{shown} (unsupported file name)")
                continue
            if rel != "/".join(parts):
                skipped.append(f"{shown} (unsupported file name)")
                continue
            if kind != "file":
                skipped.append(f"{rel} ({kind}, not a regular file)")
                continue
            if len(files) >= MAX_SNAPSHOT_FILES:
                skipped.append(f"{rel} (more than {MAX_SNAPSHOT_FILES} editable files)")
                continue
            try:
                got = self._read_existing(parts)
            except WorkspaceError as exc:
                skipped.append(f"{rel} ({exc})")
                continue
            if got is None:
                continue
            if total + len(got[0]) > MAX_TOTAL_BYTES:
                skipped.append(f"{rel} (snapshot would exceed {MAX_TOTAL_BYTES} bytes)")
                continue
            total += len(got[0])
            files[rel] = got[0]
        return files, skipped

    def _snapshot_locked(self, reason: str, only_if_changed: bool = False) -> SnapshotInfo | None:
        files, skipped = self._scan()
        shas = {rel: self.store.put_blob(data) for rel, data in files.items()}
        sid = self.store.put_manifest(shas)
        parent = self.store.head()
        if sid == parent:  # nothing changed since the last snapshot: it stands (never its own parent)
            if only_if_changed:
                return None
            head = self.store.history()[-1]
            return head.model_copy(update={"changed": [], "skipped": skipped, "reason": reason})
        before = self.store.manifest(parent) if parent else {}
        changed = sorted(p for p in set(shas) | set(before) if shas.get(p) != before.get(p))
        info = SnapshotInfo(
            id=sid, parent=parent, time=_now(), reason=reason, files=len(shas), changed=changed, skipped=skipped
        )
        self.store.record(info)
        return info

    def snapshot(self, reason: str) -> SnapshotInfo:
        """Record the editable files as they are now."""
        with self._lock:
            info = self._snapshot_locked(reason)
            assert info is not None
            return info

    def snapshot_if_changed(self, reason: str) -> SnapshotInfo | None:
        """A new snapshot only when the editable files differ from the last one (after an experiment)."""
        with self._lock:
            return self._snapshot_locked(reason, only_if_changed=True)

    def history(self) -> list[SnapshotInfo]:
        return self.store.history()

    def editable_files(self) -> list[str]:
        """Editable regular files present now."""
        return sorted(self._scan()[0])

    def diff(self, a: str, b: str | None = None) -> str:
        """Unified diff (git style, a/ b/ prefixes) from snapshot `a` to `b`, or to the workspace now."""
        old = self._contents(self.store.resolve_id(a))
        new = self._scan()[0] if b is None else self._contents(self.store.resolve_id(b))
        out: list[str] = []
        size = 0
        for rel in sorted(set(old) | set(new)):
            if old.get(rel) == new.get(rel):
                continue
            piece = _unified(rel, old.get(rel), new.get(rel))
            size += len(piece)
            if size > MAX_DIFF_CHARS:
                out.append(f"[diff truncated at {MAX_DIFF_CHARS} characters]\n")
                break
            out.append(piece)
        return "".join(out)

    def _contents(self, sid: str) -> dict[str, bytes]:
        return {rel: self.store.get_blob(sha) for rel, sha in self.store.manifest(sid).items()}

    def restore(self, snapshot_id: str) -> Change:
        """Set the editable files to a snapshot's contents; editable files not in it are deleted."""
        with self._lock:
            sid = self.store.resolve_id(snapshot_id)
            target = {rel: data for rel, data in self._contents(sid).items() if self.policy.match_parts(rel.split("/"))}
            notes: list[str] = []
            odd: list[str] = []
            present: dict[str, tuple[bytes, int] | None] = {}
            cut: list[str] = []
            for parts, kind, _size in self._walk([], self.policy.may_contain, cut):
                rel = "/".join(parts)
                if kind == "dir" or not self.policy.match_parts(parts):
                    continue
                if kind != "file":
                    odd.append(rel)
                    notes.append(f"removed {rel} ({kind}, not a regular file)")
                    continue
                try:
                    present[rel] = self._read_existing(parts)
                except WorkspaceError as exc:
                    odd.append(rel)
                    notes.append(f"removed {rel} ({exc})")
            notes += [f"not looked at: {c}" for c in cut]
            for rel in odd:  # planted symlinks, fifos, oversized files: removed, they cannot be kept
                self._unlink(rel.split("/"))
            changes: dict[str, tuple[bytes | None, tuple[bytes, int] | None]] = {}
            for rel, data in target.items():
                cur = present.get(rel) if rel in present else self._read_existing(rel.split("/"))
                if cur is None or cur[0] != data:
                    changes[rel] = (data, cur)
            for rel, cur in present.items():
                if rel not in target and cur is not None:
                    changes[rel] = (None, cur)
            self._apply_changes(changes)
            info = self._snapshot_locked(f"restore {sid}")
        changed = sorted(_display(rel) for rel in set(changes) | set(odd))
        return Change(action="restore", changed=changed, snapshot_id=info.id,
                      notes=[_display(n) for n in notes] + _skip_notes(info))

    def freeze(self) -> tuple[str, bytes]:
        """Snapshot now and return (id, tar of the editable files) for the trusted scorer.

        Refused when an editable path holds something a snapshot cannot keep (symlink,
        special file, too big): the scorer must get exactly what the agent sees, or nothing.
        """
        with self._lock:
            info = self._snapshot_locked("freeze")
            if info.skipped:
                raise WorkspaceError(
                    "cannot freeze: these editable paths cannot be included: "
                    + "; ".join(info.skipped)
                    + ". Remove them (or restore a snapshot) and try again"
                )
            return info.id, self.store.tar_of(info.id)

    def tar_of(self, snapshot_id: str) -> bytes:
        return self.store.tar_of(snapshot_id)


def _skip_notes(info: SnapshotInfo) -> list[str]:
    return [f"not in snapshot: {s}" for s in info.skipped]


def _incomplete_utf8_tail(data: bytes) -> int:
    """How many trailing bytes start a UTF-8 sequence that the chunk cuts off (0 if none)."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b & 0xC0 != 0x80:  # not a continuation byte: the lead byte
            need = 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
            return back if need > back else 0
    return 0


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _unified(rel: str, old: bytes | None, new: bytes | None) -> str:
    """One file's git-style diff, with '\\ No newline at end of file' where needed (difflib lacks it)."""
    head = [f"diff --git a/{rel} b/{rel}\n"]
    if old is None:
        head.append("new file mode 100644\n")
    elif new is None:
        head.append("deleted file mode 100644\n")
    if not _is_text(old or b"") or not _is_text(new or b""):
        a = "/dev/null" if old is None else f"a/{rel}"
        b = "/dev/null" if new is None else f"b/{rel}"
        return "".join(head) + f"Binary files {a} and {b} differ\n"
    body = difflib.unified_diff(
        _lines(old),
        _lines(new),
        "/dev/null" if old is None else f"a/{rel}",
        "/dev/null" if new is None else f"b/{rel}",
    )
    out = head
    for line in body:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines(data: bytes | None) -> list[str]:
    r"""Lines with their '\n' (the last may lack it); split on '\n' only, as diff and patch do."""
    parts = (data or b"").decode("utf-8").split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _copy_tree(source: Path, dest: Path) -> None:
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        target = dest / entry.name
        if stat.S_ISDIR(st.st_mode):
            target.mkdir(mode=0o755)
            _copy_tree(Path(entry.path), target)
        elif stat.S_ISREG(st.st_mode):
            target.write_bytes(Path(entry.path).read_bytes())
            os.chmod(target, stat.S_IMODE(st.st_mode) & 0o755 | 0o644)
        else:
            raise WorkspaceError(
                f"task environment contains {entry.path}, which is a {_kind(st.st_mode)}; "
                "only regular files and directories are allowed"
            )

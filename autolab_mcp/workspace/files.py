"""The file tools' work: listing, paged reading, and checking what write_file and apply_patch change.

The Workspace facade holds the lock, commits the changes (Transaction) and records the snapshot;
these functions read through WorkspaceDir and compute, and change nothing themselves.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from autolab_mcp.core.editable import EditablePolicy
from autolab_mcp.core.safedir import kind_of
from autolab_mcp.patch import FilePatch, PatchError, apply_file_patch, parse_patch
from autolab_mcp.workspace.models import (
    MAX_FILE_BYTES,
    MAX_LIST_ENTRIES,
    MAX_PATCH_BYTES,
    MAX_READ_BYTES,
    MAX_WRITE_BYTES,
    FileEntry,
    FileListing,
    FileRead,
    Original,
    WorkspaceError,
)
from autolab_mcp.workspace.paths import WorkspaceDir, check_editable, display, os_errors, split_path

# ---------------------------------------------------------------- reading


def listing(wdir: WorkspaceDir, policy: EditablePolicy, path: str, max_entries: int) -> FileListing:
    """Recursive listing, sorted by path; symlinks are listed as such and never entered."""
    parts = split_path(path, allow_root=True)
    rel = "/".join(parts) or "."
    globs = list(policy.globs)
    limit = max(1, min(int(max_entries), MAX_LIST_ENTRIES))
    entries: list[FileEntry] = []
    truncated = False
    with os_errors(rel):
        if parts:
            st = wdir.lstat(parts)
            kind = kind_of(st.st_mode)
            if kind != "dir":
                size = st.st_size if kind == "file" else None
                editable = kind == "file" and policy.match_parts(parts)
                entry = FileEntry(path=rel, type=kind, size=size, editable=editable)
                return FileListing(path=rel, entries=[entry], editable_globs=globs)
        for eparts, kind, size in wdir.walk(parts, lambda _p: True):
            if len(entries) >= limit:
                truncated = True
                break
            entries.append(
                FileEntry(
                    path="/".join(display(p) for p in eparts),
                    type=kind,
                    size=size,
                    editable=kind == "file" and policy.match_parts(eparts),
                )
            )
    entries.sort(key=lambda e: e.path.split("/"))
    return FileListing(path=rel, entries=entries, truncated=truncated, editable_globs=globs)


def read_chunk(wdir: WorkspaceDir, path: str, offset: int = 0, limit: int | None = None) -> FileRead:
    """Read up to MAX_READ_BYTES from `offset`; page on with `next_offset`."""
    parts = split_path(path)
    rel = "/".join(parts)
    if offset < 0:
        raise WorkspaceError(f"offset must be >= 0, got {offset}")
    if limit is not None and limit < 1:
        raise WorkspaceError(f"limit must be >= 1, got {limit}")
    want = min(limit or MAX_READ_BYTES, MAX_READ_BYTES)
    with os_errors(rel):
        try:
            fd = wdir.open_regular(parts)
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


def _incomplete_utf8_tail(data: bytes) -> int:
    """How many trailing bytes start a UTF-8 sequence that the chunk cuts off (0 if none)."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b & 0xC0 != 0x80:  # not a continuation byte: the lead byte
            need = 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
            return back if need > back else 0
    return 0


# ---------------------------------------------------------------- changing


def content_bytes(content: str) -> bytes:
    """write_file's content as UTF-8, checked against MAX_WRITE_BYTES."""
    if not isinstance(content, str):
        raise WorkspaceError(f"content must be a string, got {type(content).__name__}")
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WorkspaceError(f"content is not valid Unicode ({exc.reason})") from None
    if len(data) > MAX_WRITE_BYTES:
        raise WorkspaceError(f"content is {len(data)} bytes; write_file takes at most {MAX_WRITE_BYTES}")
    return data


def patch_targets(policy: EditablePolicy, patch_text: str) -> list[tuple[FilePatch, list[str]]]:
    """The patch parsed, each file patch with the path it writes; refused unless every file is a plain
    text file the editable globs cover (checked before anything is read)."""
    if not isinstance(patch_text, str):
        raise WorkspaceError(f"patch must be a string, got {type(patch_text).__name__}")
    if len(patch_text) > MAX_PATCH_BYTES or len(patch_text.encode("utf-8", "surrogatepass")) > MAX_PATCH_BYTES:
        raise WorkspaceError(f"patch is larger than {MAX_PATCH_BYTES} bytes; split it or use write_file")
    targets: list[tuple[FilePatch, list[str]]] = []
    for fp in parse_patch(patch_text):
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
        check_editable(policy, parts)
        targets.append((fp, parts))
    return targets


def patch_changes(
    read_existing: Callable[[list[str]], Original], targets: list[tuple[FilePatch, list[str]]], notes: list[str]
) -> dict[str, tuple[bytes | None, Original]]:
    """What applying the file patches to the files as they are now changes: path -> (new content or None,
    original), unchanged files left out. Raises before anything is written; offsets go to `notes`."""
    originals: dict[str, Original] = {}
    current: dict[str, str | None] = {}
    for fp, parts in targets:
        rel = "/".join(parts)
        if rel not in originals:
            originals[rel] = old = read_existing(parts)
            try:
                current[rel] = old[0].decode("utf-8") if old is not None else None
            except UnicodeDecodeError:
                raise WorkspaceError(f"{rel} is not UTF-8 text; patches apply to text files only, "
                                     "use write_file") from None
        current[rel] = apply_file_patch(current[rel], fp, notes)
    changes: dict[str, tuple[bytes | None, Original]] = {}
    for rel, text in current.items():
        data = text.encode("utf-8") if text is not None else None
        if data is not None and len(data) > MAX_FILE_BYTES:
            raise WorkspaceError(f"{rel} would be {len(data)} bytes; the limit is {MAX_FILE_BYTES}")
        old = originals[rel]
        if (old[0] if old is not None else None) != data:
            changes[rel] = (data, old)
    return changes


def copy_tree(source: Path, dest: Path) -> None:
    """Copy a task's environment (trusted, but refused where it holds anything a workspace cannot keep)."""
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        target = dest / entry.name
        if stat.S_ISDIR(st.st_mode):
            target.mkdir(mode=0o755)
            copy_tree(Path(entry.path), target)
        elif stat.S_ISREG(st.st_mode):
            target.write_bytes(Path(entry.path).read_bytes())
            os.chmod(target, stat.S_IMODE(st.st_mode) & 0o755 | 0o644)
        else:
            raise WorkspaceError(
                f"task environment contains {entry.path}, which is a {kind_of(st.st_mode)}; "
                "only regular files and directories are allowed"
            )


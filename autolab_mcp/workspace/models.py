"""The workspace's limits, its error, and what its tools return."""

from __future__ import annotations

from pydantic import BaseModel, Field

from autolab_mcp.core.errors import Refusal
from autolab_mcp.core.safedir import Kind

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

FileType = Kind
#: (content, permission bits) of a file as it was, or None when it was absent.
Original = tuple[bytes, int] | None


class WorkspaceError(Refusal):
    """A refused or failed workspace operation; the message says what was wrong and what is allowed."""


class TooBig(WorkspaceError):
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

"""The agent's files: confined access, the edit policy, and content-addressed snapshots.

The agent is untrusted and so is everything its experiments leave behind in the
workspace (symlinks, fifos, huge files), so nothing here follows a symlink: every
path is walked one component at a time with O_NOFOLLOW relative to a directory
fd (autolab_mcp.core.safedir), and only regular files are ever read. Writes are
atomic (temp file + rename) and patches are all or nothing. Every change is
recorded as a snapshot of the editable files; a snapshot is what the trusted
scorer gets (`freeze`).

Modules: models (limits, WorkspaceError, the tools' results), paths (agent paths,
the fd-based WorkspaceDir), files (listing, reading, what a write or patch
changes), transaction (all-or-nothing commits), snapshots and store (what is
recorded, and where), diff (rendering), facade (the Workspace itself).
"""

from autolab_mcp.workspace.facade import Workspace
from autolab_mcp.workspace.models import (
    MAX_FILE_BYTES,
    MAX_PATCH_BYTES,
    MAX_READ_BYTES,
    MAX_TOTAL_BYTES,
    MAX_WRITE_BYTES,
    Change,
    FileEntry,
    FileListing,
    FileRead,
    FileType,
    SnapshotInfo,
    WorkspaceError,
)
from autolab_mcp.workspace.paths import split_path
from autolab_mcp.workspace.store import SnapshotStore

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PATCH_BYTES",
    "MAX_READ_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_WRITE_BYTES",
    "Change",
    "FileEntry",
    "FileListing",
    "FileRead",
    "FileType",
    "SnapshotInfo",
    "SnapshotStore",
    "Workspace",
    "WorkspaceError",
    "split_path",
]

"""The Workspace: the agent's files behind one lock, every change atomic and recorded as a snapshot."""

from __future__ import annotations

import threading
from pathlib import Path

from autolab_mcp.core.editable import EditableGlobError, EditablePolicy
from autolab_mcp.workspace import files, snapshots
from autolab_mcp.workspace.diff import render_diff
from autolab_mcp.workspace.models import Change, FileEntry, FileListing, FileRead, SnapshotInfo, TooBig, WorkspaceError
from autolab_mcp.workspace.paths import WorkspaceDir, check_editable, display, split_path
from autolab_mcp.workspace.store import SnapshotStore
from autolab_mcp.workspace.transaction import Changes, Transaction


class Workspace:
    """The agent's workspace directory: confined reads, policy-checked writes, snapshots.

    Nothing here follows a symlink (paths.WorkspaceDir, over autolab_mcp.core.safedir); writes are
    atomic and several at once all or nothing (transaction.Transaction, through `_write_bytes` and
    `_unlink`); every change ends in a snapshot of the editable files (snapshots, store).
    """

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
        self.dir = WorkspaceDir(self.root)
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
        files.copy_tree(source, root)
        return cls.open(root, editable, store_dir)

    # -------------------------------------------------- the writes every change goes through

    def _open_dir(self, parts: list[str], created: list[list[str]] | None = None) -> int:
        return self.dir.open_dir(parts, created)

    def _write_bytes(self, parts: list[str], data: bytes, created: list[list[str]], mode: int | None = None) -> None:
        self.dir.write_bytes(parts, data, created, mode)

    def _unlink(self, parts: list[str]) -> None:
        self.dir.unlink(parts)

    def _apply_changes(self, changes: Changes) -> None:
        """Write/delete each path (new content, original); on any failure undo the ones done."""
        Transaction(self._write_bytes, self._unlink, self.dir.rmdir).commit(changes)

    # -------------------------------------------------- reading

    def resolve(self, path: str) -> Path:
        """Host path for `path` after checking it: confined, and no symlink on the way (see WorkspaceDir)."""
        return self.dir.resolve(path)

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
        return files.listing(self.dir, self.policy, path, max_entries)

    def read_file(self, path: str, offset: int = 0, limit: int | None = None) -> FileRead:
        """Read up to MAX_READ_BYTES from `offset`; page on with `next_offset`."""
        return files.read_chunk(self.dir, path, offset, limit)

    # -------------------------------------------------- changing

    def write_file(self, path: str, content: str) -> Change:
        """Create or replace an editable file (atomic; parent dirs created; mode kept or 0644)."""
        parts = split_path(path)
        rel = check_editable(self.policy, parts)
        data = files.content_bytes(content)
        with self._lock:
            try:
                old = self.dir.read_existing(parts)
            except TooBig:
                old = None  # replaced all the same; a single atomic write needs no rollback copy
            changed = []
            if old is None or old[0] != data:
                self._apply_changes({rel: (data, old)})
                changed = [rel]
            info = self._snapshot_locked(f"write_file {rel}")
        return Change(action="write_file", changed=changed, snapshot_id=info.id, notes=snapshots.skip_notes(info))

    def apply_patch(self, patch_text: str) -> Change:
        """Apply a unified diff to editable files, all or nothing."""
        targets = files.patch_targets(self.policy, patch_text)
        notes: list[str] = []
        with self._lock:
            changes = files.patch_changes(self.dir.read_existing, targets, notes)
            self._apply_changes(changes)
            info = self._snapshot_locked(f"apply_patch {', '.join(changes) or '(no change)'}")
        return Change(action="apply_patch", changed=list(changes), snapshot_id=info.id,
                      notes=notes + snapshots.skip_notes(info))

    def restore(self, snapshot_id: str) -> Change:
        """Set the editable files to a snapshot's contents; editable files not in it are deleted."""
        with self._lock:
            sid = self.store.resolve_id(snapshot_id)
            target = {rel: data for rel, data in snapshots.contents(self.store, sid).items()
                      if self.policy.match_parts(rel.split("/"))}
            present, odd, notes = snapshots.survey(self.dir, self.policy)
            for rel in odd:  # planted symlinks, fifos, oversized files: removed, they cannot be kept
                self._unlink(rel.split("/"))
            changes = snapshots.restore_changes(self.dir, target, present)
            self._apply_changes(changes)
            info = self._snapshot_locked(f"restore {sid}")
        changed = sorted(display(rel) for rel in set(changes) | set(odd))
        return Change(action="restore", changed=changed, snapshot_id=info.id,
                      notes=[display(n) for n in notes] + snapshots.skip_notes(info))

    # -------------------------------------------------- snapshots

    def _snapshot_locked(self, reason: str, only_if_changed: bool = False) -> SnapshotInfo | None:
        found, skipped = snapshots.scan(self.dir, self.policy)
        return snapshots.record(self.store, found, skipped, reason, only_if_changed)

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
        return sorted(snapshots.scan(self.dir, self.policy)[0])

    def diff(self, a: str, b: str | None = None) -> str:
        """Unified diff (git style, a/ b/ prefixes) from snapshot `a` to `b`, or to the workspace now."""
        old = snapshots.contents(self.store, self.store.resolve_id(a))
        if b is None:
            new = snapshots.scan(self.dir, self.policy)[0]
        else:
            new = snapshots.contents(self.store, self.store.resolve_id(b))
        return render_diff(old, new)

    def freeze(self) -> tuple[str, bytes]:
        """Snapshot now and return (id, tar of the editable files) for the trusted scorer.

        Refused when an editable path holds something a snapshot cannot keep (symlink,
        special file, too big): the scorer must get exactly what the agent sees, or nothing.
        """
        with self._lock:
            info = self._snapshot_locked("freeze")
            assert info is not None
            if info.skipped:
                raise WorkspaceError(
                    "cannot freeze: these editable paths cannot be included: "
                    + "; ".join(info.skipped)
                    + ". Remove them (or restore a snapshot) and try again"
                )
            return info.id, self.store.tar_of(info.id)

    def tar_of(self, snapshot_id: str) -> bytes:
        return self.store.tar_of(snapshot_id)

"""Taking a snapshot of the editable files, and working out what a restore changes.

A snapshot holds the editable regular files only; anything else at an editable path (a symlink, a
fifo, a file over the caps, a name that cannot be stored) is reported as skipped, never followed or
read, so a snapshot is never silently partial.
"""

from __future__ import annotations

from autolab_mcp.core.editable import EditablePolicy
from autolab_mcp.workspace.models import (
    MAX_SNAPSHOT_FILES,
    MAX_TOTAL_BYTES,
    Original,
    SnapshotInfo,
    WorkspaceError,
)
from autolab_mcp.workspace.paths import WorkspaceDir, display, split_path
from autolab_mcp.workspace.store import SnapshotStore, now


def scan(wdir: WorkspaceDir, policy: EditablePolicy) -> tuple[dict[str, bytes], list[str]]:
    """Current editable regular files; everything else at an editable path is reported, not read."""
    files: dict[str, bytes] = {}
    skipped: list[str] = []
    total = 0
    for parts, kind, _size in wdir.walk([], policy.may_contain, skipped):
        if kind == "dir" or not policy.match_parts(parts):
            continue
        shown = "/".join(display(p) for p in parts)
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
            got = wdir.read_existing(parts)
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


def record(store: SnapshotStore, files: dict[str, bytes], skipped: list[str], reason: str,
           only_if_changed: bool = False) -> SnapshotInfo | None:
    """Store `files` as a snapshot and log it, unless it equals the last one: then the last one stands
    (never its own parent), or None with `only_if_changed`."""
    shas = {rel: store.put_blob(data) for rel, data in files.items()}
    sid = store.put_manifest(shas)
    parent = store.head()
    if sid == parent:
        if only_if_changed:
            return None
        head = store.history()[-1]
        return head.model_copy(update={"changed": [], "skipped": skipped, "reason": reason})
    before = store.manifest(parent) if parent else {}
    changed = sorted(p for p in set(shas) | set(before) if shas.get(p) != before.get(p))
    info = SnapshotInfo(
        id=sid, parent=parent, time=now(), reason=reason, files=len(shas), changed=changed, skipped=skipped
    )
    store.record(info)
    return info


def contents(store: SnapshotStore, sid: str) -> dict[str, bytes]:
    return {rel: store.get_blob(sha) for rel, sha in store.manifest(sid).items()}


def skip_notes(info: SnapshotInfo) -> list[str]:
    return [f"not in snapshot: {s}" for s in info.skipped]


def survey(wdir: WorkspaceDir, policy: EditablePolicy) -> tuple[dict[str, Original], list[str], list[str]]:
    """What a restore finds at the editable paths: (regular files as they are, entries that must go
    because no snapshot can hold them: symlinks, fifos, oversized files; notes on both)."""
    present: dict[str, Original] = {}
    odd: list[str] = []
    notes: list[str] = []
    cut: list[str] = []
    for parts, kind, _size in wdir.walk([], policy.may_contain, cut):
        rel = "/".join(parts)
        if kind == "dir" or not policy.match_parts(parts):
            continue
        if kind != "file":
            odd.append(rel)
            notes.append(f"removed {rel} ({kind}, not a regular file)")
            continue
        try:
            present[rel] = wdir.read_existing(parts)
        except WorkspaceError as exc:
            odd.append(rel)
            notes.append(f"removed {rel} ({exc})")
    notes += [f"not looked at: {c}" for c in cut]
    return present, odd, notes


def restore_changes(
    wdir: WorkspaceDir, target: dict[str, bytes], present: dict[str, Original]
) -> dict[str, tuple[bytes | None, Original]]:
    """path -> (content, original) that turns the editable files `present` into `target`."""
    changes: dict[str, tuple[bytes | None, Original]] = {}
    for rel, data in target.items():
        cur = present.get(rel) if rel in present else wdir.read_existing(rel.split("/"))
        if cur is None or cur[0] != data:
            changes[rel] = (data, cur)
    for rel, cur in present.items():
        if rel not in target and cur is not None:
            changes[rel] = (None, cur)
    return changes

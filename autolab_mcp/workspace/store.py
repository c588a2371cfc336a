"""Content-addressed snapshots of the editable files, kept in the run directory (never the workspace).

Blobs are `objects/<sha256>`, manifests `manifests/<id>.json` (path -> blob), and `snapshots.jsonl` an
append-only index. History keeps one entry per recorded change, even when the content (and so the
snapshot id) equals an earlier one: the history is a log of events, ids are content addresses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import tarfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from autolab_mcp.workspace.models import MAX_FILE_BYTES, MAX_TOTAL_BYTES, SnapshotInfo, WorkspaceError

_ID_RE = re.compile(r"[0-9a-f]{4,64}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
        sha = sha256_hex(data)
        path = self.dir / "objects" / sha
        if not path.exists():
            self._atomic_write(path, data)
        return sha

    def get_blob(self, sha: str) -> bytes:
        if not _SHA_RE.fullmatch(sha):
            raise WorkspaceError(f"bad object id {sha!r}")
        data = (self.dir / "objects" / sha).read_bytes()
        if sha256_hex(data) != sha:
            raise WorkspaceError(f"snapshot object {sha} is corrupt")
        return data

    def put_manifest(self, files: dict[str, str]) -> str:
        canonical = json.dumps({"files": files}, sort_keys=True, separators=(",", ":")).encode()
        sid = sha256_hex(canonical)[:12]
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

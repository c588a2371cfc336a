"""Submission archives: the tar of editable files that the server sends and the scorer unpacks."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


def tar_directory_files(root: Path, paths: list[str]) -> bytes:
    """A deterministic tar of the given files under root (used for oracle and tests)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in sorted(paths):
            data = (root / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()

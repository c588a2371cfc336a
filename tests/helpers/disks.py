"""Real small and read-only filesystems for the disk-full and read-only tests (tests run as root; where
mounting is not allowed the test skips, saying why)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill", "read_only", "small_tmpfs"]


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount ({' '.join(args)}): {done.stderr.strip() or 'not root?'}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tiny real filesystem at `path`, so filling it does not touch the real disk."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


def fill(directory: Path) -> None:
    """Fill the filesystem holding `directory` to the last byte."""
    with open(directory / "filler", "wb", buffering=0) as handle:
        for chunk in (65536, 4096, 512, 64, 8, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError:
                continue


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` remounted read-only in place (a bind mount), undone afterwards."""
    _mount("--bind", str(path), str(path))
    try:
        done = subprocess.run(["mount", "-o", "remount,bind,ro", str(path), str(path)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
        yield path
    finally:
        _umount(path)

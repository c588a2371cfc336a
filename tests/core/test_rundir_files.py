"""Run-directory files: every way a state file can be broken is diagnosed in one line naming the file, and a
failed write (full disk, read-only mount) leaves the old file and no temp file behind.

The disk-full and read-only cases use a real small tmpfs and a real read-only bind mount (tests run as root);
they skip, saying why, where mounting is not allowed (tests/helpers/disks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from autolab_mcp.core.rundir_files import RunDirCorrupt, RunDirWriteError, atomic_write_text, read_json, read_model
from tests.helpers.disks import fill, read_only, small_tmpfs


class Counters(BaseModel):
    name: str
    used: int = Field(ge=0)
    nested: dict[str, float] = Field(default_factory=dict)


def corrupt_message(path: Path) -> str:
    with pytest.raises(RunDirCorrupt) as info:
        read_model(path, Counters, "counter file")
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    assert info.value.__cause__ is None and info.value.__suppress_context__, "no chained traceback"
    return message


def test_valid_file_reads(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "a", "used": 3}))
    assert read_model(path, Counters, "counter file") == Counters(name="a", used=3)
    assert read_json(path, "counter file") == {"name": "a", "used": 3}


def test_missing_file(tmp_path):
    assert corrupt_message(tmp_path / "c.json").endswith("c.json is missing")


def test_empty_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"")
    assert "is empty (0 bytes)" in corrupt_message(path)
    path.write_bytes(b"  \n")
    assert "is empty (3 bytes)" in corrupt_message(path)


def test_not_utf8_gives_byte_offset(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b'{"name": "\xff"}')
    assert "is not UTF-8 text (byte 0xff at offset 10)" in corrupt_message(path)


def test_not_json_gives_line_and_column(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n "name": "a",\n "used": 3,,\n}')
    message = corrupt_message(path)
    assert "is not JSON (line 3, column 12" in message, message


def test_torn_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"name": "a", "us')
    assert "is not JSON (line 1" in corrupt_message(path)


def test_not_an_object(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[1, 2]")
    assert "holds a JSON list, not an object" in corrupt_message(path)


def test_wrong_shape_names_first_field_only(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": 5, "used": "x", "nested": {"k": "y"}}))
    message = corrupt_message(path)
    assert "is invalid: name: Input should be a valid string (got 5); and 2 more errors" in message, message


def test_nested_field_path(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "a", "used": 1, "nested": {"k": "y"}}))
    assert "nested.k: Input should be a valid number" in corrupt_message(path)


def test_negative_counter(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "a", "used": -2}))
    assert "used: Input should be greater than or equal to 0 (got -2)" in corrupt_message(path)


def test_missing_field(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"used": 1}))
    assert corrupt_message(path).endswith("is invalid: name: Field required")


def test_huge_value_is_clipped(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": ["x" * 5000], "used": 1}))
    assert len(corrupt_message(path)) < 300


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "c.json").mkdir()
    assert "is a directory" in corrupt_message(tmp_path / "c.json")


def test_atomic_write_replaces(tmp_path):
    path = tmp_path / "c.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_atomic_write_disk_full_keeps_old_file_and_no_temp(tmp_path):
    with small_tmpfs(tmp_path / "fs") as fs:
        path = fs / "c.json"
        atomic_write_text(path, "old")
        fill(fs)
        with pytest.raises(RunDirWriteError) as info:
            atomic_write_text(path, "x" * 100_000)
        assert str(info.value) == f"cannot write {path}: no space left on device (disk full)"
        assert path.read_text() == "old"
        assert sorted(p.name for p in fs.iterdir()) == ["c.json", "filler"]


def test_atomic_write_read_only(tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    path = directory / "c.json"
    atomic_write_text(path, "old")
    with read_only(directory):
        with pytest.raises(RunDirWriteError) as info:
            atomic_write_text(path, "new")
        assert str(info.value) == f"cannot write {path}: read-only file system"
        assert path.read_text() == "old"

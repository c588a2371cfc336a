"""events.jsonl: a torn end is quarantined on open, bad bytes never crash, seq continues from the last good
event, and a refused append (full disk, read-only) raises one line and leaves no partial line."""

from __future__ import annotations

import json

import pytest

from autolab_mcp.core.rundir_files import RunDirWriteError
from autolab_mcp.runlog import RunLog, read_events
from tests.helpers.disks import fill, read_only, small_tmpfs


def written(tmp_path, n: int = 3) -> RunLog:
    log = RunLog(tmp_path / "events.jsonl")
    for i in range(n):
        log.append("tool", i=i)
    return log


def kinds(log: RunLog) -> list[str]:
    return [e["kind"] for e in log.read()]


def test_torn_last_line_is_quarantined_and_resume_event_kept(tmp_path):
    log = written(tmp_path)
    good = log.path.read_bytes()
    torn = b'{"seq": 4, "time": 1.0, "kind": "to'
    log.path.write_bytes(good + torn)  # the server died mid-write

    resumed = RunLog(log.path)
    assert (tmp_path / "events.torn.1.jsonl").read_bytes() == torn
    note = resumed.read()[-1]
    assert note["kind"] == "log_repaired" and note["quarantined_bytes"] == len(torn) and note["seq"] == 4
    assert note["moved_to"] == "events.torn.1.jsonl"
    resumed.append("episode_resumed")
    assert kinds(resumed) == ["tool", "tool", "tool", "log_repaired", "episode_resumed"]
    assert [e["seq"] for e in resumed.read()] == [1, 2, 3, 4, 5]
    assert read_events(log.path)[1] == 0, "no unreadable line is left in the log"
    assert log.path.read_bytes().startswith(good)


def test_invalid_complete_last_lines_are_quarantined(tmp_path):
    log = written(tmp_path, 2)
    log.path.write_bytes(log.path.read_bytes() + b"not json\n\n{broken\n")
    resumed = RunLog(log.path)
    assert (tmp_path / "events.torn.1.jsonl").read_bytes() == b"not json\n\n{broken\n"
    resumed.append("episode_resumed")
    assert kinds(resumed) == ["tool", "tool", "log_repaired", "episode_resumed"]


def test_each_quarantine_gets_its_own_file(tmp_path):
    log = written(tmp_path, 1)
    for n in (1, 2):
        log.path.write_bytes(log.path.read_bytes() + b'{"torn')
        RunLog(log.path)
        assert (tmp_path / f"events.torn.{n}.jsonl").read_bytes() == b'{"torn'
    assert kinds(RunLog(log.path)) == ["tool", "log_repaired", "log_repaired"]


def test_complete_event_missing_its_newline_is_kept(tmp_path):
    log = written(tmp_path, 2)
    log.path.write_bytes(log.path.read_bytes().rstrip(b"\n"))
    resumed = RunLog(log.path)
    resumed.append("episode_resumed")
    assert kinds(resumed) == ["tool", "tool", "episode_resumed"]
    assert not list(tmp_path.glob("events.torn.*"))


def test_clean_log_is_left_alone(tmp_path):
    log = written(tmp_path)
    before = log.path.read_bytes()
    RunLog(log.path)
    assert log.path.read_bytes() == before
    assert not list(tmp_path.glob("events.torn.*"))


def test_non_utf8_bytes_do_not_crash_opening_or_reading(tmp_path):
    log = written(tmp_path, 1)
    inside_string = b'{"seq": 2, "time": 1.0, "kind": "tool", "path": "caf\xe9"}\n'
    garbage = b"\xff\xfe\x00garbage\n"
    good_after = b'{"seq": 3, "time": 1.0, "kind": "tool"}\n'
    log.path.write_bytes(log.path.read_bytes() + inside_string + garbage + good_after)

    resumed = RunLog(log.path)
    events, skipped = read_events(log.path)
    assert skipped == 1
    assert events[1]["path"] == "caf\ufffd"
    assert resumed.append("episode_resumed")["seq"] == 4


def test_seq_continues_from_last_good_event_not_line_count(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"seq": 1, "kind": "a"}\n{oops}\n{"seq": 3, "kind": "c"}\n')
    assert RunLog(path).append("d")["seq"] == 4  # counting readable lines would repeat seq 3


def test_seq_starts_at_one_for_a_new_log(tmp_path):
    assert RunLog(tmp_path / "events.jsonl").append("episode_started")["seq"] == 1


def test_append_when_disk_full_raises_one_line_and_leaves_no_partial_line(tmp_path):
    with small_tmpfs(tmp_path / "fs") as fs:
        log = written(fs, 2)
        fill(fs)
        before = log.path.read_bytes()
        with pytest.raises(RunDirWriteError) as info:
            log.append("tool", big=["y" * 1999] * 20)  # bigger than any slack in the file's last page
        assert str(info.value) == f"cannot write {log.path}: no space left on device (disk full)"
        assert log.path.read_bytes() == before
        (fs / "filler").unlink()
        assert log.append("tool", i=9)["seq"] == 3, "the refused event used no seq"
        assert [e["seq"] for e in log.read()] == [1, 2, 3]


def test_append_on_read_only_dir_raises_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = written(run, 1)
    with read_only(run):
        with pytest.raises(RunDirWriteError) as info:
            log.append("tool")
        assert str(info.value) == f"cannot write {log.path}: read-only file system"


def test_torn_log_on_read_only_dir_opens_and_later_appends_on_a_fresh_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = written(run, 1)
    log.path.write_bytes(log.path.read_bytes() + b'{"torn')
    before = log.path.read_bytes()
    with read_only(run):
        reopened = RunLog(log.path)  # cannot quarantine: must still open
        assert log.path.read_bytes() == before
        assert not list(run.glob("events.torn.*"))
    reopened.append("episode_resumed")
    assert kinds(reopened) == ["tool", "episode_resumed"]
    assert log.path.read_bytes().splitlines()[1] == b'{"torn'


def test_appended_lines_are_single_json_objects(tmp_path):
    log = RunLog(tmp_path / "events.jsonl")
    log.append("tool", text="line1\nline2", weird="\udcff")
    lines = log.path.read_bytes().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["text"] == "line1\nline2"

"""FakeBackend, the test-only backend: the protocol, honoured in milliseconds, as its handler says.

Its conformance with the real backends is in test_conformance.py (the protocol-level cases);
here: what a FakeCommand can make a run do, and that the results are exact and repeatable.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

import autolab_mcp.core.sandbox as sandbox_package
from autolab_mcp.core.sandbox import BACKENDS, FakeBackend, FakeCommand, make_backend
from autolab_mcp.core.sandbox.base import ExecRequest, Limits, Mount, RunningSandbox, SandboxBackend, SandboxError
from autolab_mcp.core.sandbox.common import kill_live_sandboxes
from autolab_mcp.core.sandbox.fake import scripted


def req(ws: Path, command: str = "cmd", **kw: object) -> ExecRequest:
    return ExecRequest(command=command, workspace=ws, **kw)  # type: ignore[arg-type]


def answer(command: FakeCommand) -> FakeBackend:
    return FakeBackend(lambda request: command)


def wait_for(condition, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


# --------------------------------------------------------------------------- the protocol


def test_a_sandbox_backend_for_tests_only(tmp_path: Path) -> None:
    backend = FakeBackend()
    assert isinstance(backend, SandboxBackend) and backend.name == "fake"
    proc = backend.start(req(tmp_path))
    assert isinstance(proc, RunningSandbox)
    r = proc.wait(1)
    assert r is not None and r.ok and r.exit_code == 0 and r.output_tail == "" and r.duration_sec == 0
    assert {"FakeBackend", "FakeCommand"} <= set(sandbox_package.__all__)
    assert "fake" not in BACKENDS  # never a choice for serve --backend or the scorer
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        make_backend("fake")


def test_the_result_is_what_the_handler_says(tmp_path: Path) -> None:
    backend = answer(FakeCommand(exit_code=3, output="to-out\n", duration=0.02))
    t0 = time.monotonic()
    proc = backend.start(req(tmp_path))
    assert proc.output_tail() == "to-out\n"  # printed at once
    r = proc.wait(1)
    assert r is not None and time.monotonic() - t0 < 0.5
    assert (r.exit_code, r.output_tail, r.output_bytes, r.duration_sec) == (3, "to-out\n", 7, 0.02)
    assert not (r.ok or r.timed_out or r.cancelled or r.oom_killed or r.disk_exceeded)
    assert (r.killed_by, r.signal, r.limits_mode) == (None, None, "rlimit")
    assert proc.elapsed() == pytest.approx(0.02) and proc.poll() == r
    assert FakeBackend(limits_mode="cgroup").run(req(tmp_path)).limits_mode == "cgroup"


def test_results_are_deterministic(tmp_path: Path) -> None:
    command = FakeCommand(exit_code=1, output="a\n", duration=0.01, progress=((0.005, "b\n"),), files={"f": "x"})
    first = answer(command).run(req(tmp_path))
    for _ in range(3):
        assert answer(command).run(req(tmp_path)).model_dump() == first.model_dump()
    assert first.output_tail == "a\nb\n" and first.duration_sec == 0.01


def test_scripted_handler_and_unknown_commands(tmp_path: Path) -> None:
    backend = FakeBackend(scripted({"make": FakeCommand(output="built\n")}))
    assert backend.run(req(tmp_path, "make")).output_tail == "built\n"
    unknown = backend.run(req(tmp_path, "frobnicate --all"))
    assert unknown.exit_code == 127 and "frobnicate: command not found" in unknown.output_tail
    assert FakeBackend(scripted({}, default=FakeCommand(exit_code=5))).run(req(tmp_path, "x")).exit_code == 5
    assert [r.command for r in backend.requests] == ["make", "frobnicate --all"]


# --------------------------------------------------------------------------- the workspace


def test_the_handler_may_write_into_the_workspace(tmp_path: Path) -> None:
    def handler(request: ExecRequest) -> FakeCommand:
        (request.workspace / "seen.txt").write_text(request.command)
        return FakeCommand()

    FakeBackend(handler).run(req(tmp_path, "python edit.py"))
    assert (tmp_path / "seen.txt").read_text() == "python edit.py"


def test_files_are_written_when_it_exits_by_itself(tmp_path: Path) -> None:
    (tmp_path / "ro.txt").write_text("original\n")
    files = {"out/new.txt": "new\n", "ro.txt": "changed\n", "bin.dat": b"\x00\xff"}
    r = answer(FakeCommand(files=files)).run(req(tmp_path, read_only_paths=["ro.txt"]))
    assert (tmp_path / "out/new.txt").read_text() == "new\n" and (tmp_path / "bin.dat").read_bytes() == b"\x00\xff"
    assert (tmp_path / "ro.txt").read_text() == "original\n"  # read-only, as inside a real sandbox
    assert "ro.txt: Read-only file system" in r.output_tail and r.exit_code == 0
    killed = answer(FakeCommand(duration=10, files={"late.txt": "x"})).run(req(tmp_path, limits=Limits(wall_sec=0.02)))
    assert killed.timed_out and not (tmp_path / "late.txt").exists()
    oom = answer(FakeCommand(memory_mb=4096, files={"oom.txt": "x"})).run(req(tmp_path))
    assert oom.oom_killed and not (tmp_path / "oom.txt").exists()


def test_commands_are_checked(tmp_path: Path) -> None:
    for bad in ({"duration": -1}, {"progress": ((-1.0, "x"),)}, {"files": {"../x": "y"}}, {"files": {"/etc/x": "y"}}):
        with pytest.raises(ValueError):
            FakeCommand(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return a FakeCommand"):
        FakeBackend(lambda request: 0).start(req(tmp_path))  # type: ignore[arg-type, return-value]


def test_requests_are_checked_before_the_handler_runs(tmp_path: Path) -> None:
    calls: list[str] = []
    backend = FakeBackend(lambda request: calls.append(request.command) or FakeCommand())  # type: ignore[func-returns-value]
    with pytest.raises(SandboxError, match="not a directory"):
        backend.start(req(tmp_path / "nope"))
    with pytest.raises(SandboxError, match="overlaps /usr"):
        backend.start(req(tmp_path, mounts=[Mount(source=tmp_path, target="/usr/new")]))
    with pytest.raises(SandboxError, match="cpu"):
        backend.start(req(tmp_path, cpu=4096))
    with pytest.raises(SandboxError, match="invalid environment"):
        backend.start(req(tmp_path, env={"A=B": "x"}))
    assert calls == [] and backend.requests == []


def test_a_failing_handler_fails_the_start(tmp_path: Path) -> None:
    def handler(request: ExecRequest) -> FakeCommand:
        raise SandboxError("no sandbox today")

    backend = FakeBackend(handler)
    with pytest.raises(SandboxError, match="no sandbox today"):
        backend.start(req(tmp_path))
    assert len(backend.requests) == 1 and backend.processes == []


# --------------------------------------------------------------------------- how runs end


def test_wall_limit(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = answer(FakeCommand(output="up\n", duration=100)).run(req(tmp_path, limits=Limits(wall_sec=0.05)))
    assert time.monotonic() - t0 < 1
    assert r.timed_out and r.exit_code is None and not r.cancelled and r.duration_sec == 0.05
    assert (r.killed_by, r.signal, r.output_tail) == ("timeout", "SIGKILL", "up\n")
    # exactly at the limit is a timeout, whatever the timing of the threads
    assert answer(FakeCommand(duration=0.03)).run(req(tmp_path, limits=Limits(wall_sec=0.03))).timed_out


def test_kill_cancel_and_shutdown(tmp_path: Path) -> None:
    backend = answer(FakeCommand(output="started\n", duration=100))
    proc = backend.start(req(tmp_path))
    assert proc.poll() is None and proc.wait(0.01) is None and backend.live() == [proc]
    before = proc.elapsed()
    threading.Thread(target=proc.kill).start()
    r = proc.wait(1)
    assert r is not None and r.cancelled and r.exit_code is None and (r.killed_by, r.signal) == ("cancel", "SIGKILL")
    assert r.duration_sec >= before and proc.elapsed() == pytest.approx(r.duration_sec)
    proc.kill()  # after the end: harmless
    assert proc.wait(0) == r and backend.live() == []
    proc = backend.start(req(tmp_path))
    proc.kill("shutdown")
    r = proc.wait(1)
    assert r is not None and r.killed_by == "shutdown" and not r.cancelled
    # a kill once it is over by its own schedule changes nothing (here: a command that takes no time)
    proc = answer(FakeCommand(exit_code=4)).start(req(tmp_path))
    proc.kill()
    assert proc.wait(1).exit_code == 4  # type: ignore[union-attr]


def test_oom_disk_and_outside_signal_endings(tmp_path: Path) -> None:
    limits = Limits(memory_mb=128, disk_mb=64)
    oom = answer(FakeCommand(memory_mb=256, duration=0.01)).run(req(tmp_path, limits=limits))
    assert oom.oom_killed and not oom.ok and oom.exit_code is None and (oom.killed_by, oom.signal) == ("oom", "SIGKILL")
    assert oom.duration_sec == 0.01
    assert not answer(FakeCommand(memory_mb=128)).run(req(tmp_path, limits=limits)).oom_killed
    disk = answer(FakeCommand(disk_mb=65)).run(req(tmp_path, limits=limits))
    assert disk.disk_exceeded and disk.exit_code is None and disk.killed_by == "disk" and not disk.timed_out
    sig = answer(FakeCommand(signal=signal.SIGTERM)).run(req(tmp_path))
    assert (sig.exit_code, sig.killed_by, sig.signal) == (None, "unknown", "SIGTERM")


def test_kill_live_sandboxes_reaches_fake_runs(tmp_path: Path) -> None:
    proc = answer(FakeCommand(duration=100)).start(req(tmp_path))
    assert kill_live_sandboxes("shutdown", wait_sec=1) >= 1
    r = proc.poll()
    assert r is not None and r.killed_by == "shutdown"


# --------------------------------------------------------------------------- progress and freezing


def test_progress_is_printed_at_its_time(tmp_path: Path) -> None:
    command = FakeCommand(output="0\n", duration=0.08, progress=((0.04, "2\n"), (0.01, "1\n"), (0.08, "3\n")))
    proc = answer(command).start(req(tmp_path))
    assert proc.output_tail() == "0\n"
    wait_for(lambda: "1\n" in proc.output_tail())
    r = proc.wait(1)
    assert r is not None and r.output_tail == "0\n1\n2\n3\n"  # in time order, the last one at the very end
    killed = answer(command).start(req(tmp_path, limits=Limits(wall_sec=0.03)))
    assert killed.wait(1).output_tail == "0\n1\n"  # type: ignore[union-attr]


def test_frozen_time_is_neither_run_time_nor_counted_to_the_wall_limit(tmp_path: Path) -> None:
    proc = answer(FakeCommand(output="up\n", duration=0.1)).start(req(tmp_path, limits=Limits(wall_sec=0.15)))
    assert proc.freeze() and proc.freeze() and proc.frozen  # type: ignore[attr-defined]
    frozen_at = proc.elapsed()
    time.sleep(0.2)  # past both the run's end and its wall limit, had it not been frozen
    assert proc.poll() is None and proc.elapsed() == pytest.approx(frozen_at, abs=0.01)
    proc.thaw()
    r = proc.wait(1)
    assert r is not None and r.exit_code == 0 and not r.timed_out and r.duration_sec == 0.1
    assert proc.frozen_sec() >= 0.2 and not proc.freeze()  # over: nothing to freeze
    # a frozen run can still be killed
    proc = answer(FakeCommand(duration=100)).start(req(tmp_path))
    assert proc.freeze()
    proc.kill()
    r = proc.wait(1)
    assert r is not None and r.cancelled and proc.frozen_sec() > 0


def test_a_backend_that_cannot_freeze(tmp_path: Path) -> None:
    proc = FakeBackend(lambda request: FakeCommand(duration=100), can_freeze=False).start(req(tmp_path))
    assert not proc.freeze() and proc.frozen_sec() == 0
    proc.kill()
    assert proc.wait(1) is not None


# --------------------------------------------------------------------------- output capture, threads


def test_output_is_captured_like_a_real_sandbox(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "out.log"
    output = b"".join(b"line %05d\n" % i for i in range(2000))
    r = answer(FakeCommand(output=output)).run(req(tmp_path, limits=Limits(output_bytes=1000), log_path=log_path))
    assert r.output_bytes == len(output) and r.output_truncated
    assert log_path.read_bytes() == output[:1000]
    assert r.output_tail.endswith("line 01999\n") and len(r.output_tail) <= 4096
    small = FakeBackend(lambda request: FakeCommand(output="x" * 100), tail_bytes=10).run(req(tmp_path))
    assert small.output_tail == "x" * 10


def test_concurrent_starts_are_thread_safe(tmp_path: Path) -> None:
    backend = FakeBackend(lambda request: FakeCommand(output=f"job-{request.env['I']}\n", duration=0.01))
    results: dict[int, str] = {}

    def one(i: int) -> None:
        results[i] = backend.run(req(tmp_path, env={"I": str(i)})).output_tail

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"job-{i}\n" for i in range(32)}
    assert len(backend.requests) == len(backend.processes) == 32 and backend.live() == []

"""Keeps bench/ from rotting: the quickest part of the benchmark (20 in-memory calls per tool) runs end to
end and writes its report. No timing assertions: figures are for people to read, not for CI to gate on."""

from __future__ import annotations

import json

import pytest

from bench import common, run


@pytest.fixture
def bench_scratch(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    monkeypatch.setattr(common, "OUT", scratch)
    return scratch


def test_quickest_bench_part_runs_and_reports(bench_scratch, tmp_path, capsys):
    out = tmp_path / "results"
    assert run.main(["--only", "latency", "--calls", "20", "--transports", "memory", "--no-peers",
                     "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["sections"]["latency"]["rows"]
    tools = {(r["server"], r["tool"]) for r in rows}
    assert {("ours", "read_file 4KiB"), ("ours", "read_file 256KiB"), ("ours", "apply_patch"),
            ("ours", "remaining_budget"), ("floor", "read_file 4KiB")} <= tools
    assert all(r["n"] == 20 and r["p50_ms"] > 0 for r in rows)
    report = (out / "results.md").read_text()
    assert "Tool-call latency" in report and "| ours | memory | read_file 4KiB |" in report
    assert "Tool-call latency" in capsys.readouterr().out

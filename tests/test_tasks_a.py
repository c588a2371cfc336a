"""The bundled tasks sorting_network, edit_distance, stack_vm_golf and sort_u32.

Fast tests check each task's files and its hidden helpers without a sandbox;
the slow ones evaluate the reference solution, the untouched baseline and a
deliberately broken submission end to end (real bwrap sandboxes, real runtime).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from scorer.evaluate import editable_files
from tests.task_helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_reference,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
    task,
)

NAMES = ["sorting_network", "edit_distance", "stack_vm_golf", "sort_u32"]


# --------------------------------------------------------------------------- every task


@pytest.mark.parametrize("name", NAMES)
def test_task_loads_and_is_complete(name: str) -> None:
    t = task(name)
    cfg = t.config
    assert cfg.autolab.scale == "log"
    assert cfg.optimization.direction == "lower"
    assert cfg.optimization.reference.score < cfg.optimization.baseline.score
    assert cfg.autolab.budget.score_calls >= 20 and cfg.agent.timeout_sec >= 3600
    env_files = editable_files(t.environment_dir, cfg.autolab.editable)
    sol_files = editable_files(t.solution_dir, cfg.autolab.editable)
    assert env_files and env_files == sol_files, "solution/ must replace exactly the editable files"
    assert editable_files(t.tests_dir / "broken", cfg.autolab.editable) == env_files
    assert (t.environment_dir / "check.py").is_file()
    for rel in sol_files:
        assert (t.solution_dir / rel).read_bytes() != (t.environment_dir / rel).read_bytes()
    assert "tests/" not in t.instruction


@pytest.mark.parametrize("name", NAMES)
def test_environment_reveals_no_hidden_seed(name: str) -> None:
    module = hidden(name)
    secrets = [str(v) for v in getattr(module, "SEEDS", {}).values()]
    secrets += [f"{v:_}" for v in getattr(module, "SEEDS", {}).values()]
    t = task(name)
    visible = [p for p in t.environment_dir.rglob("*") if p.is_file()] + [t.root / "instruction.md"]
    for path in visible:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{path} reveals the hidden seed {secret}"
    assert not any(p.name.startswith(".") for p in t.environment_dir.rglob("*"))


# --------------------------------------------------------------------------- sorting_network


def test_sorting_network_verifier() -> None:
    ev = hidden("sorting_network")
    baseline = module_from(TASKS_DIR / "sorting_network/environment/network.py", "_sn_base")
    reference = module_from(TASKS_DIR / "sorting_network/solution/network.py", "_sn_ref")
    assert len(baseline.network(12)) == 66 and ev.unsorted_witness(baseline.network(12)) is None
    assert len(reference.network(12)) == 41 and ev.unsorted_witness(reference.network(12)) is None
    best_known_39 = [
        (0, 8), (1, 7), (2, 6), (3, 11), (4, 10), (5, 9), (0, 1), (2, 5), (3, 4), (6, 9), (7, 8), (10, 11),
        (0, 2), (1, 6), (5, 10), (9, 11), (0, 3), (1, 2), (4, 6), (5, 7), (8, 11), (9, 10), (1, 4), (3, 5),
        (6, 8), (7, 10), (1, 3), (2, 5), (6, 9), (8, 10), (2, 3), (4, 5), (6, 7), (8, 9), (4, 6), (5, 7),
        (3, 4), (5, 6), (7, 8),
    ]
    assert ev.unsorted_witness(best_known_39) is None
    broken = reference.network(12)[:-1]
    witness = ev.unsorted_witness(broken)
    assert witness is not None
    values = list(witness)
    for i, j in broken:
        if values[i] > values[j]:
            values[i], values[j] = values[j], values[i]
    assert values != sorted(values)
    for n in range(2, 11):  # Batcher's network is correct for other sizes too: the verifier agrees
        assert ev.unsorted_witness(reference.network(n), n) is None


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[[0, 1]]", "JSON object"),
        (b'{"n": 13, "comparators": []}', "n must be 12"),
        (b'{"comparators": [[1, 0]]}', "0 <= i < j < 12"),
        (b'{"comparators": [[0, 12]]}', "0 <= i < j < 12"),
        (b'{"comparators": [[0, true]]}', "0 <= i < j < 12"),
        (b'{"comparators": [[0.0, 1]]}', "0 <= i < j < 12"),
        (b'{"comparators": [[0, 1, 2]]}', "0 <= i < j < 12"),
        (b'{"comparators": [' + b"[0, 1], " * 1000 + b"[0, 1]]}", "at most 1000"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_sorting_network_parse_rejects(payload: bytes, fragment: str) -> None:
    pairs, reason = hidden("sorting_network").parse_network(payload)
    assert pairs is None and reason and fragment in reason


def test_sorting_network_refuses_links_and_fifos(tmp_path: Path) -> None:
    ev = hidden("sorting_network")
    (tmp_path / "secret").write_text("host secret")
    (tmp_path / "network.json").symlink_to(tmp_path / "secret")
    data, reason = ev.read_regular_file(tmp_path / "network.json", 1000)
    assert data is None and "link" in (reason or "")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    data, reason = ev.read_regular_file(fifo, 1000)
    assert data is None and "regular file" in (reason or "")


# --------------------------------------------------------------------------- edit_distance


def test_edit_distance_oracle_matches_dp() -> None:
    helpers = module_from(TASKS_DIR / "edit_distance/tests/edit_distance_hidden.py", "_ed_hidden")
    rng = random.Random(11)
    pairs = helpers.generate(99, 60)
    for _ in range(300):
        a = "".join(rng.choice("abc"[: rng.randint(1, 3)]) for _ in range(rng.randint(0, 140)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 140)))
        pairs.append((a, b))
    pairs += [("", ""), ("a", ""), ("", "abc"), ("a" * 64, "a" * 65), ("ab" * 40, "ba" * 40), ("x" * 300, "y" * 300)]
    for a, b in pairs:
        assert helpers.levenshtein(a, b) == helpers.levenshtein_dp(a, b), (a, b)


def test_edit_distance_public_split_matches_generator() -> None:
    helpers = module_from(TASKS_DIR / "edit_distance/tests/edit_distance_hidden.py", "_ed_hidden")
    public = module_from(TASKS_DIR / "edit_distance/environment/make_data.py", "_ed_public")
    assert public.generate(5, 50) == helpers.generate(5, 50)
    env = TASKS_DIR / "edit_distance/environment/data"
    pairs = [tuple(line.split()) for line in (env / "pairs.txt").read_text().splitlines()]
    expected = [int(x) for x in (env / "expected.txt").read_text().split()]
    assert len(pairs) == len(expected) == 2000
    assert pairs == public.generate(20240601, 2000)
    for (a, b), want in list(zip(pairs, expected, strict=True))[:200]:
        assert helpers.levenshtein(a, b) == want
        assert 50 <= len(a) <= 300 and 50 <= len(b) <= 300


def test_edit_distance_compare() -> None:
    compare = hidden("edit_distance").compare
    assert compare(b"1\n2\n3\n", [1, 2, 3]) is None
    assert compare(b"1\n2\n3", [1, 2, 3]) is None
    assert "lines" in compare(b"1\n2\n", [1, 2, 3])
    assert "wrong distance" in compare(b"1\n2\n4\n", [1, 2, 3])
    assert "not a non-negative integer" in compare(b"1\nnan\n3\n", [1, 2, 3])
    assert "not a non-negative integer" in compare(b"1\n-2\n3\n", [1, 2, 3])
    assert "not ASCII" in compare("1\n٢\n3\n".encode(), [1, 2, 3])


# --------------------------------------------------------------------------- stack_vm_golf


def test_stack_vm_scorer_copy_is_identical() -> None:
    root = TASKS_DIR / "stack_vm_golf"
    assert (root / "tests/stack_vm_golf_vm.py").read_bytes() == (root / "environment/vm.py").read_bytes()


@pytest.mark.parametrize(
    ("program", "fragment"),
    [
        ("PUSH 1\nFOO\nHALT", "unknown instruction"),
        ("PUSH\nHALT", "exactly one operand"),
        ("ADD 3\nHALT", "takes no operand"),
        ("JMP nowhere\nHALT", "undefined label"),
        ("x: PUSH 1\nx: HALT", "duplicate label"),
        ("LOAD 256\nHALT", "address 256"),
        ("PUSH 1e3\nHALT", "integer operand"),
        (f"PUSH {1 << 63}\nHALT", "64-bit"),
        ("ADD\nHALT", "underflow"),
        ("HALT", "underflow"),
        ("PUSH 1", "past the last instruction"),
        ("loop: JMP loop", "executed"),
        ("loop: PUSH 1\nJMP loop", "overflow"),
        ("PUSH 300\nLOADI\nHALT", "address 300"),
        ("PUSH 1\n" * 5000 + "HALT", "4096 instructions"),
    ],
)
def test_stack_vm_errors(program: str, fragment: str) -> None:
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    with pytest.raises(vm.VMError, match=re.escape(fragment)):
        vm.run(vm.assemble(program), [0] * 64, [0] * 64)


def test_stack_vm_semantics() -> None:
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    a, b = list(range(64)), [2] * 64
    assert vm.run(vm.assemble("PUSH 0x7fffffffffffffff\nPUSH 1\nADD\nHALT"), a, b) == (-(1 << 63), 4)
    assert vm.run(vm.assemble("PUSH -7 ; comment\n# another\n\nPUSH 3\nSUB\nHALT"), a, b)[0] == -10
    assert vm.run(vm.assemble("PUSH 5\nPUSH 2\nPUSH 3\nMAC\nHALT"), a, b)[0] == 11
    assert vm.run(vm.assemble("LOAD 5\nLOAD 64\nOVER\nSWAP\nDROP\nMUL\nHALT"), a, b)[0] == 25
    assert vm.run(vm.assemble("PUSH 9\nPUSH 200\nSTOREI\nLOAD 200\nDUP\nJZ end\nend: HALT"), a, b) == (9, 7)
    assert vm.run(vm.assemble("push 0\njnz x\npush 4\nx: halt"), a, b) == (4, 4)


def test_stack_vm_hidden_cases_and_programs() -> None:
    ev = hidden("stack_vm_golf")
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    root = TASKS_DIR / "stack_vm_golf"
    feedback, final = ev.hidden_cases("feedback"), ev.hidden_cases("final")
    assert feedback[:6] == final[:6] == ev.edge_cases()
    assert feedback[6:] != final[6:] and len(final) > len(feedback)
    for path, steps in ((root / "environment/dot.asm", 1158), (root / "solution/dot.asm", 193)):
        program = vm.assemble(path.read_text())
        for a, b in final:
            assert vm.run(program, a, b) == (sum(x * y for x, y in zip(a, b, strict=True)), steps)


# --------------------------------------------------------------------------- sort_u32


@pytest.mark.parametrize(
    ("source", "rejected"),
    [
        ("#include <pthread.h>\n", True),
        ("int main(void) { fork(); }", True),
        ("#pragma omp parallel for\n", True),
        ('_Pragma("omp parallel")', True),
        ("long r = syscall(1);", True),
        ('__asm__("nop");', True),
        ('asm volatile("nop");', True),
        ('system("ls");', True),
        ("execve(p, a, e);", True),
        ("/* no pthread here */ int main(void) { return 0; }", False),
        ("// fork() is not used\nint main(void) { return 0; }", False),
        ("static int systematic, forked_count; int main(void) { return 0; }", False),
        ("#include <emmintrin.h>\n__attribute__((target(\"avx2\"))) void f(void) {}", False),
    ],
)
def test_sort_u32_source_rule(source: str, rejected: bool) -> None:
    ev = hidden("sort_u32")
    assert bool(ev.FORBIDDEN.search(ev.strip_comments(source))) is rejected


def test_sort_u32_reference_and_baseline_pass_the_source_rule() -> None:
    ev = hidden("sort_u32")
    for side in ("environment", "solution"):
        source = (TASKS_DIR / "sort_u32" / side / "sort.c").read_text()
        assert not ev.FORBIDDEN.search(ev.strip_comments(source))


def test_sort_u32_generator_and_expected() -> None:
    ev = hidden("sort_u32")
    public = module_from(TASKS_DIR / "sort_u32/environment/make_input.py", "_su_public")
    assert public.generate(7, 1000) == ev.generate(7, 1000)
    data = ev.generate(3, 5000)
    values = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    got = ev.sorted_bytes(data)
    assert got == b"".join(v.to_bytes(4, "little") for v in sorted(values))
    changed = bytearray(got)
    changed[4 * 1234 + 2] ^= 1
    assert ev.first_difference(bytes(changed), got) == 1234


# --------------------------------------------------------------------------- end to end (slow)


def assert_timed_reference(name: str, attempts: int = 3) -> None:
    """The reference of a timing task scores about 1; a busy machine can drag one
    measurement below 0.9, so a few attempts are allowed (all must be valid)."""
    records = []
    for _ in range(attempts):
        record = run_eval(name, TASKS_DIR / name / "solution")
        assert record.valid, record.reason
        assert record.eval_seconds < 90
        records.append(record)
        if record.score >= 0.9:
            return
    raise AssertionError(f"reference scored {[round(r.score, 3) for r in records]}: {records[-1].verdict}")


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("sorting_network", "does not sort the 0/1 input"),
        ("edit_distance", "wrong distance"),
        ("stack_vm_golf", "wrong result"),
        ("sort_u32", "differs from the sorted input"),
    ],
)
def test_oracle_broken_submission_fails_the_gate(name: str, fragment: str) -> None:
    """tests/broken/ (what `autolab-mcp oracle` submits as its broken case) fails with a reason."""
    assert_broken(run_eval(name, TASKS_DIR / name / "tests" / "broken"), fragment)


@pytest.mark.slow
@needs_sandbox
def test_sorting_network_end_to_end() -> None:
    root = TASKS_DIR / "sorting_network"
    ref = run_eval("sorting_network", root / "solution")
    assert_reference(ref)
    assert ref.metric == 41 and ref.score == pytest.approx(1.0)
    base = run_eval("sorting_network", root / "environment", split="feedback")
    assert_baseline(base)
    assert base.metric == 66
    source = (root / "solution/network.py").read_text()
    dropped = source.replace("    return pairs\n\n\ndef main", "    return pairs[:-1]\n\n\ndef main")
    assert dropped != source
    assert_broken(run_eval("sorting_network", {"network.py": dropped}), "does not sort the 0/1 input")
    crashing = "import sys\nsys.exit('no network today')\n"
    # the reason names the exit code but never echoes the candidate's output (it could carry hidden inputs)
    crashed = run_eval("sorting_network", {"network.py": crashing})
    assert_broken(crashed, "exited with code 1")
    assert "no network today" not in crashed.reason
    sneaky = "import os\nos.symlink('/etc/passwd', '/output/network.json')\n"
    assert_broken(run_eval("sorting_network", {"network.py": sneaky}), "not a link")


@pytest.mark.slow
@needs_sandbox
def test_edit_distance_end_to_end() -> None:
    root = TASKS_DIR / "edit_distance"
    assert_timed_reference("edit_distance")
    assert_baseline(run_eval("edit_distance", root / "environment", split="feedback"))
    source = (root / "solution/solve.py").read_text()
    off_by_one = source.replace("    return score\n", "    return score + (len(a) == 300)\n")
    assert off_by_one != source
    record = run_eval("edit_distance", {"solve.py": off_by_one})
    assert not record.valid and "wrong distance" in record.reason, record.reason
    garbage = "import sys\nopen(sys.argv[2], 'w').write('nan\\n' * 10)\n"
    assert_broken(run_eval("edit_distance", {"solve.py": garbage}), "lines")


@pytest.mark.slow
@needs_sandbox
def test_stack_vm_golf_end_to_end() -> None:
    root = TASKS_DIR / "stack_vm_golf"
    ref = run_eval("stack_vm_golf", root / "solution")
    assert_reference(ref)
    assert ref.metric == 193
    base = run_eval("stack_vm_golf", root / "environment", split="feedback")
    assert_baseline(base)
    assert base.metric == 1158
    lines = (root / "solution/dot.asm").read_text().splitlines()
    assert lines[-4:] == ["LOAD 63", "LOAD 127", "MAC", "HALT"]
    short = "\n".join([*lines[:-4], "MAC", "HALT"])
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": short}), "underflow")
    no_last = "\n".join([*lines[:-4], "HALT"])
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": no_last}), "wrong result")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": "x: JMP x\n"}), "instructions executed")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": b"\xff\xfe"}), "UTF-8")


@pytest.mark.slow
@needs_sandbox
def test_sort_u32_end_to_end() -> None:
    root = TASKS_DIR / "sort_u32"
    assert_timed_reference("sort_u32")
    assert_baseline(run_eval("sort_u32", root / "environment", split="feedback"))
    source = (root / "environment/sort.c").read_text()
    unsorted = source.replace("    qsort(values, n, sizeof *values, compare_u32);\n", "")
    assert unsorted != source
    assert_broken(run_eval("sort_u32", {"sort.c": unsorted}), "differs from the sorted input")
    threaded = "#include <pthread.h>\n" + source
    assert_broken(run_eval("sort_u32", {"sort.c": threaded}), "not allowed")
    assert_broken(run_eval("sort_u32", {"sort.c": "int main(void) { return }\n"}), "build failed")

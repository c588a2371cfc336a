"""The bundled tasks sorting_network, edit_distance, stack_vm_golf and sort_u32.

Fast tests check each task's files and its hidden helpers without a sandbox;
the slow ones evaluate the reference solution, the untouched baseline and a
deliberately broken submission end to end (real bwrap sandboxes, real runtime).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autolab_mcp.core.editable import editable_files
from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_fixed_reason,
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
def test_hidden_inputs_have_no_constant_seed(name: str) -> None:
    """Hidden inputs come from ctx.seed (a secret per run), so no constant seed is left to leak or memorize."""
    module = hidden(name)
    assert not hasattr(module, "SEEDS")
    source = (task(name).tests_dir / "evaluate.py").read_text()
    assert "Random(" not in source.replace("random.Random(seed)", "")
    t = task(name)
    assert not any(p.name.startswith(".") for p in t.environment_dir.rglob("*"))


@pytest.mark.parametrize("name", NAMES)
def test_reasons_are_fixed_phrases(name: str) -> None:
    from scorer import reasons

    vocabulary = hidden(name).REASONS
    assert isinstance(vocabulary, frozenset) and vocabulary
    for phrase in vocabulary:
        assert phrase and reasons.phrases(phrase) == [phrase], phrase  # no separator inside a phrase


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
    ("payload", "reason", "detail"),
    [
        (b"not json", "NOT_JSON", "error"),
        (b"[[0, 1]]", "NOT_OBJECT", None),
        (b'{"n": 13, "comparators": []}', "WRONG_N", "n"),
        (b'{"comparators": [[1, 0]]}', "BAD_PAIR", "comparator"),
        (b'{"comparators": [[0, 12]]}', "BAD_PAIR", "comparator"),
        (b'{"comparators": [[0, true]]}', "BAD_PAIR", "comparator"),
        (b'{"comparators": [[0.0, 1]]}', "BAD_PAIR", "comparator"),
        (b'{"comparators": [[0, 1, 2]]}', "BAD_PAIR", "comparator"),
        (b'{"comparators": [' + b"[0, 1], " * 1000 + b"[0, 1]]}", "TOO_MANY", "comparators"),
        (b"[" * 100_000, "NOT_JSON", "error"),
    ],
)
def test_sorting_network_parse_rejects(payload: bytes, reason: str, detail: str | None) -> None:
    ev = hidden("sorting_network")
    pairs, got, details = ev.parse_network(payload)
    assert pairs is None and got == getattr(ev, reason) and got in ev.REASONS
    assert detail is None or detail in details


def test_sorting_network_refuses_links_and_fifos(tmp_path: Path) -> None:
    from scorer import reasons

    ev = hidden("sorting_network")
    (tmp_path / "secret").write_text("host secret")
    (tmp_path / "network.json").symlink_to(tmp_path / "secret")
    data, reason = ev.read_regular_file(tmp_path / "network.json", 1000)
    assert data is None and reason == reasons.NOT_REGULAR
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    data, reason = ev.read_regular_file(fifo, 1000)
    assert data is None and reason == reasons.NOT_REGULAR


def test_sorting_network_has_no_hidden_inputs_and_a_proven_bound() -> None:
    """Exhaustive 0-1 verification: nothing is drawn from ctx.seed. 39 is optimal (Harder 2020), so the
    task flags anything below it for review."""
    assert task("sorting_network").config.autolab.review_metric_beyond == 39
    assert "ctx.seed" not in (task("sorting_network").tests_dir / "evaluate.py").read_text().split('"""')[2]


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
    ev = hidden("edit_distance")
    compare = ev.compare
    assert compare(b"1\n2\n3\n", [1, 2, 3]) is None
    assert compare(b"1\n2\n3", [1, 2, 3]) is None
    assert compare(b"1\n2\n", [1, 2, 3]) == (ev.LINE_COUNT, {"lines": 2, "expected_lines": 3})
    assert compare(b"1\n2\n361123\n", [1, 2, 3]) == ("distances.txt: wrong distance",
                                                      {"line": 3, "got": 361123, "expected": 3})
    assert compare(b"1\nnan\n3\n", [1, 2, 3]) == (ev.NOT_INTEGER, {"line": 2, "text": "nan"})
    assert compare(b"1\n-2\n3\n", [1, 2, 3])[0] == ev.NOT_INTEGER
    assert compare("1\n٢\n3\n".encode(), [1, 2, 3])[0] == ev.NOT_ASCII


def test_edit_distance_fresh_inputs() -> None:
    ev = hidden("edit_distance")
    one, two = ev.hidden_pairs(1 << 40, 20), ev.hidden_pairs((1 << 40) + 1, 20)
    assert one != two and one == ev.hidden_pairs(1 << 40, 20)
    assert len(ev.hidden_pairs(5)) == ev.PAIRS == 160
    public = module_from(TASKS_DIR / "edit_distance/environment/make_data.py", "_ed_public")
    assert ev.hidden_pairs(20240601, 20) != public.generate(20240601, 20)  # never the public split


# --------------------------------------------------------------------------- stack_vm_golf


def test_stack_vm_scorer_copy_is_identical() -> None:
    root = TASKS_DIR / "stack_vm_golf"
    assert (root / "tests/stack_vm_golf_vm.py").read_bytes() == (root / "environment/vm.py").read_bytes()


@pytest.mark.parametrize(
    ("program", "fragment", "kind"),
    [
        ("PUSH 1\nFOO\nHALT", "unknown instruction", "UNKNOWN_INSTRUCTION"),
        ("PUSH\nHALT", "exactly one operand", "OPERAND_COUNT"),
        ("ADD 3\nHALT", "takes no operand", "OPERAND_COUNT"),
        ("JMP nowhere\nHALT", "undefined label", "UNDEFINED_LABEL"),
        ("x: PUSH 1\nx: HALT", "duplicate label", "DUPLICATE_LABEL"),
        ("LOAD 256\nHALT", "address 256", "BAD_ADDRESS"),
        ("PUSH 1e3\nHALT", "integer operand", "NOT_INTEGER"),
        (f"PUSH {1 << 63}\nHALT", "64-bit", "BAD_PUSH"),
        ("ADD\nHALT", "underflow", "UNDERFLOW"),
        ("HALT", "underflow", "UNDERFLOW"),
        ("PUSH 1", "past the last instruction", "NO_HALT"),
        ("loop: JMP loop", "executed", "STEP_LIMIT_HIT"),
        ("loop: PUSH 1\nJMP loop", "overflow", "OVERFLOW"),
        ("PUSH 300\nLOADI\nHALT", "address 300", "BAD_ADDRESS"),
        ("PUSH 1\n" * 5000 + "HALT", "4096 instructions", "TOO_LARGE"),
    ],
)
def test_stack_vm_errors(program: str, fragment: str, kind: str) -> None:
    """The message says where (check.py and vm.py print it); the kind, a fixed phrase, is what the scorer shows."""
    vm = module_from(TASKS_DIR / "stack_vm_golf/tests/stack_vm_golf_vm.py", "_svm")
    with pytest.raises(vm.VMError, match=re.escape(fragment)) as caught:
        vm.run(vm.assemble(program), [0] * 64, [0] * 64)
    assert caught.value.kind == getattr(vm, kind) and caught.value.kind in vm.KINDS
    assert vm.KINDS <= hidden("stack_vm_golf").REASONS


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
    feedback, final = ev.hidden_cases(1 << 50, "feedback"), ev.hidden_cases(1 << 50, "final")
    assert feedback[:6] == final[:6] == ev.edge_cases()
    assert len(final) > len(feedback) and final == ev.hidden_cases(1 << 50, "final")
    assert ev.hidden_cases((1 << 50) + 1, "final")[6:] != final[6:]  # fresh for every seed
    public = module_from(root / "environment/check.py", "_svm_check")
    assert public.edge_cases() == ev.edge_cases()  # the instruction: the same fixed edge cases as check.py
    assert ev.hidden_cases(12345, "feedback")[6:56] != public.random_cases(12345, 50)  # never the public cases
    assert task("stack_vm_golf").config.autolab.review_metric_beyond == 193
    for path, steps in ((root / "environment/dot.asm", 1158), (root / "solution/dot.asm", 193)):
        program = vm.assemble(path.read_text())
        for a, b in final:
            assert vm.run(program, a, b) == (sum(x * y for x, y in zip(a, b, strict=True)), steps)


# --------------------------------------------------------------------------- sort_u32


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objdump") is None,
                               reason="gcc and binutils are needed to build sort.c")

SORT_PROGRAMS = {
    "plain": ("int main(void) { return 0; }", None),
    "comments_and_names": ("/* pthread_create fork() */ static int systematic, forked;\n"
                           "int main(void) { return systematic + forked; }", None),
    "intrinsics": ('#include <emmintrin.h>\n__attribute__((target("avx2"))) int f(int x) { return x + 1; }\n'
                   "int main(void) { return f(0) - 1; }", None),
    "harmless_asm": ('int main(void) { __asm__ volatile("nop"); return 0; }', None),
    "pasted_pthread": ("#define CAT(a, b) a##b\nextern int CAT(pthr, ead_create)(void *, void *, void *, void *);\n"
                       "int main(void) { return CAT(pthr, ead_create)(0, 0, 0, 0); }", "DENIED_CALL"),
    "syscall_function": ("#define _GNU_SOURCE\n#include <unistd.h>\n#include <sys/syscall.h>\n"
                         "int main(void) { return (int)syscall(SYS_getpid) < 0; }", "DENIED_CALL"),
    "fork": ("#include <unistd.h>\nint main(void) { return fork() < 0; }", "DENIED_CALL"),
    "dlsym": ("#define _GNU_SOURCE\n#include <dlfcn.h>\nint main(void) { return dlsym(RTLD_DEFAULT, \"x\") != 0; }",
              "DENIED_CALL"),
    "inline_syscall": ('int main(void) { long r; __asm__ volatile("syscall" : "=a"(r) : "0"(39L) : "rcx", "r11");'
                       " return r < 0; }", "SYSCALL"),
    "nested_function_trampoline": ("int main(void) { int x = 0; int f(void) { return x; } int (*p)(void) = f;"
                                   " return p(); }", "WRITABLE_CODE"),
}


def _build(tmp_path: Path, source: str) -> Path:
    (tmp_path / "sort.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-std=gnu11", "-o", "sort", "sort.c"], cwd=tmp_path, check=True,
                   capture_output=True)
    return tmp_path / "sort"


@needs_gcc
@pytest.mark.parametrize("name", sorted(SORT_PROGRAMS))
def test_sort_u32_binary_rule(tmp_path: Path, name: str) -> None:
    """The single-thread rule judges the built binary, so spelling (token pasting, comments) does not matter."""
    import platform

    source, problem = SORT_PROGRAMS[name]
    if "asm" in name and platform.machine() != "x86_64":
        pytest.skip("x86-64 inline assembly")
    rules = module_from(TASKS_DIR / "sort_u32/environment/binary_rules.py", "_su_rules")
    binary = _build(tmp_path, source)
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True)
    got, details = rules.verdict(binary.read_bytes(), listing.stdout)
    assert got == (getattr(rules, problem) if problem else None), details
    assert rules.PROBLEMS == hidden("sort_u32").BINARY_PROBLEMS


@needs_gcc
def test_sort_u32_reference_baseline_and_broken_pass_the_binary_rule(tmp_path: Path) -> None:
    rules = module_from(TASKS_DIR / "sort_u32/environment/binary_rules.py", "_su_rules")
    for side in ("environment", "solution", "tests/broken"):
        work = tmp_path / side.replace("/", "_")
        work.mkdir()
        binary = _build(work, (TASKS_DIR / "sort_u32" / side / "sort.c").read_text())
        listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True)
        assert rules.verdict(binary.read_bytes(), listing.stdout) == (None, rules.inspect(binary.read_bytes())[1])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "MALFORMED"),
        (b"#!/bin/sh\necho sorted\n", "MALFORMED"),
        (b"\x7fELF" + b"\x02\x01" + b"\x00" * 58, "MALFORMED"),
        (b"\x7fELF" + b"\x02\x01" + b"\xff" * 200, "MALFORMED"),
    ],
)
def test_sort_u32_binary_rule_refuses_malformed_files(data: bytes, problem: str) -> None:
    rules = module_from(TASKS_DIR / "sort_u32/environment/binary_rules.py", "_su_rules")
    assert rules.inspect(data)[0] == getattr(rules, problem)


def test_sort_u32_binary_rule_reads_names_the_way_the_loader_does() -> None:
    """Denied names are found inside longer strings too: the linker stores a name that ends another once."""
    rules = module_from(TASKS_DIR / "sort_u32/environment/binary_rules.py", "_su_rules")
    for name in ("pthread_create", "xpthread_create", "__clone", "clone3", "syscall", "_Fork", "posix_spawnp",
                 "execvpe", "dlopen", "dl_iterate_phdr", "mprotect", "thrd_create", "GOMP_parallel", "omp_get_num"):
        assert rules.DENIED_NAME.search(name), name
    for name in ("_ITM_deregisterTMCloneTable", "__libc_start_main", "__cxa_finalize", "__gmon_start__", "qsort",
                 "memcpy", "mmap", "madvise", "fstat", "__stack_chk_fail", "posix_fadvise", "GLIBC_2.2.5"):
        assert not rules.DENIED_NAME.search(name), name


def test_sort_u32_fresh_inputs() -> None:
    ev = hidden("sort_u32")
    one = ev.hidden_input(1 << 33, 1000)
    assert one == ev.hidden_input(1 << 33, 1000) and one != ev.hidden_input((1 << 33) + 1, 1000)
    public = module_from(TASKS_DIR / "sort_u32/environment/make_input.py", "_su_public")
    assert ev.hidden_input(2024, 1000) != public.generate(2024, 1000)  # never the public input
    assert ev.N == 8_000_000


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
        ("sorting_network", "does not sort every 0/1 input"),
        ("edit_distance", "wrong distance"),
        ("stack_vm_golf", "wrong result on a hidden case"),
        ("sort_u32", "differs from the sorted input"),
    ],
)
def test_oracle_broken_submission_fails_the_gate(name: str, fragment: str) -> None:
    """tests/broken/ (what `autolab-mcp oracle` submits as its broken case) fails with a fixed reason."""
    record = run_eval(name, TASKS_DIR / name / "tests" / "broken")
    assert_broken(record, fragment)
    assert fragment in record.reason and not record.reason_detail
    assert_fixed_reason(record, name)


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
    unsorted = run_eval("sorting_network", {"network.py": dropped})
    assert unsorted.reason == "the network does not sort every 0/1 input"
    assert len(unsorted.details["unsorted_input"]) == 12  # the witness is kept for the record, not shown
    crashing = "import sys\nsys.exit('no network today')\n"
    # the reason never echoes the candidate's output or exit code (they could carry hidden data)
    crashed = run_eval("sorting_network", {"network.py": crashing})
    assert_broken(crashed, "network.py failed: exited with a non-zero code")
    assert "no network today" not in crashed.reason and "1" not in crashed.reason
    sneaky = "import os\nos.symlink('/etc/passwd', '/output/network.json')\n"
    linked = run_eval("sorting_network", {"network.py": sneaky})
    assert linked.reason == "network.json: an output is not a regular file"
    for record in (unsorted, crashed, linked):
        assert_fixed_reason(record, "sorting_network")


@pytest.mark.slow
@needs_sandbox
def test_edit_distance_end_to_end() -> None:
    root = TASKS_DIR / "edit_distance"
    assert_timed_reference("edit_distance")
    assert_baseline(run_eval("edit_distance", root / "environment", split="feedback"))
    source = (root / "solution/solve.py").read_text()
    # wrong on about a third of the pairs, so on every fresh draw of the hidden batch
    off_by_one = source.replace("    return score\n", "    return score + (len(a) % 3 == 0)\n")
    assert off_by_one != source
    record = run_eval("edit_distance", {"solve.py": off_by_one})
    assert not record.valid and record.reason == "candidate: distances.txt: wrong distance", record.reason
    assert record.details["got"] == record.details["expected"] + 1
    garbage = "import sys\nopen(sys.argv[2], 'w').write('nan\\n' * 10)\n"
    short = run_eval("edit_distance", {"solve.py": garbage})
    assert short.reason == "candidate: distances.txt does not have exactly one line per pair"
    assert short.details["lines"] == 10
    for failed in (record, short):
        assert_fixed_reason(failed, "edit_distance")


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
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": short}), "the program failed on a hidden case: stack underflow")
    no_last = "\n".join([*lines[:-4], "HALT"])
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": no_last}), "wrong result on a hidden case")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": "x: JMP x\n"}), "more than 20000 instructions executed")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": b"\xff\xfe"}), "dot.asm is not UTF-8 text")
    assert_broken(run_eval("stack_vm_golf", {"dot.asm": "JMP nowhere\n"}), "assembly failed: undefined label")


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
    threaded = source.replace("int main(int argc, char **argv)\n{\n", "int main(int argc, char **argv)\n{\n"
                              "    pthread_t t; pthread_create(&t, NULL, NULL, NULL);\n")
    threaded = "#include <pthread.h>\n" + threaded
    assert threaded != "#include <pthread.h>\n" + source
    refused = run_eval("sort_u32", {"sort.c": threaded})
    assert refused.reason == "candidate: the built binary refers to a thread, process or dynamic-loading function"
    assert refused.details["binary"]["denied_names"] == ["pthread_create"]
    assert_broken(run_eval("sort_u32", {"sort.c": "int main(void) { return }\n"}), "candidate: build failed")

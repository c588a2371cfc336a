"""sort_u32: the single-thread binary rule, the input generator and fresh inputs; the submissions end to end."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tasks.helpers import (
    TASKS_DIR,
    assert_baseline,
    assert_broken,
    assert_broken_case,
    assert_timed_reference,
    broken,
    hidden,
    module_from,
    needs_sandbox,
    run_eval,
)

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
    for side in (TASKS_DIR / "sort_u32" / "environment", TASKS_DIR / "sort_u32" / "solution", broken("sort_u32")):
        work = tmp_path / side.name
        work.mkdir()
        binary = _build(work, (side / "sort.c").read_text())
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


@pytest.mark.slow
@needs_sandbox
def test_sort_u32_oracle_broken_submission_fails_the_gate() -> None:
    assert_broken_case("sort_u32", "differs from the sorted input")


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

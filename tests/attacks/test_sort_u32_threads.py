"""sort_u32 is single-threaded: candidates that start a thread anyway get no credit.

The task's rule used to be a regex over the source, and token pasting spelled `pthread_create` past
it. Now two mechanisms hold it (tasks/sort_u32/tests/evaluate.py):

(a) the built binary is checked (environment/binary_rules.py): no thread, process or dynamic-loading
    function among the names it can import, no system-call instruction in its code, no writable code;
(b) every timed run has forbid_threads: the sandbox's seccomp filter makes clone with CLONE_THREAD,
    or with CLONE_VM but not CLONE_VFORK, fail with EPERM (and clone3 with ENOSYS), whatever the
    binary does.

Each candidate below is the reference radix sort with a thread started at the top of main (it exits
1 when the thread cannot be started): were it not stopped, it would be valid and credited with the
reference's speedup. Three are stopped by (a) at build time; their binaries are also run under (b)
directly, and a fourth, which writes its `syscall` stub into an executable mapping at run time (no
import, no system-call bytes in the file: the static check cannot see it), is stopped by (b) alone.
"""

from __future__ import annotations

import inspect
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from autolab_mcp.core.sandbox import bwrap
from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, Limits
from tests.tasks.helpers import TASKS_DIR, assert_fixed_reason, hidden, needs_sandbox, run_eval

pytestmark = [
    pytest.mark.skipif(platform.machine() != "x86_64", reason="the thread candidates use x86-64 system calls"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed to build sort.c"),
]

#: the backend applies forbid_threads (the seccomp rule is being added to the backends)
FORBIDS_THREADS = "forbid_threads" in inspect.getsource(bwrap)
needs_thread_filter = pytest.mark.skipif(not FORBIDS_THREADS, reason="the bwrap backend ignores forbid_threads so far")

PASTED = r"""
#define CAT(a, b) a##b
typedef unsigned long thread_id;
extern int CAT(pthr, ead_create)(thread_id *, const void *, void *(*)(void *), void *);
extern int CAT(pthr, ead_join)(thread_id, void **);
static void *helper(void *arg) { return arg; }
static int start_thread(void)
{
    thread_id t;
    if (CAT(pthr, ead_create)(&t, 0, helper, 0) != 0) return -1;
    return CAT(pthr, ead_join)(t, 0);
}
"""

SYSCALL_CLONE = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
static char child_stack[65536] __attribute__((aligned(16)));
static void child(void) { syscall(SYS_exit, 0); }  /* ends this thread only */
static int start_thread(void)
{
    /* the child returns from syscall()'s wrapper on its own stack: into child() */
    void **top = (void **)(child_stack + sizeof child_stack) - 2;
    top[0] = (void *)child;
    long rc = syscall(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, top, 0, 0, 0);
    return rc > 0 ? 0 : -1;
}
"""

INLINE_ASM = r"""
static char child_stack[65536] __attribute__((aligned(16)));
static int start_thread(void)
{
    long rc;
    unsigned long flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000; /* VM FS FILES SIGHAND THREAD */
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "mov $60, %%eax\n\t"   /* child: exit(0), this thread only */
        "xor %%edi, %%edi\n\t"
        "syscall\n\t"
        "1:"
        : "=a"(rc)
        : "0"(56L), "D"(flags), "S"(child_stack + sizeof child_stack), "d"(0L)
        : "rcx", "r11", "r10", "r8", "memory");
    return rc > 0 ? 0 : -1;
}
"""

#: a syscall stub (mov the six arguments, syscall; in the child: exit) written into an executable
#: mapping at run time from XOR-ed bytes: nothing in the binary imports or encodes a system call
GENERATED = r"""
#include <string.h>
#include <sys/mman.h>
static const unsigned char stub[] = {
    0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xd6, 0x48, 0x89, 0xca, 0x4d, 0x89, 0xc2, 0x4d, 0x89, 0xc8,
    0x0f ^ 0x5a, 0x05 ^ 0x5a, 0x48, 0x85, 0xc0, 0x75, 0x09, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff,
    0x0f ^ 0x5a, 0x05 ^ 0x5a, 0xc3,
};
static volatile unsigned char key = 0x5a;
static int start_thread(void)
{
    unsigned char *page = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return -1;
    memcpy(page, stub, sizeof stub);
    page[18] ^= key; page[19] ^= key; page[32] ^= key; page[33] ^= key;
    long (*raw)(long, long, long, long, long, long) = (long (*)(long, long, long, long, long, long))page;
    long rc = raw(56, 0x100 | 0x200 | 0x400 | 0x800 | 0x10000, 0, 0, 0, 0);
    return rc > 0 ? 0 : -1;
}
"""

CANDIDATES = {"pasted_pthread_create": PASTED, "syscall_clone": SYSCALL_CLONE, "inline_asm_syscall": INLINE_ASM,
              "generated_stub": GENERATED}
STATIC_REASONS = {
    "pasted_pthread_create": "the built binary refers to a thread, process or dynamic-loading function",
    "syscall_clone": "the built binary refers to a thread, process or dynamic-loading function",
    "inline_asm_syscall": "the built binary contains a system call instruction",
}


def threaded_sort(prelude: str) -> str:
    """The reference radix sort, starting a thread first (exit 1 when it cannot)."""
    source = (TASKS_DIR / "sort_u32/solution/sort.c").read_text()
    head = "int main(int argc, char **argv)\n{\n"
    assert source.count(head) == 1
    guard = '    if (start_thread() != 0) { fprintf(stderr, "no thread\\n"); return 1; }\n'
    body = source.replace(head, head + guard)
    first_include = body.index("#include")
    return body[:first_include] + prelude.lstrip() + body[first_include:]


def build(source: str, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "sort.c").write_text(source)
    subprocess.run(["sh", str(TASKS_DIR / "sort_u32/environment/build.sh")], cwd=where, check=True,
                   capture_output=True)
    return where / "sort"


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_candidates_start_a_thread_when_nothing_stops_them(name: str, tmp_path: Path) -> None:
    """Outside any sandbox each candidate really starts its thread and sorts: they are real attacks."""
    from array import array

    binary = build(threaded_sort(CANDIDATES[name]), tmp_path)
    values = array("I", [3, 1, 2, 0xFFFFFFFF, 7])
    (tmp_path / "in.bin").write_bytes(values.tobytes())
    proc = subprocess.run([str(binary), "in.bin", "out.bin"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == array("I", sorted(values)).tobytes()


@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("name", sorted(STATIC_REASONS))
def test_the_binary_check_refuses_threads_spelled_any_way(name: str) -> None:
    record = run_eval("sort_u32", {"sort.c": threaded_sort(CANDIDATES[name])}, split="feedback")
    assert not record.valid and record.score == 0.0
    assert record.reason == f"candidate: {STATIC_REASONS[name]}", (record.reason, record.details)
    assert_fixed_reason(record, "sort_u32")
    assert len(record.runs) == 1  # refused right after the candidate's build: nothing was timed


@pytest.mark.slow
@needs_sandbox
@needs_thread_filter
def test_a_thread_the_binary_check_cannot_see_fails_under_forbid_threads() -> None:
    record = run_eval("sort_u32", {"sort.c": threaded_sort(GENERATED)}, split="feedback")
    assert record.details["binary"].get("denied_names") is None  # it passed the static check...
    assert not record.valid and record.score == 0.0  # ...and its thread could not start in the timed run
    assert record.reason == "candidate: exited with a non-zero code (its output is not shown, since it may " \
        "hold hidden data, so reproduce it with an experiment on the public data)", record.reason
    assert_fixed_reason(record, "sort_u32")


@pytest.mark.slow
@needs_sandbox
@needs_thread_filter
@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_forbid_threads_stops_every_candidate_at_run_time(name: str) -> None:
    """(b) on its own: each binary, run in a sandbox with forbid_threads, cannot start its thread; without
    it, it can (so the filter, not the sandbox, is what stops it)."""
    root = Path(tempfile.mkdtemp(prefix="autolab-test-threads-", dir="/tmp"))
    try:
        root.chmod(0o755)
        build(threaded_sort(CANDIDATES[name]), root)
        (root / "in.bin").write_bytes(bytes(range(64)))
        uid = AGENT_UID if os.geteuid() == 0 else None
        if uid is not None:
            for path in root.iterdir():
                os.chown(path, uid, uid)
            os.chown(root, uid, uid)
        backend = bwrap.BwrapBackend()
        results = {}
        for forbid in (False, True):
            request = ExecRequest(command="./sort in.bin out.bin", workspace=root, uid=uid, forbid_threads=forbid,
                                  limits=Limits(wall_sec=20))
            results[forbid] = backend.run(request)
        assert results[False].exit_code == 0, results[False].output_tail
        assert results[True].exit_code == 1 and "no thread" in results[True].output_tail, results[True]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_timed_runs_ask_for_forbid_threads() -> None:
    """Every timed run of sort_u32 is made with forbid_threads=True; the build (gcc runs cc1, as, ld) is not."""
    source = inspect.getsource(hidden("sort_u32").evaluate)
    assert "time_pair(" in source and "forbid_threads=True" in source
    assert "forbid_threads" not in inspect.getsource(hidden("sort_u32").build)

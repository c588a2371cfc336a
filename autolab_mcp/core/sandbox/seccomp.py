"""A small seccomp filter for sandboxed code: no new user namespaces, and optionally no file locks or threads.

Root-mode bwrap gives the command a real unprivileged uid and no user namespace of its own,
so bwrap's `--disable-userns` (which needs one) does not apply. Without a filter, `unshare -U`
would hand the agent a namespace where it is "root": nothing on the host, but a large kernel
attack surface. This is the same rule Docker's default profile enforces:

- `unshare` and `clone` with CLONE_NEWUSER in their flags fail with EPERM;
- `clone3` fails with ENOSYS (its flags sit in user memory, which seccomp cannot read); glibc
  then falls back to `clone`, whose flags the filter can read;
- syscalls of another ABI (x32, 32-bit compat) fail with EPERM, so the rules cannot be sidestepped.

Evaluation sandboxes add one more rule (`fake_file_locks`): `flock` and the record-lock commands of
`fcntl` (F_GETLK, F_SETLK(W), and their OFD forms) return 0 without doing anything. Every sandbox
sees the host's /usr and /etc inodes, and locks on them were a channel between an experiment and a
concurrent evaluation (72 bits per F_GETLK probe); with no real lock taken or read on the evaluation
side, nothing passes either way, and single-process programs that lock files still run.

Every sandbox is denied file watches (inotify_init/inotify_init1/fanotify_init and fcntl F_NOTIFY
fail with EPERM): an evaluation sandbox that opens or runs a file of the shared /usr queues an
event in any watch an experiment holds on it, even while the experiment is frozen, so watches
were a channel out of evaluations (programs that watch files fall back to polling or fail clearly).

Timed runs of tasks whose rules forbid threads add another (`forbid_threads`): `clone` with
CLONE_THREAD, or with CLONE_VM but not CLONE_VFORK (a thread, or a process sharing our memory),
fails with EPERM, so `pthread_create` fails while fork, vfork and posix_spawn (CLONE_VM|CLONE_VFORK:
the parent sleeps until the child execs) still work and bash runs commands as usual. Reading the
rule off the syscall is what makes it hold for any language or library, not just ones we can parse.

The program is classic BPF (struct sock_filter), written out here: no libseccomp needed. The
bwrap backend hands it to `bwrap --seccomp`; the docker backend installs it from pid 1 of each
container, on top of the engine's own profile (the strictest answer of all filters wins).
"""

from __future__ import annotations

import functools
import os
import platform
import struct
from dataclasses import dataclass

# linux/filter.h, linux/seccomp.h, linux/audit.h, sched.h
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_EPERM = 1
_ENOSYS = 38
_CLONE_VM = 0x00000100
_CLONE_VFORK = 0x00004000
_CLONE_THREAD = 0x00010000
_CLONE_NEWUSER = 0x10000000
_X32_SYSCALL_BIT = 0x40000000
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
# Little-endian: low words first. The kernel reads only the low 32 bits of clone's flags and fcntl's cmd.
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW, _OFF_ARG1_LOW = 0, 4, 16, 24
#: fcntl commands that take or read record locks: F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK/SETLK/SETLKW
_LOCK_COMMANDS = (5, 6, 7, 36, 37, 38)


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    clone: int
    unshare: int
    clone3: int
    flock: int
    fcntl: int
    #: inotify_init (absent on aarch64: _NONE), inotify_init1, fanotify_init
    watches: tuple[int, int, int]


_NONE = 0xFFFFFFFF  # a syscall number no ABI uses
_ABIS = {
    "x86_64": _Abi(audit_arch=0xC000003E, clone=56, unshare=272, clone3=435, flock=73, fcntl=72,
                   watches=(253, 294, 300)),
    "aarch64": _Abi(audit_arch=0xC00000B7, clone=220, unshare=97, clone3=435, flock=32, fcntl=25,
                    watches=(_NONE, 26, 262)),
}
#: fcntl(F_NOTIFY): dnotify, the older way to watch a directory
_F_NOTIFY = 1026
#: engines name architectures the Go way (docker info: "Architecture")
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}

#: An instruction: (code, k, label to jump to if true, if false; None: the next instruction).
_Insn = tuple[int, int, str | None, str | None]


def _assemble(lines: list[_Insn | str]) -> bytes:
    """Classic BPF from instructions and labels (str): jumps name labels, so the optional rule
    blocks can be spliced in without recounting offsets by hand."""
    at: dict[str, int] = {}
    insns: list[_Insn] = []
    for line in lines:
        if isinstance(line, str):
            at[line] = len(insns)
        else:
            insns.append(line)
    out = []
    for i, (code, k, jt, jf) in enumerate(insns):
        offsets = [0 if label is None else at[label] - i - 1 for label in (jt, jf)]
        if not all(0 <= o <= 255 for o in offsets):
            raise ValueError(f"BPF jump out of range at instruction {i}")
        out.append(struct.pack("=HBBI", code, offsets[0], offsets[1], k))
    return b"".join(out)


@functools.cache
def sandbox_program(machine: str | None = None, *, fake_file_locks: bool = False,
                    forbid_threads: bool = False) -> bytes | None:
    """The compiled filter for `machine`'s ABI (default: this one), or None where we do not know its
    syscall numbers. Cached: a handful of variants, built once each."""
    machine = machine or platform.machine()
    abi = _ABIS.get(_MACHINE_ALIASES.get(machine, machine))
    if abi is None:
        return None
    lines: list[_Insn | str] = [
        (_LD_W_ABS, _OFF_ARCH, None, None),
        (_JEQ_K, abi.audit_arch, None, "deny"),                  # another ABI
        (_LD_W_ABS, _OFF_NR, None, None),
        (_JGE_K, _X32_SYSCALL_BIT, "deny", None),                # x32
    ]
    # no file watches, ever: opening or running a shared host file in an evaluation sandbox queues an
    # event in any experiment's watch on it (even a frozen one), a channel out of the evaluation
    lines += [(_JEQ_K, number, "deny", None) for number in abi.watches]
    lines += [(_JEQ_K, abi.fcntl, "fcntl", None)]
    if fake_file_locks:
        lines += [(_JEQ_K, abi.flock, "fake", None)]
    lines += [
        (_JEQ_K, abi.clone3, "nosys", None),
        (_JEQ_K, abi.unshare, "unshare", None),
        (_JEQ_K, abi.clone, None, "allow"),
        (_LD_W_ABS, _OFF_ARG0_LOW, None, None),                  # clone's flags
        (_JSET_K, _CLONE_NEWUSER, "deny", None),
    ]
    if forbid_threads:
        lines += [
            (_JSET_K, _CLONE_THREAD, "deny", None),
            (_JSET_K, _CLONE_VM, None, "allow"),
            (_JSET_K, _CLONE_VFORK, "allow", "deny"),            # CLONE_VM without CLONE_VFORK: a thread
        ]
    lines += [
        (_RET_K, _RET_ALLOW, None, None),
        "unshare",
        (_LD_W_ABS, _OFF_ARG0_LOW, None, None),
        (_JSET_K, _CLONE_NEWUSER, "deny", "allow"),
    ]
    lines += ["fcntl", (_LD_W_ABS, _OFF_ARG1_LOW, None, None), (_JEQ_K, _F_NOTIFY, "deny", None)]
    if fake_file_locks:
        lines += [(_JEQ_K, cmd, "fake", None) for cmd in _LOCK_COMMANDS]
    lines += [(_RET_K, _RET_ALLOW, None, None)]
    if fake_file_locks:
        lines += ["fake", (_RET_K, _RET_ERRNO | 0, None, None)]  # "errno 0": the call is not made, returns 0
    lines += [
        "deny", (_RET_K, _RET_ERRNO | _EPERM, None, None),
        "nosys", (_RET_K, _RET_ERRNO | _ENOSYS, None, None),
        "allow", (_RET_K, _RET_ALLOW, None, None),
    ]
    return _assemble(lines)


def no_new_userns_program(machine: str | None = None, *, fake_file_locks: bool = False) -> bytes | None:
    """The base filter (older name of sandbox_program, kept for its callers)."""
    return sandbox_program(machine, fake_file_locks=fake_file_locks)


def program_memfd(program: bytes) -> int:
    """The program in a memfd, positioned at its start, for bwrap's `--seccomp FD`."""
    fd = os.memfd_create("bwrap-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd

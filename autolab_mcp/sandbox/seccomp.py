"""A small seccomp filter that stops sandboxed code from creating user namespaces.

Root-mode bwrap gives the command a real unprivileged uid and no user namespace of its own,
so bwrap's `--disable-userns` (which needs one) does not apply. Without a filter, `unshare -U`
would hand the agent a namespace where it is "root": nothing on the host, but a large kernel
attack surface. This is the same rule Docker's default profile enforces:

- `unshare` and `clone` with CLONE_NEWUSER in their flags fail with EPERM;
- `clone3` fails with ENOSYS (its flags sit in user memory, which seccomp cannot read); glibc
  then falls back to `clone`, so threads and processes still work;
- syscalls of another ABI (x32, 32-bit compat) fail with EPERM, so the rules cannot be sidestepped.

Evaluation sandboxes add one more rule (`fake_file_locks`): `flock` and the record-lock commands of
`fcntl` (F_GETLK, F_SETLK(W), and their OFD forms) return 0 without doing anything. Every sandbox
sees the host's /usr and /etc inodes, and locks on them were a channel between an experiment and a
concurrent evaluation (72 bits per F_GETLK probe); with no real lock taken or read on the evaluation
side, nothing passes either way, and single-process programs that lock files still run.

The program is classic BPF (struct sock_filter), written out here: no libseccomp needed.
"""

from __future__ import annotations

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
_CLONE_NEWUSER = 0x10000000
_X32_SYSCALL_BIT = 0x40000000
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW, _OFF_ARG1_LOW = 0, 4, 16, 24  # little-endian: low words first
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


_ABIS = {
    "x86_64": _Abi(audit_arch=0xC000003E, clone=56, unshare=272, clone3=435, flock=73, fcntl=72),
    "aarch64": _Abi(audit_arch=0xC00000B7, clone=220, unshare=97, clone3=435, flock=32, fcntl=25),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _fake_lock_rules(abi: _Abi) -> list[bytes]:
    """With the syscall number loaded: lock calls return 0 unexecuted; everything else falls through
    (to the instruction after these, with the number still loaded)."""
    fake = _RET_ERRNO | 0  # "errno 0": the call is not made and returns 0
    n = len(_LOCK_COMMANDS)
    rules = [
        _insn(_JEQ_K, abi.flock, jt=0, jf=1),             # flock -> fake
        _insn(_RET_K, fake),
        _insn(_JEQ_K, abi.fcntl, jt=0, jf=n + 3),         # fcntl -> look at the command, else past the block
        _insn(_LD_W_ABS, _OFF_ARG1_LOW),
    ]
    rules += [_insn(_JEQ_K, cmd, jt=n - i, jf=0) for i, cmd in enumerate(_LOCK_COMMANDS)]  # -> fake
    rules += [_insn(_RET_K, _RET_ALLOW), _insn(_RET_K, fake)]
    return rules


def no_new_userns_program(machine: str | None = None, *, fake_file_locks: bool = False) -> bytes | None:
    """The compiled filter for this machine's ABI, or None where we do not know its syscall numbers."""
    abi = _ABIS.get(machine or platform.machine())
    if abi is None:
        return None
    deny, nosys, allow = _RET_ERRNO | _EPERM, _RET_ERRNO | _ENOSYS, _RET_ALLOW
    program = [
        _insn(_LD_W_ABS, _OFF_ARCH),                      # 0
        _insn(_JEQ_K, abi.audit_arch, jt=1, jf=0),        # 1: native ABI -> 3
        _insn(_RET_K, deny),                              # 2: another ABI
        _insn(_LD_W_ABS, _OFF_NR),                        # 3
        _insn(_JGE_K, _X32_SYSCALL_BIT, jt=0, jf=1),      # 4: x32 -> 5, else 6
        _insn(_RET_K, deny),                              # 5
        *(_fake_lock_rules(abi) if fake_file_locks else []),
        _insn(_JEQ_K, abi.clone3, jt=0, jf=1),            # 6: clone3 -> 7, else 8
        _insn(_RET_K, nosys),                             # 7
        _insn(_JEQ_K, abi.unshare, jt=2, jf=0),           # 8: unshare -> 11
        _insn(_JEQ_K, abi.clone, jt=1, jf=0),             # 9: clone -> 11
        _insn(_RET_K, allow),                             # 10
        _insn(_LD_W_ABS, _OFF_ARG0_LOW),                  # 11: flags
        _insn(_JSET_K, _CLONE_NEWUSER, jt=0, jf=1),       # 12: NEWUSER -> 13, else 14
        _insn(_RET_K, deny),                              # 13
        _insn(_RET_K, allow),                             # 14
    ]
    return b"".join(program)


def program_memfd(program: bytes) -> int:
    """The program in a memfd, positioned at its start, for bwrap's `--seccomp FD`."""
    fd = os.memfd_create("bwrap-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd

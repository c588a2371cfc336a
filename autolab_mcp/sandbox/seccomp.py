"""A small seccomp filter that stops sandboxed code from creating user namespaces.

Root-mode bwrap gives the command a real unprivileged uid and no user namespace of its own,
so bwrap's `--disable-userns` (which needs one) does not apply. Without a filter, `unshare -U`
would hand the agent a namespace where it is "root": nothing on the host, but a large kernel
attack surface. This is the same rule Docker's default profile enforces:

- `unshare` and `clone` with CLONE_NEWUSER in their flags fail with EPERM;
- `clone3` fails with ENOSYS (its flags sit in user memory, which seccomp cannot read); glibc
  then falls back to `clone`, so threads and processes still work;
- syscalls of another ABI (x32, 32-bit compat) fail with EPERM, so the rules cannot be sidestepped.

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
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW = 0, 4, 16  # little-endian: the low word of args[0] comes first


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    clone: int
    unshare: int
    clone3: int


_ABIS = {
    "x86_64": _Abi(audit_arch=0xC000003E, clone=56, unshare=272, clone3=435),
    "aarch64": _Abi(audit_arch=0xC00000B7, clone=220, unshare=97, clone3=435),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def no_new_userns_program(machine: str | None = None) -> bytes | None:
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

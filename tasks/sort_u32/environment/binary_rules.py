"""The single-thread rule, checked on the built `sort` binary (read-only; the scorer uses this file).

`python binary_rules.py [BINARY]` (default ./sort) prints what the scorer would say about it.

A rule on the source text can be spelled around (token pasting builds `pthread_create` out of
pieces that no pattern matches), so the scorer checks what the compiler produced instead:

- the binary must be a dynamically linked ELF file that needs no library but the C library;
- no name in its dynamic string table (everything it can import) may be a thread, process,
  dynamic-loading or code-protection function: `pthread_*`, `thrd_*`, `omp_*`, `GOMP_*`,
  `fork`, `clone`, `syscall`, `*spawn*`, `system`, `popen`, `exec*`, `dlopen`, `dlsym`,
  `dl_iterate_phdr`, `mprotect`, `timer_create`, `mq_notify`, `aio_*` and their variants;
- no system-call instruction (`syscall`, `sysenter`, `int $0x80`, `svc`) in its code, which
  inline assembly would need to make raw system calls: the code segments are scanned for the
  instruction's bytes, and where those occur (they also occur inside other instructions) the
  disassembly (`objdump -d`, run in the build sandbox) decides;
- no segment both writable and executable, and no executable stack (code written at run time).

These checks are the first line only: every timed run also runs under a seccomp filter that
makes thread creation fail (clone with CLONE_THREAD, or with CLONE_VM but not CLONE_VFORK),
whatever the binary does.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys

MALFORMED = "the built binary is not a well-formed ELF executable"
NOT_DYNAMIC = "the built binary is not dynamically linked against the C library"
LIBRARY = "the built binary needs a library other than the C library"
DENIED_CALL = "the built binary refers to a thread, process or dynamic-loading function"
SYSCALL = "the built binary contains a system call instruction"
WRITABLE_CODE = "the built binary has writable code or an executable stack"
PROBLEMS = frozenset({MALFORMED, NOT_DYNAMIC, LIBRARY, DENIED_CALL, SYSCALL, WRITABLE_CODE})

ALLOWED_LIBRARIES = frozenset({"libc.so.6"})
#: a name (or a part of one: the linker stores a name that ends another only once, as its tail)
DENIED_NAME = re.compile(
    r"pthread_|thrd_|omp_|GOMP_|__kmpc_|fork|Fork|clone|syscall|spawn|system|popen|exec[lv]|fexecve"
    r"|dlopen|dlmopen|dlsym|dlvsym|dl_iterate_phdr|_dl_|_r_debug|mprotect|timer_create|mq_notify|aio_"
    r"|lio_listio|getaddrinfo_a"
)
#: system-call instructions: x86-64 syscall, sysenter, int $0x80; aarch64 svc #0
SYSCALL_BYTES = re.compile(rb"\x0f\x05|\x0f\x34|\xcd\x80|\x01\x00\x00\xd4", re.DOTALL)
#: the same instructions in `objdump -d --no-show-raw-insn` output
SYSCALL_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(?:syscall|sysenter|int\s+\$0x80|svc)\b", re.MULTILINE)
#: what the build sandbox runs after the build (with `sort` in the current directory)
DISASSEMBLE = "objdump -d --no-show-raw-insn sort"

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP, _PT_GNU_STACK = 1, 2, 3, 0x6474E551
_PF_X, _PF_W = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ = 0, 1, 5, 10
_MAX_DYNAMIC = 4096


class _Malformed(Exception):
    pass


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise _Malformed(f"read past the end at {offset}")
    return struct.unpack_from(fmt, data, offset)


def _segments(data: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """(type, flags, offset, vaddr, filesz, memsz) of every program header of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise _Malformed("no ELF header")
    if data[4] != 2 or data[5] != 1:
        raise _Malformed("not a 64-bit little-endian ELF file")
    (e_type,) = _unpack("<H", data, 16)
    if e_type not in (2, 3):
        raise _Malformed(f"ELF type {e_type} is not an executable")
    (phoff,) = _unpack("<Q", data, 32)
    phentsize, phnum = _unpack("<HH", data, 54)
    if phentsize < 56 or phnum == 0 or phnum > 256:
        raise _Malformed("bad program header table")
    out = []
    for index in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz = _unpack(
            "<IIQQQQQ", data, phoff + index * phentsize)
        if p_type in (_PT_LOAD, _PT_DYNAMIC, _PT_INTERP) and p_offset + p_filesz > len(data):
            raise _Malformed(f"segment {index} extends past the end of the file")
        out.append((p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return out


def _file_offset(segments: list[tuple[int, int, int, int, int, int]], vaddr: int, size: int) -> int:
    for p_type, _flags, p_offset, p_vaddr, p_filesz, _memsz in segments:
        if p_type == _PT_LOAD and p_vaddr <= vaddr and vaddr + size <= p_vaddr + p_filesz:
            return p_offset + (vaddr - p_vaddr)
    raise _Malformed(f"address {vaddr:#x} is not in a loaded segment")


def _dynamic_strings(data: bytes, segments: list[tuple[int, int, int, int, int, int]]) -> tuple[list[str], list[str]]:
    """(needed libraries, every string of the dynamic string table) as the dynamic loader sees them."""
    dynamic = [s for s in segments if s[0] == _PT_DYNAMIC]
    if len(dynamic) != 1:
        raise _Malformed("not exactly one dynamic segment")
    _t, _f, offset, _v, filesz, _m = dynamic[0]
    needed, strtab, strsz = [], None, None
    for index in range(min(filesz // 16, _MAX_DYNAMIC)):
        tag, value = _unpack("<qQ", data, offset + 16 * index)
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(value)
        elif tag == _DT_STRTAB:
            strtab = value
        elif tag == _DT_STRSZ:
            strsz = value
    if strtab is None or strsz is None or strsz > len(data):
        raise _Malformed("no dynamic string table")
    start = _file_offset(segments, strtab, strsz)
    table = data[start:start + strsz]

    def string_at(pos: int) -> str:
        if pos >= len(table):
            raise _Malformed("a needed library's name is outside the string table")
        end = table.find(b"\0", pos)
        return table[pos:end if end >= 0 else len(table)].decode("latin-1")

    return [string_at(pos) for pos in needed], [s.decode("latin-1") for s in table.split(b"\0") if s]


def inspect(data: bytes) -> tuple[str | None, dict[str, object]]:
    """(None, details) for a binary that passes the structural and name checks, else (fixed phrase,
    details). details["syscall_bytes"]: how often a system-call instruction's bytes occur in code
    (then the disassembly decides: see syscall_instructions)."""
    details: dict[str, object] = {"bytes": len(data)}
    try:
        segments = _segments(data)
        details["syscall_bytes"] = sum(
            len(SYSCALL_BYTES.findall(data[s[2]:s[2] + s[4]])) for s in segments if s[0] == _PT_LOAD and s[1] & _PF_X)
        types = [s[0] for s in segments]
        if _PT_INTERP not in types or _PT_DYNAMIC not in types:
            return NOT_DYNAMIC, details
        stacks = [s for s in segments if s[0] == _PT_GNU_STACK]
        if any(s[0] == _PT_LOAD and s[1] & _PF_W and s[1] & _PF_X for s in segments) \
                or not stacks or any(s[1] & _PF_X for s in stacks):
            return WRITABLE_CODE, details
        needed, names = _dynamic_strings(data, segments)
    except _Malformed as exc:
        details["malformed"] = str(exc)[:200]
        return MALFORMED, details
    details["needed"] = needed[:20]
    if any(lib not in ALLOWED_LIBRARIES for lib in needed):
        return LIBRARY, details
    denied = sorted({name for name in names if DENIED_NAME.search(name)})
    if denied:
        details["denied_names"] = [name[:80] for name in denied[:20]]
        return DENIED_CALL, details
    return None, details


def syscall_instructions(disassembly: str) -> int:
    """System-call instructions in `objdump -d --no-show-raw-insn` output."""
    return len(SYSCALL_INSN.findall(disassembly))


def verdict(data: bytes, disassembly: str | None) -> tuple[str | None, dict[str, object]]:
    """The whole rule: None (fine) or the fixed phrase, and the details. `disassembly` is objdump's
    listing of the binary (None: unavailable; then any system-call bytes in the code count)."""
    problem, details = inspect(data)
    if problem is None and details.get("syscall_bytes"):
        found = None if disassembly is None else syscall_instructions(disassembly)
        details["syscall_instructions"] = found
        if found is None or found > 0:
            return SYSCALL, details
    return problem, details


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "sort"
    with open(path, "rb") as handle:
        data = handle.read()
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True)
    problem, details = verdict(data, listing.stdout if listing.returncode == 0 else None)
    if problem:
        print(f"REJECTED: {problem} ({details})")
        return 1
    print(f"OK: {path} passes the single-thread rule")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

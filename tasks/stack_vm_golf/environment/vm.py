"""The stack VM of the stack_vm_golf task (read-only; the scorer runs an identical copy).

    python vm.py PROGRAM.asm [--trace]   run PROGRAM on one public random input

Machine
  memory  256 words, addresses 0..255, every word a signed 64-bit integer
  stack   at most 64 words
  input   a[0..63] in memory 0..63, b[0..63] in memory 64..127, the rest is 0
  result  the top of the stack when HALT executes
  arithmetic wraps around to signed 64 bits (two's complement)

Program text
  one instruction per line; `;` or `#` starts a comment; blank lines are ignored
  `name:` defines a label (alone on a line or before an instruction)
  mnemonics are case-insensitive; operands are integers (decimal, 0x hex,
  optional sign) or, for jumps, labels

Instructions (each executed one counts 1, HALT included)
  PUSH v     push v
  LOAD a     push mem[a]
  STORE a    pop x; mem[a] = x
  LOADI      pop a; push mem[a]
  STOREI     pop a; pop x; mem[a] = x
  ADD        pop y; pop x; push x + y
  SUB        pop y; pop x; push x - y
  MUL        pop y; pop x; push x * y
  MAC        pop y; pop x; pop z; push z + x * y
  DUP        push a copy of the top
  OVER       push a copy of the second from the top
  SWAP       swap the top two
  DROP       pop and discard
  JMP L      jump to label L
  JZ L       pop x; jump to L if x == 0
  JNZ L      pop x; jump to L if x != 0
  HALT       stop; the result is the top of the stack (it must not be empty)

Errors (the run fails): unknown mnemonic, missing or extra operand, undefined or
duplicate label, address outside 0..255, stack underflow or overflow, running
past the last instruction, more than 20000 executed instructions, a program
over 64 KiB or over 4096 instructions.
"""

from __future__ import annotations

import re
import sys

MEMORY_WORDS = 256
STACK_LIMIT = 64
STEP_LIMIT = 20_000
MAX_PROGRAM_BYTES = 64 * 1024
MAX_INSTRUCTIONS = 4096
VECTOR_LEN = 64
A_BASE, B_BASE = 0, 64

_MASK = (1 << 64) - 1
_SIGN = 1 << 63

_OPERAND = {"PUSH": "int", "LOAD": "addr", "STORE": "addr", "JMP": "label", "JZ": "label", "JNZ": "label"}
_NO_OPERAND = {"LOADI", "STOREI", "ADD", "SUB", "MUL", "MAC", "DUP", "OVER", "SWAP", "DROP", "HALT"}
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\Z")


#: what kind of error a VMError is: a fixed phrase (the scorer shows this, never the message)
TOO_LARGE = "the program is larger than the VM allows"
DUPLICATE_LABEL = "duplicate label"
OPERAND_COUNT = "wrong number of operands"
UNKNOWN_INSTRUCTION = "unknown instruction"
UNDEFINED_LABEL = "undefined label"
NOT_INTEGER = "operand is not an integer"
BAD_ADDRESS = f"address outside 0..{MEMORY_WORDS - 1}"
BAD_PUSH = "PUSH value is not a signed 64-bit integer"
UNDERFLOW = "stack underflow"
OVERFLOW = "stack overflow"
NO_HALT = "ran past the last instruction without HALT"
STEP_LIMIT_HIT = f"more than {STEP_LIMIT} instructions executed"
KINDS = frozenset({TOO_LARGE, DUPLICATE_LABEL, OPERAND_COUNT, UNKNOWN_INSTRUCTION, UNDEFINED_LABEL, NOT_INTEGER,
                   BAD_ADDRESS, BAD_PUSH, UNDERFLOW, OVERFLOW, NO_HALT, STEP_LIMIT_HIT})


class VMError(Exception):
    """The program is malformed or failed at run time; the message says where, `kind` (one of KINDS) what."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def wrap(value: int) -> int:
    value &= _MASK
    return value - (1 << 64) if value & _SIGN else value


def _parse_int(token: str) -> int:
    sign = -1 if token.startswith("-") else 1
    digits = token.lstrip("+-")
    if digits[:2].lower() == "0x":
        return sign * int(digits[2:], 16)
    return sign * int(digits, 10)


def assemble(text: str) -> list[tuple[str, int | None]]:
    """Parse program text into (mnemonic, operand) pairs; jump operands become instruction indices."""
    if len(text.encode("utf-8", "replace")) > MAX_PROGRAM_BYTES:
        raise VMError(f"program is larger than {MAX_PROGRAM_BYTES} bytes", TOO_LARGE)
    raw: list[tuple[int, str, str | None]] = []
    labels: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        code = re.split(r"[;#]", line, maxsplit=1)[0].strip()
        while code:
            head, sep, rest = code.partition(":")
            if sep and _LABEL.match(head.strip()):
                name = head.strip()
                if name in labels:
                    raise VMError(f"line {lineno}: duplicate label {name!r}", DUPLICATE_LABEL)
                labels[name] = len(raw)
                code = rest.strip()
                continue
            parts = code.split()
            mnemonic = parts[0].upper()
            if mnemonic in _NO_OPERAND:
                if len(parts) != 1:
                    raise VMError(f"line {lineno}: {mnemonic} takes no operand", OPERAND_COUNT)
                raw.append((lineno, mnemonic, None))
            elif mnemonic in _OPERAND:
                if len(parts) != 2:
                    raise VMError(f"line {lineno}: {mnemonic} takes exactly one operand", OPERAND_COUNT)
                raw.append((lineno, mnemonic, parts[1]))
            else:
                raise VMError(f"line {lineno}: unknown instruction {parts[0][:40]!r}", UNKNOWN_INSTRUCTION)
            if len(raw) > MAX_INSTRUCTIONS:
                raise VMError(f"more than {MAX_INSTRUCTIONS} instructions", TOO_LARGE)
            code = ""
    program: list[tuple[str, int | None]] = []
    for lineno, mnemonic, operand in raw:
        kind = _OPERAND.get(mnemonic)
        if kind is None:
            program.append((mnemonic, None))
        elif kind == "label":
            if operand not in labels:
                raise VMError(f"line {lineno}: undefined label {str(operand)[:40]!r}", UNDEFINED_LABEL)
            program.append((mnemonic, labels[operand]))
        else:
            if operand is None or not _INT.match(operand):
                raise VMError(f"line {lineno}: {mnemonic} needs an integer operand, "
                              f"got {str(operand)[:40]!r}", NOT_INTEGER)
            value = _parse_int(operand)
            if kind == "addr":
                if not 0 <= value < MEMORY_WORDS:
                    raise VMError(f"line {lineno}: address {value} outside 0..{MEMORY_WORDS - 1}", BAD_ADDRESS)
            else:
                if not -(1 << 63) <= value < (1 << 63):
                    raise VMError(f"line {lineno}: PUSH value {value} is not a signed 64-bit integer", BAD_PUSH)
            program.append((mnemonic, value))
    return program


def run(program: list[tuple[str, int | None]], a: list[int], b: list[int],
        trace: bool = False) -> tuple[int, int]:
    """Execute with a in memory 0..63 and b in 64..127; returns (result, executed instructions)."""
    mem = [0] * MEMORY_WORDS
    mem[A_BASE:A_BASE + VECTOR_LEN] = [wrap(x) for x in a]
    mem[B_BASE:B_BASE + VECTOR_LEN] = [wrap(x) for x in b]
    stack: list[int] = []
    pc = 0
    steps = 0
    size = len(program)

    def need(n: int, op: str) -> None:
        if len(stack) < n:
            raise VMError(f"instruction {pc} ({op}): stack underflow", UNDERFLOW)

    while True:
        if pc >= size:
            raise VMError("ran past the last instruction without HALT", NO_HALT)
        if steps >= STEP_LIMIT:
            raise VMError(f"more than {STEP_LIMIT} instructions executed", STEP_LIMIT_HIT)
        op, arg = program[pc]
        steps += 1
        if trace:
            print(f"{steps:6d} pc={pc:4d} {op:6s} {'' if arg is None else arg!s:>6s}  stack={stack[-6:]}")
        pc += 1
        if op == "PUSH":
            stack.append(arg)
        elif op == "LOAD":
            stack.append(mem[arg])
        elif op == "STORE":
            need(1, op)
            mem[arg] = stack.pop()
        elif op == "LOADI":
            need(1, op)
            addr = stack.pop()
            if not 0 <= addr < MEMORY_WORDS:
                raise VMError(f"instruction {pc - 1} (LOADI): address {addr} outside 0..{MEMORY_WORDS - 1}",
                              BAD_ADDRESS)
            stack.append(mem[addr])
        elif op == "STOREI":
            need(2, op)
            addr = stack.pop()
            value = stack.pop()
            if not 0 <= addr < MEMORY_WORDS:
                raise VMError(f"instruction {pc - 1} (STOREI): address {addr} outside 0..{MEMORY_WORDS - 1}",
                              BAD_ADDRESS)
            mem[addr] = value
        elif op in ("ADD", "SUB", "MUL"):
            need(2, op)
            y = stack.pop()
            x = stack.pop()
            stack.append(wrap(x + y if op == "ADD" else x - y if op == "SUB" else x * y))
        elif op == "MAC":
            need(3, op)
            y = stack.pop()
            x = stack.pop()
            z = stack.pop()
            stack.append(wrap(z + x * y))
        elif op == "DUP":
            need(1, op)
            stack.append(stack[-1])
        elif op == "OVER":
            need(2, op)
            stack.append(stack[-2])
        elif op == "SWAP":
            need(2, op)
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif op == "DROP":
            need(1, op)
            stack.pop()
        elif op == "JMP":
            pc = arg
        elif op in ("JZ", "JNZ"):
            need(1, op)
            x = stack.pop()
            if (x == 0) == (op == "JZ"):
                pc = arg
        elif op == "HALT":
            need(1, op)
            return stack[-1], steps
        if len(stack) > STACK_LIMIT:
            raise VMError(f"instruction {pc - 1} ({op}): stack overflow (more than {STACK_LIMIT} words)", OVERFLOW)


def main(argv: list[str]) -> int:
    import random

    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8", errors="replace") as handle:
        program = assemble(handle.read())
    rng = random.Random(1)
    a = [rng.randint(-10**6, 10**6) for _ in range(VECTOR_LEN)]
    b = [rng.randint(-10**6, 10**6) for _ in range(VECTOR_LEN)]
    result, steps = run(program, a, b, trace="--trace" in argv)
    want = sum(x * y for x, y in zip(a, b, strict=True))
    verdict = "ok" if result == want else "WRONG"
    print(f"result {result} (expected {want}, {verdict}); {steps} instructions executed")
    return 0 if result == want else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

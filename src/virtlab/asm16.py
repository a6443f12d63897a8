"""A tiny assembler for 16-bit real-mode guests of the mini-VMM (:mod:`virtlab.kvm`).

Enough x86 to write the guests of episode 05 by hand: ``mov``, ``add``, ``sub``, ``cmp``,
``xor``, ``inc``, ``dec``, ``out``, ``in``, ``hlt``, ``nop`` and the short jumps ``jmp``,
``jz``/``je``, ``jnz``/``jne`` and ``loop``. One instruction per line, ``label:`` lines, ``;``
comments; numbers in decimal, ``0x`` hex or as a character (``'A'``). Registers: the 16-bit
``ax cx dx bx sp bp si di`` and the 8-bit ``al cl dl bl ah ch dh bh``.

The result is a :class:`virtlab.kvm.Program`: the bytes and a listing with each instruction's
bytes, the same form as the course's built-in guests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from virtlab.safety import VirtlabError

REG16 = {"ax": 0, "cx": 1, "dx": 2, "bx": 3, "sp": 4, "bp": 5, "si": 6, "di": 7}
REG8 = {"al": 0, "cl": 1, "dl": 2, "bl": 3, "ah": 4, "ch": 5, "dh": 6, "bh": 7}
#: two-operand ALU instructions: (opcode r/m8,r8; opcode r/m16,r16; /digit for the immediate form)
_ALU = {"add": (0x00, 0x01, 0), "sub": (0x28, 0x29, 5), "cmp": (0x38, 0x39, 7), "xor": (0x30, 0x31, 6)}
_JUMPS = {"jmp": 0xEB, "jz": 0x74, "je": 0x74, "jnz": 0x75, "jne": 0x75, "loop": 0xE2}
MNEMONICS = (*_ALU, *_JUMPS, "mov", "inc", "dec", "out", "in", "hlt", "nop")
MAX_LINES = 200


class AsmError(VirtlabError, ValueError):
    """A line the assembler cannot encode (the message names the line and what to write)."""


@dataclass(frozen=True)
class _Line:
    no: int
    text: str
    op: str
    args: tuple[str, ...]


def _number(tok: str, bits: int, line: _Line) -> int:
    tok = tok.strip()
    m = re.fullmatch(r"'(.)'", tok)
    try:
        value = ord(m.group(1)) if m else int(tok, 0)
    except ValueError:
        raise AsmError(f"line {line.no}: {tok!r} is not a register or a number "
                       f"(in: {line.text!r})") from None
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise AsmError(f"line {line.no}: {value} does not fit in {bits} bits (in: {line.text!r})")
    return value & ((1 << bits) - 1)


def _imm(value: int, bits: int) -> bytes:
    return value.to_bytes(bits // 8, "little")


def _parse(source: str) -> tuple[list[_Line], dict[str, int]]:
    """Instruction lines, and label -> index of the instruction that follows it."""
    if not isinstance(source, str):
        raise AsmError("the guest program must be a string of assembly lines")
    lines: list[_Line] = []
    labels: dict[str, int] = {}
    raw = source.splitlines()
    if len(raw) > MAX_LINES:
        raise AsmError(f"at most {MAX_LINES} lines, please")
    for no, text in enumerate(raw, 1):
        code = re.sub(r";.*", "", text).strip()
        code = re.sub(r"'.'|[^']+", lambda m: m.group(0) if m.group(0).startswith("'") else m.group(0).lower(), code)
        while (m := re.match(r"([a-z_.][a-z0-9_.]*):\s*", code)):
            name = m.group(1)
            if name in MNEMONICS or name in REG16 or name in REG8:
                raise AsmError(f"line {no}: {name!r} is an instruction or register name; "
                               "pick another label")
            if name in labels:
                raise AsmError(f"line {no}: label {name!r} defined twice")
            labels[name] = len(lines)
            code = code[m.end():]
        if not code:
            continue
        op, _, rest = code.partition(" ")
        args = tuple(a.strip() for a in rest.split(",")) if rest.strip() else ()
        if op not in MNEMONICS:
            raise AsmError(f"line {no}: unknown instruction {op!r}; this assembler knows: "
                           f"{', '.join(sorted(set(MNEMONICS)))}")
        lines.append(_Line(no, text.strip(), op, args))
    if not lines:
        raise AsmError("no instructions: write at least `hlt`")
    return lines, labels


def _encode(ln: _Line, here: int, target: int | None) -> bytes:
    op, a = ln.op, ln.args

    def want(n: int) -> None:
        if len(a) != n:
            raise AsmError(f"line {ln.no}: {op} takes {n} operand(s) (in: {ln.text!r})")

    if op in ("hlt", "nop"):
        want(0)
        return bytes([0xF4 if op == "hlt" else 0x90])
    if op in _JUMPS:
        want(1)
        if target is None:
            raise AsmError(f"line {ln.no}: no label {a[0]!r} (in: {ln.text!r})")
        rel = target - (here + 2)
        if not -128 <= rel <= 127:
            raise AsmError(f"line {ln.no}: the jump to {a[0]!r} is too far for a short jump")
        return bytes([_JUMPS[op], rel & 0xFF])
    if op in ("inc", "dec"):
        want(1)
        if a[0] in REG16:
            return bytes([(0x40 if op == "inc" else 0x48) + REG16[a[0]]])
        if a[0] in REG8:
            return bytes([0xFE, (0xC0 if op == "inc" else 0xC8) + REG8[a[0]]])
        raise AsmError(f"line {ln.no}: {op} needs a register (in: {ln.text!r})")
    if op == "out":
        want(2)
        port, reg = a
        if reg not in ("al", "ax"):
            raise AsmError(f"line {ln.no}: out writes al or ax, e.g. `out dx, al`")
        if port == "dx":
            return bytes([0xEE if reg == "al" else 0xEF])
        return bytes([0xE6 if reg == "al" else 0xE7, _number(port, 8, ln)])
    if op == "in":
        want(2)
        reg, port = a
        if reg not in ("al", "ax"):
            raise AsmError(f"line {ln.no}: in reads into al or ax, e.g. `in al, dx`")
        if port == "dx":
            return bytes([0xEC if reg == "al" else 0xED])
        return bytes([0xE4 if reg == "al" else 0xE5, _number(port, 8, ln)])
    # two operands: mov and the ALU group
    want(2)
    dst, src = a
    if dst in REG16:
        size, regs, d = 16, REG16, REG16[dst]
    elif dst in REG8:
        size, regs, d = 8, REG8, REG8[dst]
    else:
        raise AsmError(f"line {ln.no}: the first operand must be a register (in: {ln.text!r})")
    other = REG8 if regs is REG16 else REG16
    if src in other:
        raise AsmError(f"line {ln.no}: {dst} and {src} have different sizes")
    if op == "mov":
        if src in regs:
            return bytes([0x89 if size == 16 else 0x88, 0xC0 | regs[src] << 3 | d])
        return bytes([(0xB8 if size == 16 else 0xB0) + d]) + _imm(_number(src, size, ln), size)
    r8, r16, digit = _ALU[op]
    if src in regs:
        return bytes([r16 if size == 16 else r8, 0xC0 | regs[src] << 3 | d])
    return bytes([0x81 if size == 16 else 0x80, 0xC0 | digit << 3 | d]) + _imm(_number(src, size, ln), size)


def _size(ln: _Line) -> int:
    return len(_encode(ln, 0, 0 if ln.op in _JUMPS else None))


def assemble(source: str, name: str = "yours", origin: int = 0x1000):  # noqa: ANN201 - kvm.Program
    """Assemble ``source`` into a :class:`virtlab.kvm.Program` loaded at ``origin``.

    Raises :class:`AsmError` (a ``ValueError``) naming the line for anything it cannot encode.
    """
    from virtlab.kvm import Program

    lines, labels = _parse(source)
    addrs, at = [], origin
    for ln in lines:
        addrs.append(at)
        at += _size(ln)
    end = at
    code, listing = b"", []
    for ln, addr in zip(lines, addrs, strict=True):
        target = None
        if ln.op in _JUMPS and ln.args:
            idx = labels.get(ln.args[0])
            target = None if idx is None else (addrs[idx] if idx < len(addrs) else end)
        b = _encode(ln, addr, target)
        code += b
        text = " ".join(ln.text.split())
        listing.append(f"{' '.join(f'{x:02X}' for x in b):<11}  {text}")
    return Program(name, code, tuple(listing))

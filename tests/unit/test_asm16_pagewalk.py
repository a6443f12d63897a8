"""virtlab.asm16 (the learners' assembler), virtlab.pagewalk (the nested walk model) and the
episode 05 checks that use them. Running learners' guests on /dev/kvm: tests/live/test_kvm_live.py."""

from __future__ import annotations

import pytest

from virtlab import asm16, kvm, pagewalk, probe
from virtlab.checks import ep05


def test_assembler_reproduces_the_hand_assembled_guests():
    add = asm16.assemble("mov dx, 0x10\nadd ax, bx\nout dx, ax\nhlt")
    assert add.code == kvm.add_program().code
    loop = asm16.assemble("mov dx, 0x10\nl: out dx, al\nloop l\nhlt")
    assert loop.code == kvm.exit_loop_program().code


def test_assembler_encodes_jumps_immediates_and_chars():
    p = asm16.assemble("""
        start:  mov al, 'A'   ; a char
                mov cx, -1
                sub cx, 0x100
                inc bl
                dec si
                jnz start     ; backwards
                jmp end
                nop
        end:    out 0x7e, al
                in al, dx
                hlt
    """)
    assert p.code == bytes.fromhex("B041" "B9FFFF" "81E90001" "FEC3" "4E" "75F2" "EB01" "90" "E67E" "EC" "F4")
    # the listing names every byte, in the same "BYTES  text" form as the built-in guests
    addrs = kvm.instructions(p.listing)
    assert addrs[0][0] == 0x1000 and sum(n for _, n, _ in addrs) == len(p.code)


@pytest.mark.parametrize("src, msg", [
    ("", "no instructions"),
    ("push ax", "unknown instruction"),
    ("mov ax, bl", "different sizes"),
    ("mov al, 300", "does not fit"),
    ("jnz nowhere", "no label"),
    ("loop: hlt", "instruction or register name"),
    ("a: nop\na: hlt", "defined twice"),
    ("out dx, bx", "al or ax"),
    ("mov 5, ax", "must be a register"),
    ("hlt ax", "takes 0 operand"),
    ("mov ax, banana", "not a register or a number"),
])
def test_assembler_refuses_with_the_line(src, msg):
    with pytest.raises(asm16.AsmError, match=msg):
        asm16.assemble(src)


def test_far_jump_is_refused():
    with pytest.raises(asm16.AsmError, match="too far"):
        asm16.assemble("a: " + "\n".join(["mov ax, 1"] * 50) + "\njmp a")


def test_page_walk_model():
    assert pagewalk.references(4, 4) == 24 and pagewalk.references(5, 5) == 35
    assert pagewalk.references(4, 0) == 4  # no nested paging: the native walk
    w = pagewalk.walk(2, 2)
    assert [(r.table, r.level) for r in w] == [("host", 2), ("host", 1), ("guest", 2),
                                              ("host", 2), ("host", 1), ("guest", 1),
                                              ("host", 2), ("host", 1)]
    with pytest.raises(ValueError):
        pagewalk.walk(0, 4)
    with pytest.raises(ValueError):
        pagewalk.walk(4, 6)


def test_rip_position_is_read_from_the_listing():
    listing = kvm.add_program().listing  # the OUT is at 0x1005
    assert kvm.rip_at_out(listing, [{"reason": "IO", "detail": "OUT port 0x10", "rip": 0x1005}]) == "at"
    assert kvm.rip_at_out(listing, [{"reason": "IO", "detail": "OUT port 0x10", "rip": 0x1006}]) == "past"
    assert kvm.rip_at_out(listing, [{"reason": "HLT", "detail": "HLT", "rip": 0x1007}]) == "unknown"
    assert "AT the `out`" in kvm.rip_sentence("at", "x") and "PAST" in kvm.rip_sentence("past", "x")


def test_walk_formula_check(capsys):
    assert ep05.check_walk_formula(lambda g, h: (g + 1) * (h + 1) - 1)
    assert not ep05.check_walk_formula(lambda g, h: g * h)  # forgets the guest entries
    assert not ep05.check_walk_formula(lambda g, h: g * h + g)  # forgets the final host walk
    assert not ep05.check_walk_formula(lambda g, h: 1 // 0)
    assert not ep05.check_walk_formula(None)
    out = capsys.readouterr().out
    assert out.count("✅") == 1 and "ZeroDivisionError" in out


def test_sum_judge_reads_the_exits():
    ok = [{"reason": "IO", "detail": "OUT port 0x10, 2 byte(s): 0x6"}, {"reason": "HLT", "detail": "HLT"}]
    assert ep05._judge_sum_run(3, ok) is None
    assert "1+...+3 = 6" in ep05._judge_sum_run(3, [dict(ok[0], detail="OUT port 0x10, 2 byte(s): 0x5"), ok[1]])
    assert "must not leave the guest" in ep05._judge_sum_run(3, [ok[0], ok[0], ok[1]])
    assert "hlt" in ep05._judge_sum_run(3, ok[:1])
    assert "out dx, ax" in ep05._judge_sum_run(3, [dict(ok[0], detail="OUT port 0x10, 1 byte(s): 0x6"), ok[1]])


def test_sum_check_without_kvm_says_it_cannot_run(monkeypatch, capsys, patch_pkg):
    no_kvm = probe.KvmInfo(False, False, None, False, False, "tcg", "/dev/kvm does not exist")
    patch_pkg(probe, "kvm", lambda refresh=False: no_kvm)
    patch_pkg(kvm, "run", lambda *a, **k: pytest.fail("ran without KVM"))
    assert not ep05.check_sum_guest("mov dx, 0x10\nhlt")
    out = capsys.readouterr().out
    assert "cannot run your guest here: /dev/kvm does not exist" in out and "NOT checked" in out
    assert not ep05.check_sum_guest(None) and not ep05.check_sum_guest("bogus")
    assert "does not assemble" in capsys.readouterr().out

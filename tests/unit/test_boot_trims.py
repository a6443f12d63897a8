"""The course VM's boot trims: the A/B command lines and the paired summary (no VM needed)."""
from __future__ import annotations

import pytest

from virtlab import bootexp, virt
from virtlab.bootexp import trims


def test_default_cmdline_carries_the_trims_and_without_removes_only_them() -> None:
    assert virt.DEFAULT_CMDLINE.endswith(trims.BOOT_TRIMS)
    plain = bootexp.without_trims()
    assert plain == "console=ttyS0 quiet panic=0 tsc=reliable no_timer_check i8042.noaux"
    for p in trims.BOOT_TRIMS.split():
        assert p not in plain.split()
    # the systemd guest of the start-up experiment gets the same trims
    assert set(trims.BOOT_TRIMS.split()) <= set(bootexp.SYSTEMD_CMDLINE.split())


def _boot(kernel_s: float | None, wall_s: float) -> dict[str, float | None]:
    return {"kernel_s": kernel_s, "wall_s": wall_s}


def test_summary_is_paired_ratios_with_their_spread() -> None:
    data = {"trims": trims.BOOT_TRIMS, "kernel": "minimal", "pairs": [
        {"with": _boot(1.0, 2.0), "without": _boot(2.0, 2.0)},
        {"with": _boot(1.5, 3.0), "without": _boot(1.5, 2.0)},
        {"with": _boot(None, 2.0), "without": _boot(1.0, 4.0)},  # no dmesg line: left out of kernel_s
    ]}
    s = bootexp.summary_trims(data)
    assert s["kernel_s"]["ratio"] == {"median": 0.75, "min": 0.5, "max": 1.0, "n": 2}
    assert s["kernel_s"]["with"]["median"] == 1.25
    assert s["wall_s"]["ratio"]["median"] == 1.0 and s["wall_s"]["ratio"]["n"] == 3
    text = bootexp.format_trims(data)
    assert "3 pairs" in text and "ratio 0.75 [0.50–1.00]" in text


def test_bad_pair_count_is_refused_before_any_boot() -> None:
    with pytest.raises(ValueError, match="pairs"):
        bootexp.bench_trims(0)


def test_an_unknown_choice_is_refused_before_any_boot() -> None:
    with pytest.raises(ValueError, match="trims, firmware"):
        bootexp.bench_trims(3, choice="cpu")


def test_firmware_pairs_are_summed_up_with_their_host_side() -> None:
    data = {"choice": "firmware", "with": "qboot", "without": "SeaBIOS (QEMU's default)",
            "kernel": "minimal", "pairs": [
                {"with": {"kernel_s": 0.9, "host_s": 0.5, "wall_s": 1.6},
                 "without": {"kernel_s": 0.9, "host_s": 0.6, "wall_s": 1.7}},
                {"with": {"kernel_s": 1.0, "host_s": 0.6, "wall_s": 1.8},
                 "without": {"kernel_s": 1.0, "host_s": 0.8, "wall_s": 2.0}}]}
    s = bootexp.summary_trims(data)
    assert s["host_s"]["ratio"]["min"] == pytest.approx(0.75)
    assert s["host_s"]["ratio"]["max"] == pytest.approx(5 / 6)
    text = bootexp.format_trims(data)
    assert text.startswith("firmware: with = qboot, without = SeaBIOS")
    assert "host + firmware" in text and "2 pairs" in text

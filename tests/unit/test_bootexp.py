"""The start-up experiment's plumbing without a VM: the disk's customisation, the summaries."""

import os

import pytest

from virtlab import bootexp


def _data():
    def bb(w, up, k, mem):
        return {"wall_s": w, "host_s": w - up, "kernel_s": k, "init_s": up - k, "services_s": None,
                "charged_mib": mem, "rss_mib": mem + 20, "release": "r"}
    return {
        "runs": {"minimal+busybox": [bb(1.0, 0.6, 0.4, 60), bb(1.2, 0.7, 0.5, 62), bb(1.1, 0.6, 0.45, 61)],
                 "stock+busybox": [bb(2.5, 2.0, 1.6, 150), bb(2.7, 2.1, 1.7, 160), bb(2.6, 2.0, 1.65, 155)],
                 "minimal+systemd": [{"wall_s": 9.0, "host_s": 0.4, "kernel_s": 0.5, "init_s": 2.0,
                                      "services_s": 6.1, "charged_mib": 122, "rss_mib": 140,
                                      "state": "running", "active_units": 60,
                                      "analyze": "Startup finished in 500ms (kernel) + 8s (userspace)",
                                      "blame": ["3.1s systemd-journald.service"], "release": "r"}]},
        "skipped": {}, "containers": {"busybox": [{"launch_s": 0.3, "wall_s": 0.35, "charged_mib": 0.5}],
                                      "debian+systemd": [{"launch_s": 0.5, "wall_s": 2.0, "systemd_s": 1.4,
                                                          "charged_mib": 14.0}]},
        "containers_skipped": {}, "repeat": 3, "memory_mib": 128, "tb_cache_mib": 32,
        "accelerator": "tcg", "accelerator_reason": "no vmx", "kernels": {}, "kernel_build": {},
    }


def test_summary_gives_medians_with_spread_and_ratios():
    s = bootexp.summary(_data())
    assert s["minimal+busybox"]["wall_s"] == {"median": 1.1, "min": 1.0, "max": 1.2, "n": 3}
    assert "services_s" not in s["minimal+busybox"]  # busybox has no services phase
    r = bootexp.ratios(_data())
    assert r["stock+busybox"]["wall_s"] == pytest.approx(2.6 / 1.1)
    assert r["minimal+systemd"]["charged_mib"] == pytest.approx(122 / 61)
    c = bootexp.container_summary(_data())
    assert c["debian+systemd"]["systemd_s"]["median"] == 1.4


def test_show_prints_every_guest_phase_and_the_anchors(capsys):
    bootexp.show(_data())
    out = capsys.readouterr().out
    for text in ("minimal kernel + busybox initramfs", "Debian-kernel+busybox", "kernel (s)", "services (s)",
                 "1.10 [1.00–1.20]", "x2.4 time", "Firecracker", "30-60 s", "Debian+systemd",
                 "systemd: running, 60 active units"):
        assert text in out, text


def test_the_disk_gets_a_marker_service_and_an_fstab(tmp_path):
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "var/cache/apt/archives").mkdir(parents=True)
    (root / "var/cache/apt/archives/x.deb").write_bytes(b"deb")
    bootexp._customise(root)
    bootexp._customise(root)  # twice: idempotent
    assert (root / "etc/fstab").read_text().startswith("/dev/vda / ext4")
    link = root / "etc/systemd/system/multi-user.target.wants/virtlab-marker.service"
    assert os.readlink(link) == "/etc/systemd/system/virtlab-marker.service"
    script = (root / "usr/local/sbin/virtlab-marker").read_text()
    assert "is-system-running --wait" in script and "VIRTLAB-READY release=" in script
    assert not (root / "var/cache/apt/archives/x.deb").exists()


def test_disk_is_optional_in_images_build(monkeypatch):
    monkeypatch.delenv("VIRTLAB_BOOT_DISK", raising=False)
    assert "skipped (optional)" in bootexp.build_images()


def test_unknown_guest_is_refused():
    with pytest.raises(ValueError, match="unknown guest"):
        bootexp.run(1, guests=("windows+systemd",))


def test_the_demo_is_an_optional_extra_and_a_learner_gets_the_recording(monkeypatch):
    """Without root (a learner) or without the disk, the cell replays the recording even where
    live is demanded, labelled with what is missing; root with every guest runs it live."""
    from virtlab import modes
    from virtlab.bootexp import demos

    d = modes.demos()["bootexp.startup"]
    assert d.optional
    backend = modes.Backend("libvirt", "live", "libvirt", forced=True)
    monkeypatch.setattr(demos.os, "geteuid", lambda: 1000)
    assert "root" in d.requires(backend)
    monkeypatch.setattr(demos.os, "geteuid", lambda: 0)
    root = backend
    monkeypatch.setattr(demos, "available_guests", lambda: {"minimal+busybox": None,
                                                            "minimal+systemd": "no systemd disk"})
    assert "no systemd disk" in d.requires(root)
    monkeypatch.setattr(demos, "available_guests", lambda: {"minimal+busybox": None})
    assert d.requires(root) is None


def test_boots_per_guest_come_from_the_environment_within_bounds(monkeypatch):
    """`make test` boots each guest once (VIRTLAB_BOOTEXP_REPEAT=1); the lesson's default is three,
    and a bad value is a clear error before anything boots."""
    from virtlab.bootexp import demos

    monkeypatch.delenv("VIRTLAB_BOOTEXP_REPEAT", raising=False)
    assert demos.repeat_from_env() == 3
    monkeypatch.setenv("VIRTLAB_BOOTEXP_REPEAT", "1")
    assert demos.repeat_from_env() == 1
    seen = []
    monkeypatch.setattr(demos, "run", lambda repeat, require: seen.append((repeat, require)) or {})
    from virtlab import modes

    demos.demo_startup(modes.Backend("libvirt", "live", "libvirt", forced=True))
    assert seen == [(1, True)]
    for bad in ("0", "6", "three", "-1"):
        monkeypatch.setenv("VIRTLAB_BOOTEXP_REPEAT", bad)
        with pytest.raises(ValueError, match="1 to 5"):
            demos.repeat_from_env()


def test_show_says_when_each_figure_is_a_single_boot(capsys):
    d = _data()
    bootexp.show(d)
    assert f"{d['repeat']} boots each, interleaved" in capsys.readouterr().out
    d["repeat"] = 1
    bootexp.show(d)
    out = capsys.readouterr().out
    assert "1 boot each (VIRTLAB_BOOTEXP_REPEAT=1)" in out and "boots each" not in out

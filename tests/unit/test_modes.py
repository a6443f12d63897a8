"""virtlab.modes: choosing live / embedded / recorded, banners, recordings."""

from __future__ import annotations

import json

import pytest

from virtlab import modes, probe


def test_garbage_mode_lists_the_valid_modes(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "garbage")
    with pytest.raises(modes.ModeError) as e:
        modes.resolve("lxd")
    for m in modes.MODES:
        assert m in str(e.value)


def test_unknown_section_is_a_clear_error():
    with pytest.raises(modes.ModeError, match="known: namespaces"):
        modes.resolve("docker")


def test_live_without_lxd_names_the_fix(monkeypatch, tmp_path, patch_pkg):
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    patch_pkg(probe, "LXD_SOCKETS", ())
    probe.lxd(refresh=True)
    try:
        with pytest.raises(modes.CapabilityMissing) as e:
            modes.resolve("lxd")
        msg = str(e.value)
        assert "lxd: live mode is not possible here" in msg
        assert "no LXD socket" in msg and "provision.sh" in msg
    finally:
        monkeypatch.undo()
        probe.lxd(refresh=True)


def test_auto_without_lxd_falls_back_to_recorded_and_says_why(monkeypatch, tmp_path, patch_pkg):
    monkeypatch.setenv("VIRTLAB_MODE", "auto")
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    patch_pkg(probe, "LXD_SOCKETS", ())
    probe.lxd(refresh=True)
    try:
        b = modes.resolve("lxd")
        assert b.mode == "recorded" and "no LXD socket" in b.reason
    finally:
        monkeypatch.undo()
        probe.lxd(refresh=True)


def test_embedded_libvirt_uses_the_test_driver(monkeypatch):
    pytest.importorskip("libvirt")
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    b = modes.resolve("libvirt")
    assert b.mode == "embedded" and "test:///default" in b.detail
    assert b.banner().startswith("[virtlab] libvirt: embedded")


def test_embedded_never_uses_a_daemon(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    for name in ("lxd", "cgroups", "kvm"):
        assert modes.resolve(name).mode == "recorded"


def test_forced_recorded_everywhere(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    assert {modes.resolve(s).mode for s in modes.SECTIONS} == {"recorded"}


@pytest.fixture
def tmp_demo(monkeypatch, tmp_path):
    monkeypatch.setattr(modes, "RECORDED_DIR", tmp_path)
    calls = []

    @modes.demo("test.hostname", section="namespaces", embedded=True)
    def _demo(backend):
        calls.append(backend.mode)
        import socket

        return {"hostname": socket.gethostname(), "mode": backend.mode}

    yield calls
    modes._DEMOS.pop("test.hostname", None)


def test_recorded_without_recording_says_how_to_record(monkeypatch, tmp_demo):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    with pytest.raises(modes.RecordingMissing, match="virtlab record test.hostname"):
        modes.run("test.hostname")
    assert tmp_demo == []  # nothing ran


def test_record_then_replay_is_labelled_recorded(monkeypatch, tmp_demo, capsys):
    if not modes.SECTIONS["namespaces"].live().ok:
        pytest.skip("recording needs the namespaces section live (root)")
    path = modes.record("test.hostname")
    saved = json.loads(path.read_text())
    prov = saved["provenance"]
    for key in ("recorded_on", "host", "versions", "accelerator", "command"):
        assert key in prov
    assert prov["command"] == "virtlab record test.hostname"
    assert saved["data"]["mode"] == "live"
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    capsys.readouterr()
    r = modes.run("test.hostname")
    line = capsys.readouterr().out.strip()
    assert r.recorded and not r.live
    assert r.data == saved["data"]
    assert "RECORDED, not live" in line and "virtlab record test.hostname" in line
    assert tmp_demo == ["live"]  # only the recording ran the demo


def test_live_run_prints_one_banner_line(monkeypatch, tmp_demo, capsys):
    monkeypatch.setenv("VIRTLAB_MODE", "auto")
    r = modes.run("test.hostname")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("[virtlab] namespaces: ")
    assert r.backend.mode in ("live", "embedded")


def test_recorded_counterpart_only_for_embedded_results(monkeypatch, tmp_demo, capsys):
    if not modes.SECTIONS["namespaces"].live().ok:
        pytest.skip("recording needs the namespaces section live (root)")
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    emb = modes.run("test.hostname", quiet=True)
    assert emb.backend.mode == "embedded"
    assert modes.recorded_counterpart(emb) is None  # nothing recorded yet
    modes.record("test.hostname")
    capsys.readouterr()
    real = modes.recorded_counterpart(emb)
    assert real is not None and real.recorded and real.data["mode"] == "live"
    assert "RECORDED, not live" in capsys.readouterr().out
    monkeypatch.setenv("VIRTLAB_MODE", "auto")
    live = modes.run("test.hostname", quiet=True)
    assert live.backend.mode == "live" and modes.recorded_counterpart(live) is None


def test_only_a_demanded_live_backend_is_forced(monkeypatch):
    if not modes.SECTIONS["namespaces"].live().ok:
        pytest.skip("needs the namespaces section live (root)")
    monkeypatch.setenv("VIRTLAB_MODE", "auto")
    assert modes.resolve("namespaces").forced is False
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    assert modes.resolve("namespaces").forced is True
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    assert modes.resolve("namespaces").forced is False


def test_episode_00_exercise_2_needs_the_learners_answer(capsys):
    """Unanswered is not correct; the right answer is whatever modes.resolve says (recorded)."""
    from virtlab.checks import ep00

    assert not ep00.check_embedded_lxd(None)
    assert "type your answer" in capsys.readouterr().out  # a hint, not a verdict
    truth = modes.resolve("lxd", "embedded").mode
    assert truth == "recorded"
    assert ep00.check_embedded_lxd(" Recorded ") and not ep00.check_embedded_lxd("embedded")


def _with_requirement(monkeypatch, optional: bool) -> str:
    """Demo namespaces.uts, made to need something this machine lacks (its recording exists)."""
    key = "namespaces.uts"
    real = modes.demos()[key]

    def never(_backend):  # the demo must not run when its requirement is missing
        raise AssertionError("the demo ran although its requirement is missing")

    monkeypatch.setitem(modes._DEMOS, key, modes.Demo(key, real.section, never, real.embedded,
                                                      requires=lambda b: "a missing thing",
                                                      optional=optional))
    return key


def test_a_missing_requirement_fails_where_live_is_demanded(monkeypatch, need):
    need("namespaces", privileged=False)
    key = _with_requirement(monkeypatch, optional=False)
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    with pytest.raises(modes.CapabilityMissing, match="needs a missing thing"):
        modes.run(key, quiet=True)


def test_an_optional_requirement_replays_the_recording_and_says_so(monkeypatch, need, capsys):
    need("namespaces", privileged=False)
    key = _with_requirement(monkeypatch, optional=True)
    monkeypatch.setenv("VIRTLAB_MODE", "live")
    r = modes.run(key)
    assert r.recorded and r.backend.not_live_here == "a missing thing"
    line = capsys.readouterr().out.strip()
    assert modes.parse_banner(line) == ("namespaces", "recorded")
    assert f"{modes.NOT_LIVE_HERE} a missing thing" in line
    # ... but a recording is never made without it
    with pytest.raises(modes.CapabilityMissing, match="needs a missing thing"):
        modes.record(key)

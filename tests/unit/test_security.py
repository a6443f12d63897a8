"""Episode 07 helpers: case studies + sources, capability decoding, errno parsing, the probe's
parser, seccomp on the real kernel, the attack-surface counts, the threat model and its widget."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from virtlab import PREFIX, attacksurface, probe, security
from virtlab.checks import ep07
from virtlab.safety import VirtlabError
from virtlab.widgets import threats

URL = re.compile(r"^https://[\w.-]+\.[a-z]{2,}/\S*$")


# --------------------------------------------------------------------------- sources
def test_every_case_study_row_has_sources_and_its_nvd_entry():
    assert len(security.CASE_STUDIES) >= 6
    for c in security.CASE_STUDIES:
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}", c.cve), c.cve
        assert c.sources, f"{c.cve} has no source"
        assert all(URL.match(s) for s in c.sources), c.sources
        assert f"https://nvd.nist.gov/vuln/detail/{c.cve}" in c.sources
        assert c.needed and c.blocked_by and c.layer


def test_issue_case_studies_are_all_there():
    cves = {c.cve for c in security.CASE_STUDIES}
    assert {"CVE-2016-5195", "CVE-2022-0185", "CVE-2022-0492", "CVE-2019-5736",
            "CVE-2024-21626", "CVE-2015-3456"} <= cves
    # runc bugs do not all need root in the container (the review's correction)
    leaky = next(c for c in security.CASE_STUDIES if c.cve == "CVE-2024-21626")
    assert "no root in the container" in leaky.needed


def test_every_reference_figure_has_a_source():
    assert security.FIGURES
    for what, value, source in security.FIGURES:
        assert what and value and URL.match(source), (what, source)


def test_every_threat_example_cve_is_a_real_id_format():
    for rows in security.THREATS.values():
        for _verdict, _why, example in rows.values():
            for cve in re.findall(r"CVE-\S+", example):
                assert re.fullmatch(r"CVE-\d{4}-\d{4,}", cve.rstrip(",)")), cve


def test_show_figures_prints_every_source(capsys):
    security.show_figures()
    out = capsys.readouterr().out
    assert all(src in out for _w, _v, src in security.FIGURES)


def test_case_rows_and_show_cases(capsys):
    rows = security.case_rows()
    assert len(rows) == len(security.CASE_STUDIES) and all(r["sources"] for r in rows)
    security.show_cases()
    out = capsys.readouterr().out
    assert out.count("■ CVE-") == len(security.CASE_STUDIES)
    assert out.count("source ") == sum(len(c.sources) for c in security.CASE_STUDIES)


# --------------------------------------------------------------------------- capabilities
def test_decode_caps():
    assert security.decode_caps("0000000000003000") == ["net_admin", "net_raw"]
    assert security.decode_caps(0) == []
    assert security.decode_caps(1 << 21) == ["sys_admin"]
    assert len(security.decode_caps("000001ffffffffff")) == 41


@pytest.mark.parametrize("bad", ["xyz", "-1", -5])
def test_decode_caps_refuses_nonsense(bad):
    with pytest.raises(ValueError, match="capability mask|negative"):
        security.decode_caps(bad)


def test_capability_names_match_this_kernel():
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = security.capability_names()
    assert len(names) == last + 1
    assert names[13] == "net_raw" and names[21] == "sys_admin"


def test_process_caps_reads_real_status():
    caps = security.process_caps()
    assert set(caps) >= {"eff", "prm", "bnd"}
    if os.geteuid() != 0:
        assert caps["eff"] == []


# --------------------------------------------------------------------------- errno + parser
@pytest.mark.parametrize(("msg", "want"), [
    ("dd: can't open '/dev/vda': Permission denied", "EACCES"),
    ("mknod: /tmp/x: Operation not permitted", "EPERM"),
    ("kill: can't kill pid 5: No such process", "ESRCH"),
    ("mount: permission denied (are you root?)", "EPERM"),
    ("insmod: can't insert 'x': kernel does not support requested operation", "ENOSYS"),
    ("dd: can't open '/proc/sys/x': Read-only file system", "EROFS"),
    ("something else entirely", None),
])
def test_errno_from_message(msg, want):
    assert security.errno_from_message(msg) == want


SAMPLE = (
    "VLPROBE\tuid_map\t0\t0 100000 65536\n"
    "VLPROBE\tcap_eff\t0\t000001ffffffffff\n"
    "VLPROBE\tseccomp\t0\t2\n"
    "VLPROBE\tprocesses\t0\t4\n"
    "VLPROBE\tkernel\t0\t6.1.0\n"
    "noise line\n"
    "VLPROBE\tmknod_host_disk\t1\tmknod: /tmp/x: Operation not permitted\n"
    "VLPROBE\tsee_host_process\t1\tkill: can't kill pid 9: No such process\n"
    "VLPROBE\tmount_tmpfs\t0\t\n"
)


def test_parse_probe():
    r = security.parse_probe(SAMPLE, "test", "namespaces")
    assert r.uid_map == "0 100000 65536" and r.seccomp == "2" and r.processes == 4
    assert len(r.cap_eff) == 41
    m = r.attempt("mknod_host_disk")
    assert m.failed and m.errno == "EPERM" and "CAP_MKNOD" in m.reason
    assert r.attempt("see_host_process").errno == "ESRCH"
    ok = r.attempt("mount_tmpfs")
    assert not ok.failed and ok.errno is None and ok.reason == "it worked"
    with pytest.raises(LookupError, match="no attempt"):
        r.attempt("nope")


def test_parse_probe_without_output_is_a_clear_error():
    with pytest.raises(VirtlabError, match="printed no result"):
        security.parse_probe("sh: not found\n", "x", "namespaces")


def test_every_attempt_is_described_with_why_it_is_harmless():
    for name in (*security.MUST_FAIL, *security.HARMLESS):
        what, harmless = security.ATTEMPTS[name]
        assert what and harmless
    assert set(security.MUST_FAIL).isdisjoint({"mount_tmpfs"})


def test_probe_script_never_writes_to_dangerous_places():
    s = security.PROBE_SCRIPT
    assert "sysrq-trigger" in s
    # the sysrq/sysctl files are opened by dd with count=0 (nothing written), never echoed into
    assert not re.search(r">>?\s*/proc/sys", s)
    for line in s.splitlines():
        if "sysrq-trigger" in line or "drop_caches" in line or 'if="$DEV"' in line:
            assert "count=0" in line, line
    assert "adjtimex -t \"$TICK\"" in s  # the tick is set to the value just read


def test_probe_command_validates_mode_and_uses_sh_c():
    with pytest.raises(ValueError, match="mode must be"):
        security.probe_command("evil")
    argv = security.probe_command("unprivileged", busybox="/bin/busybox", host_pid=4242)
    assert argv[:3] == ["/bin/busybox", "sh", "-c"] and argv[3] == security.PROBE_SCRIPT
    assert "4242" in argv and "unprivileged" in argv


def test_host_root_device():
    d = security.host_root_device()
    assert d["fstype"] and isinstance(d["major"], int) and isinstance(d["minor"], int)


def test_explain_names_the_mechanism():
    assert "CAP_SYS_TIME" in security.explain("set_clock", "EPERM", "namespaces")
    assert "PID namespace" in security.explain("see_host_process", "ESRCH", "lxd")
    assert "host itself" in security.explain("open_host_disk", "EPERM", "host")
    assert security.explain("set_clock", None, "x", status=1) == "failed before reaching the kernel"


# --------------------------------------------------------------------------- seccomp (real kernel)
def test_seccomp_block_errno_real():
    r = security.seccomp_block("getcwd", "errno")
    assert r["before"] == "ok" and r["after"] == "EPERM"
    assert r["status_before"]["Seccomp"] == "0" and r["status_after"]["Seccomp"] == "2"
    assert r["status_after"]["NoNewPrivs"] == "1" and r["exit_status"] == 0


def test_seccomp_block_kill_real():
    r = security.seccomp_block("getppid", "kill")
    assert r["before"] == "ok" and r["after"] == "killed"
    assert r["signal"] == "SIGSYS" and r["exit_status"] == -31


@pytest.mark.parametrize(("syscall", "action"), [("reboot", "errno"), ("uname", "panic")])
def test_seccomp_block_refuses_bad_input(syscall, action):
    before = set(Path(tempfile.gettempdir()).glob(f"{PREFIX}sec-*"))
    with pytest.raises(ValueError):
        security.seccomp_block(syscall, action)
    assert set(Path(tempfile.gettempdir()).glob(f"{PREFIX}sec-*")) == before


def test_capability_drop_in_user_namespace():
    if not probe.namespaces().unprivileged_userns:
        pytest.skip("unprivileged user namespaces are not allowed here")
    r = security.drop_capability_demo(live=False)
    assert r["raw_socket_before"] == "ok" and r["raw_socket_after"] == "EPERM"
    assert r["dropped"] == ["net_raw"] and r["capset"] == "ok"


def test_lsm_status_shape():
    s = security.lsm_status()
    assert {"apparmor", "selinux", "landlock_abi", "active"} <= set(s)
    if s["config_available"]:
        assert s["apparmor"]["built_in"] in ("y", "n")


# --------------------------------------------------------------------------- attack surface
def test_syscall_table_from_libseccomp():
    t = attacksurface.syscall_table()
    assert len(t) > 300
    assert t[0] == "read" and t[59] == "execve" and t[175] == "init_module"


def test_header_syscalls_agree_with_libseccomp():
    hdr = attacksurface.header_syscalls()
    if not hdr:
        pytest.skip("kernel headers not installed")
    t = attacksurface.syscall_table()
    common = set(hdr) & set(t)
    assert len(common) > 300
    assert all(hdr[n] == t[n] for n in common if n < 300)


def test_kvm_hypercalls_from_header():
    hc = attacksurface.kvm_hypercalls()
    if not hc:
        pytest.skip("<linux/kvm_para.h> not installed")
    assert hc["KVM_HC_KICK_CPU"] == 5 and hc["KVM_HC_VAPIC_POLL_IRQ"] == 1
    assert set(hc) <= set(attacksurface.HYPERCALL_ARCH)


def test_qemu_devices_refuses_unknown_machine():
    with pytest.raises(ValueError, match="not one of"):
        attacksurface.qemu_devices("isapc; rm -rf /")


def test_qemu_devices_real_if_installed():
    import shutil

    if not shutil.which(attacksurface.QEMU_BINARY):
        pytest.skip("qemu-system-x86_64 not installed")
    pc = attacksurface.qemu_devices("pc")
    q35 = attacksurface.qemu_devices("q35")
    micro = attacksurface.qemu_devices("microvm")
    assert "isa-fdc" in pc["models"] and "isa-fdc" not in q35["models"]
    assert len(micro["models"]) < len(q35["models"])
    assert pc["devices"] >= len(pc["models"])


# --------------------------------------------------------------------------- threat model
def test_threat_model_covers_every_threat_and_boundary():
    assert set(security.threats()) == {"noisy neighbour", "container breakout", "kernel 0-day",
                                       "side channel", "hypervisor escape"}
    for t in security.threats():
        rows = security.assess(t)
        assert [r["boundary"] for r in rows] == list(security.BOUNDARIES)
        assert all(r["verdict"] in (security.STOPS, security.PARTLY, security.FAILS, security.NA)
                   for r in rows)
        assert all(r["why"] for r in rows)


def test_threat_model_answers():
    assert security.weakest_stopping("kernel 0-day") == "VM"
    assert security.weakest_stopping("container breakout") == "VM"
    assert security.weakest_stopping("side channel") == "separate host"
    assert security.weakest_stopping(" Hypervisor Escape ") == "separate host"


def test_hardened_container_protects_the_host_not_the_neighbours():
    row = next(r for r in security.assess("container breakout") if r["boundary"] == "hardened container")
    assert row["verdict"] == security.PARTLY
    assert "security.idmap.isolated" in row["why"] and "other container" in row["why"]


def test_check_verdict_accepts_partly_for_the_hardened_breakout(capsys):
    assert ep07.check_verdict("container breakout", "hardened container", " Partly ")
    assert not ep07.check_verdict("container breakout", "hardened container", "stops it")
    assert not ep07.check_verdict("container breakout", "castle", "partly")
    assert not ep07.check_verdict("nope", "VM", "partly")
    assert ep07.check_threat("container breakout", "VM")
    assert not ep07.check_threat("container breakout", "hardened container")
    assert "security.idmap.isolated" in capsys.readouterr().out


def test_unknown_threat_is_a_lookup_error():
    with pytest.raises(LookupError, match="choose one of"):
        security.assess("alien invasion")


def test_threat_widget_is_a_view_over_the_model():
    w = threats.ThreatWidget("side channel")
    assert "L1TF" in w.output.value
    w.dropdown.value = "hypervisor escape"  # observe -> update
    assert "VENOM" in w.output.value and w.output.value == threats.render("hypervisor escape")
    for b in security.BOUNDARIES:
        assert b in w.output.value


def test_show_threat_prints_the_text(capsys):
    text = security.threat_text("kernel 0-day")
    security.show_threat("kernel 0-day")
    assert capsys.readouterr().out == text + "\n" and "Dirty COW" in text


# --------------------------------------------------------------------------- self-checks
def test_checks_ep07(capsys):
    data = {"syscalls_libseccomp": 368, "hypercalls_x86": {f"h{i}": i for i in range(7)}}
    assert ep07.surface_ratio(data) == 53
    assert ep07.check_ratio(53, data) and not ep07.check_ratio(7, data)
    assert not ep07.check_ratio("many", data)
    assert ep07.check_capability("CAP_NET_RAW") and not ep07.check_capability("sys_admin")
    assert ep07.check_threat("kernel 0-day", "vm") and not ep07.check_threat("kernel 0-day", "container")
    assert not ep07.check_threat("nope", "VM")
    assert not ep07.check_seccomp({"syscall": "uname", "before": "ok", "after": "EPERM"})
    assert not ep07.check_seccomp("x")
    assert ep07.check_seccomp({"syscall": "mkdir", "before": "ok", "after": "EPERM"})
    assert ep07.check_seccomp({"syscall": "mkdir", "before": "ok", "after": "killed", "signal": "SIGSYS"})
    out = capsys.readouterr().out
    assert "✅" in out and "❌" in out


def test_check_seccomp_with_a_real_filter(capsys):
    assert ep07.check_seccomp(security.seccomp_block("mkdir", "errno"))


# --------------------------------------------------------------------------- cleanup
def test_cleanup_removes_only_course_scratch_dirs():
    tmp = Path(tempfile.gettempdir())
    mine = Path(tempfile.mkdtemp(prefix=f"{PREFIX}sec-"))
    other = Path(tempfile.mkdtemp(prefix="not-course-sec-"))
    try:
        removed = security.cleanup()
        assert str(mine) in removed and not mine.exists()
        assert other.exists() and all(Path(r).name.startswith(f"{PREFIX}sec-") for r in removed)
        assert all(Path(r).parent == tmp for r in removed)
    finally:
        other.rmdir()


# --------------------------------------------------------------------------- recordings
def test_every_security_demo_has_a_real_recording():
    """Binder (no user namespaces, no daemons) falls back to recordings: each must exist, made by
    `virtlab record` on a real machine, with the data shape its view expects."""
    import json

    from virtlab import modes

    keys = [k for k, d in modes.demos().items() if k.startswith("security.")]
    assert {"security.attempts", "security.lxd", "security.panic", "security.privileged"} <= set(keys)
    for key in keys:
        rec = json.loads(modes.recording_path(key).read_text())
        assert rec["key"] == key and rec["provenance"]["command"] == f"virtlab record {key}"
        assert rec["provenance"]["host"]["kernel"] and rec["data"]
    lxd_rec = modes.load_recording("security.lxd")["data"]
    names = {a["name"] for a in lxd_rec["unprivileged"]["attempts"]}
    assert names == set(security.MUST_FAIL) | set(security.SECCOMP_ONLY)
    assert all(a["status"] != 0 for a in lxd_rec["unprivileged"]["attempts"])
    assert {a["name"] for a in lxd_rec["privileged"]["attempts"]} == set(security.HARMLESS)

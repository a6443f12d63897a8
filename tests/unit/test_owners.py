"""Scoped cleanup: every resource records its creator's uid; a cleanup removes only the caller's
own unless root asks for every user's (``virtlab cleanup --all-users``)."""

from __future__ import annotations

import os
import secrets
import xml.etree.ElementTree as ET

import pytest

from virtlab import LIBVIRT_METADATA_NS, cli, owners


def as_uid(monkeypatch: pytest.MonkeyPatch, uid: int) -> None:
    monkeypatch.setattr(owners.os, "geteuid", lambda: uid)


def test_unrecorded_resources_count_as_roots(monkeypatch):
    as_uid(monkeypatch, 0)
    assert owners.mine(None) and owners.mine("0") and not owners.mine("1001")
    as_uid(monkeypatch, 1001)
    assert owners.mine("1001") and owners.mine(1001)
    assert not owners.mine(None) and not owners.mine("0") and not owners.mine("1002")
    assert not owners.mine("garbage")  # not a uid: root's, not this learner's


def test_parse_uid():
    assert owners.parse_uid("42") == 42 and owners.parse_uid(7) == 7
    assert owners.parse_uid(True) is None and owners.parse_uid(-1) is None
    assert owners.parse_uid("x1") is None and owners.parse_uid(None) is None


def test_all_users_is_root_only(monkeypatch):
    as_uid(monkeypatch, 1001)
    with pytest.raises(owners.NotPermitted, match="needs root"), owners.all_users():
        pass
    assert owners.scope() == 1001


def test_all_users_widens_the_scope_for_root(monkeypatch):
    as_uid(monkeypatch, 0)
    with owners.all_users():
        assert owners.scope() is None and owners.mine("1001") and owners.mine(None)
    assert owners.scope() == 0 and not owners.mine("1001")


def test_cli_all_users_refused_for_a_learner(monkeypatch, capsys):
    as_uid(monkeypatch, 1001)
    assert cli.main(["cleanup", "--all-users"]) == 2
    err = capsys.readouterr().err
    assert "needs root" in err and "Traceback" not in err


def test_paths_and_processes_by_owner(tmp_path, monkeypatch):
    f = tmp_path / "vl-x"
    f.mkdir()
    as_uid(monkeypatch, os.stat(f).st_uid)
    assert owners.path_is_mine(f) and owners.process_is_mine(os.getpid()) == (os.getuid() == os.stat(f).st_uid)
    assert not owners.path_is_mine(tmp_path / "gone")
    as_uid(monkeypatch, os.stat(f).st_uid + 4242)
    assert not owners.path_is_mine(f) and not owners.process_is_mine(os.getpid())


def test_lxd_config_records_the_creator(monkeypatch):
    as_uid(monkeypatch, 1234)
    assert owners.uid_config() == {"user.virtlab.uid": "1234"}


libvirt = pytest.importorskip("libvirt")


def test_libvirt_xml_records_the_creator(monkeypatch):
    from virtlab import virt

    as_uid(monkeypatch, 1234)
    root = ET.fromstring(virt.DomainSpec(name="vl-own").to_xml(domain_type="test"))
    el = root.find(f"metadata/{{{LIBVIRT_METADATA_NS}}}owner")
    assert el is not None and el.get("uid") == "1234"


def test_virt_cleanup_removes_only_the_callers_domains(monkeypatch):
    """Two 'learners' (uids) define domains on one libvirt connection (test:///default is
    in-process); each one's cleanup removes its own only; root's --all-users removes both."""
    from virtlab import virt

    tag = f"vl-own{secrets.token_hex(2)}"
    conn = libvirt.open("test:///default")
    as_uid(monkeypatch, 2001)
    virt.define_domain(virt.DomainSpec(name=f"{tag}-a"), uri="test:///default")
    as_uid(monkeypatch, 2002)
    virt.define_domain(virt.DomainSpec(name=f"{tag}-b"), uri="test:///default")
    try:
        as_uid(monkeypatch, 2001)
        removed = virt.cleanup(("test:///default",), prefix=tag)
        names = {d.name() for d in conn.listAllDomains()}
        assert f"{tag}-a" not in names and f"{tag}-b" in names
        assert removed == [f"domain {tag}-a (test:///default)"]
        as_uid(monkeypatch, 0)
        assert virt.cleanup(("test:///default",), prefix=tag) == []  # root's own: none
        with owners.all_users():
            assert virt.cleanup(("test:///default",), prefix=tag) == [f"domain {tag}-b (test:///default)"]
    finally:
        for d in conn.listAllDomains():
            if d.name().startswith(tag):
                d.undefine()

"""The widgets of episodes 01-02 are thin views: test the model functions under them."""

from __future__ import annotations

import pytest

from virtlab import modes
from virtlab.widgets import cpu_quota, namespace_explorer


def test_table_html_escapes_and_highlights():
    html = namespace_explorer.table_html([("hostname", "<h>", "c", False), ("uid", "0", "0", True)])
    assert "&lt;h&gt;" in html and html.count("background") == 1


def test_explore_rejects_unknown_types():
    with pytest.raises(ValueError, match="unknown namespace type"):
        namespace_explorer.explore(["uts", "wifi"])


def test_share_for_uses_recording_then_model(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    rec = {"rows": [{"quota": 0.5, "share": 0.48}]}
    assert cpu_quota.share_for(0.5, rec) == (0.48, "recorded measurement")
    assert cpu_quota.share_for(0.3, rec) == (0.3, "model (no cgroups here)")
    assert modes.resolve("cgroups").mode == "recorded"
    with pytest.raises(ValueError):
        cpu_quota.share_for(0, rec)

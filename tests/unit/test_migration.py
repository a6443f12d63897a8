"""The pre-copy model against its definition and against Clark et al. (NSDI'05)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from virtlab import migration as mig

pos = st.floats(min_value=1, max_value=20000, allow_nan=False)


def test_idle_guest_needs_one_round_and_almost_no_downtime():
    m = mig.precopy(1024, 0, 100)
    assert m.precopy_rounds == 1 and m.downtime_s == 0 and m.converged
    assert m.total_s == pytest.approx(10.24)


def test_dirty_rate_at_or_above_bandwidth_diverges():
    m = mig.precopy(512, 200, 100)
    assert not m.converged and mig.diverges(200, 100)
    assert m.downtime_s >= 512 / 100 * 0.99  # the whole memory again, with the VM paused
    assert "shrinking" in m.stop_reason


def test_clark_scenarios_land_near_the_published_downtimes():
    for name, measured in mig.CLARK_MEASURED_DOWNTIME_MS.items():
        m = mig.precopy(**mig.CLARK_SCENARIOS[name])
        assert m.converged
        assert measured / 2 <= m.downtime_s * 1000 <= measured * 2, name
    # MMuncher: pre-copy cannot keep up, the stop-and-copy is seconds long
    bad = mig.precopy(**mig.CLARK_SCENARIOS["mmuncher"])
    assert not bad.converged and bad.downtime_s > 1


def test_qemu_style_downtime_limit_stops_early():
    free = mig.precopy(4096, 20, 100, wws_mib=1)
    limited = mig.precopy(4096, 20, 100, wws_mib=1, max_downtime_s=0.3)
    assert limited.downtime_s <= 0.3 and limited.precopy_rounds <= free.precopy_rounds


@settings(max_examples=200, deadline=None)
@given(mem=pos, dirty=st.floats(min_value=0, max_value=5000), bw=pos,
       wws=st.floats(min_value=0, max_value=20000))
def test_invariants(mem, dirty, bw, wws):
    m = mig.precopy(mem, dirty, bw, wws_mib=wws)
    assert m.rounds[0].sent_mib == mem
    assert m.sent_mib <= 4 * mem + 1e-6  # Xen's 3x rule plus the final copy
    assert m.downtime_s <= m.total_s + 1e-9
    assert m.downtime_s == pytest.approx(m.rounds[-1].dirtied_mib / bw)
    assert m.converged == (dirty < bw)
    assert all(math.isfinite(r.seconds) for r in m.rounds)


@settings(max_examples=100, deadline=None)
@given(mem=st.floats(min_value=256, max_value=16384), wws=st.floats(min_value=1, max_value=128),
       bw=st.floats(min_value=50, max_value=2000), factor=st.floats(min_value=1.1, max_value=10))
def test_more_bandwidth_never_means_more_downtime(mem, wws, bw, factor):
    dirty = bw / 4
    assume(wws < mem)
    slow = mig.precopy(mem, dirty, bw, wws_mib=wws)
    fast = mig.precopy(mem, dirty, bw * factor, wws_mib=wws)
    assert fast.downtime_s <= slow.downtime_s + 1e-9


@pytest.mark.parametrize("args", [(0, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, 0), (float("nan"), 1, 1),
                                  (1, float("inf"), 1), ("8G", 1, 1), (True, 1, 1)])
def test_bad_input_is_rejected(args):
    with pytest.raises(ValueError):
        mig.precopy(*args)


def test_table_and_units():
    assert mig.mbit(1000) == pytest.approx(119.2, abs=0.05)
    text = mig.table(mig.precopy(**mig.CLARK_SCENARIOS["quake3"]))
    assert "stop-and-copy" in text and "downtime" in text and "converged: True" in text


def test_widget_model_figure_and_alt_text():
    pytest.importorskip("matplotlib")
    from virtlab.widgets import migration as w

    m = mig.precopy(**mig.CLARK_SCENARIOS["specweb"])
    fig = w.figure(m)
    assert len(fig.axes[0].patches) == m.precopy_rounds + 1
    assert "stop-and-copy" in w.alt_text(m)
    pytest.importorskip("ipywidgets")
    box = w.migration_widget()
    assert len(box.children) == 3
    html = box.children[2].value  # the table and the chart, with its alt text, in one HTML
    assert "converged: True" in html and 'alt="Bar chart of MiB sent' in html
    assert "data:image/png;base64," in html and "cannot converge" not in html
    assert "cannot converge" in w.render(800, 200, 59.6, 12)


def test_episode_06_downtime_check(capsys):
    from virtlab.checks import ep06

    want = mig.precopy(8192, 50, mig.mbit(10_000), wws_mib=64).downtime_s * 1000
    assert ep06.check_downtime(want) and ep06.check_downtime(round(want))
    assert not ep06.check_downtime(want * 2) and not ep06.check_downtime("fast")
    assert not ep06.check_downtime(None)

"""The course's widgets in a real browser, driven like a learner.

`make lab` (the real server: 127.0.0.1, a token) with its settings and workspaces isolated; each
test opens a widget notebook, waits for the kernel, runs all cells through the Run menu, moves
the widget's controls and checks that what the kernel computed is what the page shows — the
expected text comes from the same pure model functions, called here. A widget whose kernel
callback breaks leaves its output unchanged, and the test fails at the redraw deadline.
Kernels run with VIRTLAB_MODE=embedded (the widgets are views over pure models).

Every interaction is also timed (input event -> first animation frame after the expected
redraw); the figures are written to widget-latency.json (in $VIRTLAB_BENCH_DIR, else the test's
tmp dir) and printed. They are a benchmark, not an assertion.
"""

from __future__ import annotations

import html
import json
import os
import re
import statistics
from pathlib import Path

import pytest
from widgetlib import (
    arm,
    control,
    nudge_slider,
    open_notebook,
    redraw_ms,
    run_all,
    type_in_readout,
    wait_idle,
)

from virtlab import bench, cgroups, density, migration, modes, security
from virtlab.widgets import migration as mw
from virtlab.widgets.decision import DecisionWidget
from virtlab.widgets.density import DensityWidget

pytestmark = pytest.mark.slow
LATENCY: dict[str, list[float]] = {}


@pytest.fixture(scope="module", autouse=True)
def latency_report(tmp_path_factory):
    """After the module: medians per widget, to widget-latency.json and stdout."""
    yield
    if not LATENCY:
        return
    out_dir = Path(os.environ.get("VIRTLAB_BENCH_DIR") or tmp_path_factory.mktemp("bench"))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {name: {"median_ms": round(statistics.median(v), 1), "max_ms": round(max(v), 1),
                     "n": len(v), "samples_ms": [round(x, 1) for x in v]}
              for name, v in LATENCY.items()}
    (out_dir / "widget-latency.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n[bench] interaction -> visible redraw, {out_dir / 'widget-latency.json'}")
    for name, r in report.items():
        print(f"[bench] {name:<20} median {r['median_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms"
              f"  (n={r['n']})")


def timed(page, name: str) -> float:
    ms = redraw_ms(page)
    LATENCY.setdefault(name, []).append(ms)
    return ms


def ready(page, lab, name: str) -> None:
    open_notebook(page, lab, name)
    run_all(page)
    wait_idle(page)


def output_beside(page, label: str, kind: str = "widget-html"):
    """The output (an HTML or Output widget) in the same box as the control labelled ``label``."""
    return page.locator(f".widget-box:has(label:text-is('{label}')) > .{kind}").first


def text_of(model_html: str) -> list[str]:
    """The non-empty lines a model's HTML shows, as text (tags dropped, entities decoded)."""
    return [ln.strip() for ln in html.unescape(re.sub(r"<[^>]+>", "", model_html)).splitlines()
            if ln.strip()]


def shows(out, lines: list[str]) -> None:
    text = out.inner_text()
    missing = [ln for ln in lines if ln not in text]
    assert not missing, f"the page does not show {missing[:3]!r}; it shows:\n{text[:1500]}"


def test_lab_ships_the_windowing_mode_that_keeps_widget_views(lab):
    """make lab's overrides.json: off-screen cells stay attached (their widget views live on)."""
    r = lab.get("/lab/api/settings/@jupyterlab/notebook-extension:tracker")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["schema"]["properties"]["windowingMode"]["default"] == "defer"
    r = lab.get("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert r.json()["schema"]["properties"]["fetchNews"]["default"] == "false"


def test_namespace_explorer(page, lab):
    ready(page, lab, "01-namespaces.ipynb")
    out = page.locator(".widget-box:has(> .widget-button) > .widget-html").first
    run = page.get_by_role("button", name="run a child")
    run.scroll_into_view_if_needed()
    shows(out, ["vl-inside"])  # uts is ticked by default: the child has its own hostname
    uts = control(page, "uts", "checkbox").locator("input")
    control(page, "net", "checkbox").locator("input").check()
    for own_uts in (False, True, False, True):
        uts.set_checked(own_uts)
        arm(out, "vl-inside" if own_uts else None)
        run.click()
        timed(page, "namespace explorer")
        assert ("vl-inside" in out.inner_text()) == own_uts
        row = out.locator("tr:has(td:text-is('network interfaces')) td").all_inner_texts()
        assert row[2] == "lo" and row[1] != "lo", row  # net ticked: only loopback inside


def test_cpu_quota_slider(page, lab, monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    rows = modes.load_recording("cgroups.cpu_quota")["data"]["rows"]
    recorded = {round(r["quota"], 2): r["share"] for r in rows}
    ready(page, lab, "02-cgroups.ipynb")
    slider = control(page, "quota (CPUs)", "slider")
    slider.scroll_into_view_if_needed()
    out = page.locator(".widget-vbox:has(> .widget-slider label:text-is('quota (CPUs)'))"
                       " > .widget-html").first
    shows(out, [f"{recorded[0.5]:.2f} CPU (recorded measurement)"])
    quota = 0.5
    for key in ["ArrowRight"] * 3 + ["ArrowLeft"] * 3:  # 0.55 0.6 0.65 0.6 0.55 0.5
        quota = round(quota + (0.05 if key == "ArrowRight" else -0.05), 2)
        want = (f"{recorded[quota]:.2f} CPU (recorded measurement)" if quota in recorded
                else f"{cgroups.expected_share(quota):.2f} CPU (model (no cgroups here))")
        slider.locator(".noUi-handle").focus()
        arm(out, want)
        page.keyboard.press(key)
        timed(page, "cpu quota")
        shows(out, [want])
    type_in_readout(page, slider, 0.25)
    arm(out, f"{recorded[0.25]:.2f} CPU (recorded measurement)")
    page.keyboard.press("Enter")
    timed(page, "cpu quota")


def test_migration_widget(page, lab):
    ready(page, lab, "06-libvirt.ipynb")
    dirty = control(page, "dirty MiB/s", "slider")
    dirty.scroll_into_view_if_needed()
    out = output_beside(page, "dirty MiB/s")
    bw = round(migration.mbit(500), 1)
    shows(out, [ln.strip() for ln in migration.table(migration.precopy(800, 5, bw, wws_mib=12)).splitlines()])
    alt0 = out.locator("img").get_attribute("alt")
    for rate in (20, 40, 58, 120):  # each gives a different table (58 < link < 120)
        m = migration.precopy(800, rate, bw, wws_mib=12)
        lines = migration.table(m).splitlines()
        type_in_readout(page, dirty, rate)
        arm(out, lines[-1], img=True)  # the table's last line and a new figure
        page.keyboard.press("Enter")
        timed(page, "migration (plot)")
        shows(out, [ln.strip() for ln in lines])
        assert ("cannot converge" in out.inner_text()) == migration.diverges(rate, bw)
        assert out.locator("img").get_attribute("alt") == mw.alt_text(m)
    assert out.locator("img").get_attribute("alt") != alt0
    nudge_slider(page, control(page, "memory MiB", "slider"))  # focus the handle
    arm(out, "832.0", img=True)  # one step: 800 -> 832 MiB
    page.keyboard.press("ArrowRight")
    timed(page, "migration (plot)")


def test_threat_widget(page, lab):
    ready(page, lab, "07-isolation-security.ipynb")
    dd = control(page, "threat", "dropdown")
    dd.scroll_into_view_if_needed()
    out = output_beside(page, "threat")
    assert dd.locator("select").input_value() == security.threats()[0]
    for threat in security.threats()[1:] + security.threats()[:1]:
        rows = security.assess(threat)
        arm(out, rows[0]["why"])
        dd.locator("select").select_option(threat)
        timed(page, "threats")
        text = out.inner_text()
        for r in rows:
            assert r["boundary"] in text and r["verdict"] in text and r["why"] in text


def test_density_and_decision_widgets(page, lab):
    ready(page, lab, "09-choosing.ipynb")
    # density: the same widget, built here over the same reference overheads
    ov = density.overheads_from_bench(bench.medians(bench.reference()),
                                      container_os_mib=density.full_os_container_mib())
    model = DensityWidget(overheads=ov)
    ram = control(page, "host RAM (MiB)", "slider")
    ram.scroll_into_view_if_needed()
    out = output_beside(page, "host RAM (MiB)")
    shows(out, text_of(model.render()))
    for mib in (4096, 8192, 65536, 2048, 24576):
        model.controls["host_ram_mib"].value = mib
        want = text_of(model.render())
        type_in_readout(page, ram, mib)
        arm(out, want[2])
        page.keyboard.press("Enter")
        timed(page, "density")
        shows(out, want)
    # decision: dropdowns and checkboxes
    model = DecisionWidget()
    iso = control(page, "isolation needed", "dropdown")
    iso.scroll_into_view_if_needed()
    out = output_beside(page, "isolation needed")
    shows(out, text_of(model.render()))
    steps = [("isolation", "hostile-tenants"), ("os_mix", "windows-or-bsd"),
             ("live_migration", True), ("isolation", "trusted"), ("os_mix", "same-linux")]
    for name, value in steps:
        model.controls[name].value = value
        want = text_of(model.render())
        arm(out, want[0])
        if name == "live_migration":
            control(page, "live migration required", "checkbox").locator("input").check()
        else:
            label = {"isolation": "isolation needed", "os_mix": "OS mix"}[name]
            control(page, label, "dropdown").locator("select").select_option(value)
        timed(page, "decision")
        shows(out, want)

"""Driving the course's widgets in JupyterLab like a learner: open, run, move, look.

Shared by the browser tests and the redraw-latency benchmark (tools/bench_widgets.py).
Every wait has a deadline (Playwright timeouts).
"""

from __future__ import annotations

import re
import time
from typing import Any

KERNEL_DEADLINE_MS = 120_000  # kernel start + "Run All Cells" of one notebook on 2 busy cores
REDRAW_DEADLINE_MS = 20_000  # one control change -> kernel -> redrawn output

# Installed before an interaction: the time of the first input event (capture phase, so before
# any widget handler) and the time of the first animation frame after the watched output
# changed in the way the test expects — "interaction -> visible redraw".
ARM_JS = """
([el, want, img]) => {
  const st = {t0: null, t1: null};
  const before = el.innerText;
  const beforeImg = img ? (el.querySelector('img') || {}).src : null;
  window.__vl = st;
  const mark = () => { if (st.t0 === null) st.t0 = performance.now(); };
  for (const ev of ['keydown', 'pointerdown', 'mousedown', 'input', 'change'])
    document.addEventListener(ev, mark, {capture: true});
  const done = () => {
    const txt = el.innerText;
    if (txt === before && !img) return false;
    if (want && !txt.includes(want)) return false;
    if (img) {
      const i = el.querySelector('img');
      if (!i || i.src === beforeImg || !i.complete) return false;
    }
    return true;
  };
  const obs = new MutationObserver(() => {
    if (st.t1 === null && done()) {
      obs.disconnect();
      requestAnimationFrame(() => { st.t1 = performance.now(); });
    }
  });
  obs.observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def open_notebook(page: Any, lab: Any, name: str) -> None:
    """Open ``notebooks/<name>`` in a fresh workspace and wait until its kernel is idle
    (answering JupyterLab's "Select Kernel" dialog with the notebook's own kernel if asked)."""
    page.goto(f"{lab.base}/lab/tree/notebooks/{name}?reset&token={lab.token}")
    page.locator(".jp-Notebook").first.wait_for(state="visible", timeout=60_000)
    deadline = time.monotonic() + KERNEL_DEADLINE_MS / 1000
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            dialog.get_by_role("button", name="Select", exact=True).click()
        sessions = lab.get("/api/sessions").json()
        if any(s["path"].endswith(name) and s["kernel"]["execution_state"] == "idle"
               for s in sessions) and page.locator(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            return
        time.sleep(0.25)
    raise AssertionError(f"the kernel of {name} did not become idle")


def run_all(page: Any) -> None:
    """Run > Run All Cells through the menu, as a learner does."""
    # The committed outputs carry execution counts already: wait for the run to touch a prompt
    # ([*], then a count), so that "idle" afterwards means "all cells ran", not "nothing started
    # yet". A MutationObserver sees even a [*] that comes and goes between two polls (polling for
    # it alone timed out once in a loaded run).
    page.evaluate("""() => {
      window.__vlRan = false;
      const inPrompt = n => (n.nodeType === 3 ? n.parentElement : n)?.closest?.('.jp-InputArea-prompt');
      new MutationObserver(ms => { if (ms.some(m => inPrompt(m.target))) window.__vlRan = true; })
        .observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    page.wait_for_function(
        "() => window.__vlRan || [...document.querySelectorAll('.jp-InputArea-prompt')]"
        ".some(p => p.innerText.includes('*'))", timeout=30_000, polling=50)


def wait_idle(page: Any) -> None:
    """Wait until no cell is queued or running (no ``[*]`` prompt) and the kernel is idle."""
    page.wait_for_function(
        """() => {
          const busy = [...document.querySelectorAll('.jp-InputArea-prompt')]
            .some(p => p.innerText.includes('*'));
          const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
          return !busy && ind && ind.dataset.status === 'idle';
        }""", timeout=KERNEL_DEADLINE_MS, polling=250)


def control(page: Any, description: str, kind: str) -> Any:
    """The ipywidgets control whose description is ``description`` (kind: slider, dropdown,
    checkbox)."""
    cls = {"slider": ".widget-slider", "dropdown": ".widget-dropdown",
           "checkbox": ".widget-checkbox"}[kind]
    return page.locator(f"{cls}:has(> label.widget-label:text-is('{description}'))"
                        if kind != "checkbox" else
                        f"{cls}:has(label.widget-label-basic:has-text('{description}'))").first


def arm(output: Any, want: str | None = None, img: bool = False) -> None:
    """Start watching ``output`` (a locator) for the redraw the next interaction should cause:
    its text changes (and contains ``want``), and with ``img`` its image is replaced."""
    output.evaluate(f"(el, arg) => ({ARM_JS})([el, arg[0], arg[1]])", [want, img])


def redraw_ms(page: Any) -> float:
    """Wait for the armed redraw; return input event -> first frame after the redraw (ms)."""
    page.wait_for_function("() => window.__vl && window.__vl.t1 !== null",
                           timeout=REDRAW_DEADLINE_MS, polling="raf")
    t0, t1 = page.evaluate("() => [window.__vl.t0, window.__vl.t1]")
    assert t0 is not None, "the redraw happened without an input event"
    return t1 - t0


def type_in_readout(page: Any, slider: Any, value: float) -> None:
    """Type ``value`` into a slider's readout (press Enter afterwards to send it)."""
    slider.locator(".widget-readout").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(f"{value:g}")


def nudge_slider(page: Any, slider: Any, key: str = "ArrowRight", times: int = 0) -> None:
    """Focus a slider's handle and press ``key`` ``times`` times (0: only focus it)."""
    slider.locator(".noUi-handle").focus()
    for _ in range(times):
        page.keyboard.press(key)

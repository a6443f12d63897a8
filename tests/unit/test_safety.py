"""virtlab.safety: names, sizes, deadlines, cleanup."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtlab import safety


@pytest.mark.parametrize("bad", ["Web", "web_1", "a" * 70, "web;rm -rf /", "", "web-",
                                 "we--b", "web 1", "$(id)", "../etc", "web\n", "\n"])
def test_bad_names_are_refused(bad):
    with pytest.raises(ValueError, match="name"):
        safety.course_name(bad)


def test_names_get_the_prefix_once():
    assert safety.course_name("web1") == "vl-web1"
    assert safety.course_name("vl-web1") == "vl-web1"
    assert safety.is_course_name("vl-web1") and not safety.is_course_name("web1")


@given(st.text(max_size=50))
def test_any_accepted_name_is_safe(name):
    try:
        full = safety.course_name(name)
    except ValueError:
        return
    assert full.startswith("vl-") and len(full) <= safety.MAX_NAME
    assert set(full) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


@pytest.mark.parametrize("text,n", [("64MiB", 64 * 2**20), ("1G", 10**9), ("512k", 512000),
                                    ("1.5GiB", int(1.5 * 2**30)), (4096, 4096)])
def test_sizes(text, n):
    assert safety.parse_size(text) == n


@pytest.mark.parametrize("bad", ["-1MiB", "lots", "64 MB of RAM", True, None, 0, 10**15])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        safety.parse_size(bad)


def test_deadline_raises_a_named_timeout():
    d = safety.Deadline(0.05, "boot of vl-test", hint="check the serial log")
    with pytest.raises(safety.DeadlineExceeded) as e:
        d.wait_for(lambda: False, interval=0.01)
    assert "boot of vl-test" in str(e.value) and "serial log" in str(e.value)
    assert isinstance(e.value, TimeoutError)


def test_deadline_returns_the_value():
    t0 = time.monotonic()
    assert safety.Deadline(5, "x").wait_for(lambda: time.monotonic() - t0 > 0.02 and "ok") == "ok"


def test_cleanup_runs_every_step_and_raises_once():
    ran = []

    def boom():
        ran.append("boom")
        raise OSError("busy")

    with pytest.raises(safety.CleanupErrors) as e:
        safety.cleanup_all([("a", lambda: ran.append("a")), ("b", boom), ("c", lambda: ran.append("c"))])
    assert ran == ["a", "boom", "c"]
    assert "b: busy" in str(e.value)

"""`make app`'s command line: 127.0.0.1, Voilà's token switched on, the token itself only in the
environment."""

from __future__ import annotations

import pytest

from virtlab import appserver


def test_command_binds_loopback_and_enables_the_token_without_carrying_it():
    cmd = appserver.app_command(8866)
    assert "--Voila.ip=127.0.0.1" in cmd and "--Voila.auto_token=True" in cmd
    assert cmd[-6].endswith("apps/decision.ipynb") and (appserver.ROOT / appserver.APP).exists()
    env = appserver.app_env("t" * 32, {"PATH": "/bin", "JUPYTER_TOKEN_FILE": "/x"})
    assert env["JUPYTER_TOKEN"] == "t" * 32 and "JUPYTER_TOKEN_FILE" not in env
    assert not any("t" * 32 in part for part in cmd)


def test_bad_port_and_short_token_are_refused():
    with pytest.raises(ValueError, match="port"):
        appserver.app_command(0)
    with pytest.raises(ValueError, match="16 characters"):
        appserver.app_env("short", {})

"""`make lab` serves JupyterLab on 127.0.0.1 with a token (the real command, started and stopped)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from virtlab import labserver

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_command_binds_loopback_and_the_token_goes_in_the_environment():
    cmd = labserver.lab_command(8888)
    assert "--ip=127.0.0.1" in cmd and not any("token" in c.lower() for c in cmd)
    env = labserver.lab_env("x" * 32, {"PATH": "/bin", "VIRTLAB_LAB_TOKEN": "x" * 32})
    assert env == {"PATH": "/bin", "JUPYTER_TOKEN": "x" * 32}
    with pytest.raises(ValueError, match="token"):
        labserver.lab_env("short")
    with pytest.raises(ValueError, match="port"):
        labserver.lab_command(70000)


def session_cmdlines(sid: int) -> dict[int, str]:
    """The command line of every process in session ``sid`` (make, the shell, JupyterLab ...)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # field 6 of stat: the session id
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return out


@pytest.mark.slow
def test_make_lab_serves_with_token_only_on_loopback():
    port, token = free_port(), secrets.token_hex(16)
    # -o: never re-run set-up (pip) from inside a test, even when its stamp is stale
    stamp = f"{os.environ.get('VENV', '.venv')}/.virtlab-setup"
    proc = subprocess.Popen(["make", "-s", "-o", stamp, "lab", f"LAB_PORT={port}"], cwd=ROOT,
                            env={**os.environ, "VIRTLAB_LAB_TOKEN": token},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                ok = requests.get(f"{base}/api/status", params={"token": token}, timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not come up: " + (proc.stdout.read() if proc.poll() is not None else "timeout")) from None
                time.sleep(0.5)
        assert ok.status_code == 200 and "started" in ok.json()
        assert requests.get(f"{base}/api/status", timeout=5).status_code == 403
        assert requests.get(f"{base}/api/status", params={"token": "wrong" + token}, timeout=5).status_code == 403
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = {line.split()[3] for line in listening.splitlines() if line.strip()}
        assert local == {f"127.0.0.1:{port}"}, local
        # the token is on no command line: `ps` shows those to every local user
        cmdlines = session_cmdlines(proc.pid)
        assert any("jupyterlab" in c for c in cmdlines.values()), cmdlines
        assert not [c for c in cmdlines.values() if token in c]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = proc.stdout.read()
    assert f"127.0.0.1:{port}/lab/tree/notebooks/00-start-here.ipynb?token={token}" in out

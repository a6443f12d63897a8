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


def test_command_binds_loopback_with_a_token():
    cmd = labserver.lab_command(8888, "x" * 32)
    assert "--ip=127.0.0.1" in cmd and "--IdentityProvider.token=" + "x" * 32 in cmd
    with pytest.raises(ValueError, match="token"):
        labserver.lab_command(8888, "short")
    with pytest.raises(ValueError, match="port"):
        labserver.lab_command(70000, "x" * 32)


@pytest.mark.slow
def test_make_lab_serves_with_token_only_on_loopback():
    port, token = free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_PORT={port}", f"LAB_TOKEN={token}"], cwd=ROOT,
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
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = proc.stdout.read()
    assert f"127.0.0.1:{port}/lab/tree/notebooks/00-start-here.ipynb?token={token}" in out

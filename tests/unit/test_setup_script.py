"""tools/setup.sh fails loudly when pip fails, and scopes the policy-rc.d it may create.

The venv under test is a scratch one that can already import the course's packages (through a
.pth pointing at this environment), so only pip's own failure can make set-up fail: pip is sent
to a closed loopback port with no config files, so it cannot fetch the build backend.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "tools/setup.sh"
pytestmark = pytest.mark.slow  # each run of pip takes a few seconds


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def scratch_venv(tmp_path_factory) -> Path:
    """A venv whose python imports virtlab, jupyterlab, ... and pip from this environment.

    ``--without-pip``: ensurepip took 4.7 s of this module's 15 s; set-up runs ``python -m pip``,
    which finds this environment's pip through the .pth and installs into the scratch venv."""
    venv = tmp_path_factory.mktemp("setup") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = next(venv.glob("lib/python3*/site-packages"))
    outer = sysconfig.get_paths()["purelib"]
    (site / "vl_outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    return venv


def fake_bin(tmp: Path, **tools: str) -> Path:
    d = tmp / "bin"
    d.mkdir(exist_ok=True)
    for name, body in tools.items():
        (d / name).write_text("#!/bin/bash\n" + body + "\n")
        (d / name).chmod(0o755)
    return d


def run_setup(venv: Path, bindir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    base.update({"PATH": f"{bindir}:{os.environ['PATH']}", "PIP_CONFIG_FILE": os.devnull,
                 "PIP_INDEX_URL": f"http://127.0.0.1:{closed_port()}/simple",
                 "PIP_RETRIES": "0", "PIP_DEFAULT_TIMEOUT": "5", "PIP_NO_CACHE_DIR": "1"}, **env)
    return subprocess.run(["bash", str(SETUP), str(venv)], cwd=ROOT, env=base,
                           capture_output=True, text=True, timeout=300)


def test_setup_fails_when_pip_fails(scratch_venv, tmp_path):
    check = subprocess.run([scratch_venv / "bin/python", "-c", "import virtlab, jupyterlab, "
                            "ipywidgets, nbval, pylxd"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr  # so only pip can fail here
    # libvirt headers "present": no apt-get step
    bindir = fake_bin(tmp_path, **{"pkg-config": "exit 0", "gcc": "exit 0"})
    r = run_setup(scratch_venv, bindir)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "pip could not install the course package" in r.stderr
    assert "ERROR" in out.replace("[setup] ERROR", "")  # pip's own message is shown
    assert not (scratch_venv / ".virtlab-setup").exists()


APT_GET = ('if [ "$1" = install ]; then\n'
           '  if [ -x "$VIRTLAB_POLICY_RC" ]; then echo present; else echo absent; fi >> "$APT_LOG"\n'
           '  exit "${APT_INSTALL_EXIT:-0}"\n'
           'fi')


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(),
                    reason="with systemd, set-up needs no policy-rc.d")
@pytest.mark.parametrize("install_exit", [0, 100], ids=["install-ok", "install-fails"])
def test_setup_policy_rc_only_while_packages_install(scratch_venv, tmp_path, install_exit):
    policy = tmp_path / "policy-rc.d"
    # no libvirt headers, "root" with apt-get: set-up installs system packages (stand-ins)
    bindir = fake_bin(tmp_path, **{"pkg-config": "exit 1", "id": "echo 0", "apt-get": APT_GET})
    r = run_setup(scratch_venv, bindir, VIRTLAB_POLICY_RC=str(policy),
                  APT_LOG=str(tmp_path / "apt.log"), APT_INSTALL_EXIT=str(install_exit))
    assert r.returncode != 0  # pip fails afterwards (closed index) or apt-get did
    assert (tmp_path / "apt.log").read_text().split() == ["present"]
    assert not policy.exists()


def test_setup_keeps_a_policy_rc_it_did_not_create(scratch_venv, tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    bindir = fake_bin(tmp_path, **{"pkg-config": "exit 1", "id": "echo 0", "apt-get": APT_GET})
    run_setup(scratch_venv, bindir, VIRTLAB_POLICY_RC=str(policy), APT_LOG=str(tmp_path / "apt.log"))
    assert (tmp_path / "apt.log").read_text().split() == ["present"]
    assert policy.read_text() == "#!/bin/sh\nexit 101\n"

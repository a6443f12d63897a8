"""The provisioning scripts, without provisioning anything.

* every repo command a provisioning hint names exists (CLI subcommand, module with a main, make
  target, script);
* the policy-rc.d that keeps package scripts from starting services (no init system) exists only
  while packages install: created if absent, removed on exit, never one that was there before.
  Tested at a scratch path (VIRTLAB_POLICY_RC) with stand-in apt-get / dpkg-query commands — the
  real /usr/sbin/policy-rc.d is never touched.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROVISION = [ROOT / "labs/lab-vm/provision.sh",
             *sorted((ROOT / "labs/lab-vm/provision.d").glob("*.sh"))]


# --------------------------------------------------------------------------- hints
def hint_commands(text: str) -> list[str]:
    """Commands a script shows the reader: `backticked` and after "run:" up to the bracket."""
    found = re.findall(r"`([^`\n]+)`", text)
    found += re.findall(r"\brun: ([^)\"\n]+)", text)
    return [c.strip() for c in found]


def repo_argv(cmd: str) -> list[str] | None:
    """The command as argv if it names something of this repository, else None (an OS tool)."""
    argv = shlex.split(cmd)
    while argv and (argv[0] in ("sudo", "env") or re.fullmatch(r"[A-Z_]+=\S*", argv[0])):
        argv.pop(0)
    if not argv:
        return None
    if argv[0] in ("virtlab", "make") or re.search(r"python3?$", argv[0]) and argv[1:2] == ["-m"]:
        return argv
    if "/" in argv[0] and argv[0].endswith(".sh"):
        return argv
    return None


def check_repo_command(argv: list[str]) -> None:
    if argv[0] == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
        assert set(argv[1:]) <= targets, f"make {' '.join(argv[1:])}: no such target ({targets})"
        return
    if argv[0].endswith(".sh"):
        path = argv[0].replace("$HERE", str(ROOT / "labs/lab-vm")).replace("$REPO", str(ROOT))
        assert (ROOT / path).exists(), f"{argv[0]}: no such script"
        return
    module = "virtlab.cli" if argv[0] == "virtlab" else argv[2]
    args = argv[1:] if argv[0] == "virtlab" else argv[3:]
    assert module.startswith("virtlab"), f"{module}: not a course module"
    # --help: argparse checks every subcommand and option given, then prints usage; a module
    # without a command line prints nothing
    r = subprocess.run([sys.executable, "-m", module, *args, "--help"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and "usage:" in r.stdout, (
        f"`{' '.join(argv)}` is not a command: {module} {' '.join(args)} --help gave "
        f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[-300:]!r}")


def test_hint_extraction_finds_the_repo_commands():
    cmds = [c for s in PROVISION for c in hint_commands(s.read_text())]
    argvs = [a for c in cmds if (a := repo_argv(c))]
    assert len(argvs) >= 3, cmds  # the test must have something to check
    assert repo_argv("sudo VIRTLAB_LXD_DEBIAN=1 virtlab images build --only lxd") == [
        "virtlab", "images", "build", "--only", "lxd"]
    assert repo_argv("journalctl -u libvirtd") is None


@pytest.mark.parametrize("script", PROVISION, ids=lambda p: p.name)
def test_every_command_a_provisioning_hint_names_exists(script):
    for cmd in hint_commands(script.read_text()):
        argv = repo_argv(cmd)
        if argv:
            check_repo_command(argv)


def test_a_wrong_hint_is_caught():
    with pytest.raises(AssertionError, match="not a command"):
        check_repo_command(["python3", "-m", "virtlab.virt", "build"])
    with pytest.raises(AssertionError, match="not a command"):
        check_repo_command(["virtlab", "images", "make"])


# --------------------------------------------------------------------------- policy-rc.d
def fake_bin(tmp: Path, **tools: str) -> Path:
    """A directory of stand-in commands (bash scripts) to put first on PATH."""
    d = tmp / "bin"
    d.mkdir(exist_ok=True)
    for name, body in tools.items():
        (d / name).write_text("#!/bin/bash\n" + body + "\n")
        (d / name).chmod(0o755)
    return d


# apt-get stand-in: writes whether the policy file is in force when packages install
APT_GET = ('if [ "$1" = install ]; then\n'
           '  if [ -x "$VIRTLAB_POLICY_RC" ]; then echo present; else echo absent; fi >> "$APT_LOG"\n'
           '  exit "${APT_INSTALL_EXIT:-0}"\n'
           'fi')


def run_apt_install(tmp: Path, policy: Path, *, install_exit: int = 0) -> subprocess.CompletedProcess:
    bindir = fake_bin(tmp, **{"apt-get": APT_GET, "dpkg-query": "exit 1"})
    script = (f". {shlex.quote(str(ROOT / 'labs/lab-vm/provision.d/common.sh'))}\n"
              "has_systemd() { return 1; }  # as on a machine without an init system\n"
              "apt_install vl-no-such-package\n"
              'if [ -x "$VIRTLAB_POLICY_RC" ]; then echo still-there; fi >> "$APT_LOG"\n')
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "VIRTLAB_POLICY_RC": str(policy),
           "APT_LOG": str(tmp / "apt.log"), "APT_INSTALL_EXIT": str(install_exit)}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)


def test_provisioning_policy_rc_exists_only_while_it_runs(tmp_path):
    policy = tmp_path / "policy-rc.d"
    r = run_apt_install(tmp_path, policy)
    assert r.returncode == 0, r.stderr
    # in force while packages install (and for the rest of the run), gone once the script ends
    assert (tmp_path / "apt.log").read_text().split() == ["present", "still-there"]
    assert not policy.exists()


def test_provisioning_policy_rc_removed_when_the_install_fails(tmp_path):
    policy = tmp_path / "policy-rc.d"
    r = run_apt_install(tmp_path, policy, install_exit=100)
    assert r.returncode != 0
    assert (tmp_path / "apt.log").read_text().split() == ["present"]
    assert not policy.exists()


def test_provisioning_keeps_a_policy_rc_it_did_not_create(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the admin's own\nexit 101\n")
    policy.chmod(0o755)
    r = run_apt_install(tmp_path, policy)
    assert r.returncode == 0, r.stderr
    assert policy.read_text() == "#!/bin/sh\n# the admin's own\nexit 101\n"

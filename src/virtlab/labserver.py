"""Start JupyterLab for the course: bound to 127.0.0.1, protected by a token, URL printed.

``make lab`` runs ``python -m virtlab.labserver``. On a lab VM, reach it through an SSH tunnel
(``ssh -L 8888:127.0.0.1:8888 learner@lab-vm``); it never listens on a public address.

The token never appears on a command line (every local user can read those with ``ps``): give it
as ``VIRTLAB_LAB_TOKEN`` and it reaches JupyterLab in its environment (``JUPYTER_TOKEN``), which
only the same user and root can read.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START = "notebooks/00-start-here.ipynb"
# JupyterLab defaults the course ships (overrides.json): notebook windowing "defer" keeps the views
# of off-screen cells (widgets survive scrolling in long notebooks); no news pop-up, no update check.
LAB_SETTINGS = Path(__file__).resolve().parent / "data" / "lab-settings"


def lab_command(port: int, root: Path = ROOT) -> list[str]:
    """The ``jupyter lab`` command line (no shell involved, no secret in it)."""
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1-65535)")
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0", "--no-browser",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.default_url=/lab/tree/{START}",
    ]
    cmd.append(f"--LabApp.app_settings_dir={LAB_SETTINGS}")
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab_env(token: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: ``base`` (default: ours) with the token as ``JUPYTER_TOKEN``."""
    if len(token) < 16:
        raise ValueError("the token must be at least 16 characters")
    env = dict(os.environ if base is None else base)
    env.pop("VIRTLAB_LAB_TOKEN", None)
    env["JUPYTER_TOKEN"] = token
    return env


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8888)
    ap.add_argument("--token", default=os.environ.get("VIRTLAB_LAB_TOKEN") or secrets.token_hex(24),
                    help="prefer the environment variable VIRTLAB_LAB_TOKEN: an option is "
                         "visible to every local user (ps) until JupyterLab starts")
    args = ap.parse_args(argv)
    try:
        cmd, env = lab_command(args.port), lab_env(args.token)
    except ValueError as err:
        print(f"make lab: {err}", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{args.port}/lab/tree/{START}?token={args.token}"
    print(f"[lab] JupyterLab on 127.0.0.1:{args.port} (token-protected). Open:\n\n    {url}\n", flush=True)
    print("[lab] On a lab VM, tunnel first: ssh -L "
          f"{args.port}:127.0.0.1:{args.port} <you>@<lab-vm>   (Ctrl-C stops the server)", flush=True)
    os.execve(cmd[0], cmd, env)
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main())

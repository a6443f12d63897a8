"""Serve the workshop app (apps/decision.ipynb: decision aid + density calculator) with Voilà.

``make app`` runs ``python -m virtlab.appserver``: 127.0.0.1 only, protected by a token. Voilà's
token is off by default; here it is on (``Voila.auto_token``) and the token itself travels in the
environment (``JUPYTER_TOKEN``, read by Jupyter Server's identity provider), never on a command
line where other users of the machine could read it in the process list.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from virtlab import modes

ROOT = Path(__file__).resolve().parents[2]
APP = "apps/decision.ipynb"


def app_command(port: int, root: Path = ROOT) -> list[str]:
    """The ``voila`` command line (no token in it; no shell involved)."""
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return [sys.executable, "-m", "voila", str(root / APP), "--Voila.ip=127.0.0.1",
            f"--port={port}", "--Voila.port_retries=0", "--no-browser", "--Voila.auto_token=True"]


def app_env(token: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment carrying the token (and the embedded mode: the app needs no daemon)."""
    if len(token) < 16:
        raise ValueError("the token must be at least 16 characters")
    env = dict(os.environ if base is None else base)
    env.pop("JUPYTER_TOKEN_FILE", None)
    env["JUPYTER_TOKEN"] = token
    env.setdefault(modes.ENV_VAR, "embedded")  # the app's kernels: set for them, never read here
    return env


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8866)
    args = ap.parse_args(argv)
    token = os.environ.get("VIRTLAB_APP_TOKEN") or secrets.token_hex(24)
    try:
        cmd, env = app_command(args.port), app_env(token)
    except ValueError as err:
        print(f"make app: {err}", file=sys.stderr)
        return 2
    print(f"[app] Voilà on 127.0.0.1:{args.port} (token-protected). Open:\n\n"
          f"    http://127.0.0.1:{args.port}/?token={token}\n", flush=True)
    os.execve(cmd[0], cmd, env)
    return 0  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main())

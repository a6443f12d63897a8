"""Regenerate the README's "Tested on" line from the probe (`make readme`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def main() -> int:
    line = subprocess.run([sys.executable, "-m", "virtlab.cli", "doctor", "--tested-on"],
                          capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    text = README.read_text()
    new = re.sub(r"<!-- tested-on -->.*?<!-- /tested-on -->",
                 f"<!-- tested-on -->\n{line}\n<!-- /tested-on -->", text, flags=re.S)
    README.write_text(new)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

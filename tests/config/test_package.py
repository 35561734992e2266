"""``boxwright.config`` re-exports its public names lazily and loads nothing it does not need."""

from __future__ import annotations

import subprocess
import sys


def test_auth_does_not_load_registries_or_tomllib() -> None:
    code = (
        "import sys, boxwright.config.auth, boxwright.config.certs;"
        "print(sorted(m for m in sys.modules if m in "
        "('boxwright.config.registries', 'tomllib', 'click', 'urllib3')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

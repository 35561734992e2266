"""httpx is imported without its command line and without the async libraries (fresh
interpreters), and those still load when something actually uses them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

PROBE = """
import sys
import boxwright.transport.registry.client
loaded = sorted(m for m in ("trio", "anyio", "rich", "pygments", "httpx._main") if m in sys.modules)
print(",".join(loaded) or "-")
"""


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_the_registry_client_loads_no_cli_and_no_async_library() -> None:
    assert _run(PROBE) == "-"


def test_httpx_main_still_runs_the_real_command() -> None:
    code = PROBE + (
        "import httpx\n"
        "try:\n"
        "    httpx.main(['--help'])\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code, 'rich' in sys.modules)\n"
    )
    lines = _run(code).splitlines()
    assert lines[0] == "-"
    assert any("Usage: httpx" in line for line in lines)
    assert lines[-1] == "exit 0 True"


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed")
def test_httpcore_gets_the_real_trio_on_first_use() -> None:
    code = PROBE + (
        "import httpcore._synchronization as s, trio\n"
        "lock = s.trio.Lock()\n"
        "print(type(lock) is trio.Lock, 'trio' in sys.modules)\n"
    )
    assert _run(code).splitlines() == ["-", "True True"]

"""The modules a build imports before it runs stages on threads.

A RUN forks; a child forked while another thread holds a module's import lock would wait for
it forever, so :func:`boxwright.build.executor._import_before_threads` imports, up front, every
module a RUN step (and the runtime's forked child) may import. The list is kept by hand in
``_FORK_SAFE_IMPORTS``. These tests fail when an entry no longer names a module (one renamed
or removed): such an entry would silently stop protecting the module that replaced it, so the
list must be corrected whenever modules move.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from boxwright.build.executor import _FORK_SAFE_IMPORTS


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package that is gone
        return False


def test_every_entry_names_an_existing_module() -> None:
    stale = [name for name in _FORK_SAFE_IMPORTS if not _exists(name)]
    assert stale == []


def test_a_stale_entry_is_seen() -> None:
    assert not _exists("boxwright.runtime.gone")
    assert not _exists("boxwright.gone.module")
    assert _exists("boxwright.runtime.native")


def test_no_entry_is_listed_twice() -> None:
    assert len(set(_FORK_SAFE_IMPORTS)) == len(_FORK_SAFE_IMPORTS)


def test_importing_them_loads_every_entry() -> None:
    probe = (
        "import sys\n"
        "from boxwright.build.executor import _FORK_SAFE_IMPORTS, _import_before_threads\n"
        "_import_before_threads()\n"
        "print(sorted(set(_FORK_SAFE_IMPORTS) - set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

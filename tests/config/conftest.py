"""Fixtures for the config tests: a private home and XDG tree, and a real credential helper."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_homes import FakeHelper, Home

_ENV_CLEARED = (
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "CONTAINERS_REGISTRIES_CONF",
    "BOXWRIGHT_ROOT",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """$HOME and $XDG_RUNTIME_DIR in tmp dirs; every variable that would redirect us cleared."""
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    fake_home = tmp_path / "home"
    runtime = tmp_path / "run"
    fake_home.mkdir()
    runtime.mkdir()
    monkeypatch.setenv("HOME", str(fake_home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return Home(fake_home, runtime)


_HELPER = """#!{python}
# A docker-credential-helpers protocol server keeping its secrets in a JSON file beside it.
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
db_path = os.path.join(here, "{name}.db.json")
log_path = os.path.join(here, "{name}.log")
db = json.load(open(db_path)) if os.path.exists(db_path) else {{}}
action = sys.argv[1]
data = sys.stdin.read()
with open(log_path, "a") as log:
    log.write(action + " " + (data if action != "store" else json.loads(data)["ServerURL"]) + "\\n")
if action == "get":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    if data == "broken.example":
        print("not json")
        sys.exit(0)
    print(json.dumps({{"ServerURL": data, **db[data]}}))
elif action == "store":
    entry = json.loads(data)
    if entry["ServerURL"] == "refuse.example":
        print("keychain locked", file=sys.stderr)
        sys.exit(3)
    db[entry["ServerURL"]] = {{"Username": entry["Username"], "Secret": entry["Secret"]}}
    json.dump(db, open(db_path, "w"))
elif action == "erase":
    if data not in db:
        print("credentials not found in native keychain")
        sys.exit(1)
    del db[data]
    json.dump(db, open(db_path, "w"))
"""


@pytest.fixture
def fake_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHelper]:
    """``docker-credential-fake`` installed in a bin dir put first on $PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-fake"
    script.write_text(_HELPER.format(python=sys.executable, name="fake"))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    yield FakeHelper("fake", bin_dir)

"""``login``/``logout`` argument handling: everything decided before a registry is asked.

The round trips against real registries are in tests/transport/registry/test_login.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from boxwright.cli.login import login_key
from boxwright.cli.main import main
from boxwright.errors import UsageError


@pytest.fixture
def auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return tmp_path / "run" / "containers" / "auth.json"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("quay.io", "quay.io"),
        ("https://r.example:5000/", "r.example:5000"),
        ("docker://quay.io/team", "quay.io/team"),
        ("index.docker.io", "docker.io"),
    ],
)
def test_login_key(value: str, key: str) -> None:
    assert login_key(value) == key


@pytest.mark.parametrize("value", ["", "quay.io/app:1", "quay.io/app@sha256:ab", "a b"])
def test_login_key_rejects(value: str) -> None:
    with pytest.raises(UsageError, match="is not a registry: give HOST"):
        login_key(value)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-p", "x", "--password-stdin", "-u", "u"], "pw", "cannot be used together"),
        (["--password-stdin"], "pw", "--password-stdin needs --username"),
        (["-p", "x"], None, "no user name: give -u USER"),
        (["-u", "u"], None, "no password: give --password-stdin or -p"),
    ],
)
def test_login_usage_errors_without_a_terminal(
    auth: Path, args: list[str], stdin: str | None, message: str
) -> None:
    code, _, err = invoke("login", *args, "r.example", stdin=stdin)
    assert code == 2
    assert message in err
    assert not auth.exists()


def test_login_bad_host_is_exit_1(auth: Path) -> None:
    code, _, err = invoke("login", "-u", "u", "-p", "p", "r.example/app:1")
    assert code == 1
    assert err.startswith("Error: 'r.example/app:1' is not a registry")


def test_get_login(auth: Path) -> None:
    code, _, err = invoke("login", "--get-login", "r.example")
    assert (code, err) == (1, "Error: not logged into r.example\n")
    auth.parent.mkdir(parents=True)
    auth.write_text(
        json.dumps({"auths": {"r.example": {"auth": base64.b64encode(b"me:pw").decode()}}})
    )
    assert invoke("login", "--get-login", "https://r.example") == (0, "me\n", "")


def test_logout_usage(auth: Path) -> None:
    assert invoke("logout")[0] == 2
    assert invoke("logout", "--all", "r.example")[0] == 2


def test_logout_all_keeps_other_keys(auth: Path) -> None:
    auth.parent.mkdir(parents=True)
    auth.write_text(json.dumps({"auths": {"a.example": {"auth": "YTpi"}}, "keep": 1}))
    code, out, _ = invoke("logout", "--all")
    assert (code, out) == (0, "Removed login credentials for all registries\n")
    assert json.loads(auth.read_text()) == {"auths": {}, "keep": 1}


def test_logout_points_at_the_file_that_holds_the_login(auth: Path, tmp_path: Path) -> None:
    docker = tmp_path / "home" / ".docker" / "config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"d.example": {"auth": "YTpi"}}}))
    code, _, err = invoke("logout", "d.example")
    assert code == 1
    assert err == (
        f"Error: not logged into d.example in {auth}; the credentials in use come from "
        f"{docker}: log out with the tool that wrote them, or edit that file\n"
    )
    assert json.loads(docker.read_text()) == {"auths": {"d.example": {"auth": "YTpi"}}}

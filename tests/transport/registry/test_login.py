"""``boxwright login``/``logout`` against the real registries of the fixtures.

The credentials are verified by the registry (htpasswd Basic over TLS, Bearer tokens) before
anything is stored, and what is stored is read by skopeo, the peer that shares the file.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.config.auth import AuthStore, Credentials
from boxwright_testing.registry_servers import RegistryServer


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def stored(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_login_basic_tls_with_cert_dir_then_logout(
    registry_tls_basic: RegistryServer, isolated_auth: Path
) -> None:
    server = registry_tls_basic
    assert server.cert_dir is not None
    code, out, err = run(
        "login",
        "--cert-dir",
        str(server.cert_dir),
        "-u",
        server.username,
        "--password-stdin",
        server.host,
        stdin=server.password + "\n",
    )
    assert (code, out, err) == (0, "Login Succeeded!\n", ""), err
    pair = f"{server.username}:{server.password}".encode()
    assert stored(isolated_auth) == {
        "auths": {server.host: {"auth": base64.b64encode(pair).decode()}}
    }
    assert stat.S_IMODE(isolated_auth.stat().st_mode) == 0o600
    assert AuthStore().lookup(f"{server.host}/any/repo") == Credentials(
        server.username, server.password
    )
    code, out, err = run("login", "--get-login", server.host)
    assert (code, out) == (0, f"{server.username}\n")

    code, out, err = run("logout", server.host)
    assert (code, out, err) == (0, f"Removed login credentials for {server.host}\n", "")
    assert stored(isolated_auth) == {"auths": {}}
    code, out, err = run("logout", server.host)
    assert code == 1
    assert err == f"Error: not logged into {server.host}\n"


def test_wrong_password_is_refused_and_nothing_is_stored(
    registry_tls_basic: RegistryServer, isolated_auth: Path
) -> None:
    server = registry_tls_basic
    code, out, err = run(
        "login", "--tls-verify=false", "-u", server.username, "-p", "wrong-pw", server.host
    )
    assert code == 1
    assert out == ""
    assert err.startswith(f"Error: login to {server.host} failed: ")
    assert "wrong-pw" not in err
    assert not isolated_auth.exists()


def test_untrusted_certificate_is_a_tls_error(
    registry_tls_basic: RegistryServer, isolated_auth: Path
) -> None:
    server = registry_tls_basic
    code, _, err = run("login", "-u", server.username, "-p", server.password, server.host)
    assert code == 1
    assert "certificate" in err.lower()
    assert not isolated_auth.exists()


def test_login_token_registry_writes_explicit_authfile_skopeo_reads_it(
    registry_token: RegistryServer, isolated_auth: Path, tmp_path: Path
) -> None:
    server = registry_token
    authfile = tmp_path / "auth" / "mine.json"
    code, out, err = run(
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        server.username,
        "-p",
        server.password,
        server.host,
    )
    assert (code, out, err) == (0, "Login Succeeded!\n", ""), err
    assert not isolated_auth.exists()
    assert AuthStore(authfile).lookup(server.host) == Credentials(server.username, server.password)
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    # skopeo, using only the file boxwright wrote, is granted a catalog-scoped token: listing
    # tags of a repository that does not exist gets past auth to the registry's 404.
    done = subprocess.run(
        [
            "skopeo",
            "list-tags",
            "--tls-verify=false",
            "--authfile",
            str(authfile),
            f"docker://{server.host}/{server.repo('login')}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "unauthorized" not in done.stderr.lower(), done.stderr
    assert "authentication required" not in done.stderr.lower(), done.stderr


def test_token_registry_refuses_a_wrong_password(
    registry_token: RegistryServer, isolated_auth: Path
) -> None:
    server = registry_token
    code, _, err = run(
        "login", "--tls-verify=false", "-u", server.username, "-p", "nope", server.host
    )
    assert code == 1
    assert err.startswith(f"Error: login to {server.host} failed: ")
    assert not isolated_auth.exists()


def test_registries_conf_insecure_allows_plain_http(
    registry_token: RegistryServer,
    isolated_auth: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = registry_token
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{server.host}"\ninsecure = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    code, out, err = run("login", "-u", server.username, "-p", server.password, server.host)
    assert (code, out, err) == (0, "Login Succeeded!\n", ""), err
    assert server.host in stored(isolated_auth)["auths"]  # type: ignore[operator]

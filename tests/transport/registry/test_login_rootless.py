"""A user other than root logs in where nothing set ``$XDG_RUNTIME_DIR`` (``su``, ``runuser``,
CI jobs): the auth file goes where podman 4.3 puts it and reads it, and an auth file that
cannot be written is named in one line that points at ``--authfile``.

podman runs under ``runuser`` (which leaves ``$XDG_RUNTIME_DIR`` unset); boxwright runs as the
same user with the same environment in a forked child (the test's interpreter lives under
``/root``, which the user cannot open).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright_testing.registry_servers import RegistryServer
from boxwright_testing.users import User, as_user, owned_dir

PODMAN = shutil.which("podman")
RUNUSER = shutil.which("runuser")
pytestmark = [
    pytest.mark.skipif(PODMAN is None or RUNUSER is None, reason="podman and runuser are needed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root"),
]


def _boxwright_as(user: User, env: dict[str, str], *args: str, stdin: str = "") -> Any:
    """``boxwright ARGS`` as ``user`` with exactly ``env`` of the variables that matter."""

    def run() -> tuple[int, str, str]:
        for name in ("XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
            os.environ.pop(name, None)
        os.environ.update(env)
        result = CliRunner().invoke(main, list(args), input=stdin)
        return result.exit_code, result.stdout, result.stderr

    return as_user(user, run)


@pytest.fixture(autouse=True)
def _warm(registry_tls_basic: RegistryServer, tmp_path: Path) -> None:
    """Log in once as root first: every module a login imports lazily is then loaded before
    the child drops to a user who cannot read this interpreter's site-packages."""
    server = registry_tls_basic
    warm = ["login", "--tls-verify=false", "--authfile", str(tmp_path / "warm.json")]
    result = CliRunner().invoke(
        main, [*warm, "-u", server.username, "--password-stdin", server.host], input=server.password
    )
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def closed() -> Iterator[Path]:
    """A directory of root's, mode 0755, under /tmp: others cannot make anything in it."""
    path = Path(tempfile.mkdtemp(prefix="bx-closed-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _podman_as(user: User, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert RUNUSER is not None and PODMAN is not None
    pairs = [f"{k}={v}" for k, v in env.items()]
    argv = [RUNUSER, "-u", user.name, "--", "env", "-u", "XDG_RUNTIME_DIR", *pairs, PODMAN, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd="/")


def test_login_without_xdg_runtime_dir_writes_where_podman_reads(
    registry_tls_basic: RegistryServer, unprivileged_user: User
) -> None:
    server, user = registry_tls_basic, unprivileged_user
    if Path(f"/run/user/{user.uid}").exists():
        pytest.skip(f"/run/user/{user.uid} exists: podman would use it instead")
    with owned_dir(user, "bx-login-") as home:
        tmp = home / "tmp"
        tmp.mkdir()
        os.chown(tmp, user.uid, user.gid)
        env = {"HOME": str(home), "TMPDIR": str(tmp)}
        login = ["login", "--tls-verify=false", "-u", server.username, "--password-stdin"]
        code, out, err = _boxwright_as(user, env, *login, server.host, stdin=server.password)
        assert (code, out, err) == (0, "Login Succeeded!\n", "")
        runtime = tmp / f"podman-run-{user.uid}"
        auth = runtime / "containers" / "auth.json"
        assert auth.is_file()
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o700  # podman uses only a private one
        assert stat.S_IMODE((runtime / "containers").stat().st_mode) == 0o700
        assert stat.S_IMODE(auth.stat().st_mode) == 0o600
        assert auth.stat().st_uid == user.uid

        found = _podman_as(user, env, "login", "--get-login", server.host)
        assert (found.returncode, found.stdout) == (0, f"{server.username}\n"), found.stderr
        # and podman, logging in itself, writes that very file
        auth.unlink()
        podman_login = _podman_as(
            user,
            env,
            "login",
            "--tls-verify=false",
            "-u",
            server.username,
            "-p",
            server.password,
            server.host,
        )
        assert podman_login.returncode == 0, podman_login.stderr
        assert auth.is_file()
        code, out, _ = _boxwright_as(user, env, "login", "--get-login", server.host)
        assert (code, out) == (0, f"{server.username}\n")


def test_an_auth_file_that_cannot_be_written_is_named_with_the_way_out(
    registry_tls_basic: RegistryServer, unprivileged_user: User, closed: Path
) -> None:
    server, user = registry_tls_basic, unprivileged_user
    if Path(f"/run/user/{user.uid}").exists():
        pytest.skip(f"/run/user/{user.uid} exists: it would be used instead")
    with owned_dir(user, "bx-login-") as home:
        env = {"HOME": str(home), "TMPDIR": str(closed)}
        login = ["login", "--tls-verify=false", "-u", server.username, "--password-stdin"]
        code, out, err = _boxwright_as(user, env, *login, server.host, stdin=server.password)
        runtime = closed / f"podman-run-{user.uid}"
        assert (code, out) == (1, "")
        assert err == (
            f"Error: cannot write the auth file {runtime}/containers/auth.json: "
            f"Permission denied: {runtime} (use another auth file with --authfile FILE or "
            "$REGISTRY_AUTH_FILE)\n"
        )
        own = home / "auth.json"
        code, out, err = _boxwright_as(
            user, env, *login, "--authfile", str(own), server.host, stdin=server.password
        )
        assert (code, out, err) == (0, "Login Succeeded!\n", "")
        assert own.is_file()

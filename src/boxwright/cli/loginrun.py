"""The work of ``login`` (:mod:`boxwright.cli.login` declares its flags): ask for what is
missing, check the credentials against the registry with one ``/v2/`` request, store them.
Imported when the command runs, with the registry client it needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from boxwright.config.auth import AuthStore, Credentials
from boxwright.config.registries import RegistriesConfig
from boxwright.errors import AuthenticationError
from boxwright.transport.docker import Endpoint, make_client
from boxwright.transport.options import TransportOptions

_DOCKER_HUB_API = "registry-1.docker.io"


def verify_login(
    key: str,
    credentials: Credentials,
    *,
    tls_verify: bool | None = None,
    cert_dir: Path | None = None,
) -> None:
    """Check ``credentials`` against the registry of ``key`` (one authenticated ``/v2/`` ping).

    Plain HTTP and unverified TLS are allowed with ``tls_verify=False`` or when
    registries.conf marks the host ``insecure``, exactly as for a copy.
    """
    host = key.split("/", 1)[0]
    registry = RegistriesConfig.load().lookup(key)
    insecure = registry is not None and registry.insecure
    api_host = _DOCKER_HUB_API if host == "docker.io" else host
    options = TransportOptions(credentials=credentials, tls_verify=tls_verify, cert_dir=cert_dir)
    client = make_client(Endpoint(api_host, "", insecure), options)
    try:
        client.ping()
    finally:
        client.close()


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    if data.endswith("\n"):
        data = data[:-1]
    if data.endswith("\r"):
        data = data[:-1]
    return data


# login_command's parameters but --get-login, passed on whole (the command/body pair).
def log_in(
    key: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    authfile: Path | None,
    tls_verify: bool | None,
    cert_dir: Path | None,
) -> None:
    """Log in to the registry of ``key`` (what :func:`boxwright.cli.login.login_key` made of
    the command's HOST) and store the credentials in the auth file."""
    store = AuthStore(authfile)
    if password is not None and password_stdin:
        raise click.UsageError("--password and --password-stdin cannot be used together")
    interactive = sys.stdin.isatty()
    if password_stdin:
        if not username:
            raise click.UsageError("--password-stdin needs --username")
        password = _read_password_stdin()
    if not username:
        if not interactive:
            raise click.UsageError("no user name: give -u USER (stdin is not a terminal)")
        previous = store.lookup(key)
        username = click.prompt("Username", default=previous.username if previous else None)
    if password is None:
        if not interactive:
            raise click.UsageError(
                "no password: give --password-stdin or -p (stdin is not a terminal)"
            )
        password = click.prompt("Password", hide_input=True)
    if not username:
        raise click.UsageError("the user name must not be empty")
    credentials = Credentials(str(username), password)
    try:
        verify_login(key, credentials, tls_verify=tls_verify, cert_dir=cert_dir)
    except AuthenticationError as error:
        raise AuthenticationError(
            f"login to {key} failed: {error}", error.status, error.code
        ) from None
    store.store(key, credentials)
    click.echo("Login Succeeded!")


__all__ = ["log_in", "verify_login"]

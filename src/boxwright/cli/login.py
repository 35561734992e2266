"""``login`` and ``logout``: credentials checked against the registry, kept in auth.json.

As ``podman login``: the user name and password come from ``-u``/``-p``,
``--password-stdin``, or prompts when stdin is a terminal; they are verified with one request
to the registry's ``/v2/`` endpoint (Basic or Bearer, whatever the registry asks for) before
anything is written, then stored in the auth file (``--authfile``, ``$REGISTRY_AUTH_FILE``, or
``$XDG_RUNTIME_DIR/containers/auth.json``) or the credential helper that file names for the
host. ``HOST`` may carry a repository path (``quay.io/team``) to scope the credentials.

This module declares the flags; ``login``'s work, with the registry client it needs, is in
:mod:`boxwright.cli.loginrun`, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from boxwright.cli.params import file_option
from boxwright.cli.sanitize import echo
from boxwright.cli.transport_options import cert_dir_option, tls_verify_option
from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.config.auth import AuthStore

LOGIN_EXAMPLES = """\b
Examples:
  boxwright login -u alice quay.io
  echo "$TOKEN" | boxwright login -u ci --password-stdin registry.example:5000
  boxwright login --tls-verify=false -u dev -p dev localhost:5000
"""

LOGOUT_EXAMPLES = """\b
Examples:
  boxwright logout quay.io
  boxwright logout --all
"""


def _auth_store(authfile: Path | None) -> AuthStore:
    from boxwright.config.auth import AuthStore

    return AuthStore(authfile)


def login_key(value: str) -> str:
    """The auth-file key for a ``HOST[/PATH]`` argument (scheme and ``docker://`` dropped).

    Raises :class:`~boxwright.errors.UsageError` for a tag, a digest or an empty host.
    """
    from boxwright.config.auth import normalize_key

    text = value.strip()
    for prefix in ("docker://", "https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.rstrip("/")
    host, _, path = text.partition("/")
    if not host or any(c.isspace() for c in text) or "@" in text or ":" in path:
        raise UsageError(
            f"{value!r} is not a registry: give HOST[:PORT] or HOST[:PORT]/NAMESPACE "
            "(no tag or digest)"
        )
    return normalize_key(text)


@click.command("login", epilog=LOGIN_EXAMPLES, short_help="Log in to a registry.")
@click.option("-u", "--username", help="User name (prompted for on a terminal when missing).")
@click.option("-p", "--password", help="Password (prefer --password-stdin or the prompt).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@file_option(
    "--authfile",
    help="auth.json to write (default: $REGISTRY_AUTH_FILE, then the containers default).",
)
@tls_verify_option(
    "--tls-verify",
    "Verify the registry's TLS certificate (the bare flag means =true); =false also "
    "allows plain HTTP.",
)
@cert_dir_option("--cert-dir", "the registry")
@click.option("--get-login", is_flag=True, help="Print the user name stored for HOST and exit.")
@click.argument("host")
def login_command(
    host: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    authfile: Path | None,
    tls_verify: bool | None,
    cert_dir: Path | None,
    get_login: bool,
) -> None:
    """Log in to the registry HOST and store the credentials in the auth file."""
    key = login_key(host)
    if get_login:
        found = _auth_store(authfile).lookup(key)
        if found is None or not found.username:
            raise UsageError(f"not logged into {key}")
        echo(found.username)
        return
    from boxwright.cli.loginrun import log_in

    log_in(key, username, password, password_stdin, authfile, tls_verify, cert_dir)


@click.command("logout", epilog=LOGOUT_EXAMPLES, short_help="Log out of a registry.")
@click.option("-a", "--all", "all_hosts", is_flag=True, help="Remove every stored login.")
@click.option(
    "--authfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="auth.json to change (default: $REGISTRY_AUTH_FILE, then the containers default).",
)
@click.argument("host", required=False)
def logout_command(host: str | None, all_hosts: bool, authfile: Path | None) -> None:
    """Remove the stored credentials for HOST (or all of them with --all)."""
    if all_hosts == (host is not None):
        raise click.UsageError("give either HOST or --all")
    store = _auth_store(authfile)
    if all_hosts:
        store.remove_all()
        click.echo("Removed login credentials for all registries")
        return
    assert host is not None
    key = login_key(host)
    if store.remove(key):
        echo(f"Removed login credentials for {key}")
        return
    elsewhere = store.source_of(key)
    if elsewhere is not None:
        raise UsageError(
            f"not logged into {key} in {store.write_path}; the credentials in use come from "
            f"{elsewhere}: log out with the tool that wrote them, or edit that file"
        )
    raise UsageError(f"not logged into {key}")


__all__ = ["login_command", "login_key", "logout_command"]

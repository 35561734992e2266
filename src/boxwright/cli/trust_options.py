"""The signature flags, under skopeo's and podman's names, shared by the commands that copy.

:func:`policy_options` adds ``--signature-policy`` (also spelled ``--policy``, skopeo's
global name), ``--insecure-policy`` and ``--registries.d``; they choose, for the whole
command, the policy.json every read image must satisfy and the registries.d directory that
says where a registry's signatures live (:mod:`boxwright.config.trust`). The root group takes
them too, as skopeo's global options.

:func:`signing_options` adds ``--remove-signatures``, ``--sign-by FINGERPRINT``,
``--sign-by-sigstore-private-key PATH``, ``--sign-passphrase-file PATH`` and
``--sign-identity REF``; :func:`signing_settings` turns them into the
:class:`~boxwright.copy.CopyOptions` fields ``remove_signatures``, ``signers`` and
``sign_identity``. Neither decorator changes the parameters of the command it decorates:
the values go to the click context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_META = "boxwright.signing"


def _configure(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Set the process-wide choice of a policy flag; forgotten when the command ends."""
    if value is None or value is False:
        return
    from boxwright.config.trust import configure, reset

    name = param.name
    if name == "signature_policy":
        configure(policy=Path(value))
    elif name == "insecure_policy":
        configure(insecure_policy=True)
    elif name == "registries_d":
        configure(registries_d=Path(value))
    root = ctx.find_root()
    if not root.meta.get("boxwright.trust-reset"):
        root.meta["boxwright.trust-reset"] = True
        root.call_on_close(reset)


def policy_options(command: F) -> F:
    """Add ``--signature-policy``/``--policy``, ``--insecure-policy`` and ``--registries.d``."""
    options = [
        click.option(
            "--signature-policy",
            "--policy",
            "signature_policy",
            type=click.Path(dir_okay=False, path_type=str),
            default=None,
            metavar="PATH",
            expose_value=False,
            callback=_configure,
            help="The signature policy (default: ~/.config/containers/policy.json, else "
            "/etc/containers/policy.json; see docs/trust.md).",
        ),
        click.option(
            "--insecure-policy",
            "insecure_policy",
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_configure,
            help="Accept every image without reading a signature policy.",
        ),
        click.option(
            "--registries.d",
            "registries_d",
            type=click.Path(file_okay=False, path_type=str),
            default=None,
            metavar="DIR",
            expose_value=False,
            callback=_configure,
            help="Where registries.d files say a registry's signatures live.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_META, {})[param.name] = value


def signing_options(command: F) -> F:
    """Add skopeo's signing flags (``--remove-signatures``, ``--sign-by``, ...)."""
    options = [
        click.option(
            "--remove-signatures",
            "remove_signatures",
            is_flag=True,
            default=False,
            expose_value=False,
            callback=_remember,
            help="Do not copy the source's signatures.",
        ),
        click.option(
            "--sign-by",
            "sign_by",
            default=None,
            metavar="FINGERPRINT",
            expose_value=False,
            callback=_remember,
            help="Sign the image with this GPG key (simple signing, through gpg).",
        ),
        click.option(
            "--sign-by-sigstore-private-key",
            "sign_by_sigstore_private_key",
            type=click.Path(dir_okay=False, path_type=str),
            default=None,
            metavar="PATH",
            expose_value=False,
            callback=_remember,
            help="Sign the image with the sigstore private key at PATH.",
        ),
        click.option(
            "--sign-passphrase-file",
            "sign_passphrase_file",
            type=click.Path(dir_okay=False, path_type=str),
            default=None,
            metavar="PATH",
            expose_value=False,
            callback=_remember,
            help="Read the passphrase of the signing key from PATH.",
        ),
        click.option(
            "--sign-identity",
            "sign_identity",
            default=None,
            metavar="REF",
            expose_value=False,
            callback=_remember,
            help="The Docker reference the signature vouches for (default: the destination's).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _ask_passphrase(what: str) -> bytes:
    import getpass
    import sys

    if not sys.stdin.isatty():
        raise click.UsageError(f"{what} needs a passphrase: give --sign-passphrase-file")
    return getpass.getpass(f"Passphrase for {what}: ").encode()


def signing_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The CopyOptions fields the signing flags of the running command ask for (the keys
    are read, and a sigstore key decrypted, now)."""
    ctx = ctx or click.get_current_context()
    values: dict[str, Any] = ctx.meta.get(_META, {})
    if not values:
        return {}
    from boxwright.trust.signing import GpgSigner, Signer, SigstoreSigner, read_passphrase

    passphrase_file = values.get("sign_passphrase_file")
    signers: list[Signer] = []
    if values.get("sign_by"):
        path = Path(passphrase_file) if passphrase_file else None
        signers.append(GpgSigner(values["sign_by"], path))
    key = values.get("sign_by_sigstore_private_key")
    if key:
        if passphrase_file:
            passphrase = read_passphrase(Path(passphrase_file))
        else:
            passphrase = _ask_passphrase(key)
        signers.append(SigstoreSigner.from_file(Path(key), passphrase))
    if passphrase_file and not signers:
        raise click.UsageError(
            "--sign-passphrase-file needs --sign-by or --sign-by-sigstore-private-key"
        )
    if values.get("sign_identity") and not signers:
        raise click.UsageError("--sign-identity needs --sign-by or --sign-by-sigstore-private-key")
    if values.get("remove_signatures") is None and not signers:
        return {}
    return {
        "remove_signatures": bool(values.get("remove_signatures")),
        "signers": tuple(signers),
        "sign_identity": values.get("sign_identity") or None,
    }


__all__ = ["policy_options", "signing_options", "signing_settings"]

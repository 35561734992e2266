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
from typing import TYPE_CHECKING, Any, TypeVar

import click

from boxwright.cli.params import apply_options

if TYPE_CHECKING:
    from boxwright.trust.signing import Signer

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


def _hidden(
    flags: tuple[str, ...],
    callback: Callable[[click.Context, click.Parameter, Any], None],
    help: str,
    metavar: str | None = None,
    path: str | None = None,
) -> Callable[[F], F]:
    """An option whose value goes to ``callback``, not to the command's parameters: a flag
    when ``metavar`` is None, else a value; ``path`` ``"file"`` or ``"dir"`` makes it a path."""
    kind = {"file": click.Path(dir_okay=False), "dir": click.Path(file_okay=False)}.get(path or "")
    return click.option(
        *flags,
        type=kind,
        is_flag=metavar is None,
        default=False if metavar is None else None,
        metavar=metavar,
        expose_value=False,
        callback=callback,
        help=help,
    )


def policy_options(command: F) -> F:
    """Add ``--signature-policy``/``--policy``, ``--insecure-policy`` and ``--registries.d``."""
    return apply_options(
        command,
        [
            _hidden(
                ("--signature-policy", "--policy", "signature_policy"),
                _configure,
                "The signature policy (default: ~/.config/containers/policy.json, else "
                "/etc/containers/policy.json; see docs/trust.md).",
                "PATH",
                "file",
            ),
            _hidden(
                ("--insecure-policy", "insecure_policy"),
                _configure,
                "Accept every image without reading a signature policy.",
            ),
            _hidden(
                ("--registries.d", "registries_d"),
                _configure,
                "Where registries.d files say a registry's signatures live.",
                "DIR",
                "dir",
            ),
        ],
    )


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault(_META, {})[param.name] = value


def signing_options(command: F) -> F:
    """Add skopeo's signing flags (``--remove-signatures``, ``--sign-by``, ...)."""
    return apply_options(
        command,
        [
            _hidden(
                ("--remove-signatures", "remove_signatures"),
                _remember,
                "Do not copy the source's signatures.",
            ),
            _hidden(
                ("--sign-by", "sign_by"),
                _remember,
                "Sign the image with this GPG key (simple signing, through gpg).",
                "FINGERPRINT",
            ),
            _hidden(
                ("--sign-by-sigstore-private-key", "sign_by_sigstore_private_key"),
                _remember,
                "Sign the image with the sigstore private key at PATH.",
                "PATH",
                "file",
            ),
            _hidden(
                ("--sign-passphrase-file", "sign_passphrase_file"),
                _remember,
                "Read the passphrase of the signing key from PATH.",
                "PATH",
                "file",
            ),
            _hidden(
                ("--sign-identity", "sign_identity"),
                _remember,
                "The Docker reference the signature vouches for (default: the destination's).",
                "REF",
            ),
        ],
    )


def _ask_passphrase(what: str) -> bytes:
    import getpass
    import sys

    if not sys.stdin.isatty():
        raise click.UsageError(f"{what} needs a passphrase: give --sign-passphrase-file")
    return getpass.getpass(f"Passphrase for {what}: ").encode()


_SIGSTORE_KEY = "sign_by_sigstore_private_key"


def signing_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The CopyOptions fields the signing flags of the running command ask for (the keys
    are read, and a sigstore key decrypted, now)."""
    ctx = ctx or click.get_current_context()
    values: dict[str, Any] = ctx.meta.get(_META, {})
    if not values:
        return {}
    passphrase_file = values.get("sign_passphrase_file")
    signers = _signers(values) if values.get("sign_by") or values.get(_SIGSTORE_KEY) else []
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


def _signers(values: dict[str, Any]) -> list[Signer]:
    """The signers ``--sign-by`` and ``--sign-by-sigstore-private-key`` ask for (a command
    given neither, a plain build among them, loads no signer)."""
    from boxwright.trust.signing import GpgSigner, SigstoreSigner, read_passphrase

    passphrase_file = values.get("sign_passphrase_file")
    signers: list[Signer] = []
    if values.get("sign_by"):
        path = Path(passphrase_file) if passphrase_file else None
        signers.append(GpgSigner(values["sign_by"], path))
    key = values.get(_SIGSTORE_KEY)
    if key:
        if passphrase_file:
            passphrase = read_passphrase(Path(passphrase_file))
        else:
            passphrase = _ask_passphrase(key)
        signers.append(SigstoreSigner.from_file(Path(key), passphrase))
    return signers


__all__ = ["policy_options", "signing_options", "signing_settings"]

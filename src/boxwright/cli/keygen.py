"""The work of ``generate-sigstore-key`` (:mod:`boxwright.cli.trust` declares its flags): the
passphrase from a file or asked twice on the terminal, then the key pair written by
:mod:`boxwright.trust.sigstore`. Imported when the command runs, with cryptography.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from boxwright.cli.sanitize import echo, escape
from boxwright.trust.signing import read_passphrase
from boxwright.trust.sigstore import write_key_pair


def generate_key(output_prefix: str, passphrase_file: str | None) -> None:
    """Write ``PREFIX.private`` (encrypted with the passphrase) and ``PREFIX.pub``."""
    if passphrase_file is not None:
        passphrase = read_passphrase(Path(passphrase_file))
    else:
        if not sys.stdin.isatty():
            raise click.UsageError("no terminal to ask for a passphrase: give --passphrase-file")
        passphrase = getpass.getpass("Passphrase for the new key: ").encode()
        if getpass.getpass("Repeat the passphrase: ").encode() != passphrase:
            raise click.UsageError("the two passphrases differ")
    private, public = write_key_pair(output_prefix, passphrase)
    echo(f"Key written to {escape(str(private))} and {escape(str(public))}")


__all__ = ["generate_key"]

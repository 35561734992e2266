"""``boxwright generate-sigstore-key`` and ``boxwright trust``: keys and verdicts.

``generate-sigstore-key --output-prefix PREFIX`` writes ``PREFIX.private`` (encrypted) and
``PREFIX.pub`` as skopeo does. ``trust IMAGE`` lists the signatures an image carries and says
whether the signature policy accepts it; it exits 1 when the policy rejects the image, so a
script can gate on it.

This module declares the commands; their work is in :mod:`boxwright.cli.keygen` and
:mod:`boxwright.cli.trustrun`, imported when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from boxwright.cli.params import format_option, platform_option
from boxwright.cli.trust_options import policy_options

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

KEY_EXAMPLES = """\b
Example:
  boxwright generate-sigstore-key --output-prefix mykey --passphrase-file pass.txt
  boxwright copy --sign-by-sigstore-private-key mykey.private \\
      --sign-passphrase-file pass.txt oci:./app:1 docker://registry.example/app:1
"""

TRUST_EXAMPLES = """\b
Examples:
  boxwright trust docker://registry.example/app:1
  boxwright trust --signature-policy ./policy.json --format json dir:/tmp/app
"""


@click.command(
    "generate-sigstore-key",
    epilog=KEY_EXAMPLES,
    short_help="Generate a sigstore key pair.",
)
# skopeo generate-sigstore-key's flags: declared as every command's are, each its own flag.
@click.option(
    "--output-prefix",
    required=True,
    metavar="PREFIX",
    help="Write the key pair to PREFIX.pub and PREFIX.private.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    metavar="PATH",
    help="Read the private key's passphrase from PATH (default: ask twice).",
)
def generate_sigstore_key_command(output_prefix: str, passphrase_file: str | None) -> None:
    """Generate an ECDSA P-256 key pair for sigstore signatures, as skopeo does.

    The private key is encrypted with the passphrase (scrypt and NaCl secretbox, the format
    cosign and skopeo read); an existing file is never overwritten.
    """
    from boxwright.cli.keygen import generate_key

    generate_key(output_prefix, passphrase_file)


@click.command("trust", epilog=TRUST_EXAMPLES, short_help="Show an image's signatures and verdict.")
@policy_options
@platform_option("check out of an index")
@format_option()
@click.argument("image")
def trust_command(image: str, platform: Platform | None, fmt: str) -> None:
    """List the signatures IMAGE carries and whether the signature policy accepts it.

    The policy is applied exactly as a copy or pull of IMAGE applies it; the exit status is 1
    when it rejects the image.
    """
    from boxwright.cli.trustrun import show_trust

    show_trust(image, platform, fmt)


__all__ = ["generate_sigstore_key_command", "trust_command"]

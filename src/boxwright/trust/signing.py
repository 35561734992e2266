"""Who signs a copied image: a sigstore private key or a GPG key, as skopeo's flags say.

``--sign-by FINGERPRINT`` makes a :class:`GpgSigner`; ``--sign-by-sigstore-private-key PATH``
a :class:`~boxwright.trust.sigstore.SigstoreSigner` (in the module that imports cryptography,
so a copy that signs with GPG does not load it). ``--sign-passphrase-file`` gives
either one its passphrase: the file's first line, without its line break, as skopeo reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from boxwright.errors import SignatureError
from boxwright.trust.signature import to_blob

if TYPE_CHECKING:
    from boxwright.oci.digest import Digest


class Signer(Protocol):
    """Makes one signature blob for a manifest digest and the Docker reference it is for."""

    def sign(self, digest: Digest, docker_reference: str) -> bytes:
        """The signature blob, as containers/image stores it."""
        ...

    def describe(self) -> str:
        """What signs, for messages (``sigstore key PATH``, ``GPG key FPR``)."""
        ...


def read_passphrase(path: Path) -> bytes:
    """The passphrase in ``path``: its first line, without the line break."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SignatureError(f"cannot read passphrase file {path}: {error.strerror}") from None
    line = data.split(b"\n", 1)[0]
    return line[:-1] if line.endswith(b"\r") else line


@dataclass(frozen=True, slots=True)
class GpgSigner:
    """Signs with a key of the user's GPG keyring, through the ``gpg`` program."""

    fingerprint: str
    passphrase_file: Path | None = None

    def sign(self, digest: Digest, docker_reference: str) -> bytes:
        from boxwright.trust.gpg import sign

        return to_blob(sign(digest, docker_reference, self.fingerprint, self.passphrase_file))

    def describe(self) -> str:
        return f"GPG key {self.fingerprint}"


__all__ = ["GpgSigner", "Signer", "read_passphrase"]

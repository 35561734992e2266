"""Who signs a copied image: a sigstore private key or a GPG key, as skopeo's flags say.

``--sign-by-sigstore-private-key PATH`` makes a :class:`SigstoreSigner` (the key is read
and decrypted when the signer is made, so a wrong passphrase fails before anything is
copied); ``--sign-by FINGERPRINT`` a :class:`GpgSigner`. ``--sign-passphrase-file`` gives
either one its passphrase: the file's first line, without its line break, as skopeo reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from boxwright.errors import SignatureError
from boxwright.trust.signature import to_blob

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

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
class SigstoreSigner:
    """Signs with a sigstore (cosign) private key file."""

    path: Path
    key: EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def from_file(cls, path: Path, passphrase: bytes) -> SigstoreSigner:
        """The signer of the key file ``path``, decrypted with ``passphrase`` now."""
        from boxwright.trust.sigstore import load_private_key

        return cls(Path(path), load_private_key(Path(path), passphrase))

    def sign(self, digest: Digest, docker_reference: str) -> bytes:
        from boxwright.trust.sigstore import sign

        return to_blob(sign(digest, docker_reference, self.key))

    def describe(self) -> str:
        return f"sigstore key {self.path}"


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


__all__ = ["GpgSigner", "Signer", "SigstoreSigner", "read_passphrase"]

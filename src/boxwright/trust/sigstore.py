"""Sigstore keys and signatures, in the formats cosign and skopeo write and read.

Keys are ECDSA P-256. The public key is a PEM ``PUBLIC KEY`` (PKIX). The private key is a PEM
``ENCRYPTED SIGSTORE PRIVATE KEY`` (cosign's older files say ``ENCRYPTED COSIGN PRIVATE KEY``;
both are read) whose body is the JSON envelope of secure-systems-lab's ``encrypted`` package::

    {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": BASE64},
     "cipher": {"name": "nacl/secretbox", "nonce": BASE64},
     "ciphertext": BASE64}

the PKCS#8 DER of the key sealed with NaCl's secretbox (XSalsa20-Poly1305, PyNaCl) under the
scrypt key of the passphrase. Unencrypted ``PRIVATE KEY``/``EC PRIVATE KEY`` files are read too.

This module imports cryptography and PyNaCl at its top and holds everything that needs them:
the keys, signing (:class:`SigstoreSigner`) and verifying (:class:`SigstoreVerifier`). The
policy and the signing flags import it inside the function that meets a sigstore key, so
nothing else loads them.

A signature is the ASN.1 DER ECDSA signature of the SHA-256 of the payload, base64 in the
``dev.cosignproject.cosign/signature`` annotation, as cosign makes and verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from boxwright.errors import SignatureError
from boxwright.trust.signature import (
    SIGSTORE_MEDIA_TYPE,
    SIGSTORE_SIGNATURE_ANNOTATION,
    SIGSTORE_TYPE,
    Signature,
    SigstoreSignature,
    make_payload,
    to_blob,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import (
        EllipticCurvePrivateKey,
        EllipticCurvePublicKey,
    )

    from boxwright.oci.digest import Digest

SIGSTORE_PEM: Final = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM: Final = "ENCRYPTED COSIGN PRIVATE KEY"
SCRYPT_N: Final = 32768
SCRYPT_LEGACY_N: Final = 65536
"""The N of keys written by older cosign releases (secure-systems-lab accepts both)."""
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
MAX_KEY_FILE: Final = 1 << 20


def _pem_blocks(text: bytes, where: str) -> tuple[str, bytes]:
    """The type and body of the first PEM block of ``text``."""
    lines = text.decode("ascii", "replace").splitlines()
    for start, line in enumerate(lines):
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            kind = line[len("-----BEGIN ") : -5]
            end_line = f"-----END {kind}-----"
            body: list[str] = []
            for inner in lines[start + 1 :]:
                if inner == end_line:
                    try:
                        return kind, base64.b64decode("".join(body), validate=True)
                    except ValueError:
                        break
                if ":" in inner:  # RFC 1421 headers of legacy encrypted PEM: not supported
                    raise SignatureError(f"{where}: PEM headers are not supported")
                body.append(inner.strip())
            raise SignatureError(f"{where}: the PEM block {kind} is malformed")
    raise SignatureError(f"{where}: no PEM data found")


def _pem(kind: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except OSError as error:
        raise SignatureError(f"cannot read {what} {path}: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise SignatureError(f"{what} {path} is larger than {MAX_KEY_FILE} bytes")
    return data


def _box_key(passphrase: bytes, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(
        passphrase, salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=256 << 20, dklen=32
    )


def encrypt(plaintext: bytes, passphrase: bytes) -> bytes:
    """secure-systems-lab's ``encrypted.Encrypt``: the JSON envelope of ``plaintext``."""
    salt, nonce = os.urandom(32), os.urandom(24)
    box = SecretBox(_box_key(passphrase, salt, SCRYPT_N))
    ciphertext = box.encrypt(plaintext, nonce).ciphertext
    envelope = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def decrypt(envelope: bytes, passphrase: bytes, where: str) -> bytes:
    """secure-systems-lab's ``encrypted.Decrypt``; a wrong passphrase is a SignatureError."""
    try:
        data: Any = json.loads(envelope)
        kdf, cipher = data["kdf"], data["cipher"]
        params = kdf["params"]
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(data["ciphertext"])
    except (ValueError, KeyError, TypeError):
        raise SignatureError(f"{where}: the encrypted private key is malformed") from None
    if kdf.get("name") != "scrypt":
        raise SignatureError(f"{where}: unknown kdf name {kdf.get('name')!r}")
    if cipher.get("name") != "nacl/secretbox":
        raise SignatureError(f"{where}: unknown cipher name {cipher.get('name')!r}")
    n = params.get("N") if isinstance(params, dict) else None
    if (
        n not in (SCRYPT_N, SCRYPT_LEGACY_N)
        or params.get("r") != SCRYPT_R
        or params.get("p") != SCRYPT_P
    ):
        raise SignatureError(f"{where}: unexpected kdf parameters")
    if len(nonce) != 24:
        raise SignatureError(f"{where}: incorrect nonce size")
    try:
        return SecretBox(_box_key(passphrase, salt, n)).decrypt(ciphertext, nonce)
    except CryptoError:
        raise SignatureError(
            f"{where}: decryption failed (wrong passphrase, or a damaged key file)"
        ) from None


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A new key pair as the files skopeo's ``generate-sigstore-key`` writes."""

    private_pem: bytes
    public_pem: bytes


def generate_key_pair(passphrase: bytes) -> KeyPair:
    """A new ECDSA P-256 key pair; the private key encrypted under ``passphrase``."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(_pem(SIGSTORE_PEM, encrypt(der, passphrase)), public)


def write_key_pair(prefix: str | os.PathLike[str], passphrase: bytes) -> tuple[Path, Path]:
    """Write ``PREFIX.private`` and ``PREFIX.pub``, as skopeo does; an existing file is not
    overwritten (:class:`SignatureError`). Returns the two paths."""
    private, public = Path(f"{os.fspath(prefix)}.private"), Path(f"{os.fspath(prefix)}.pub")
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise SignatureError(f"refusing to overwrite existing {path}")
    pair = generate_key_pair(passphrase)
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pair.private_pem)
        fd = os.open(public, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(pair.public_pem)
    except OSError as error:
        raise SignatureError(f"cannot write {error.filename}: {error.strerror}") from None
    return private, public


def load_private_key(path: Path, passphrase: bytes) -> EllipticCurvePrivateKey:
    """The private key of a sigstore or cosign key file (encrypted or not)."""
    where = f"private key {path}"
    kind, body = _pem_blocks(_read_key_file(path, "private key"), where)
    try:
        if kind in (SIGSTORE_PEM, COSIGN_PEM):
            key: Any = serialization.load_der_private_key(decrypt(body, passphrase, where), None)
        elif kind in ("PRIVATE KEY", "EC PRIVATE KEY"):
            key = serialization.load_der_private_key(body, None)
        else:
            raise SignatureError(f"{where}: unknown private key PEM file type {kind!r}")
    except ValueError as error:
        raise SignatureError(f"{where}: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignatureError(f"{where}: only ECDSA keys are supported")
    return key


def load_public_key(data: bytes, where: str) -> EllipticCurvePublicKey:
    """The public key of PEM ``data`` (a ``PUBLIC KEY`` block)."""
    kind, body = _pem_blocks(data, where)
    if kind != "PUBLIC KEY":
        raise SignatureError(f"{where}: expected a PUBLIC KEY PEM block, not {kind!r}")
    try:
        key = serialization.load_der_public_key(body)
    except ValueError as error:
        raise SignatureError(f"{where}: {error}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(f"{where}: only ECDSA public keys are supported")
    return key


def read_public_key(path: Path) -> EllipticCurvePublicKey:
    """The public key in the PEM file ``path``."""
    return load_public_key(_read_key_file(path, "public key"), f"public key {path}")


def sign(
    manifest_digest: Digest, docker_reference: str, key: EllipticCurvePrivateKey
) -> SigstoreSignature:
    """A sigstore signature of the manifest ``manifest_digest`` for ``docker_reference``."""
    payload = make_payload(manifest_digest, docker_reference, SIGSTORE_TYPE)
    der = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    annotation = base64.b64encode(der).decode()
    return SigstoreSignature(
        SIGSTORE_MEDIA_TYPE, payload, {SIGSTORE_SIGNATURE_ANNOTATION: annotation}
    )


def verify_payload(signature: SigstoreSignature, key: EllipticCurvePublicKey) -> bytes:
    """The payload of ``signature`` once its ECDSA signature verifies under ``key``; else a
    :class:`SignatureError` saying why."""
    encoded = signature.base64_signature
    if not encoded:
        raise SignatureError(f"missing {SIGSTORE_SIGNATURE_ANNOTATION} annotation")
    try:
        der = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise SignatureError(
            f"invalid {SIGSTORE_SIGNATURE_ANNOTATION} annotation: not base64"
        ) from None
    try:
        key.verify(der, signature.payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError("cryptographic signature verification failed") from None
    return signature.payload


@dataclass(frozen=True, slots=True)
class SigstoreSigner:
    """Signs with a sigstore (cosign) private key file (``--sign-by-sigstore-private-key``;
    the other signers are in :mod:`boxwright.trust.signing`)."""

    path: Path
    key: EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def from_file(cls, path: Path, passphrase: bytes) -> SigstoreSigner:
        """The signer of the key file ``path``, decrypted with ``passphrase`` now."""
        return cls(Path(path), load_private_key(Path(path), passphrase))

    def sign(self, digest: Digest, docker_reference: str) -> bytes:
        """The signature blob of the manifest ``digest`` for ``docker_reference``."""
        return to_blob(sign(digest, docker_reference, self.key))

    def describe(self) -> str:
        return f"sigstore key {self.path}"


class SigstoreVerifier:
    """Checks sigstore signatures against the public key of a policy's ``sigstoreSigned``
    (the verifier :mod:`boxwright.trust.policy` applies for that requirement)."""

    kind: type = SigstoreSignature
    payload_type: str = SIGSTORE_TYPE

    def __init__(self, key_blobs: list[bytes]) -> None:
        self._keys = [load_public_key(b, "the sigstoreSigned key of the policy") for b in key_blobs]

    def verify(self, signature: Signature) -> bytes:
        """The payload of ``signature`` once it verifies under the policy's key."""
        assert isinstance(signature, SigstoreSignature)
        if signature.media_type != SIGSTORE_MEDIA_TYPE:
            raise SignatureError(f"unexpected signature MIME type {signature.media_type}")
        return verify_payload(signature, self._keys[0])

    def close(self) -> None:
        """Nothing to release."""


__all__ = [
    "COSIGN_PEM",
    "SIGSTORE_PEM",
    "KeyPair",
    "SigstoreSigner",
    "SigstoreVerifier",
    "decrypt",
    "encrypt",
    "generate_key_pair",
    "load_private_key",
    "load_public_key",
    "read_public_key",
    "sign",
    "verify_payload",
    "write_key_pair",
]

"""Sigstore keys and signatures against what cosign and skopeo write and read.

The cosign-made signature and public key are containers/image's test fixtures (Debian's
golang-github-containers-image-dev): a signature that real cosign made verifies here, and a
key pair boxwright writes is in the files' format (PEM types, the scrypt/secretbox envelope).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from boxwright.errors import SignatureError
from boxwright.oci.digest import Digest
from boxwright.trust import sigstore
from boxwright.trust.signature import (
    SIGSTORE_MEDIA_TYPE,
    SIGSTORE_TYPE,
    SigstoreSignature,
    from_blob,
    parse_payload,
    to_blob,
)

FIXTURES = Path("/usr/share/gocode/src/github.com/containers/image/signature/fixtures")
COSIGN_IMAGE = FIXTURES / "dir-img-cosign-valid"


def _need_fixtures() -> None:
    if not (COSIGN_IMAGE / "signature-1").is_file():
        pytest.skip("containers/image fixtures are not installed (scripts/install-test-deps)")


def test_a_cosign_signature_verifies_with_the_cosign_public_key() -> None:
    _need_fixtures()
    signature = from_blob((COSIGN_IMAGE / "signature-1").read_bytes())
    assert isinstance(signature, SigstoreSignature)
    assert signature.media_type == SIGSTORE_MEDIA_TYPE
    key = sigstore.read_public_key(FIXTURES / "cosign.pub")
    payload = parse_payload(sigstore.verify_payload(signature, key), SIGSTORE_TYPE)
    manifest = (COSIGN_IMAGE / "manifest.json").read_bytes()
    assert payload.manifest_digest == str(Digest.from_bytes(manifest))
    assert payload.docker_reference == "192.168.64.2:5000/cosign-signed-single-sample"


def test_a_changed_payload_fails_verification() -> None:
    _need_fixtures()
    signature = from_blob((COSIGN_IMAGE / "signature-1").read_bytes())
    assert isinstance(signature, SigstoreSignature)
    forged = SigstoreSignature(
        signature.media_type,
        signature.payload.replace(b"cosign-signed-single-sample", b"cosign-signed-single-forged"),
        signature.annotations,
    )
    key = sigstore.read_public_key(FIXTURES / "cosign.pub")
    with pytest.raises(SignatureError, match=r"^cryptographic signature verification failed$"):
        sigstore.verify_payload(forged, key)


def test_the_stored_blob_round_trips_byte_for_byte() -> None:
    _need_fixtures()
    blob = (COSIGN_IMAGE / "signature-1").read_bytes()
    signature = from_blob(blob)
    assert from_blob(to_blob(signature)) == signature
    assert to_blob(signature).startswith(b"\0sigstore-json\n{")


def test_written_key_pair_is_in_the_sigstore_format(tmp_path: Path) -> None:
    private, public = sigstore.write_key_pair(tmp_path / "key", b"secret")
    assert (private.name, public.name) == ("key.private", "key.pub")
    assert private.stat().st_mode & 0o777 == 0o600
    text = private.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body = base64.b64decode("".join(text.splitlines()[1:-1]))
    envelope = json.loads(body)
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")

    key = sigstore.load_private_key(private, b"secret")
    digest = Digest.from_bytes(b"manifest")
    signature = sigstore.sign(digest, "example.com/app:1", key)
    payload = parse_payload(
        sigstore.verify_payload(signature, sigstore.read_public_key(public)), SIGSTORE_TYPE
    )
    assert (payload.manifest_digest, payload.docker_reference) == (
        str(digest),
        "example.com/app:1",
    )


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "key.pub").write_text("mine")
    with pytest.raises(SignatureError, match=r"^refusing to overwrite existing .*/key\.pub$"):
        sigstore.write_key_pair(tmp_path / "key", b"secret")
    assert (tmp_path / "key.pub").read_text() == "mine"
    assert not (tmp_path / "key.private").exists()


def test_a_wrong_passphrase_is_one_clear_error(tmp_path: Path) -> None:
    private, _ = sigstore.write_key_pair(tmp_path / "key", b"secret")
    with pytest.raises(
        SignatureError,
        match=r"^private key .*key\.private: decryption failed \(wrong passphrase, or a "
        r"damaged key file\)$",
    ):
        sigstore.load_private_key(private, b"wrong")


def test_cosign_pem_type_is_read_too(tmp_path: Path) -> None:
    private, public = sigstore.write_key_pair(tmp_path / "key", b"pw")
    cosign = tmp_path / "cosign.key"
    cosign.write_text(private.read_text().replace("SIGSTORE", "COSIGN"))
    key = sigstore.load_private_key(cosign, b"pw")
    signature = sigstore.sign(Digest.from_bytes(b"x"), "example.com/a:b", key)
    assert sigstore.verify_payload(signature, sigstore.read_public_key(public))


def test_a_foreign_kdf_is_refused(tmp_path: Path) -> None:
    envelope = json.dumps(
        {
            "kdf": {"name": "scrypt", "params": {"N": 1 << 30, "r": 8, "p": 1}, "salt": ""},
            "cipher": {"name": "nacl/secretbox", "nonce": ""},
            "ciphertext": "",
        }
    ).encode()
    path = tmp_path / "hostile.key"
    pem = base64.b64encode(envelope).decode()
    path.write_text(
        f"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{pem}\n"
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    )
    with pytest.raises(SignatureError, match=r"unexpected kdf parameters$"):
        sigstore.load_private_key(path, b"pw")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty signature blob"),
        (b"\x00sigstore-json", "invalid signature format, missing newline"),
        (b"\x00weird\n{}", "unrecognized signature format 'weird'"),
        (b"{", "unrecognized signature format, starting with binary 0x7b"),
    ],
)
def test_unreadable_blobs_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=f"^{message}$"):
        from_blob(blob)

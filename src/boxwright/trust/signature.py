"""Signatures as containers/image stores them, and the simple-signing payload they sign.

Two kinds exist:

* :class:`SimpleSigning`: an OpenPGP message (made by ``gpg --sign``) whose literal data is the
  payload; stored as the message bytes alone (``signature-N`` files, lookaside URLs);
* :class:`SigstoreSignature`: a cosign signature: a MIME type
  (``application/vnd.dev.cosign.simplesigning.v1+json``), the payload bytes, and annotations,
  among them ``dev.cosignproject.cosign/signature``, the base64 ECDSA signature of the payload;
  stored in a file as ``\\0sigstore-json\\n`` followed by that JSON (:func:`to_blob`), in a
  registry as a layer of the ``sha256-HEX.sig`` attachment manifest.

Both sign a payload of the same shape (the "simple signing" format)::

    {"critical": {"identity": {"docker-reference": "HOST/REPO:TAG"},
                  "image": {"docker-manifest-digest": "sha256:..."},
                  "type": "atomic container signature"},
     "optional": {"creator": "...", "timestamp": 1700000000}}

with the type ``cosign container image signature`` for sigstore. :func:`parse_payload` reads
it as strictly as containers/image does (exact fields in ``critical``; a signature is
untrusted input).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from boxwright._version import __version__
from boxwright.errors import DigestError, SignatureError
from boxwright.oci.digest import Digest

SIMPLE_SIGNING_TYPE: Final = "atomic container signature"
SIGSTORE_TYPE: Final = "cosign container image signature"
SIGSTORE_MEDIA_TYPE: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGSTORE_SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
SIGSTORE_FORMAT: Final = b"sigstore-json"
SIMPLE_FORMAT: Final = b"simple-signing"
MAX_SIGNATURE_SIZE: Final = 4 << 20
"""Largest signature read from anywhere (containers/image's limit too)."""
CREATOR: Final = f"boxwright {__version__}"

# The first bytes of an OpenPGP message gpg writes: a compressed data, one-pass signature or
# signature packet, in the old or the new packet format (containers/image's FromBlob table).
_OPENPGP_STARTS: Final = frozenset(
    {0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0x3D, 0xC4, 0x88, 0x89, 0x8A, 0x8B, 0xC2}
)


@dataclass(frozen=True, slots=True)
class SimpleSigning:
    """A GPG simple signing signature: the OpenPGP message bytes, untrusted until verified."""

    blob: bytes

    kind: ClassVar[str] = "simple-signing"


@dataclass(frozen=True, slots=True)
class SigstoreSignature:
    """A sigstore (cosign) signature: MIME type, payload and annotations, untrusted."""

    media_type: str
    payload: bytes
    annotations: Mapping[str, str] = field(default_factory=dict)

    kind: ClassVar[str] = "sigstore"

    @property
    def base64_signature(self) -> str:
        """The ``dev.cosignproject.cosign/signature`` annotation ("" when absent)."""
        return self.annotations.get(SIGSTORE_SIGNATURE_ANNOTATION, "")


Signature = SimpleSigning | SigstoreSignature


def from_blob(blob: bytes) -> Signature:
    """The signature a stored blob holds (containers/image's ``signature.FromBlob``)."""
    if not blob:
        raise SignatureError("empty signature blob")
    if len(blob) > MAX_SIGNATURE_SIZE:
        raise SignatureError(f"a signature of {len(blob)} bytes is larger than allowed")
    if blob[0] in _OPENPGP_STARTS:
        return SimpleSigning(bytes(blob))
    if blob[0] != 0:
        raise SignatureError(f"unrecognized signature format, starting with binary {blob[0]:#x}")
    header, newline, chunk = blob[1:].partition(b"\n")
    if not newline:
        raise SignatureError("invalid signature format, missing newline")
    if any(b < 32 or b >= 0x7F for b in header):
        raise SignatureError("invalid signature format, non-ASCII byte in its format name")
    if header == SIMPLE_FORMAT:
        return SimpleSigning(bytes(chunk))
    if header == SIGSTORE_FORMAT:
        return _sigstore_from_json(chunk)
    raise SignatureError(f"unrecognized signature format {header.decode()!r}")


def _sigstore_from_json(chunk: bytes) -> SigstoreSignature:
    try:
        data = json.loads(chunk)
    except (ValueError, UnicodeDecodeError) as error:
        raise SignatureError(f"invalid sigstore signature JSON: {error}") from None
    if not isinstance(data, dict):
        raise SignatureError("invalid sigstore signature: not a JSON object")
    media_type = data.get("mimeType", "")
    payload = data.get("payload") or ""
    annotations = data.get("annotations") or {}
    if (
        not isinstance(media_type, str)
        or not isinstance(payload, str)
        or not isinstance(annotations, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items())
    ):
        raise SignatureError("invalid sigstore signature: mimeType, payload or annotations")
    try:
        raw_payload = base64.b64decode(payload, validate=True)
    except ValueError:
        raise SignatureError("invalid sigstore signature: payload is not base64") from None
    return SigstoreSignature(media_type, raw_payload, dict(annotations))


def to_blob(signature: Signature) -> bytes:
    """The bytes containers/image stores for ``signature`` (``signature.Blob``)."""
    if isinstance(signature, SimpleSigning):
        return signature.blob
    body = {
        "mimeType": signature.media_type,
        "payload": base64.b64encode(signature.payload).decode(),
        "annotations": dict(signature.annotations),
    }
    return b"\0" + SIGSTORE_FORMAT + b"\n" + json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Payload:
    """What a signature claims, once its cryptography is verified: the manifest digest and
    the Docker reference it vouches for (both still to be checked against the image)."""

    manifest_digest: str
    docker_reference: str
    creator: str | None = None
    timestamp: int | None = None


def make_payload(digest: Digest, docker_reference: str, kind: str) -> bytes:
    """The payload a new signature signs: ``kind`` is :data:`SIMPLE_SIGNING_TYPE` or
    :data:`SIGSTORE_TYPE`."""
    body = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": kind,
        },
        "optional": {"creator": CREATOR, "timestamp": int(time.time())},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _exact(obj: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SignatureError(f"invalid signature: {what} is not a JSON object")
    if set(obj) != keys:
        missing, extra = keys - set(obj), set(obj) - keys
        problem = f"missing {sorted(missing)}" if missing else f"unexpected {sorted(extra)}"
        raise SignatureError(f"invalid signature: {what} has {problem}")
    return obj


def parse_payload(raw: bytes, kind: str) -> Payload:
    """The claims of a verified payload, read as strictly as containers/image reads them."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SignatureError(f"invalid signature payload: {error}") from None
    top = _exact(data, {"critical", "optional"}, "the payload")
    critical = _exact(top["critical"], {"type", "image", "identity"}, "critical")
    if critical["type"] != kind:
        raise SignatureError(f"invalid signature: unrecognized signature type {critical['type']}")
    image = _exact(critical["image"], {"docker-manifest-digest"}, "critical.image")
    identity = _exact(critical["identity"], {"docker-reference"}, "critical.identity")
    digest, reference = image["docker-manifest-digest"], identity["docker-reference"]
    if not isinstance(digest, str) or not isinstance(reference, str):
        raise SignatureError("invalid signature: digest and reference must be strings")
    optional = top["optional"]
    creator: str | None = None
    timestamp: int | None = None
    if optional is not None:
        if not isinstance(optional, dict):
            raise SignatureError("invalid signature: optional is not a JSON object")
        if isinstance(optional.get("creator"), str):
            creator = optional["creator"]
        stamp = optional.get("timestamp")
        if stamp is not None:
            if not isinstance(stamp, int | float) or isinstance(stamp, bool) or stamp != int(stamp):
                raise SignatureError("invalid signature: optional.timestamp is not an integer")
            timestamp = int(stamp)
    return Payload(digest, reference, creator, timestamp)


def digest_matches(payload: Payload, manifest_digest: Digest) -> bool:
    """Whether the payload vouches for the manifest of this digest."""
    try:
        return Digest.parse(payload.manifest_digest) == manifest_digest
    except DigestError:
        return False


__all__ = [
    "SIGSTORE_MEDIA_TYPE",
    "SIGSTORE_SIGNATURE_ANNOTATION",
    "SIGSTORE_TYPE",
    "SIMPLE_SIGNING_TYPE",
    "Payload",
    "Signature",
    "SigstoreSignature",
    "SimpleSigning",
    "digest_matches",
    "from_blob",
    "make_payload",
    "parse_payload",
    "to_blob",
]

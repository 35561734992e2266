"""Where a registry image's signatures live, read and written as containers/image does.

* **Sigstore attachments** (when registries.d says ``use-sigstore-attachments: true``): the
  signatures of manifest ``sha256:HEX`` are the layers of the OCI manifest tagged
  ``sha256-HEX.sig`` in the same repository; each layer's bytes are a payload, its media type
  ``application/vnd.dev.cosign.simplesigning.v1+json`` and its annotations carry the
  signature (cosign's layout). New signatures are appended to that manifest (one already
  there is not added twice), with a config whose ``rootfs.diff_ids`` lists the layers.
* **Lookaside** (GPG simple signing): ``BASE/REPO@sha256=HEX/signature-N``, N from 1, where
  BASE is registries.d's ``lookaside`` for reading and ``lookaside-staging`` (else
  ``lookaside``) for writing. ``file://`` bases are read and written, ``http(s)://`` bases
  read; writing replaces the list (stale ``signature-N`` files after it are removed).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import urllib3

from boxwright.errors import ImageNotFoundError, ManifestError, SignatureError, TransportError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.transport.atomic import atomic_write
from boxwright.trust.signature import (
    MAX_SIGNATURE_SIZE,
    SigstoreSignature,
    from_blob,
    to_blob,
)

if TYPE_CHECKING:
    from boxwright.transport.registry.client import RegistryClient

MAX_SIGNATURES: Final = 128
"""Most signatures read for one manifest (a bound on what a hostile lookaside can cost)."""
_LOOKASIDE_TIMEOUT: Final = 30.0


def attachment_tag(digest: Digest) -> str:
    """The tag of the sigstore attachments of ``digest``: ``sha256-HEX.sig``."""
    return f"{digest.algorithm}-{digest.hex}.sig"


def _attachment_manifest(
    client: RegistryClient, repo: str, digest: Digest
) -> tuple[dict[str, object], list[Descriptor]] | None:
    """The attachment manifest of ``digest`` as JSON, and its layers; None if there is none."""
    try:
        raw, media_type, _ = client.get_manifest(repo, attachment_tag(digest), (mt.OCI_MANIFEST,))
    except ImageNotFoundError:
        return None
    if media_type not in ("", mt.OCI_MANIFEST):
        raise TransportError(
            f"{repo}:{attachment_tag(digest)} is a {media_type}, not an OCI manifest"
        )
    try:
        data = json.loads(raw)
        where = "sigstore attachment layer"
        layers = [Descriptor.from_dict(item, where=where) for item in data.get("layers") or []]
    except (ValueError, TypeError, AttributeError, ManifestError) as error:
        raise TransportError(f"{repo}:{attachment_tag(digest)}: {error}") from None
    return data, layers


def _small_blob(client: RegistryClient, repo: str, descriptor: Descriptor) -> bytes:
    if descriptor.size > MAX_SIGNATURE_SIZE:
        raise SignatureError(
            f"sigstore attachment {descriptor.digest} is larger than {MAX_SIGNATURE_SIZE} bytes"
        )
    stream = client.get_blob(repo, descriptor)
    try:
        return stream.read()
    finally:
        stream.close()


def read_attachments(client: RegistryClient, repo: str, digest: Digest) -> list[bytes]:
    """The sigstore signatures attached to ``digest``, as signature blobs."""
    found = _attachment_manifest(client, repo, digest)
    if found is None:
        return []
    blobs = []
    for layer in found[1][:MAX_SIGNATURES]:
        payload = _small_blob(client, repo, layer)
        annotations = dict(layer.annotations or {})
        blobs.append(to_blob(SigstoreSignature(layer.media_type, payload, annotations)))
    return blobs


def write_attachments(
    client: RegistryClient, repo: str, digest: Digest, signatures: Sequence[SigstoreSignature]
) -> None:
    """Add ``signatures`` to the attachment manifest of ``digest`` (made when absent)."""
    layers, config = _attachment_parts(client, repo, digest)
    for signature in signatures:
        _add_signature(client, repo, signature, layers, config)
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_digest = Digest.from_bytes(config_raw)
    client.upload_blob(
        repo, io.BytesIO(config_raw), Descriptor(mt.OCI_CONFIG, config_digest, len(config_raw))
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": str(config_digest),
            "size": len(config_raw),
        },
        "layers": layers,
    }
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    client.put_manifest(repo, attachment_tag(digest), raw, mt.OCI_MANIFEST)


def _attachment_parts(
    client: RegistryClient, repo: str, digest: Digest
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The layers and the config of the attachment manifest of ``digest``: the registry's
    when it has one, else none and an empty config."""
    found = _attachment_manifest(client, repo, digest)
    config: dict[str, object] = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    layers: list[dict[str, object]] = []
    if found is not None:
        data, _ = found
        layers = [dict(layer) for layer in data.get("layers") or []]  # type: ignore[attr-defined]
        config_desc = Descriptor.from_dict(data.get("config"), where="sigstore attachment config")
        try:
            loaded = json.loads(_small_blob(client, repo, config_desc))
        except ValueError as error:
            raise TransportError(f"parsing sigstore attachment config: {error}") from None
        if isinstance(loaded, dict):
            config = loaded
            rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
            if isinstance(rootfs, dict):
                rootfs.setdefault("diff_ids", [])
    return layers, config


def _add_signature(
    client: RegistryClient,
    repo: str,
    signature: SigstoreSignature,
    layers: list[dict[str, object]],
    config: dict[str, object],
) -> None:
    """Upload ``signature``'s payload and add it to ``layers`` and the config's diff IDs,
    unless a layer of the same payload and annotations is there already."""
    payload_digest = Digest.from_bytes(signature.payload)
    annotations = dict(signature.annotations)
    if any(
        layer.get("mediaType") == signature.media_type
        and layer.get("digest") == str(payload_digest)
        and layer.get("size") == len(signature.payload)
        and (layer.get("annotations") or {}) == annotations
        for layer in layers
    ):
        return
    descriptor = Descriptor(signature.media_type, payload_digest, len(signature.payload))
    client.upload_blob(repo, io.BytesIO(signature.payload), descriptor)
    layer: dict[str, object] = {
        "mediaType": signature.media_type,
        "digest": str(payload_digest),
        "size": len(signature.payload),
    }
    if annotations:
        layer["annotations"] = annotations
    layers.append(layer)
    rootfs = config["rootfs"]
    if isinstance(rootfs, dict):
        rootfs["diff_ids"].append(str(payload_digest))


def lookaside_url(base: str, digest: Digest, index: int) -> str:
    """``BASE@sha256=HEX/signature-N`` (N = index + 1)."""
    return f"{base}@{digest.algorithm}={digest.hex}/signature-{index + 1}"


def _file_path(url: str) -> Path | None:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "file":
        return None
    return Path(urllib.parse.unquote(parsed.path))


def read_lookaside(base: str, digest: Digest) -> list[bytes]:
    """The signatures of ``digest`` under the lookaside ``base``, up to the first missing."""
    scheme = urllib.parse.urlsplit(base).scheme
    if scheme not in ("file", "http", "https"):
        raise SignatureError(f"unsupported scheme in lookaside URL {base}")
    found: list[bytes] = []
    while len(found) < MAX_SIGNATURES:
        url = lookaside_url(base, digest, len(found))
        data = _read_file(url) if scheme == "file" else _read_http(url)
        if data is None:
            break
        found.append(data)
    return found


def _read_file(url: str) -> bytes | None:
    path = _file_path(url)
    assert path is not None
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SIGNATURE_SIZE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise SignatureError(f"reading signature {path}: {error.strerror}") from None
    if len(data) > MAX_SIGNATURE_SIZE:
        raise SignatureError(f"signature {path} is larger than {MAX_SIGNATURE_SIZE} bytes")
    return data


def _read_http(url: str) -> bytes | None:
    try:
        with urllib3.PoolManager(timeout=_LOOKASIDE_TIMEOUT, retries=False) as pool:
            response = pool.request("GET", url, preload_content=False, redirect=True)
            try:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise SignatureError(f"reading signature {url}: HTTP status {response.status}")
                data = response.read(MAX_SIGNATURE_SIZE + 1)
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise SignatureError(f"reading signature {url}: {error}") from None
    if len(data) > MAX_SIGNATURE_SIZE:
        raise SignatureError(f"signature {url} is larger than {MAX_SIGNATURE_SIZE} bytes")
    return data


def write_lookaside(base: str, digest: Digest, signatures: Sequence[bytes]) -> None:
    """Write ``signatures`` as ``signature-1..N`` of ``digest`` under a ``file://`` lookaside
    and remove any ``signature-M`` after them."""
    if _file_path(base) is None:
        raise SignatureError(
            f"writing signatures to the lookaside {base} is not supported: configure a "
            "file:// lookaside-staging in registries.d"
        )
    for index, blob in enumerate(signatures):
        path = _file_path(lookaside_url(base, digest, index))
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SignatureError(f"writing signature {path}: {error.strerror}") from None
        atomic_write(path, blob)
    index = len(signatures)
    while True:
        path = _file_path(lookaside_url(base, digest, index))
        assert path is not None
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            break
        index += 1
    if not signatures:
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def split_kinds(blobs: Sequence[bytes]) -> tuple[list[SigstoreSignature], list[bytes]]:
    """Sigstore signatures (for attachments) apart from the others (for the lookaside)."""
    sigstore: list[SigstoreSignature] = []
    other: list[bytes] = []
    for blob in blobs:
        signature = from_blob(blob)
        if isinstance(signature, SigstoreSignature):
            sigstore.append(signature)
        else:
            other.append(blob)
    return sigstore, other


__all__ = [
    "attachment_tag",
    "lookaside_url",
    "read_attachments",
    "read_lookaside",
    "split_kinds",
    "write_attachments",
    "write_lookaside",
]

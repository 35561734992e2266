"""Docker image manifest schema 1 (signed and unsigned): read it and convert it away.

Schema 1 lists layers newest first, carries the image config as a JSON string per layer
(``v1Compatibility``) and, when signed, wraps everything in a "pretty JWS": the
``signatures`` member is spliced into the payload, and each signature's protected header
tells how to cut it out again (``formatLength`` bytes of the document, then the base64url
``formatTail``). The digest of a signed manifest is the digest of that payload, as
docker/libtrust and containers/image compute it.

Conversion follows containers/image's ``internal/image/docker_schema1.go``: layers reversed
to base-first, "throwaway" layers dropped from the layer list but kept in history with
``empty_layer``, and a config built from the newest ``v1Compatibility``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from boxwright.errors import DigestError, ManifestError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import (
    GO_ZERO_TIME,
    compact_go,
    dumps_go,
    go_time,
    load_object,
    raw_members,
)
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest, reject_ambiguous

KIND = "schema 1 manifest"
SCHEMA1_TYPES = (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED)
_V1_ID = re.compile(r"[a-f0-9]{64}")
# Fields of a v1Compatibility object that describe the v1 layer chain, not the image.
_V1_ONLY_FIELDS = ("id", "parent", "parent_id", "layer_id", "throwaway", "Size")


def _b64url(text: Any, what: str) -> bytes:
    """Decode base64url without padding as libtrust does (newlines and spaces ignored)."""
    if not isinstance(text, str):
        raise ManifestError(f"{KIND}: {what} must be a string")
    s = text.replace("\n", "").replace(" ", "")
    pad = {0: "", 2: "==", 3: "="}.get(len(s) % 4)
    if pad is None:
        raise ManifestError(f"{KIND}: {what} is not valid base64url")
    try:
        return base64.b64decode(s + pad, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ManifestError(f"{KIND}: {what} is not valid base64url") from None


def strip_signatures(raw: bytes) -> bytes:
    """The payload of a pretty-JWS signed schema 1 manifest (libtrust's ParsePrettySignature).

    All signatures must agree on ``formatLength`` and ``formatTail``.
    """
    obj = load_object(raw, KIND)
    blocks = obj.get("signatures")
    if not isinstance(blocks, list) or not blocks:
        raise ManifestError(f"{KIND}: signatures must be a non-empty array")
    length: int | None = None
    tail: bytes | None = None
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise ManifestError(f"{KIND}: signatures[{i}] must be an object")
        header_bytes = _b64url(block.get("protected"), f"signatures[{i}].protected")
        header = load_object(header_bytes, f"{KIND} signatures[{i}] protected header")
        fl = header.get("formatLength")
        if type(fl) is float and fl.is_integer():
            fl = int(fl)
        if type(fl) is not int:
            raise ManifestError(f"{KIND}: signatures[{i}]: missing formatted length")
        if "formatTail" not in header:
            raise ManifestError(f"{KIND}: signatures[{i}]: missing formatted tail")
        ft = _b64url(header["formatTail"], f"signatures[{i}] formatTail")
        if length is None:
            length, tail = fl, ft
        elif length != fl or tail != ft:
            raise ManifestError(f"{KIND}: signatures disagree on the signed payload")
    assert length is not None and tail is not None  # blocks is non-empty
    if length < 0 or length > len(raw):
        raise ManifestError(f"{KIND}: invalid format length {length}")
    return bytes(raw[:length]) + tail


@dataclass(frozen=True, slots=True)
class V1Compatibility:
    """The fields of one ``v1Compatibility`` entry that conversion needs."""

    id: str
    parent: str
    created: str
    author: str
    comment: str
    throwaway: bool
    cmd: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, where: str) -> V1Compatibility:
        """Validate one ``v1Compatibility`` JSON string."""
        obj = load_object(text.encode("utf-8", "surrogatepass"), where)

        def string(key: str) -> str:
            value = obj.get(key)
            if value is None:
                return ""
            if not isinstance(value, str):
                raise ManifestError(f"{where}: {key} must be a string")
            return value

        created = obj.get("created")
        created = GO_ZERO_TIME if created is None else go_time(created, f"{where}: created")
        # Checked as ImageConfig checks its fields, in the same shape: a v1Compatibility object
        # is an older config, read here for a few fields with schema 1's defaults.
        throwaway = obj.get("throwaway")
        if throwaway is not None and not isinstance(throwaway, bool):
            raise ManifestError(f"{where}: throwaway must be a boolean")
        cc = obj.get("container_config")
        cmd: tuple[str, ...] = ()
        if cc is not None:
            if not isinstance(cc, dict):
                raise ManifestError(f"{where}: container_config must be an object")
            raw_cmd = cc.get("Cmd")
            if raw_cmd is not None:
                if not isinstance(raw_cmd, list) or not all(isinstance(c, str) for c in raw_cmd):
                    raise ManifestError(f"{where}: container_config.Cmd must be strings")
                cmd = tuple(raw_cmd)
        return cls(
            id=string("id"),
            parent=string("parent"),
            created=created,
            author=string("author"),
            comment=string("comment"),
            throwaway=bool(throwaway),
            cmd=cmd,
        )


@dataclass(frozen=True)
class Schema1Manifest:
    """A Docker schema 1 manifest. ``fs_layers`` and ``history`` are newest first."""

    raw: bytes
    payload: bytes
    media_type: str
    name: str
    tag: str
    architecture: str
    fs_layers: tuple[Digest, ...]
    history: tuple[str, ...]
    v1: tuple[V1Compatibility, ...]

    @property
    def signed(self) -> bool:
        """Whether the raw bytes carry JWS signatures."""
        return self.payload != self.raw

    @property
    def digest(self) -> Digest:
        """The digest of the payload without signatures: the manifest's name in a registry."""
        return Digest.from_bytes(self.payload)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Schema1Manifest:
        """Validate ``raw`` as a schema 1 manifest, signed or not."""
        obj = load_object(raw, KIND)
        if media_type is not None and media_type not in SCHEMA1_TYPES:
            raise UnsupportedMediaTypeError(f"{KIND}: {media_type!r} is not a schema 1 type")
        version = obj.get("schemaVersion")
        if type(version) is not int or version != 1:
            raise ManifestError(f"{KIND}: schemaVersion must be 1, got {version!r}")
        reject_ambiguous(obj, KIND, {"fsLayers", "history"})
        signed = obj.get("signatures") is not None
        payload = strip_signatures(raw) if signed else bytes(raw)
        if signed:
            obj = _signed_object(payload)
        strings = {}
        for key in ("name", "tag", "architecture"):
            value = obj.get(key) or ""
            if not isinstance(value, str):
                raise ManifestError(f"{KIND}: {key} must be a string")
            strings[key] = value
        layers, history = _layers_and_history(obj)
        v1 = [V1Compatibility.parse(h, f"{KIND} history[{i}]") for i, h in enumerate(history)]
        layers, history, v1 = _fix_layers(layers, history, v1)
        return cls(
            raw=bytes(raw),
            payload=payload,
            media_type=media_type or (mt.DOCKER_SCHEMA1_SIGNED if signed else mt.DOCKER_SCHEMA1),
            name=strings["name"],
            tag=strings["tag"],
            architecture=strings["architecture"],
            fs_layers=tuple(layers),
            history=tuple(history),
            v1=tuple(v1),
        )

    def layers(self) -> list[tuple[Digest, bool]]:
        """Every layer base-first with whether it is empty ("throwaway")."""
        return [(d, v.throwaway) for d, v in zip(self.fs_layers, self.v1, strict=True)][::-1]

    def non_empty_layers(self) -> list[Digest]:
        """The layers a converted image keeps, base-first (throwaway layers dropped)."""
        return [d for d, empty in self.layers() if not empty]

    def to_config(self, diff_ids: Sequence[Digest], *, oci: bool = False) -> bytes:
        """The schema 2 config containers/image derives from this manifest.

        ``diff_ids`` are the uncompressed digests of :meth:`non_empty_layers` (the full
        base-first list of :meth:`layers`, throwaways included, is accepted too). With
        ``oci`` the config is re-encoded as containers/image does for an OCI target.
        """
        diff_ids = list(diff_ids)
        if len(diff_ids) == len(self.fs_layers) != len(self.non_empty_layers()):
            diff_ids = [
                d for d, (_, empty) in zip(diff_ids, self.layers(), strict=True) if not empty
            ]
        if len(diff_ids) != len(self.non_empty_layers()):
            raise ManifestError(
                f"{KIND}: {len(diff_ids)} diff_ids given for "
                f"{len(self.non_empty_layers())} non-empty layers"
            )
        members = raw_members(self.history[0], f"{KIND} history[0].v1Compatibility")
        for key in _V1_ONLY_FIELDS:
            members.pop(key, None)
        rootfs: dict[str, Any] = {"type": "layers"}
        if diff_ids:
            rootfs["diff_ids"] = [str(d) for d in diff_ids]
        history = []
        for v in reversed(self.v1):
            item: dict[str, Any] = {"created": v.created}
            if v.author:
                item["author"] = v.author
            created_by = " ".join(v.cmd)
            if created_by:
                item["created_by"] = created_by
            if v.comment:
                item["comment"] = v.comment
            if v.throwaway:
                item["empty_layer"] = True
            history.append(item)
        members["rootfs"] = dumps_go(rootfs).decode()
        members["history"] = dumps_go(history).decode()
        body = ",".join(
            dumps_go(key).decode() + ":" + compact_go(members[key]) for key in sorted(members)
        )
        raw = ("{" + body + "}").encode("utf-8", "surrogatepass")
        if oci:
            return ImageConfig.parse(raw).to_oci().raw
        ImageConfig.parse(raw)  # validate what we derived, as any config we hand out
        return raw

    def to_manifest(
        self,
        config_desc: Descriptor,
        layer_descs: Sequence[Descriptor],
        media_type: str = mt.DOCKER_MANIFEST,
    ) -> ImageManifest:
        """The schema 2 or OCI manifest for this image.

        ``config_desc`` points at the config blob written from :meth:`to_config`;
        ``layer_descs`` are the non-empty layers base-first as stored (their media types
        are mapped to the target format, gzip when unknown, as containers/image assumes).
        """
        if media_type not in (mt.DOCKER_MANIFEST, mt.OCI_MANIFEST):
            raise UnsupportedMediaTypeError(f"cannot convert schema 1 to {media_type!r}")
        wanted = self.non_empty_layers()
        if len(layer_descs) != len(wanted):
            raise ManifestError(
                f"{KIND}: {len(layer_descs)} layer descriptors given for "
                f"{len(wanted)} non-empty layers"
            )
        layers = [
            Descriptor(_layer_type(d.media_type, media_type), d.digest, d.size, d.urls)
            for d in layer_descs
        ]
        config_type = mt.OCI_CONFIG if media_type == mt.OCI_MANIFEST else mt.DOCKER_CONFIG
        config = Descriptor(config_type, config_desc.digest, config_desc.size)
        return ImageManifest.build(media_type, config, layers)


def _layer_type(media_type: str, target: str) -> str:
    """A stored layer's media type in the target format (gzip when it names none)."""
    compression = mt.layer_compression(media_type) or "gzip"
    nondistributable = mt.is_nondistributable(media_type)
    if target == mt.OCI_MANIFEST:
        return mt.oci_layer_type(compression, nondistributable)
    if compression == "zstd":
        raise UnsupportedMediaTypeError(
            f"{media_type}: zstd compression is not supported for Docker images"
        )
    return mt.docker_layer_type(compression, nondistributable)


def _signed_object(payload: bytes) -> dict[str, Any]:
    """The manifest object read from its signed payload: what was signed is what counts, so
    every field is read from there."""
    try:
        return load_object(payload, f"{KIND} payload")
    except ManifestError as e:
        raise ManifestError(
            f"{KIND}: the signatures' formatLength/formatTail do not cut a valid "
            f"payload out of the document ({e})"
        ) from None


def _layers_and_history(obj: dict[str, Any]) -> tuple[list[Digest], list[str]]:
    """The ``fsLayers`` blob digests and ``history`` v1Compatibility strings, newest first,
    checked to be as many as each other and not none."""
    fs_obj = obj.get("fsLayers")
    hist_obj = obj.get("history")
    if not isinstance(fs_obj, list) or not isinstance(hist_obj, list):
        raise ManifestError(f"{KIND}: fsLayers and history must be arrays")
    if len(fs_obj) != len(hist_obj):
        raise ManifestError(f"{KIND}: {len(hist_obj)} history entries but {len(fs_obj)} fsLayers")
    if not fs_obj:
        raise ManifestError(f"{KIND}: no fsLayers")
    layers = []
    for i, entry in enumerate(fs_obj):
        if not isinstance(entry, dict):
            raise ManifestError(f"{KIND}: fsLayers[{i}] must be an object")
        try:
            layers.append(Digest.parse(entry.get("blobSum")))
        except DigestError as e:
            raise ManifestError(f"{KIND}: fsLayers[{i}].blobSum: {e}") from None
    history = []
    for i, entry in enumerate(hist_obj):
        text = entry.get("v1Compatibility") if isinstance(entry, dict) else None
        if not isinstance(text, str):
            raise ManifestError(f"{KIND}: history[{i}].v1Compatibility must be a string")
        history.append(text)
    return layers, history


def _fix_layers(
    layers: list[Digest], history: list[str], v1: list[V1Compatibility]
) -> tuple[list[Digest], list[str], list[V1Compatibility]]:
    """Validate the v1 ID chain and drop repeated entries (containers/image's fixManifestLayers).

    IDs must be 64 hex digits, the base must have no parent, each entry's parent must be the
    next entry's ID, and an ID may repeat only in consecutive entries (which are merged).
    """
    for i, v in enumerate(v1):
        if not _V1_ID.fullmatch(v.id):
            raise ManifestError(f"{KIND}: history[{i}]: image ID {v.id!r} is invalid")
    if v1[-1].parent:
        raise ManifestError(f"{KIND}: invalid parent ID in the base layer of the image")
    seen: set[str] = set()
    last = ""
    for v in v1:
        if v.id != last and v.id in seen:
            raise ManifestError(f"{KIND}: ID {v.id} appears multiple times in the manifest")
        last = v.id
        seen.add(v.id)
    layers, history, v1 = list(layers), list(history), list(v1)
    for i in range(len(v1) - 2, -1, -1):
        if v1[i].id == v1[i + 1].id:
            del layers[i], history[i], v1[i]
        elif v1[i].parent != v1[i + 1].id:
            raise ManifestError(
                f"{KIND}: invalid parent ID: expected {v1[i + 1].id}, got {v1[i].parent}"
            )
    return layers, history, v1


__all__ = ["Schema1Manifest", "V1Compatibility", "strip_signatures"]

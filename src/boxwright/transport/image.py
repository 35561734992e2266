"""One image of a source: its manifest, config and layers, derived from the minimal protocol.

An :class:`~boxwright.transport.base.ImageSource` only hands out manifests and blobs.
:func:`open_image` turns it into an :class:`Image`: it follows indexes (nested ones too) to
the image for the wanted platform, converts a Docker schema 1 manifest on the fly (the image
then presents itself as Docker schema 2 with a generated config whose diff_ids were measured
by decompressing each layer once, as containers/image does: :mod:`.schema1image`), and
reads the config lazily.

Layer streams come verified: :meth:`Image.open_layer` checks the blob against its digest and
size, :meth:`Image.open_layer_uncompressed` also checks the uncompressed tar against the
diff_id when the stream ends. A descriptor size of ``-1`` means "unknown" (schema 1 does not
record sizes); sources then verify the digest only.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import ExitStack
from functools import cached_property
from typing import TYPE_CHECKING

from boxwright.errors import ManifestError
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import CHUNK, Digest
from boxwright.oci.index import ImageIndex, choose_instance
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.oci.platform import Platform
from boxwright.oci.readers import Reader, VerifyingStream
from boxwright.transport.base import MAX_CONFIG_SIZE, MAX_INDEX_DEPTH, ImageSource
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:  # loaded when needed: layer streams and schema 1 cost start-up time
    from boxwright.layer.streams import LayerReader
    from boxwright.oci.schema1 import Schema1Manifest


class Image:
    """A source plus one chosen image manifest, with what it implies.

    ``manifest`` is an OCI or Docker schema 2 manifest (a schema 1 manifest is converted;
    ``schema1`` keeps the original); ``manifest_digest`` is the digest under which the source
    knows the chosen manifest; ``index`` is the index it was chosen from, if any.
    """

    def __init__(
        self,
        source: ImageSource,
        manifest: ImageManifest,
        manifest_digest: Digest,
        index: ImageIndex | None = None,
        *,
        schema1: Schema1Manifest | None = None,
        config_bytes: bytes | None = None,
    ) -> None:
        # An open image over its source, not a value: the config bytes are fetched on first use.
        self.source = source
        self.manifest = manifest
        self.manifest_digest = manifest_digest
        self.index = index
        self.schema1 = schema1
        self._config_bytes = config_bytes

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """The layer descriptors, base first."""
        return self.manifest.layers

    @cached_property
    def config_bytes(self) -> bytes:
        """The config blob's exact bytes, verified against the manifest's config descriptor."""
        if self._config_bytes is not None:
            return self._config_bytes
        desc = self.manifest.config
        if desc.size > MAX_CONFIG_SIZE:
            raise ManifestError(
                f"image config {desc.digest} is {desc.size} bytes, more than the limit of "
                f"{MAX_CONFIG_SIZE}"
            )
        with self.source.get_blob(desc) as stream:
            parts = []
            while chunk := stream.read(CHUNK):
                parts.append(chunk)
        return b"".join(parts)

    @cached_property
    def config(self) -> ImageConfig:
        """The parsed image config."""
        return ImageConfig.parse(self.config_bytes)

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        """The uncompressed digests of the layers, base first (from the config)."""
        diff_ids = self.config.diff_ids
        if len(diff_ids) != len(self.layers):
            raise ManifestError(
                f"image {self.manifest_digest}: the config lists {len(diff_ids)} diff_ids for "
                f"{len(self.layers)} layers"
            )
        return diff_ids

    def _descriptor(self, layer: int | Descriptor) -> Descriptor:
        if isinstance(layer, Descriptor):
            return layer
        try:
            return self.layers[layer]
        except IndexError:
            raise ManifestError(
                f"image {self.manifest_digest} has {len(self.layers)} layers, no layer {layer}"
            ) from None

    def open_layer(self, layer: int | Descriptor) -> VerifyingStream:
        """The layer blob as stored (compressed), verified against its descriptor."""
        return self.source.get_blob(self._descriptor(layer))

    def open_layer_uncompressed(self, layer: int) -> Reader:
        """The layer's tar, decompressed, verified against the blob digest and the diff_id.

        The compression is detected from the content (media types of some sources, such
        as docker archives, do not say whether a layer file is compressed).
        """
        from boxwright.transport.owned_layer import OwnedLayerReader

        desc = self._descriptor(layer)
        diff_id = self.diff_ids[layer]
        return OwnedLayerReader(self.source.get_blob(desc), None, diff_id)


def open_image(
    source: ImageSource, platform: Platform | None = None, digest: Digest | None = None
) -> Image:
    """The image ``source`` names (or the manifest ``digest`` of it), for ``platform``.

    An index is followed to the entry for ``platform`` (default: this machine's); indexes
    may nest up to :data:`MAX_INDEX_DEPTH` deep. A Docker schema 1 manifest is converted.
    """
    raw, media_type = source.get_manifest(digest)
    index: ImageIndex | None = None
    chosen_digest = digest
    for _ in range(MAX_INDEX_DEPTH + 1):
        parsed = parse_manifest(raw, media_type or None)
        if isinstance(parsed, ImageIndex):
            index = parsed
            entry = choose_instance(parsed, platform)
            raw, media_type = source.get_manifest(entry.digest)
            chosen_digest = entry.digest
            if not media_type:
                media_type = entry.media_type
            continue
        if isinstance(parsed, ImageManifest):
            return Image(source, parsed, chosen_digest or parsed.digest, index)
        # Schema 1 comes only from old registries: its sibling, and the layer streams it
        # measures with, load here alone.
        from boxwright.transport.schema1image import as_schema2

        schema1, manifest, config = as_schema2(source, parsed)
        return Image(source, manifest, schema1.digest, index, schema1=schema1, config_bytes=config)
    raise ManifestError(
        f"{source.name}: indexes nest more than {MAX_INDEX_DEPTH} levels deep; refusing to follow"
    )


def open_named_image(
    ref: str | Image, platform: Platform | str | None = None
) -> tuple[Image, ImageSource | None]:
    """The image a reference string names (for ``platform``, a :class:`Platform` or its
    ``os/arch[/variant]`` text), or ``ref`` itself when it is an open :class:`Image`.

    Returns the image and the source the caller must close (None for an image given open);
    nothing is left open when this raises.
    """
    if isinstance(ref, Image):
        return ref, None
    if isinstance(platform, str):
        platform = Platform.parse(platform)
    source = parse_transport_reference(ref).open_source()
    try:
        return open_image(source, platform), source
    except BaseException:
        source.close()
        raise


def _open_threaded(
    image: Image, index: int, after: LayerReader | None
) -> tuple[VerifyingStream, LayerReader]:
    """The blob of layer ``index`` and a verifying reader of its tar that reads, hashes and
    inflates on worker threads, starting once ``after`` (the previous layer's reader) has
    read its blob."""
    from boxwright.layer.streams import LayerReader

    blob = image.open_layer(index)
    try:
        reader = LayerReader(blob, None, image.diff_ids[index], threaded=True, start_after=after)
    except BaseException:
        blob.close()
        raise
    return blob, reader


def layer_tars(jobs: Sequence[tuple[Image, int]]) -> Generator[Reader, None, None]:
    """The tar of each ``(image, layer index)`` job in order, decompressed and verified.

    While the caller reads one tar, the next job's blob is already read and inflated on
    worker threads, so decompression overlaps with what the caller does with the files. A
    tar raises :class:`~boxwright.errors.DigestMismatchError` from the read that reaches its
    end when the blob or the tar does not match. Each stream is closed when the next one is
    asked for, and every open one when the generator is closed (also on errors).
    """
    with ExitStack() as stack:
        nxt = _open_threaded(*jobs[0], None) if jobs else None
        if nxt is not None:
            stack.callback(nxt[0].close)
            stack.callback(nxt[1].close)
        for position in range(len(jobs)):
            assert nxt is not None
            blob, reader = nxt
            if position + 1 < len(jobs):
                nxt = _open_threaded(*jobs[position + 1], reader)
                stack.callback(nxt[0].close)
                stack.callback(nxt[1].close)
            yield reader
            reader.close()
            blob.close()


__all__ = ["Image", "layer_tars", "open_image", "open_named_image"]

"""The walk a person does by hand with ``jq``: reference → index → platform → manifest →
config → layers, and each history entry joined to the layer it made.

History entries marked ``empty_layer`` made no layer (ENV, CMD, LABEL...); the others
correspond, in order, to the manifest's layers. Images do not always keep that promise:
some have no history at all, and some (squashed, rebased or hand-edited) have more or
fewer non-empty entries than layers. :func:`join_history` never fails on that: it joins
what it can in order and says what did not line up, in the row's ``note`` and in one
sentence for the whole image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from boxwright.explain.model import HistoryRow, LayerInfo, PathStep
from boxwright.oci.config import HistoryEntry

if TYPE_CHECKING:
    from boxwright.transport.image import Image

_NOP = re.compile(r"^(?:\|\d+ .*?)?/bin/sh -c #\(nop\)\s*")
_RUN = re.compile(r"^(?:\|\d+ .*?)?/bin/sh -c\s+")


def clean_instruction(created_by: str) -> str:
    """``created_by`` as the instruction a person wrote.

    ``/bin/sh -c #(nop) CMD ["sh"]`` (docker, buildah and podman record metadata steps so)
    becomes ``CMD ["sh"]``; ``/bin/sh -c apt-get update`` (a RUN step), also with the
    ``|2 A=1 B=2`` build-argument prefix, becomes ``RUN apt-get update``. Anything else is
    returned stripped, as written.
    """
    text = created_by.strip()
    nop = _NOP.match(text)
    if nop:
        return text[nop.end() :].strip()
    run = _RUN.match(text)
    if run:
        return "RUN " + text[run.end() :].strip()
    return text


def image_path(image: Image) -> tuple[PathStep, ...]:
    """The hops from the reference to the bytes, with digests, media types and sizes."""
    steps: list[PathStep] = []
    index = image.index
    if index is not None:
        steps.append(PathStep("index", index.media_type, str(index.digest), len(index.raw)))
    manifest = image.manifest
    platform = ""
    if index is not None:
        for entry in index.manifests:
            if entry.digest == image.manifest_digest and entry.platform is not None:
                platform = str(entry.platform)
    steps.append(
        PathStep(
            "manifest",
            manifest.media_type,
            str(image.manifest_digest),
            len(manifest.raw),
            platform,
        )
    )
    config = manifest.config
    steps.append(PathStep("config", config.media_type, str(config.digest), config.size))
    for layer in manifest.layers:
        steps.append(PathStep("layer", layer.media_type, str(layer.digest), layer.size))
    return tuple(steps)


def join_history(
    history: Sequence[HistoryEntry], layers: Sequence[LayerInfo]
) -> tuple[tuple[HistoryRow, ...], str]:
    """One row per history entry, joined in order to the layers; and a note for the image.

    Non-empty entries take the layers in order. Entries left without a layer are kept with
    the note ``"no layer: the image has fewer layers than history entries"``; layers left
    without an entry get a row of their own (``history`` None) after the last entry.
    """
    rows: list[HistoryRow] = []
    next_layer = 0
    for position, entry in enumerate(history):
        layer: LayerInfo | None = None
        note = ""
        if not entry.empty_layer:
            if next_layer < len(layers):
                layer = layers[next_layer]
                next_layer += 1
            else:
                note = "no layer: the image has fewer layers than history entries"
        rows.append(
            HistoryRow(
                history=position,
                layer=None if layer is None else layer.index,
                instruction=clean_instruction(entry.created_by),
                created_by=entry.created_by,
                created=entry.created,
                comment=entry.comment,
                empty_layer=entry.empty_layer,
                size=None if layer is None else layer.size,
                uncompressed_size=None if layer is None else layer.uncompressed_size,
                files=None if layer is None else layer.files,
                note=note,
            )
        )
    rows.extend(_undescribed_row(layer) for layer in layers[next_layer:])
    return tuple(rows), _mismatch_note(history, layers)


def _undescribed_row(layer: LayerInfo) -> HistoryRow:
    """The row of a layer no history entry describes."""
    return HistoryRow(
        history=None,
        layer=layer.index,
        instruction="",
        created_by="",
        created=None,
        comment="",
        empty_layer=False,
        size=layer.size,
        uncompressed_size=layer.uncompressed_size,
        files=layer.files,
        note="no history entry describes this layer",
    )


def _mismatch_note(history: Sequence[HistoryEntry], layers: Sequence[LayerInfo]) -> str:
    """The image's note when its non-empty history entries and its layers do not pair up;
    empty when they do."""
    non_empty = sum(1 for entry in history if not entry.empty_layer)
    if not history and layers:
        summary = f"the image has no history: {len(layers)} layers are listed without steps"
    elif non_empty > len(layers):
        summary = (
            f"the history has {non_empty} non-empty entries for {len(layers)} layers: "
            f"the last {non_empty - len(layers)} have no layer"
        )
    elif non_empty < len(layers):
        summary = (
            f"the history has {non_empty} non-empty entries for {len(layers)} layers: "
            f"the last {len(layers) - non_empty} layers have no history entry"
        )
    else:
        summary = ""
    return summary


__all__ = ["clean_instruction", "image_path", "join_history"]

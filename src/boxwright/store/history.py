"""An image's history as ``podman history`` shows it: one entry per history step, newest first.

Each entry has the step's time, command and comment, and the size of the layer it made (its
unpacked size; 0 for a step that made none). Its ID is that of the image whose top layer is
the layer the step leaves on top, when the store holds one and it is not named above already
(the image itself for the newest step, a build's intermediate image for earlier ones), else
``<missing>``, as containers/common's libimage assigns them. An image with no layer shows
every step as ``<missing>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from boxwright.oci.config import chain_ids

if TYPE_CHECKING:
    from boxwright.store.images import ImageRecord, ImageStore

MISSING_ID: Final = "<missing>"


@dataclass(frozen=True)
class HistoryStep:
    """One row of ``history``: ``id`` is an image ID or :data:`MISSING_ID`."""

    id: str
    created: str | None
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...] = ()


def image_history(images: ImageStore, record: ImageRecord) -> list[HistoryStep]:
    """The history of ``record``, newest step first (see the module docstring)."""
    config = images.config(record)
    sizes = images.layer_sizes(record)
    chains = [str(c) for c in chain_ids(record.diff_ids)]
    tops: dict[str, list[ImageRecord]] = {}
    for other in images.list():
        if other.diff_ids:
            top = str(chain_ids(other.diff_ids)[-1])
            tops.setdefault(top, []).append(other)
    for owners in tops.values():  # the image itself first among images sharing its top
        owners.sort(key=lambda r: r.id != record.id)
    layer = len(chains) - 1
    used: set[str] = set()
    steps: list[HistoryStep] = []
    for entry in reversed(config.history):
        step_id, size = MISSING_ID, 0
        if layer >= 0:
            if not entry.empty_layer:
                size = sizes[layer]
            owners = tops.get(chains[layer], [])
            if owners and owners[0].id not in used:
                step_id = owners[0].id
                used.add(step_id)
            if not entry.empty_layer and layer > 0:
                layer -= 1
        steps.append(HistoryStep(step_id, entry.created, entry.created_by, size, entry.comment))
    return steps


__all__ = ["MISSING_ID", "HistoryStep", "image_history"]

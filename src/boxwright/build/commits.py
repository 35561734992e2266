"""How a stage's steps become images: the history a commit writes (:func:`history_of`, from
the stage's pending notes), a linked step's commit that stacks a carrier image's layer blob
unchanged (:func:`commit_linked`), and the carrier itself (:func:`make_carrier`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from boxwright.build.step import NOP
from boxwright.oci.config import ImageConfig, created_time
from boxwright.oci.manifest import ImageManifest
from boxwright.store.commit import commit_with_layer
from boxwright.store.images import LINK_CARRIER_LABEL

if TYPE_CHECKING:
    from boxwright.build.step import Note
    from boxwright.store.containerrecord import ContainerRecord
    from boxwright.store.images import ImageRecord
    from boxwright.store.store import Store


def history_of(notes: Sequence[Note], created_by: str) -> list[dict[str, Any]]:
    """The history a commit writes: the notes with ``empty_layer``, then the new layer's."""
    history: list[dict[str, Any]] = [
        {"created": n.created, "created_by": n.created_by, "empty_layer": True} for n in notes
    ]
    history.append({"created": created_time(), "created_by": created_by})
    return history


def commit_linked(
    store: Store,
    container: ContainerRecord,
    carrier: str,
    created_by: str,
    *,
    format: str,
    timestamp: int | None,
    annotations: dict[str, str] | None,
) -> ImageRecord:
    """The working container's pending config and notes (``container``, its record as the
    commit is to read it) over its base image, plus the top layer of the ``carrier`` image
    as the new layer (the same blob, the same diff_id)."""
    record = store.images.get(carrier)
    layer = ImageManifest.parse(store.images.manifest(record)).layers[-1]
    return commit_with_layer(
        store,
        container,
        None,
        layer,
        record.diff_ids[-1],
        format=format,
        timestamp=timestamp,
        created_by=created_by,
        annotations=annotations,
        base_comment=False,
    )


def make_carrier(
    store: Store,
    apply: Callable[[str], str],
    *,
    format: str,
    timestamp: int | None,
    clamp_mtime: bool = True,
) -> tuple[str, str]:
    """Run ``apply`` (the copy, into the container it is given) in an empty working container
    and commit it: the carrier image's ID and the step's ``created_by`` (also the carrier's
    history, where a cache hit reads it).

    The carrier's config has the label ``io.boxwright.build.link-carrier=true``
    (:data:`~boxwright.store.images.LINK_CARRIER_LABEL`): it is build cache, which
    ``boxwright images`` hides unless ``--all``. The label is in the config, not the layer, so
    the linked layer's blob is the same; it travels with the carrier through
    ``--cache-to``/``--cache-from``."""

    def labelled(data: dict[str, Any]) -> dict[str, Any]:
        config = ImageConfig.from_data(data)
        return config.with_changes(labels={**config.config.labels, LINK_CARRIER_LABEL: "true"}).data

    record = store.containers.create(None)
    try:
        created_by = apply(record.id)
        store.containers.edit(record.id, lambda now: {"config": labelled(now.config)})
        image = store.containers.commit(
            record.id,
            None,
            format=format,
            timestamp=timestamp,
            created_by=created_by,
            clamp_mtime=clamp_mtime,
        )
    finally:
        store.containers.remove(record.id)
    return image.id, created_by


def carrier_created_by(store: Store, carrier: str) -> str:
    """The ``created_by`` a carrier image's last history entry holds (its step's)."""
    history = json.loads(store.images.config(store.images.get(carrier)).raw).get("history")
    last = history[-1] if isinstance(history, list) and history else {}
    text = last.get("created_by") if isinstance(last, dict) else None
    return text if isinstance(text, str) else NOP + "COPY"


__all__ = ["carrier_created_by", "commit_linked", "history_of", "make_carrier"]

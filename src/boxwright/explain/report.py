"""``explain_image``: the whole report on one image, each layer streamed once.

The report always reads every layer (the history rows need each layer's uncompressed size
and file count, and the waste summary needs every file); ``files=True`` only keeps the
per-layer file lists. Nothing is written to disk and no file content is held: see
:mod:`boxwright.explain.layerfiles`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.explain.layerfiles import FileSystemView, image_layer_files
from boxwright.explain.model import ConfigSummary, ExplainReport, LayerInfo
from boxwright.explain.walk import image_path, join_history
from boxwright.explain.waste import WasteTracker
from boxwright.inspect import require_image_config
from boxwright.transport.image import Image, open_image
from boxwright.transport.reference import opened_source

if TYPE_CHECKING:
    from boxwright.oci.config import ImageConfig
    from boxwright.oci.platform import Platform
    from boxwright.transport.base import ImageSource
    from boxwright.transport.reference import TransportReference


# The report's own copy of the run-time fields, named one by one, so the JSON does not
# change when the config model does; other keyword constructions look alike in shape only.
def _config_summary(config: ImageConfig) -> ConfigSummary:
    run = config.config
    return ConfigSummary(
        entrypoint=run.entrypoint,
        cmd=run.cmd,
        env=run.env,
        user=run.user,
        working_dir=run.working_dir,
        exposed_ports=run.exposed_ports,
        volumes=run.volumes,
        labels=dict(run.labels),
        stop_signal=run.stop_signal,
    )


def explain(image: Image, *, files: bool = False, reference: str = "") -> ExplainReport:
    """The report on an open ``image`` (see :func:`explain_image`)."""
    require_image_config(image)
    config = image.config
    view = FileSystemView()
    tracker = WasteTracker(files=files)
    layers: list[LayerInfo] = []
    diff_ids = image.diff_ids if image.layers else ()
    for layer_files in image_layer_files(image):
        changes = view.apply(layer_files)
        tracker.record(layer_files, changes, view)
        desc = image.layers[layer_files.index]
        layers.append(
            LayerInfo(
                index=layer_files.index,
                digest=str(desc.digest),
                diff_id=str(diff_ids[layer_files.index]),
                media_type=desc.media_type,
                size=desc.size,
                uncompressed_size=layer_files.size,
                files=layer_files.files,
            )
        )
    rows, note = join_history(config.history, layers)
    return ExplainReport(
        reference=reference,
        platform=str(config.platform()),
        created=config.created,
        path=image_path(image),
        layers=tuple(layers),
        history=rows,
        history_note=note,
        waste=tracker.waste([layer.uncompressed_size for layer in layers]),
        config=_config_summary(config),
        files=tracker.file_reports() if files else None,
    )


def explain_image(
    ref: str | TransportReference | ImageSource | Image,
    *,
    files: bool = False,
    platform: Platform | None = None,
) -> ExplainReport:
    """Explain the image ``ref`` names (a reference string such as ``oci:DIR:TAG``, a parsed
    reference, an open source, or an :class:`~boxwright.transport.image.Image`).

    For an index, the image for ``platform`` (default: this machine's) is explained.
    ``files=True`` adds what each layer added, changed, deleted and had shadowed. Every
    layer is verified against its digest and diff_id while it is read.
    """
    if isinstance(ref, Image):
        return explain(ref, files=files)

    with opened_source(ref) as (reference, source):
        image = open_image(source, platform)
        return explain(image, files=files, reference=str(reference) if reference else "")


__all__ = ["explain", "explain_image"]

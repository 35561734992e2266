"""The explain report as data: what :func:`~boxwright.explain.explain_image` returns.

Every class is frozen and has ``to_dict()`` giving the JSON ``boxwright explain --format
json`` prints (snake_case keys, sizes in bytes, digests as strings, ``null`` where a value
is unknown). :meth:`ExplainReport.to_json` is that JSON as text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from boxwright.explain.layerfiles import FileEntry
from boxwright.oci.digest import Digest


@runtime_checkable
class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class JsonRecord:
    """A report dataclass whose JSON object is its fields by name, in their order: tuples as
    lists, digests as strings, nested reports (anything with ``to_dict``) as their objects."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        record: Any = self
        return {f.name: _json_value(getattr(self, f.name)) for f in dataclasses.fields(record)}


def _json_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, Digest):
        return str(value)
    if isinstance(value, _HasToDict):
        return value.to_dict()
    return value


@dataclass(frozen=True, slots=True)
class PathStep:
    """One hop from the reference to the bytes: an index, the platform chosen in it, the
    manifest, the config, or a layer (``kind``), with its descriptor's facts."""

    kind: str
    media_type: str
    digest: str
    size: int
    platform: str = ""

    # Written out, not JsonRecord's: platform only when set.
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "media_type": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform:
            out["platform"] = self.platform
        return out


@dataclass(frozen=True, slots=True)
class LayerInfo(JsonRecord):
    """One layer: its blob (``digest``, ``media_type``, compressed ``size``), its ``diff_id``,
    the uncompressed tar size and its entry count (whiteouts not counted)."""

    index: int
    digest: str
    diff_id: str
    media_type: str
    size: int
    uncompressed_size: int
    files: int


@dataclass(frozen=True, slots=True)
class HistoryRow(JsonRecord):
    """One step: a history entry joined to the layer it made (``layer``), or metadata only.

    ``history`` is the entry's index in the config's history (None for a layer no history
    entry describes); ``instruction`` is ``created_by`` cleaned for reading (the shell and
    ``#(nop)`` prefixes builders add removed), ``created_by`` the raw text. ``note`` says what
    is unusual (``"empty_layer"`` entries are normal and have no note).
    """

    history: int | None
    layer: int | None
    instruction: str
    created_by: str
    created: str | None
    comment: str
    empty_layer: bool
    size: int | None
    uncompressed_size: int | None
    files: int | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Shadowed(JsonRecord):
    """A file of one layer that a later layer replaced (``how`` = ``"changed"``) or removed
    (``"deleted"``): ``layer`` wrote it, ``by`` shadowed it."""

    path: str
    kind: str
    size: int
    layer: int
    by: int
    how: str


@dataclass(frozen=True, slots=True)
class LayerFileReport(JsonRecord):
    """What one layer did to the filesystem (``--files``): entries ``added`` (new paths),
    ``changed`` (paths a lower layer had), ``deleted`` (lower paths removed: whiteouts,
    opaque directories, a directory replaced by a file), the raw ``whiteouts`` and
    ``opaque_dirs`` markers, and ``shadowed`` (this layer's files that later layers
    replaced or removed). ``wasted_bytes`` are the bytes of this layer's files shadowed."""

    layer: int
    added: tuple[FileEntry, ...]
    changed: tuple[FileEntry, ...]
    deleted: tuple[str, ...]
    whiteouts: tuple[str, ...]
    opaque_dirs: tuple[str, ...]
    shadowed: tuple[Shadowed, ...]
    wasted_bytes: int


@dataclass(frozen=True, slots=True)
class Offender(JsonRecord):
    """A path whose bytes were wasted: the total, how many copies were shadowed, the layers
    that wrote those copies."""

    path: str
    wasted_bytes: int
    copies: int
    layers: tuple[int, ...]


# Each report object is its fields (JsonRecord writes them); their lists look alike.
@dataclass(frozen=True, slots=True)
class Waste(JsonRecord):
    """The waste summary: ``wasted_bytes`` (exact: bytes of regular files written in one layer
    and replaced or deleted by a later one), ``efficiency`` (as dive computes it: over every
    file path, the smallest size it had divided by the sum of every size written or deleted
    there; 1.0 for an image with nothing to count), ``user_wasted_percent`` (wasted bytes
    over the uncompressed size of every layer but the base, as dive's rule; 0.0 with one
    layer) and the biggest ``offenders``."""

    wasted_bytes: int
    efficiency: float
    user_wasted_percent: float
    offenders: tuple[Offender, ...]


@dataclass(frozen=True, slots=True)
class ConfigSummary(JsonRecord):
    """The final run-time config: what a container of the image starts with."""

    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: tuple[str, ...]
    user: str
    working_dir: str
    exposed_ports: tuple[str, ...]
    volumes: tuple[str, ...]
    labels: dict[str, str]
    stop_signal: str


@dataclass(frozen=True, slots=True)
class ExplainReport:
    """Everything ``boxwright explain`` shows about one image.

    ``path``: index → platform → manifest → config → layers. ``history_note`` says when
    history and layers do not line up (no history at all, more or fewer non-empty entries
    than layers); empty otherwise. ``files`` is set with ``files=True``.
    """

    reference: str
    platform: str
    created: str | None
    path: tuple[PathStep, ...]
    layers: tuple[LayerInfo, ...]
    history: tuple[HistoryRow, ...]
    history_note: str
    waste: Waste
    config: ConfigSummary
    files: tuple[LayerFileReport, ...] | None = None

    @property
    def size(self) -> int:
        """Compressed bytes of every layer."""
        return sum(layer.size for layer in self.layers)

    @property
    def uncompressed_size(self) -> int:
        """Uncompressed bytes of every layer."""
        return sum(layer.uncompressed_size for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "platform": self.platform,
            "created": self.created,
            "size": self.size,
            "uncompressed_size": self.uncompressed_size,
            "path": [p.to_dict() for p in self.path],
            "layers": [layer.to_dict() for layer in self.layers],
            "history": [row.to_dict() for row in self.history],
            "history_note": self.history_note,
            "waste": self.waste.to_dict(),
            "config": self.config.to_dict(),
        }
        if self.files is not None:
            out["files"] = [f.to_dict() for f in self.files]
        return out

    def to_json(self, indent: int | None = 4) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


__all__ = [
    "ConfigSummary",
    "ExplainReport",
    "HistoryRow",
    "LayerFileReport",
    "LayerInfo",
    "Offender",
    "PathStep",
    "Shadowed",
    "Waste",
]

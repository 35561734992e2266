"""The record of one working container (one element of ``R/containers.json``): what
:mod:`boxwright.store.containers` keeps and :mod:`boxwright.store.commit` reads, in a module of
its own so that both use it without importing each other.

Reading the records and finding one by name or ID is here too (:func:`read_container_records`,
:func:`find_container`): a process that only looks a container up (``exec``, ``stop``,
``ps``, through :meth:`boxwright.store.store.Store.container_record`) loads none of the
container store's image, layer and driver machinery.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxwright.errors import ContainerNotFoundError, StoreError, UsageError
from boxwright.store.metadata import read_records

FORMAT = "boxwright-containers"
VERSION = 1


@dataclass(frozen=True)
class ContainerRecord:
    """What the store knows of one working container (one element of containers.json)."""

    id: str  #: 64 hex
    name: str  #: unique in the store
    image_id: str | None  #: the base image's ID, None for scratch
    image_name: str | None  #: the name the base image was asked for by
    layer_chain: tuple[str, ...]  #: chain IDs ("sha256:...") of the base layers, bottom first
    driver: str  #: "overlay" or "copy"
    config: dict[str, Any]  #: the full pending image config JSON
    manifest_format: str  #: "oci" or "docker"
    created: str  #: RFC 3339, UTC
    history: tuple[dict[str, Any], ...] = ()  #: pending history notes (module docstring)
    mounted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in containers.json."""
        out = dataclasses.asdict(self)
        out["layer_chain"] = list(self.layer_chain)
        out["history"] = [dict(h) for h in self.history]
        return out

    @classmethod
    def from_json(cls, data: Any) -> ContainerRecord:
        """Read one stored record; ValueError when it is malformed."""
        if not isinstance(data, dict):
            raise ValueError("a container record must be an object")
        try:
            record = cls(
                id=str(data["id"]),
                name=str(data["name"]),
                image_id=data.get("image_id"),
                image_name=data.get("image_name"),
                layer_chain=tuple(str(c) for c in data.get("layer_chain", ())),
                driver=str(data["driver"]),
                config=dict(data["config"]),
                manifest_format=str(data.get("manifest_format", "oci")),
                created=str(data["created"]),
                history=tuple(dict(h) for h in data.get("history", ())),
                mounted=bool(data.get("mounted", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or malformed field {exc}") from exc
        return record


def read_container_records(path: Path) -> list[ContainerRecord]:
    """Every record of ``containers.json`` at ``path``, oldest first (read without a lock:
    the file is replaced by rename); :class:`StoreError` when it is corrupt."""
    try:
        return [
            ContainerRecord.from_json(c) for c in read_records(path, FORMAT, VERSION, "containers")
        ]
    except ValueError as exc:
        raise StoreError(
            f"{path} is corrupt ({exc}); restore it or remove it (the containers it "
            "listed are then lost, their files stay under containers/)"
        ) from exc


def find_container(records: list[ContainerRecord], name_or_id: str) -> ContainerRecord:
    """The record named ``name_or_id``, else with that ID, else with that unique ID prefix (3
    hex digits at least); :class:`ContainerNotFoundError` when none is."""
    for record in records:
        if record.name == name_or_id:
            return record
    for record in records:
        if record.id == name_or_id:
            return record
    if len(name_or_id) >= 3 and all(c in "0123456789abcdef" for c in name_or_id):
        found = [r for r in records if r.id.startswith(name_or_id)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(sorted(r.name for r in found))
            raise UsageError(f"container ID prefix {name_or_id!r} matches several: {names}")
    raise ContainerNotFoundError(
        f"no working container named {name_or_id!r} (nor with that ID): "
        "see `boxwright container ls`"
    )


__all__ = [
    "FORMAT",
    "VERSION",
    "ContainerRecord",
    "find_container",
    "read_container_records",
]

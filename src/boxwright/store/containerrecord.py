"""The record of one working container (one element of ``R/containers.json``): what
:mod:`boxwright.store.containers` keeps and :mod:`boxwright.store.commit` reads, in a module of
its own so that both use it without importing each other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


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


__all__ = ["ContainerRecord"]

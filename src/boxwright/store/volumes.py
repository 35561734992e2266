"""Named volumes of the store: podman's ``volume create|ls|inspect|rm|prune``.

A volume is a directory that outlives the containers that mount it, kept where podman keeps
its own: ``R/volumes/NAME/_data``, with ``R/volumes/NAME/volume.json`` beside it (name,
driver ``local``, labels, options, creation time, and the IDs of the containers that mounted
it). Every change to the records holds ``R/volumes/lock``; a record is replaced atomically.

``-v NAME:/dst`` and ``--mount type=volume,source=NAME`` create the volume on first use, as
podman does, and note the container (:meth:`VolumeStore.use`): ``prune`` removes the volumes
no existing container has used, ``rm`` refuses a volume such a container still names unless
forced.
"""

from __future__ import annotations

import builtins
import json
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boxwright.errors import StoreError, UsageError, VolumeNotFoundError
from boxwright.store.locking import file_lock
from boxwright.transport.atomic import atomic_write

#: podman's rule for volume names.
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_RECORD = "volume.json"


@dataclass(frozen=True)
class Volume:
    """One named volume (``volume inspect``'s fields, podman's names in :meth:`to_json`)."""

    name: str
    mountpoint: str
    created_at: str
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[str, ...] = ()
    """IDs of the containers that mounted it."""

    def to_json(self) -> dict[str, Any]:
        """podman's ``volume inspect`` object (plus ``Containers``)."""
        return {
            "Name": self.name,
            "Driver": "local",
            "Mountpoint": self.mountpoint,
            "CreatedAt": self.created_at,
            "Labels": dict(self.labels),
            "Scope": "local",
            "Options": dict(self.options),
            "Containers": list(self.containers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Volume:
        return cls(
            name=str(data["Name"]),
            mountpoint=str(data["Mountpoint"]),
            created_at=str(data["CreatedAt"]),
            labels=dict(data.get("Labels") or {}),
            options=dict(data.get("Options") or {}),
            containers=tuple(data.get("Containers") or ()),
        )


# podman's volume-name rule; transport.reference's validate_ref_name checks the OCI ref-name
# grammar the same way: two grammars, two errors.
def check_volume_name(name: str) -> str:
    """``name`` when it is a valid volume name (podman's rule); :class:`UsageError` if not."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid volume name {name!r}: names are letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )
    return name


class VolumeStore:
    """The volumes under ``directory`` (``R/volumes``)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create {self.dir}: {error.strerror}") from None
        with file_lock(self.dir / "lock"):
            yield

    def _read(self, name: str) -> Volume:
        path = self.dir / check_volume_name(name) / _RECORD
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise VolumeNotFoundError(f"no such volume: {name}") from None
        except (OSError, ValueError) as error:
            raise StoreError(f"cannot read volume {name}: {error}") from None
        return Volume.from_json(data)

    def _write(self, volume: Volume) -> None:
        data = json.dumps(volume.to_json(), indent=2).encode() + b"\n"
        atomic_write(self.dir / volume.name / _RECORD, data, 0o600)

    def create(
        self,
        name: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        ignore_existing: bool = False,
    ) -> Volume:
        """A new volume (named ``name``, else 64 random hex digits). :class:`StoreError` when
        the name is taken, unless ``ignore_existing`` (then the existing volume)."""
        name = check_volume_name(name) if name else secrets.token_hex(32)
        with self._locked():
            try:
                existing = self._read(name)
            except VolumeNotFoundError:
                existing = None
            if existing is not None:
                if ignore_existing:
                    return existing
                raise StoreError(f"volume with name {name} already exists")
            home = self.dir / name
            data = home / "_data"
            data.mkdir(mode=0o755, parents=True, exist_ok=True)
            home.chmod(0o700)
            created = datetime.now(UTC).astimezone().isoformat()
            volume = Volume(name, str(data), created, dict(labels or {}), dict(options or {}))
            self._write(volume)
            return volume

    def get(self, name: str) -> Volume:
        """The volume ``name``; :class:`VolumeNotFoundError` when there is none."""
        return self._read(name)

    def list(self) -> list[Volume]:
        """Every volume, by name."""
        if not self.dir.is_dir():
            return []
        out = []
        for entry in sorted(self.dir.iterdir()):
            if (entry / _RECORD).is_file():
                out.append(self._read(entry.name))
        return out

    def use(self, name: str, container_id: str) -> Volume:
        """The volume ``name`` for container ``container_id`` (created when missing), with
        the container noted as one of its users."""
        volume = self.create(name, ignore_existing=True)
        with self._locked():
            volume = self._read(name)
            if container_id not in volume.containers:
                volume = replace(volume, containers=(*volume.containers, container_id))
                self._write(volume)
        return volume

    def remove(self, name: str, *, existing: Iterable[str] = (), force: bool = False) -> None:
        """Delete volume ``name`` and its files. ``existing`` are the store's container IDs: a
        volume one of them used is refused unless ``force``."""
        with self._locked():
            volume = self._read(name)
            using = sorted(set(volume.containers) & set(existing))
            if using and not force:
                raise StoreError(
                    f"volume {name} is being used by container {using[0][:12]}: remove the "
                    "container first, or use --force"
                )
            shutil.rmtree(self.dir / volume.name)

    def prune(self, existing: Iterable[str]) -> builtins.list[str]:
        """Remove every volume no container in ``existing`` used; return their names."""
        alive = set(existing)
        removed = []
        for volume in self.list():
            if not set(volume.containers) & alive:
                self.remove(volume.name, existing=alive)
                removed.append(volume.name)
        return removed


__all__ = ["Volume", "VolumeStore", "check_volume_name"]

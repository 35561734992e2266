"""The image configuration: platform, run-time defaults, rootfs diff_ids and history.

An :class:`ImageConfig` keeps the exact bytes it was read from (its digest names the config
blob) and the whole JSON object, so fields boxwright has no accessor for survive every
change. It is also the one way to edit a config, as go-containerregistry's ``mutate`` is:
value in, new value out. :meth:`ImageConfig.with_changes` sets or removes named fields
(typed by :class:`ConfigFields`), :meth:`ImageConfig.with_history_added` and
:meth:`ImageConfig.with_layer_added` append history and diff_ids. Each builder edits a copy
of the JSON object (key order preserved, a new key going last) and serializes it once,
compactly. The rules of the tools that edit configs (a Containerfile's instructions, the
options of ``container config``, commit, repack) are pure functions over these values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack, cast

from boxwright.errors import DigestError, ManifestError, UsageError
from boxwright.oci import mediatype
from boxwright.oci._json import dumps_compact, dumps_go, go_time, load_object
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform

WHERE = "image config"


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ManifestError(f"{where}: {key} must be a string, not {type(value).__name__}")
    return value


def _strings(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{where}: {key} must be an array of strings")
    return tuple(value)


def _set_keys(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A JSON "set" (object whose values are ``{}``) such as ExposedPorts or Volumes."""
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: {key} must be an object")
    return tuple(value)


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ManifestError(f"{where}: {key} must be a boolean")
    return value


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of an image's history; ``empty_layer`` steps produced no layer."""

    created: str | None = None
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_dict(cls, obj: Any, where: str = "history entry") -> HistoryEntry:
        """Validate and read one ``history`` element."""
        if not isinstance(obj, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        created = obj.get("created")
        if created is not None and not isinstance(created, str):
            raise ManifestError(f"{where}: created must be a string")
        return cls(
            created=created,
            created_by=_str(obj, "created_by", where),
            author=_str(obj, "author", where),
            comment=_str(obj, "comment", where),
            empty_layer=_bool(obj, "empty_layer", where),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object in the OCI field order, empty fields left out."""
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.created_by:
            out["created_by"] = self.created_by
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """The ``config`` object: defaults for a container run from the image.

    ``entrypoint`` and ``cmd`` are ``None`` when unset, which differs from an empty list
    (an explicitly cleared entrypoint).
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    stop_signal: str = ""
    args_escaped: bool = False
    healthcheck: dict[str, Any] | None = field(default=None, hash=False)
    onbuild: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()
    domainname: str = ""
    hostname: str = ""

    @classmethod
    def from_dict(cls, obj: Any, where: str = f"{WHERE} config") -> ContainerConfig:
        """Validate and read the ``config`` object (``null`` gives all defaults)."""
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        labels = obj.get("Labels")
        labels = {} if labels is None else labels
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ManifestError(f"{where}: Labels must map strings to strings")
        healthcheck = obj.get("Healthcheck")
        if healthcheck is not None and not isinstance(healthcheck, dict):
            raise ManifestError(f"{where}: Healthcheck must be an object")
        return cls(
            user=_str(obj, "User", where),
            exposed_ports=_set_keys(obj, "ExposedPorts", where),
            env=_strings(obj, "Env", where) or (),
            entrypoint=_strings(obj, "Entrypoint", where),
            cmd=_strings(obj, "Cmd", where),
            volumes=_set_keys(obj, "Volumes", where),
            working_dir=_str(obj, "WorkingDir", where),
            labels=dict(labels),
            stop_signal=_str(obj, "StopSignal", where),
            args_escaped=_bool(obj, "ArgsEscaped", where),
            healthcheck=healthcheck,
            onbuild=_strings(obj, "OnBuild", where) or (),
            shell=_strings(obj, "Shell", where) or (),
            domainname=_str(obj, "Domainname", where),
            hostname=_str(obj, "Hostname", where),
        )


class ConfigFields(TypedDict, total=False):
    """What :meth:`ImageConfig.with_changes` sets; ``None`` removes the field.

    The top level, then the ``config`` object (Docker's ``comment``, ``Domainname`` and
    ``Hostname`` included), then ``history`` and ``rootfs.diff_ids`` replaced whole.
    """

    architecture: str | None
    os: str | None
    variant: str | None
    os_version: str | None
    os_features: Sequence[str] | None
    created: str | None
    author: str | None
    comment: str | None
    user: str | None
    exposed_ports: Iterable[str] | None
    env: Sequence[str] | None
    entrypoint: Sequence[str] | None
    cmd: Sequence[str] | None
    volumes: Iterable[str] | None
    working_dir: str | None
    labels: Mapping[str, str] | None
    stop_signal: str | None
    args_escaped: bool | None
    healthcheck: Mapping[str, Any] | None
    onbuild: Sequence[str] | None
    shell: Sequence[str] | None
    domainname: str | None
    hostname: str | None
    history: Sequence[HistoryEntry] | None
    diff_ids: Sequence[Digest] | None


# with_changes(): Python name -> JSON key, at the top level or inside "config"
_TOP_FIELDS = {
    "architecture": "architecture",
    "os": "os",
    "variant": "variant",
    "os_version": "os.version",
    "os_features": "os.features",
    "created": "created",
    "author": "author",
    "comment": "comment",
}
_CONFIG_FIELDS = {
    "user": "User",
    "exposed_ports": "ExposedPorts",
    "env": "Env",
    "entrypoint": "Entrypoint",
    "cmd": "Cmd",
    "volumes": "Volumes",
    "working_dir": "WorkingDir",
    "labels": "Labels",
    "stop_signal": "StopSignal",
    "args_escaped": "ArgsEscaped",
    "healthcheck": "Healthcheck",
    "onbuild": "OnBuild",
    "shell": "Shell",
    "domainname": "Domainname",
    "hostname": "Hostname",
}
_SET_FIELDS = {"exposed_ports", "volumes"}
_LIST_FIELDS = {"env", "entrypoint", "cmd", "onbuild", "shell", "os_features"}


def _config_head(created: str, author: str, platform: Platform) -> dict[str, Any]:
    """The fields an OCI image config starts with, in the spec's (and Go's) order, those
    that are empty left out: created, author, and the platform."""
    head: dict[str, Any] = {}
    if created:
        head["created"] = created
    if author:
        head["author"] = author
    head["architecture"] = platform.architecture
    if platform.variant:
        head["variant"] = platform.variant
    head["os"] = platform.os
    if platform.os_version:
        head["os.version"] = platform.os_version
    if platform.os_features:
        head["os.features"] = list(platform.os_features)
    return head


@dataclass(frozen=True)
class ImageConfig:
    """A parsed image config (OCI or Docker): raw bytes, the whole object, typed views.

    Build one with :meth:`parse` (bytes read from somewhere) or :meth:`new` (a fresh image).
    """

    raw: bytes
    data: dict[str, Any] = field(compare=False, repr=False)
    architecture: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    created: str | None = None
    author: str = ""
    comment: str = ""
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        """Validate ``raw`` as an image config; raise :class:`ManifestError` if it is not."""
        data = load_object(raw, WHERE)
        return cls._from_data(bytes(raw), data)

    @classmethod
    def _from_data(cls, raw: bytes, data: dict[str, Any]) -> ImageConfig:
        created = data.get("created")
        if created is not None and not isinstance(created, str):
            raise ManifestError(f"{WHERE}: created must be a string")
        rootfs = data.get("rootfs")
        diff_ids: tuple[Digest, ...] = ()
        if rootfs is not None:
            if not isinstance(rootfs, dict):
                raise ManifestError(f"{WHERE}: rootfs must be an object")
            rtype = rootfs.get("type", "layers")
            if rtype != "layers":
                raise ManifestError(f"{WHERE}: rootfs.type must be 'layers', not {rtype!r}")
            ids = rootfs.get("diff_ids")
            ids = [] if ids is None else ids
            if not isinstance(ids, list):
                raise ManifestError(f"{WHERE}: rootfs.diff_ids must be an array")
            try:
                diff_ids = tuple(Digest.parse(d) for d in ids)
            except DigestError as e:
                raise ManifestError(f"{WHERE}: rootfs.diff_ids: {e}") from None
        history = data.get("history")
        history = [] if history is None else history
        if not isinstance(history, list):
            raise ManifestError(f"{WHERE}: history must be an array")
        return cls(
            raw=raw,
            data=data,
            architecture=_str(data, "architecture", WHERE),
            os=_str(data, "os", WHERE),
            variant=_str(data, "variant", WHERE),
            os_version=_str(data, "os.version", WHERE),
            os_features=_strings(data, "os.features", WHERE) or (),
            created=created,
            author=_str(data, "author", WHERE),
            comment=_str(data, "comment", WHERE),
            config=ContainerConfig.from_dict(data.get("config")),
            diff_ids=diff_ids,
            history=tuple(
                HistoryEntry.from_dict(h, f"{WHERE} history[{i}]") for i, h in enumerate(history)
            ),
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ImageConfig:
        """A config serialized once, compactly, from a JSON-able mapping (key order kept)."""
        obj = dict(data)
        return cls._from_data(dumps_compact(obj), obj)

    @classmethod
    def new(
        cls, platform: Platform, *, created: str | None = None, author: str = ""
    ) -> ImageConfig:
        """An empty image (no layers) for ``platform``, fields in the OCI spec's order."""
        obj = _config_head(created or "", author, platform)
        obj["config"] = {}
        obj["rootfs"] = {"type": "layers", "diff_ids": []}
        obj["history"] = []
        return cls.from_data(obj)

    @property
    def digest(self) -> Digest:
        """The sha256 digest of the raw bytes: the config blob's name."""
        return Digest.from_bytes(self.raw)

    def descriptor(self, media_type: str = mediatype.OCI_CONFIG) -> Descriptor:
        """A descriptor pointing at these exact bytes."""
        return Descriptor(media_type, self.digest, len(self.raw))

    def platform(self) -> Platform:
        """The platform this image runs on."""
        return Platform(
            os=self.os,
            architecture=self.architecture,
            variant=self.variant,
            os_version=self.os_version,
            os_features=self.os_features,
        )

    def non_empty_history(self) -> tuple[HistoryEntry, ...]:
        """History entries that produced a layer, in order (one per diff_id when consistent)."""
        return tuple(h for h in self.history if not h.empty_layer)

    def history_for_layers(self) -> list[tuple[Digest, HistoryEntry | None]]:
        """Each diff_id paired with the history entry that made it (``None`` if missing)."""
        entries = self.non_empty_history()
        return [
            (diff_id, entries[i] if i < len(entries) else None)
            for i, diff_id in enumerate(self.diff_ids)
        ]

    # -- builders ---------------------------------------------------------------------------

    def _copy_data(self) -> dict[str, Any]:
        # A deep copy through JSON keeps key order and shares nothing with this object.
        return load_object(self.raw, WHERE, limit=len(self.raw))

    def with_history_added(
        self, entries: Iterable[HistoryEntry], diff_id: Digest | None = None
    ) -> ImageConfig:
        """A new config with ``entries`` appended to history and ``diff_id`` (when given) to
        ``rootfs.diff_ids``; ``rootfs`` is made whole (``type`` "layers", a diff_ids array)."""
        data = self._copy_data()
        rootfs = _rootfs(data)
        if diff_id is not None:
            rootfs["diff_ids"].append(str(diff_id))
        history = data.get("history")
        if not isinstance(history, list):
            history = data["history"] = []
        history.extend(entry.to_dict() for entry in entries)
        return ImageConfig.from_data(data)

    def with_layer_added(self, diff_id: Digest, history_entry: HistoryEntry) -> ImageConfig:
        """A new config with ``diff_id`` appended to rootfs and ``history_entry`` to history.

        An ``empty_layer`` entry adds history only; ``diff_id`` is then ignored.
        """
        return self.with_history_added(
            [history_entry], None if history_entry.empty_layer else diff_id
        )

    def with_changes(self, **fields: Unpack[ConfigFields]) -> ImageConfig:
        """A new config with the named fields set (``None`` removes a field).

        The names are those of :class:`ConfigFields`; an unknown one is a
        :class:`UsageError`. Unknown fields of the original are kept, in their order; a field
        set anew goes last in its object, and naming any field of the ``config`` object makes
        that object when it is missing.
        """
        data = self._copy_data()
        for name, value in fields.items():
            if name in _TOP_FIELDS:
                _assign(data, _TOP_FIELDS[name], _json_value(name, value))
            elif name in _CONFIG_FIELDS:
                cfg = data.get("config")
                if not isinstance(cfg, dict):
                    cfg = data["config"] = {}
                _assign(cfg, _CONFIG_FIELDS[name], _json_value(name, value))
            elif name == "history":
                entries = cast("Sequence[HistoryEntry] | None", value)
                history = None if entries is None else [h.to_dict() for h in entries]
                _assign(data, "history", history)
            elif name == "diff_ids":
                ids = cast("Sequence[Digest] | None", value)
                _rootfs(data)["diff_ids"] = [str(d) for d in ids or ()]
            else:
                raise UsageError(f"unknown image config field {name!r}")
        return ImageConfig.from_data(data)

    def to_oci(self) -> ImageConfig:
        """This config as containers/image converts a Docker config to OCI.

        containers/image decodes the config into the OCI ``Image`` struct and marshals it
        again, dropping Docker-only fields; the bytes here are exactly what Go writes, so the
        digest matches the one skopeo produces when converting to OCI.
        """
        created = go_time(self.created, f"{WHERE}: created") if self.created else ""
        out = _config_head(created, self.author, self.platform())
        c = self.config
        oc: dict[str, Any] = {}
        if c.user:
            oc["User"] = c.user
        if c.exposed_ports:
            oc["ExposedPorts"] = {p: {} for p in sorted(c.exposed_ports)}
        if c.env:
            oc["Env"] = list(c.env)
        if c.entrypoint:
            oc["Entrypoint"] = list(c.entrypoint)
        if c.cmd:
            oc["Cmd"] = list(c.cmd)
        if c.volumes:
            oc["Volumes"] = {v: {} for v in sorted(c.volumes)}
        if c.working_dir:
            oc["WorkingDir"] = c.working_dir
        if c.labels:
            oc["Labels"] = {k: c.labels[k] for k in sorted(c.labels)}
        if c.stop_signal:
            oc["StopSignal"] = c.stop_signal
        if c.args_escaped:
            oc["ArgsEscaped"] = True
        out["config"] = oc
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        history = []
        for i, h in enumerate(self.history):
            entry = h.to_dict()
            if h.created:
                entry["created"] = go_time(h.created, f"{WHERE}: history[{i}].created")
            history.append(entry)
        if history:
            out["history"] = history
        raw = dumps_go(out)
        return ImageConfig._from_data(raw, out)


def _json_value(name: str, value: Any) -> Any:
    """The JSON form of a ``with_changes`` argument."""
    if value is None:
        return None
    if name in _SET_FIELDS:
        return {str(k): {} for k in value}
    if name in _LIST_FIELDS:
        if isinstance(value, str):
            raise UsageError(f"{name} must be a sequence of strings, not a string")
        return [str(v) for v in value]
    if name == "labels":
        return {str(k): str(v) for k, v in dict(value).items()}
    if name == "args_escaped":
        return bool(value)
    if name == "healthcheck":
        return dict(value)
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string")
    return value


def _assign(obj: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


def _rootfs(data: dict[str, Any]) -> dict[str, Any]:
    """The ``rootfs`` object of ``data``, made whole in place: an object, ``type`` "layers",
    ``diff_ids`` an array (a missing or malformed part is replaced, the rest kept)."""
    rootfs = data.get("rootfs")
    if not isinstance(rootfs, dict):
        rootfs = data["rootfs"] = {"type": "layers"}
    rootfs["type"] = "layers"
    if not isinstance(rootfs.get("diff_ids"), list):
        rootfs["diff_ids"] = []
    return rootfs


def created_time(moment: datetime | float | None = None) -> str:
    """``moment`` as image configs write ``created``, and every time boxwright records.

    RFC 3339 in UTC with a ``Z``, the fraction dropped when it is zero (as buildah and umoci
    write it). ``moment`` is a datetime (a naive one is taken as UTC), seconds since the
    epoch (a ``--timestamp``), or ``None`` for now.
    """
    if moment is None:
        moment = datetime.now(UTC)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def chain_ids(diff_ids: Iterable[Digest]) -> list[Digest]:
    """The chain ID of every layer of a stack (bottom first), as the image spec defines it:
    the first is its diff_id, each next one ``sha256(parent_chain_id + " " + diff_id)``."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        if out:
            text = f"{out[-1]} {diff_id}".encode()
            out.append(Digest("sha256", hashlib.sha256(text).hexdigest()))
        else:
            out.append(diff_id)
    return out


__all__ = [
    "ConfigFields",
    "ContainerConfig",
    "HistoryEntry",
    "ImageConfig",
    "chain_ids",
    "created_time",
]

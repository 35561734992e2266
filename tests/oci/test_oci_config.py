"""Image config: typed accessors, validation, and the builders repack/commit rely on."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from boxwright.errors import ManifestError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ContainerConfig, HistoryEntry, ImageConfig, created_time
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform

Read = Callable[[str], bytes]
D1 = Digest.from_bytes(b"one")
D2 = Digest.from_bytes(b"two")


def test_accessors_on_fixture(image_fixture: Read) -> None:
    raw = image_fixture("schema2-config.json")
    config = ImageConfig.parse(raw)
    assert config.raw == raw
    assert config.digest == Digest.from_bytes(raw)
    assert config.descriptor(mt.DOCKER_CONFIG).size == len(raw)
    assert (config.architecture, config.os, config.variant) == ("amd64", "linux", "")
    assert config.created == "2016-09-23T23:20:45.78976459Z"
    assert config.platform() == Platform("linux", "amd64")
    c = config.config
    assert c.cmd == ("httpd-foreground",)
    assert c.entrypoint is None
    assert c.exposed_ports == ("80/tcp",)
    assert c.working_dir == "/usr/local/apache2"
    assert c.args_escaped is True
    assert c.env[0].startswith("PATH=/usr/local/apache2/bin:")
    assert len(config.diff_ids) == 5
    assert len(config.history) == 15
    assert len(config.non_empty_history()) == 5
    pairs = config.history_for_layers()
    assert [d for d, _ in pairs] == list(config.diff_ids)
    first = pairs[0][1]
    assert first is not None
    assert first.created_by.startswith("/bin/sh -c #(nop) ADD file:c6c23585")
    assert config.data["docker_version"] == "1.12.1"


def test_with_layer_added_keeps_unknown_fields_and_order(image_fixture: Read) -> None:
    config = ImageConfig.parse(image_fixture("schema2-config.json"))
    entry = HistoryEntry(created="2024-01-01T00:00:00Z", created_by="boxwright repack")
    new = config.with_layer_added(D1, entry)
    assert new.diff_ids == (*config.diff_ids, D1)
    assert new.history[-1] == entry
    assert list(new.data) == list(config.data)  # key order preserved
    assert new.data["container_config"] == config.data["container_config"]
    assert b"\n" not in new.raw and b": " not in new.raw  # compact
    assert new.digest == Digest.from_bytes(new.raw)
    # The original is untouched.
    assert len(config.diff_ids) == 5
    empty = new.with_layer_added(D2, HistoryEntry(created_by="ENV A=b", empty_layer=True))
    assert empty.diff_ids == new.diff_ids
    assert empty.history[-1].empty_layer
    assert empty.history_for_layers()[-1] == (D1, entry)


def test_with_changes() -> None:
    base = ImageConfig.new(Platform("linux", "arm64", "v8"), created="2024-05-01T10:00:00Z")
    assert json.loads(base.raw) == {
        "created": "2024-05-01T10:00:00Z",
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
    changed = base.with_changes(
        entrypoint=["/bin/app"],
        cmd=["--serve"],
        env=["A=1"],
        labels={"k": "v"},
        exposed_ports=["80/tcp"],
        volumes=["/data"],
        user="1000:1000",
        working_dir="/srv",
        stop_signal="SIGTERM",
        author="me",
        diff_ids=[D1],
        history=[HistoryEntry(created_by="x")],
    )
    c = changed.config
    assert c == ContainerConfig(
        user="1000:1000",
        exposed_ports=("80/tcp",),
        env=("A=1",),
        entrypoint=("/bin/app",),
        cmd=("--serve",),
        volumes=("/data",),
        working_dir="/srv",
        labels={"k": "v"},
        stop_signal="SIGTERM",
    )
    assert changed.author == "me"
    assert changed.diff_ids == (D1,)
    assert changed.history == (HistoryEntry(created_by="x"),)
    cleared = changed.with_changes(entrypoint=[], cmd=None, author=None)
    assert cleared.config.entrypoint == ()
    assert cleared.config.cmd is None
    assert "author" not in cleared.data
    with pytest.raises(UsageError, match="unknown image config field 'colour'"):
        base.with_changes(colour="red")
    with pytest.raises(UsageError, match="sequence of strings"):
        base.with_changes(cmd="echo hi")


def test_with_changes_sets_docker_fields_in_place_and_new_ones_last() -> None:
    base = ImageConfig.from_data(
        {"os": "linux", "x-unknown": [1, {"k": "v"}], "config": {"Hostname": "old", "Env": []}}
    )
    changed = base.with_changes(comment="made here", hostname="h1", domainname="example.org")
    assert changed.raw == (
        b'{"os":"linux","x-unknown":[1,{"k":"v"}],"config":{"Hostname":"h1","Env":[],'
        b'"Domainname":"example.org"},"comment":"made here"}'
    )
    assert (changed.comment, changed.config.hostname, changed.config.domainname) == (
        "made here",
        "h1",
        "example.org",
    )
    assert (
        base.raw == b'{"os":"linux","x-unknown":[1,{"k":"v"}],"config":{"Hostname":"old","Env":[]}}'
    )


@pytest.mark.parametrize(
    ("data", "made"),
    [
        ({"os": "linux"}, b'{"os":"linux","config":{}}'),
        ({"config": None, "os": "linux"}, b'{"config":{},"os":"linux"}'),
    ],
)
def test_removing_a_field_of_a_missing_config_object_makes_the_object(
    data: dict[str, object], made: bytes
) -> None:
    assert ImageConfig.from_data(data).with_changes(onbuild=None).raw == made


def test_with_history_added_appends_entries_and_makes_rootfs_whole() -> None:
    base = ImageConfig.from_data({"os": "linux", "rootfs": {"diff_ids": [str(D1)]}, "x": 1})
    note = HistoryEntry(created="2024-01-01T00:00:00Z", created_by="ENV A=1", empty_layer=True)
    step = HistoryEntry(created="2024-01-01T00:00:01Z", created_by="COPY f /f")
    added = base.with_history_added([note, step], D2)
    assert added.raw == (
        b'{"os":"linux","rootfs":{"diff_ids":["'
        + str(D1).encode()
        + b'","'
        + str(D2).encode()
        + b'"],"type":"layers"},"x":1,"history":['
        b'{"created":"2024-01-01T00:00:00Z","created_by":"ENV A=1","empty_layer":true},'
        b'{"created":"2024-01-01T00:00:01Z","created_by":"COPY f /f"}]}'
    )
    assert (added.diff_ids, added.history) == ((D1, D2), (note, step))
    assert base.diff_ids == (D1,) and base.history == ()
    # No layer: history only, the rootfs still made whole (a missing one becomes empty).
    bare = ImageConfig.from_data({"os": "linux"}).with_history_added([note])
    assert bare.raw == (
        b'{"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":['
        b'{"created":"2024-01-01T00:00:00Z","created_by":"ENV A=1","empty_layer":true}]}'
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC), "2024-05-01T12:00:00Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 120000), "2024-05-01T12:00:00.120000Z"),
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1714564800, "2024-05-01T12:00:00Z"),
        (1.5, "1970-01-01T00:00:01.500000Z"),
    ],
)
def test_created_time_of_a_datetime_or_epoch_seconds(moment: datetime | float, text: str) -> None:
    assert created_time(moment) == text


def test_created_time_of_none_is_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    now = datetime.fromisoformat(created_time().replace("Z", "+00:00"))
    assert before <= now <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"[]", "must be a JSON object"),
        (b'{"architecture": 5}', "architecture must be a string"),
        (b'{"config": []}', "config: expected a JSON object"),
        (b'{"config": {"Env": "A=1"}}', "Env must be an array of strings"),
        (b'{"config": {"Labels": {"a": 1}}}', "Labels must map strings to strings"),
        (b'{"config": {"ExposedPorts": ["80"]}}', "ExposedPorts must be an object"),
        (b'{"config": {"ArgsEscaped": "yes"}}', "ArgsEscaped must be a boolean"),
        (b'{"rootfs": {"type": "layers", "diff_ids": ["sha256:abc"]}}', "invalid sha256"),
        (b'{"rootfs": {"type": "other"}}', "rootfs.type must be 'layers'"),
        (b'{"history": {}}', "history must be an array"),
        (b'{"history": [{"empty_layer": 1}]}', r"history\[0\]: empty_layer must be a boolean"),
        (b'{"created": 1}', "created must be a string"),
        (b'{"a": NaN}', "not valid JSON"),
    ],
)
def test_invalid_configs(doc: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        ImageConfig.parse(doc)


def test_to_oci_normalizes_like_go() -> None:
    raw = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "created": "2020-01-02T03:04:05.120000+00:00",
            "docker_version": "x",
            "config": {"Labels": {"b": "<&>", "a": "1"}, "Volumes": {"/z": {}, "/a": {}}},
            "history": [{"created": "2020-01-02T03:04:05.000Z", "created_by": "a"}],
        }
    ).encode()
    oci = ImageConfig.parse(raw).to_oci()
    assert oci.raw == (
        b'{"created":"2020-01-02T03:04:05.12Z","architecture":"amd64","os":"linux",'
        b'"config":{"Volumes":{"/a":{},"/z":{}},"Labels":{"a":"1","b":"\\u003c\\u0026\\u003e"}},'
        b'"rootfs":{"type":"layers","diff_ids":[]},'
        b'"history":[{"created":"2020-01-02T03:04:05Z","created_by":"a"}]}'
    )
    with pytest.raises(ManifestError, match="not an RFC 3339 timestamp"):
        ImageConfig.parse(b'{"created": "yesterday"}').to_oci()


def test_parsed_documents_are_hashable(image_fixture: Read) -> None:
    """Frozen model objects can key caches and sets (dict fields are left out of the hash)."""
    config = ImageConfig.parse(image_fixture("schema2-config.json"))
    assert hash(config) == hash(ImageConfig.parse(image_fixture("schema2-config.json")))
    from boxwright.oci.parse import parse_manifest

    for name in ("oci1.json", "oci1index.json", "schema1.json"):
        parsed = parse_manifest(image_fixture(name))
        assert len({parsed, parse_manifest(image_fixture(name))}) == 1

"""Spec generation: Docker's entrypoint/cmd rules, env, users from the image, namespaces, IDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxwright.errors import InvalidIDError, RunError, UnpackError, UsageError
from boxwright.runtime.idmap import IDMapping, IDRange, rootless_mapping, subordinate_ranges
from boxwright.runtime.spec import DEFAULT_CAPABILITIES, Mount, RunOptions, generate_spec
from boxwright_testing.runtime import image_config

WITH_BOTH = {"Entrypoint": ["/bin/ep", "-x"], "Cmd": ["default", "arg"]}


def _args(root: Path, options: RunOptions, **config: object) -> list[str]:
    spec = generate_spec(root, image_config(**config), options, rootless=False)
    return list(spec["process"]["args"])


@pytest.mark.parametrize(
    ("config", "options", "expected"),
    [
        (WITH_BOTH, RunOptions(), ["/bin/ep", "-x", "default", "arg"]),
        (WITH_BOTH, RunOptions(args=("mine",)), ["/bin/ep", "-x", "mine"]),
        (WITH_BOTH, RunOptions(entrypoint=("/other",)), ["/other"]),
        (WITH_BOTH, RunOptions(entrypoint=("/other",), args=("a",)), ["/other", "a"]),
        (WITH_BOTH, RunOptions(entrypoint=(), args=("ls", "/")), ["ls", "/"]),
        ({"Cmd": ["sh"]}, RunOptions(), ["sh"]),
        ({"Cmd": ["sh"]}, RunOptions(args=("id", "-u")), ["id", "-u"]),
        ({"Entrypoint": ["/bin/ep"]}, RunOptions(), ["/bin/ep"]),
    ],
)
def test_entrypoint_and_cmd_follow_docker(
    rootfs_template: Path, config: dict[str, object], options: RunOptions, expected: list[str]
) -> None:
    assert _args(rootfs_template, options, **config) == expected


def test_no_command_at_all_is_a_usage_error(rootfs_template: Path) -> None:
    with pytest.raises(UsageError, match="no command specified"):
        _args(rootfs_template, RunOptions())
    with pytest.raises(UsageError, match="no command specified"):
        _args(rootfs_template, RunOptions(entrypoint=()), **WITH_BOTH)


def test_environment_merges_image_options_and_caller(
    rootfs_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_CALLER", "yes")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    options = RunOptions(
        args=("true",), env=("A=override", "NEW=1", "FROM_CALLER", "UNSET_HERE"), user="alice"
    )
    config = image_config(Env=["PATH=/bin", "A=image", "B=kept"])
    spec = generate_spec(rootfs_template, config, options, rootless=False)
    assert spec["process"]["env"] == [
        "PATH=/bin",
        "TERM=xterm",
        "A=override",
        "B=kept",
        "HOME=/home/alice",
        "NEW=1",
        "FROM_CALLER=yes",
    ]


def test_users_resolve_from_the_image_not_the_host(rootfs_template: Path) -> None:
    def user_of(user: str) -> dict[str, object]:
        options = RunOptions(args=("true",), user=user)
        spec = generate_spec(rootfs_template, image_config(), options, rootless=False)
        return dict(spec["process"]["user"])

    assert user_of("alice") == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert user_of("1000") == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert user_of("4242:77") == {"uid": 4242, "gid": 77}
    assert user_of("") == {"uid": 0, "gid": 0}
    with pytest.raises(UnpackError, match="'nobody'"):
        user_of("nobody")
    with pytest.raises(InvalidIDError) as refused:
        user_of("4294967295")
    assert str(refused.value) == (
        "invalid user '4294967295': uid 4294967295 is out of range: IDs are 0 to 4294967294"
    )


@pytest.mark.parametrize("rootless", [False, True])
def test_an_image_user_of_uid_minus_one_is_refused(rootfs_template: Path, rootless: bool) -> None:
    config = image_config(User="4294967295:4294967295")
    with pytest.raises(InvalidIDError) as refused:
        generate_spec(rootfs_template, config, RunOptions(args=("id",)), rootless=rootless)
    assert str(refused.value) == (
        "invalid image User '4294967295:4294967295': uid 4294967295 is out of range: "
        "IDs are 0 to 4294967294"
    )


def test_capabilities_default_for_root_and_bounding_only_for_users(rootfs_template: Path) -> None:
    root = generate_spec(rootfs_template, image_config(), RunOptions(args=("x",)), rootless=False)
    caps = root["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == list(DEFAULT_CAPABILITIES)
    assert caps["ambient"] == []
    options = RunOptions(args=("x",), user="alice", capabilities=("net_raw", "CAP_CHOWN"))
    user = generate_spec(rootfs_template, image_config(), options, rootless=False)
    caps = user["process"]["capabilities"]
    assert caps == {
        "bounding": ["CAP_NET_RAW", "CAP_CHOWN"],
        "effective": [],
        "permitted": [],
        "ambient": [],
    }
    with pytest.raises(UsageError, match="unknown capability 'CAP_FLY'"):
        generate_spec(
            rootfs_template,
            image_config(),
            RunOptions(args=("x",), capabilities=("CAP_FLY",)),
            rootless=False,
        )


def test_rlimits_only_when_asked(rootfs_template: Path) -> None:
    plain = generate_spec(rootfs_template, image_config(), RunOptions(args=("x",)), rootless=False)
    assert "rlimits" not in plain["process"]
    options = RunOptions(args=("x",), rlimits=(("RLIMIT_NOFILE", 100, 200),))
    limited = generate_spec(rootfs_template, image_config(), options, rootless=False)
    assert limited["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]
    with pytest.raises(UsageError, match="invalid rlimit"):
        generate_spec(
            rootfs_template,
            image_config(),
            RunOptions(args=("x",), rlimits=(("RLIMIT_NOFILE", 5, 1),)),
            rootless=False,
        )


def test_network_namespaces_and_root_path(rootfs_template: Path) -> None:
    def kinds(**options: object) -> list[str]:
        spec = generate_spec(
            rootfs_template,
            image_config(Cmd=["sh"]),
            RunOptions(**options),  # type: ignore[arg-type]
            rootless=False,
        )
        assert spec["root"] == {"path": str(rootfs_template), "readonly": False}
        return [ns["type"] for ns in spec["linux"]["namespaces"]]

    assert kinds() == ["pid", "ipc", "uts", "mount", "cgroup"]
    assert kinds(network="none") == ["pid", "network", "ipc", "uts", "mount", "cgroup"]


def test_rootless_spec_maps_root_and_subordinate_ranges(rootfs_template: Path) -> None:
    mapping = IDMapping(
        (IDRange(0, 1234, 1), IDRange(1, 100000, 65536)),
        (IDRange(0, 1234, 1), IDRange(1, 100000, 65536)),
    )
    options = RunOptions(args=("x",), user="alice")
    spec = generate_spec(rootfs_template, image_config(), options, rootless=True, id_map=mapping)
    assert spec["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": 1234, "size": 1},
        {"containerID": 1, "hostID": 100000, "size": 65536},
    ]
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert {"type": "user"} in spec["linux"]["namespaces"]
    single = IDMapping((IDRange(0, 1234, 1),), (IDRange(0, 1234, 1),))
    with pytest.raises(RunError, match=r"uid 1000 .* is not mapped"):
        generate_spec(rootfs_template, image_config(), options, rootless=True, id_map=single)


def test_image_volumes_are_not_mounted_over_and_volumes_bind(
    rootfs_template: Path, tmp_path: Path
) -> None:
    options = RunOptions(args=("x",), volumes=(Mount(str(tmp_path), "/data", read_only=True),))
    config = image_config(Volumes={"/var/lib/x": {}})
    spec = generate_spec(rootfs_template, config, options, rootless=False)
    destinations = [m["destination"] for m in spec["mounts"]]
    assert "/var/lib/x" not in destinations
    assert spec["mounts"][-1] == {
        "destination": "/data",
        "type": "bind",
        "source": str(tmp_path),
        "options": ["rbind", "rprivate", "ro"],
    }
    missing = RunOptions(args=("x",), volumes=(Mount(str(tmp_path / "nope"), "/data"),))
    with pytest.raises(UsageError, match="does not exist"):
        generate_spec(rootfs_template, config, missing, rootless=False)


def test_mount_parse() -> None:
    assert Mount.parse("/a:/b") == Mount("/a", "/b", False)
    assert Mount.parse("/a:/b:ro") == Mount("/a", "/b", True)
    assert Mount.parse("/a:/b:rw") == Mount("/a", "/b", False)
    for bad in ("/a", "/a:/b:xx", ":/b", "/a:/b:ro:z"):
        with pytest.raises(UsageError, match="invalid volume"):
            Mount.parse(bad)


def test_subordinate_ranges_and_mappings(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("other:1:2\nme:100000:65536\n4321:300000:10\nme:bad:1\nme:5:0\n")
    assert subordinate_ranges(subuid, "me", 4321) == [(100000, 65536), (300000, 10)]
    assert subordinate_ranges(tmp_path / "absent", "me", 4321) == []
    mapping = rootless_mapping(4321, 77, name="me", subuid_file=subuid, subgid_file=subuid)
    assert mapping.uids == (
        IDRange(0, 4321, 1),
        IDRange(1, 100000, 65536),
        IDRange(65537, 300000, 10),
    )
    assert mapping.gids[0] == IDRange(0, 77, 1)
    assert mapping.maps_uid(65546) and not mapping.maps_uid(65547)
    empty = tmp_path / "empty"
    empty.write_text("")
    single = rootless_mapping(4321, 77, name="me", subuid_file=empty, subgid_file=empty)
    assert single.single and single.uids == (IDRange(0, 4321, 1),)


def test_shared_ipc_drops_the_ipc_namespace_and_its_mqueue(rootfs_template: Path) -> None:
    cfg = image_config(Cmd=["true"])
    private = generate_spec(rootfs_template, cfg, RunOptions(), rootless=False)
    shared = generate_spec(rootfs_template, cfg, RunOptions(ipc="host"), rootless=False)
    kinds = [ns["type"] for ns in private["linux"]["namespaces"]]
    assert "ipc" in kinds
    assert [ns["type"] for ns in shared["linux"]["namespaces"]] == [k for k in kinds if k != "ipc"]
    assert "/dev/mqueue" in [m["destination"] for m in private["mounts"]]
    assert [m for m in private["mounts"] if m["destination"] != "/dev/mqueue"] == shared["mounts"]

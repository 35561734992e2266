"""Runtime spec generation, checked against runtime-spec's JSON schema."""

from __future__ import annotations

import json
import os

import pytest

from boxwright.errors import InvalidIDError, ManifestError
from boxwright.oci.config import ImageConfig
from boxwright.oci.runtime_spec import DEFAULT_PATH, runtime_spec


def _config(**config: object) -> ImageConfig:
    return ImageConfig.parse(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "created": "2024-01-02T03:04:05.500Z",
                "author": "someone",
                "config": config,
            }
        ).encode()
    )


def test_spec_from_image(runtime_spec_validator: object) -> None:
    config = _config(
        Entrypoint=["/bin/app"],
        Cmd=["--port", "80"],
        Env=["PATH=/app/bin", "A=1"],
        WorkingDir="/srv",
        Labels={"org.example": "yes"},
        ExposedPorts={"80/tcp": {}, "53/udp": {}},
        StopSignal="SIGINT",
        Volumes={"/data": {}},
    )
    spec = runtime_spec(config, uid=1000, gid=100, additional_gids=[10], home="/home/app")
    assert list(runtime_spec_validator.iter_errors(spec)) == []  # type: ignore[attr-defined]
    assert spec["ociVersion"] == "1.0.2"
    process = spec["process"]
    assert process["args"] == ["/bin/app", "--port", "80"]
    assert process["env"] == ["PATH=/app/bin", "TERM=xterm", "A=1", "HOME=/home/app"]
    own = runtime_spec(_config(Env=["HOME=/srv", "A=1"]), home="/home/app")
    assert own["process"]["env"] == [DEFAULT_PATH, "TERM=xterm", "HOME=/srv", "A=1"]
    assert process["cwd"] == "/srv"
    assert process["user"] == {"uid": 1000, "gid": 100, "additionalGids": [10]}
    assert process["terminal"] is False
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["annotations"] == {
        "org.example": "yes",
        "org.opencontainers.image.os": "linux",
        "org.opencontainers.image.architecture": "amd64",
        "org.opencontainers.image.author": "someone",
        "org.opencontainers.image.created": "2024-01-02T03:04:05.5Z",
        "org.opencontainers.image.stopSignal": "SIGINT",
        "org.opencontainers.image.exposedPorts": "53/udp,80/tcp",
    }
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/data",
    ]
    assert [n["type"] for n in spec["linux"]["namespaces"]] == [
        "pid",
        "network",
        "ipc",
        "uts",
        "mount",
        "cgroup",
    ]
    assert "inheritable" not in process["capabilities"]


def test_defaults_for_an_empty_config(runtime_spec_validator: object) -> None:
    spec = runtime_spec(ImageConfig.parse(b'{"os":"linux","architecture":"arm64"}'), terminal=True)
    assert list(runtime_spec_validator.iter_errors(spec)) == []  # type: ignore[attr-defined]
    assert spec["process"]["args"] == ["sh"]
    assert spec["process"]["cwd"] == "/"
    assert spec["process"]["terminal"] is True
    assert spec["annotations"]["org.opencontainers.image.created"] == "0001-01-01T00:00:00Z"
    assert spec["annotations"]["org.opencontainers.image.exposedPorts"] == ""


def test_rootless(runtime_spec_validator: object) -> None:
    spec = runtime_spec(_config(Cmd=["sh"]), rootless=True, additional_gids=[5], uid=0, gid=0)
    assert list(runtime_spec_validator.iter_errors(spec)) == []  # type: ignore[attr-defined]
    linux = spec["linux"]
    assert [n["type"] for n in linux["namespaces"]] == [
        "pid",
        "ipc",
        "uts",
        "mount",
        "cgroup",
        "user",
    ]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux
    assert "additionalGids" not in spec["process"]["user"]
    sys_mounts = [m for m in spec["mounts"] if m["destination"].startswith("/sys")]
    assert sys_mounts == [
        {
            "destination": "/sys",
            "type": "none",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }
    ]
    pts = next(m for m in spec["mounts"] if m["destination"] == "/dev/pts")
    assert not [o for o in pts["options"] if o.startswith(("gid=", "uid="))]
    mapped = runtime_spec(_config(), rootless=True, uid=1000, gid=1000, host_uid=4242, host_gid=7)
    assert mapped["linux"]["uidMappings"] == [{"containerID": 1000, "hostID": 4242, "size": 1}]


def test_refusals() -> None:
    with pytest.raises(ManifestError, match="unsupported OS 'windows'"):
        runtime_spec(ImageConfig.parse(b'{"os":"windows","architecture":"amd64"}'))
    with pytest.raises(ManifestError, match="invalid environment variable 'NOEQUALS'"):
        runtime_spec(_config(Env=["NOEQUALS"]))
    too_big = "out of range: IDs are 0 to 4294967294"
    with pytest.raises(InvalidIDError, match=f"^uid -1 is {too_big}$"):
        runtime_spec(_config(), uid=-1)
    with pytest.raises(InvalidIDError, match=f"^uid 4294967295 is {too_big}$"):
        runtime_spec(_config(), uid=4294967295)
    with pytest.raises(InvalidIDError, match=f"^gid 4294967295 is {too_big}$"):
        runtime_spec(_config(), gid=4294967295)
    with pytest.raises(InvalidIDError, match=f"^gid 4294967295 is {too_big}$"):
        runtime_spec(_config(), additional_gids=[10, 4294967295])
    assert runtime_spec(_config(), uid=4294967294)["process"]["user"]["uid"] == 4294967294


def test_runtime_validator_is_not_vacuous(runtime_spec_validator: object) -> None:
    spec = runtime_spec(_config())
    spec["process"]["user"]["uid"] = -5
    spec["linux"]["namespaces"].append({"type": "bogus"})
    errors = list(runtime_spec_validator.iter_errors(spec))  # type: ignore[attr-defined]
    assert len(errors) >= 2

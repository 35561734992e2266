"""The config instructions as pure edits: Docker's rules, the input config never changed."""

from __future__ import annotations

import pytest

from boxwright.build import instructions as ins
from boxwright.errors import UsageError
from boxwright.oci.config import ImageConfig

BASE = ImageConfig.from_data(
    {
        "architecture": "amd64",
        "os": "linux",
        "x-unknown": {"kept": True},
        "config": {
            "Env": ["PATH=/usr/bin", "HOME=/root"],
            "Cmd": ["sh"],
            "Labels": {"a": "1"},
            "ExposedPorts": {"80/tcp": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
)
RAW = BASE.raw


@pytest.fixture(autouse=True)
def base_never_changes() -> object:
    yield
    assert BASE.raw == RAW
    assert ImageConfig.parse(RAW).data == BASE.data


def test_env_replaces_in_place_and_appends_new_names() -> None:
    out = ins.set_env(BASE, [("HOME", "/home/x"), ("NEW", "a=b"), ("PATH", "/opt")])
    assert out.config.env == ("PATH=/opt", "HOME=/home/x", "NEW=a=b")
    assert ins.env_map(out) == {"PATH": "/opt", "HOME": "/home/x", "NEW": "a=b"}
    assert list(out.data) == list(BASE.data)
    assert out.data["x-unknown"] == {"kept": True}


def test_labels_set_each_keeping_order() -> None:
    out = ins.set_labels(BASE, [("b", "2"), ("a", "one")])
    assert out.config.labels == {"a": "one", "b": "2"}
    assert list(out.config.labels) == ["a", "b"]


def test_entrypoint_drops_an_inherited_cmd_unless_cmd_was_set_in_the_stage() -> None:
    dropped = ins.set_entrypoint(BASE, ["/e"], cmd_set_in_stage=False)
    assert (dropped.config.entrypoint, dropped.config.cmd) == (("/e",), None)
    kept = ins.set_entrypoint(ins.set_cmd(BASE, ["run"]), ["/e"], cmd_set_in_stage=True)
    assert (kept.config.entrypoint, kept.config.cmd) == (("/e",), ("run",))


def test_shell_form_runs_through_the_stage_shell() -> None:
    assert ins.command(BASE, ["echo", "hi"], json_form=False) == ["/bin/sh", "-c", "echo hi"]
    bash = ins.set_shell(BASE, ["/bin/bash", "-eu", "-c"], json_form=True)
    assert ins.command(bash, ["echo", "hi"], json_form=False) == [
        "/bin/bash",
        "-eu",
        "-c",
        "echo hi",
    ]
    with pytest.raises(UsageError, match="SHELL needs a JSON array"):
        ins.set_shell(BASE, ["/bin/bash"], json_form=False)


def test_ports_and_volumes_are_added_to_what_is_there() -> None:
    out = ins.add_ports(BASE, ["8000-8002/UDP", "80", "53/sctp"])
    assert out.data["config"]["ExposedPorts"] == {
        "80/tcp": {},
        "8000/udp": {},
        "8001/udp": {},
        "8002/udp": {},
        "53/sctp": {},
    }
    with pytest.raises(UsageError, match="EXPOSE 80/icmp: the protocol must be tcp, udp or sctp"):
        ins.add_ports(BASE, ["80/icmp"])
    with pytest.raises(UsageError, match="EXPOSE http: not a port number or range"):
        ins.add_ports(BASE, ["http"])
    volumes = ins.add_volumes(ins.add_volumes(BASE, ["/data"]), ["/v", "/data"])
    assert volumes.data["config"]["Volumes"] == {"/data": {}, "/v": {}}
    with pytest.raises(UsageError, match="VOLUME needs a non-empty path"):
        ins.add_volumes(BASE, ["/ok", ""])


def test_workdir_is_resolved_against_the_current_one() -> None:
    first = ins.set_workdir(BASE, ins.workdir_path(BASE, "/srv//app/"))
    assert first.config.working_dir == "/srv/app"
    assert ins.workdir_path(first, "../lib") == "/srv/lib"
    assert ins.workdir_path(BASE, "rel") == "/rel"


def test_healthcheck_forms() -> None:
    flags = [("interval", "10s"), ("retries", "2")]
    out = ins.set_healthcheck(BASE, ['CMD ["/check", "x"]'], json_form=False, flags=flags)
    assert out.config.healthcheck == {
        "Test": ["CMD", "/check", "x"],
        "Interval": 10_000_000_000,
        "Retries": 2,
    }
    shell = ins.set_healthcheck(BASE, ["CMD curl -f localhost"], json_form=False, flags=[])
    assert shell.config.healthcheck == {"Test": ["CMD-SHELL", "curl -f localhost"]}
    none = ins.set_healthcheck(BASE, ["NONE"], json_form=False, flags=[])
    assert none.config.healthcheck == {"Test": ["NONE"]}
    with pytest.raises(UsageError, match="HEALTHCHECK NONE takes no arguments or flags"):
        ins.set_healthcheck(BASE, ["NONE"], json_form=False, flags=flags)


def test_user_stop_signal_and_maintainer() -> None:
    out = ins.set_maintainer(ins.set_stop_signal(ins.set_user(BASE, "app:1000"), "SIGINT"), "Jo")
    assert (out.config.user, out.config.stop_signal, out.author) == ("app:1000", "SIGINT", "Jo")
    with pytest.raises(UsageError, match="not a signal"):
        ins.set_stop_signal(BASE, "SIGNOPE")


def test_onbuild_triggers_are_added_then_taken_once() -> None:
    parent = ins.add_onbuild(ins.add_onbuild(BASE, "RUN a"), "ENV B=1")
    assert parent.config.onbuild == ("RUN a", "ENV B=1")
    child, triggers = ins.take_onbuild(parent)
    assert triggers == ["RUN a", "ENV B=1"]
    assert "OnBuild" not in child.data["config"]
    assert ins.take_onbuild(child) == (child, [])


def test_take_onbuild_makes_the_config_object_the_steps_write_into() -> None:
    bare = ImageConfig.from_data({"os": "linux", "config": None, "rootfs": {"type": "layers"}})
    made, triggers = ins.take_onbuild(bare)
    assert triggers == []
    assert made.raw == b'{"os":"linux","config":{},"rootfs":{"type":"layers"}}'

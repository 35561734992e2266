"""``apply_changes``: every buildah config option, field by field, on a copy of the config."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from boxwright.build.configedit import (
    ConfigChanges,
    apply_annotations,
    apply_changes,
    parse_duration,
    parse_healthcheck,
)
from boxwright.errors import UsageError
from boxwright.oci.config import ImageConfig

BASE: dict[str, Any] = {
    "created": "2024-01-01T00:00:00Z",
    "architecture": "amd64",
    "os": "linux",
    "x-unknown": {"kept": True},
    "config": {
        "Env": ["PATH=/usr/bin:/bin", "HOME=/root"],
        "Cmd": ["sh"],
        "Labels": {"a": "1", "b": "2"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": []},
    "history": [],
}


def edit(
    data: dict[str, Any], changes: ConfigChanges, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON object of ``data`` after ``changes``, checked to be exactly what the new
    config's bytes hold."""
    config = apply_changes(ImageConfig.from_data(data), changes, environ=environ)
    assert config.raw == json.dumps(config.data, separators=(",", ":")).encode()
    return config.data


def apply(**fields: Any) -> dict[str, Any]:
    before = copy.deepcopy(BASE)
    out = edit(BASE, ConfigChanges(**fields), environ={"FROM_HOST": "host value"})
    assert before == BASE, "apply_changes must not modify its input"
    return out


def cfg(**fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = apply(**fields)["config"]
    return result


def test_no_changes_is_an_equal_copy_with_unknown_fields_and_order_kept() -> None:
    out = apply()
    assert out == BASE and out is not BASE
    assert list(out) == list(BASE)
    assert ConfigChanges().is_empty()


def test_env_set_replaces_and_appends_like_buildah() -> None:
    assert cfg(env=["HOME=/home/x"])["Env"] == ["PATH=/usr/bin:/bin", "HOME=/home/x"]
    assert cfg(env=["PATH=/opt:$PATH"])["Env"] == ["HOME=/root", "PATH=/opt:/usr/bin:/bin"]
    assert cfg(env="NEW=${HOME}/x $UNSET.")["Env"][-1] == "NEW=/root/x ."


def test_env_remove_clear_and_host_value() -> None:
    assert cfg(env=["HOME-"])["Env"] == ["PATH=/usr/bin:/bin"]
    assert "Env" not in cfg(env=["-"])
    assert cfg(env=["-", "A=1"])["Env"] == ["A=1"]
    assert cfg(env=["FROM_HOST"])["Env"][-1] == "FROM_HOST=host value"
    assert cfg(env=["NOT_ON_HOST"])["Env"][-1] == "NOT_ON_HOST="
    with pytest.raises(UsageError, match="has no value"):
        edit(BASE, ConfigChanges(env=("BARE",)))
    with pytest.raises(UsageError, match="has no name"):
        cfg(env=["=x"])


def test_cmd_json_words_and_clear() -> None:
    assert cfg(cmd='["/app", "--flag"]')["Cmd"] == ["/app", "--flag"]
    assert cfg(cmd="/app --name 'a b'")["Cmd"] == ["/app", "--name", "a b"]
    assert cfg(cmd=["echo", "$HOME"])["Cmd"] == ["echo", "$HOME"]
    assert "Cmd" not in cfg(cmd="")
    with pytest.raises(UsageError, match="cannot be split"):
        cfg(cmd="echo 'unterminated")


def test_entrypoint_json_shell_string_and_clear() -> None:
    assert cfg(entrypoint='["/entry.sh", "dev"]')["Entrypoint"] == ["/entry.sh", "dev"]
    assert cfg(entrypoint="/entry.sh dev")["Entrypoint"] == ["/bin/sh", "-c", "/entry.sh dev"]
    assert cfg(entrypoint=("/x",))["Entrypoint"] == ["/x"]
    assert "Entrypoint" not in cfg(entrypoint=" ")
    assert cfg(entrypoint="/e")["Cmd"] == ["sh"]  # buildah keeps Cmd


def test_scalar_config_fields() -> None:
    out = cfg(workingdir="/srv", user="1000:1000", domainname="example.org", hostname="h1")
    assert (out["WorkingDir"], out["User"], out["Domainname"], out["Hostname"]) == (
        "/srv",
        "1000:1000",
        "example.org",
        "h1",
    )
    assert "User" not in edit({"config": {"User": "x"}}, ConfigChanges(user=""))["config"]


def test_stop_signal_is_validated_and_kept_as_given() -> None:
    assert cfg(stop_signal="SIGTERM")["StopSignal"] == "SIGTERM"
    assert cfg(stop_signal="kill")["StopSignal"] == "kill"
    assert cfg(stop_signal="9")["StopSignal"] == "9"
    assert cfg(stop_signal="SIGRTMIN+3")["StopSignal"] == "SIGRTMIN+3"
    for bad in ("SIGNOPE", "99", "0"):
        with pytest.raises(UsageError, match="not a signal"):
            cfg(stop_signal=bad)


def test_ports_are_normalized_added_removed_and_cleared() -> None:
    assert cfg(port=["8080", "53/UDP"])["ExposedPorts"] == {
        "80/tcp": {},
        "8080/tcp": {},
        "53/udp": {},
    }
    assert "ExposedPorts" not in cfg(port="80-")
    assert "ExposedPorts" not in cfg(port=["-"])
    assert cfg(port=["8000-8010/tcp"])["ExposedPorts"]["8000-8010/tcp"] == {}
    with pytest.raises(UsageError, match="not PORT"):
        cfg(port=["http"])


def test_volumes_labels_annotations() -> None:
    assert cfg(volume=["/v"])["Volumes"] == {"/data": {}, "/v": {}}
    assert "Volumes" not in cfg(volume=["/data-"])
    assert cfg(label=["c=3", "a-", "empty"])["Labels"] == {"b": "2", "c": "3", "empty": ""}
    assert cfg(label=["-", "z=9"])["Labels"] == {"z": "9"}
    changes = ConfigChanges(annotation=("org.x=1", "gone-", "y=a=b"))
    assert apply_annotations({"gone": "v"}, changes) == {"org.x": "1", "y": "a=b"}
    assert apply_annotations({"a": "b"}, ConfigChanges(annotation="-")) == {}
    assert apply(annotation=["k=v"]) == BASE  # annotations are not in the config


def test_top_level_fields() -> None:
    out = apply(
        author="Jane",
        arch="arm64",
        os="freebsd",
        variant="v8",
        os_version="10.0",
        comment="a comment",
        os_feature=["win32k", "f2"],
    )
    assert (out["author"], out["architecture"], out["os"], out["variant"]) == (
        "Jane",
        "arm64",
        "freebsd",
        "v8",
    )
    assert (out["os.version"], out["comment"], out["os.features"]) == (
        "10.0",
        "a comment",
        ["win32k", "f2"],
    )
    again = edit(out, ConfigChanges(os_feature=("win32k-",), variant=""))
    assert again["os.features"] == ["f2"] and "variant" not in again


def test_created_by_and_history_comment_do_not_touch_the_config() -> None:
    changes = ConfigChanges(created_by="COPY x", history_comment="note")
    assert edit(BASE, changes) == BASE
    assert not changes.changes_config()


def test_shell_and_onbuild() -> None:
    assert cfg(shell="/bin/bash -c")["Shell"] == ["/bin/bash", "-c"]
    assert cfg(shell='["pwsh", "-c"]')["Shell"] == ["pwsh", "-c"]
    once = apply(onbuild=["RUN a"])
    twice = edit(once, ConfigChanges(onbuild=("RUN b",)))
    assert twice["config"]["OnBuild"] == ["RUN a", "RUN b"]


def test_healthcheck_forms_defaults_and_timings() -> None:
    hc = cfg(healthcheck="CMD-SHELL curl -f http://localhost/ || exit 1")["Healthcheck"]
    assert hc == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
        "Interval": 30_000_000_000,
        "Timeout": 30_000_000_000,
        "Retries": 3,
    }
    hc = cfg(
        healthcheck='CMD ["/check", "x"]',
        healthcheck_interval="1m30s",
        healthcheck_timeout="500ms",
        healthcheck_start_period="5s",
        healthcheck_retries=5,
    )["Healthcheck"]
    assert hc == {
        "Test": ["CMD", "/check", "x"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 5_000_000_000,
        "Retries": 5,
    }
    assert cfg(healthcheck="NONE")["Healthcheck"] == {"Test": ["NONE"]}
    with_hc = apply(healthcheck="CMD /c")
    assert with_hc["config"]["Healthcheck"]["Test"] == ["CMD", "/c"]
    assert "Healthcheck" not in edit(with_hc, ConfigChanges(healthcheck=""))["config"]
    retimed = edit(with_hc, ConfigChanges(healthcheck_interval="10s"))
    assert retimed["config"]["Healthcheck"]["Interval"] == 10_000_000_000
    with pytest.raises(UsageError, match="need a healthcheck"):
        cfg(healthcheck_interval="10s")
    with pytest.raises(UsageError, match="must be NONE"):
        cfg(healthcheck="CURL x")


def test_durations_and_healthcheck_parsing() -> None:
    assert parse_duration("0") == 0
    assert parse_duration("1h2m3s") == 3_723_000_000_000
    assert parse_duration("1.5s") == 1_500_000_000
    assert parse_duration("10us") == 10_000
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration("5 minutes")
    assert parse_healthcheck("") is None
    assert parse_healthcheck('["CMD-SHELL", "true"]') == ["CMD-SHELL", "true"]


def test_list_fields_accept_one_string_and_merge() -> None:
    one = ConfigChanges(env="A=1", cmd=["x"])
    assert one.env == ("A=1",) and one.cmd == ("x",)
    both = one.merged(ConfigChanges(env=("B=2",), user="u"))
    assert (both.env, both.cmd, both.user) == (("A=1", "B=2"), ("x",), "u")
    with pytest.raises(UsageError, match="unknown config change bogus"):
        ConfigChanges.from_fields(bogus=1)
    with pytest.raises(UsageError, match="must be strings"):
        ConfigChanges(env=(1,))  # type: ignore[arg-type]


def test_missing_config_object_is_created() -> None:
    out = edit({"os": "linux"}, ConfigChanges(user="1"))
    assert out == {"os": "linux", "config": {"User": "1"}}


@pytest.mark.parametrize(
    ("data", "raw"),
    [
        ({"os": "linux"}, b'{"os":"linux","config":{},"author":"me"}'),
        ({"config": None, "os": "linux"}, b'{"config":{},"os":"linux","author":"me"}'),
    ],
)
def test_a_top_level_change_also_makes_the_config_object(data: dict[str, Any], raw: bytes) -> None:
    changed = apply_changes(ImageConfig.from_data(data), ConfigChanges(author="me"))
    assert changed.raw == raw

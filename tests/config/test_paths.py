"""Store, config, cache, runtime and auth-file paths for root and rootless users."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.config import paths
from boxwright.errors import StoreError
from boxwright.rootless.forked import call_in_namespace
from boxwright_testing.users import User, as_user


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "BOXWRIGHT_ROOT",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "REGISTRY_AUTH_FILE",
        "DOCKER_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_rootless_defaults(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "is_rootless", lambda: True)
    uid = os.geteuid()
    assert paths.store_root() == env / ".local/share/boxwright"
    assert paths.config_dir() == env / ".config/boxwright"
    assert paths.cache_dir() == env / ".cache/boxwright"
    assert paths.runtime_dir() == Path(f"/tmp/boxwright-run-{uid}")
    # no $XDG_RUNTIME_DIR and no /run/user/UID: podman's $TMPDIR/podman-run-UID
    monkeypatch.setenv("TMPDIR", str(env / "tmp"))
    runtime_auth = env / f"tmp/podman-run-{uid}/containers/auth.json"
    if Path(f"/run/user/{uid}").is_dir():
        runtime_auth = Path(f"/run/user/{uid}/containers/auth.json")
    assert paths.default_auth_file() == runtime_auth
    assert paths.auth_file_chain() == [
        runtime_auth,
        env / ".config/containers/auth.json",
        env / ".docker/config.json",
        env / ".dockercfg",
    ]
    assert paths.user_registries_conf() == env / ".config/containers/registries.conf"


def test_root_defaults(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "is_rootless", lambda: False)
    assert paths.store_root() == Path("/var/lib/boxwright")
    assert paths.runtime_dir() == Path("/run/boxwright")
    assert paths.default_auth_file() == Path(f"/run/containers/{os.geteuid()}/auth.json")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_a_runtime_directory_someone_else_owns_is_never_used(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """podman's rule: $TMPDIR/podman-run-UID is used only when it is the user's own private
    directory; one planted by another user (or open to others) falls back to ~/rundir."""
    monkeypatch.setattr(paths, "is_rootless", lambda: True)
    monkeypatch.setenv("TMPDIR", str(env / "tmp"))
    uid = os.geteuid()
    if Path(f"/run/user/{uid}").is_dir():
        pytest.skip(f"/run/user/{uid} exists here and comes first")
    planted = env / "tmp" / f"podman-run-{uid}"
    planted.mkdir(parents=True, mode=0o700)
    assert paths.containers_runtime_dir() == planted
    os.chown(planted, 65534, 65534)
    assert paths.containers_runtime_dir() == env / "rundir"
    assert paths.default_auth_file() == env / "rundir/containers/auth.json"


def test_environment_overrides(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "is_rootless", lambda: True)
    monkeypatch.setenv("BOXWRIGHT_ROOT", "/srv/bw")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/cfg")
    monkeypatch.setenv("XDG_CACHE_HOME", "/cache")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setenv("DOCKER_CONFIG", "/dock")
    assert paths.store_root() == Path("/srv/bw")
    assert paths.config_dir() == Path("/cfg/boxwright")
    assert paths.cache_dir() == Path("/cache/boxwright")
    assert paths.runtime_dir() == Path("/run/user/1000/boxwright")
    assert paths.default_auth_file() == Path("/run/user/1000/containers/auth.json")
    assert paths.auth_file_chain()[:3] == [
        Path("/run/user/1000/containers/auth.json"),
        Path("/cfg/containers/auth.json"),
        Path("/dock/config.json"),
    ]
    monkeypatch.setenv("REGISTRY_AUTH_FILE", "/a/auth.json")
    assert paths.default_auth_file() == Path("/a/auth.json")
    monkeypatch.delenv("BOXWRIGHT_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    assert paths.store_root() == Path("/data/boxwright")


def test_relative_xdg_values_are_ignored(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "also-relative")
    assert paths.xdg_config_home() == env / ".config"
    assert paths.xdg_runtime_dir() is None


def test_is_rootless_follows_euid() -> None:
    assert paths.is_rootless() is (os.geteuid() != 0)


def _joined(uid: str) -> tuple[int, bool]:
    os.environ[paths.ROOTLESS_UID_ENV] = uid
    return paths.host_uid(), paths.is_rootless()


def _joined_in_namespace(uid: str) -> tuple[int, bool]:
    return call_in_namespace(lambda: _joined(uid), error=StoreError, user=True)


def test_root_of_the_store_namespace_is_the_caller_outside(unprivileged_user: User) -> None:
    # uid 0 inside maps onto the user's uid: the variable names who the caller is.
    joined = as_user(unprivileged_user, _joined_in_namespace, str(unprivileged_user.uid))
    assert joined == (unprivileged_user.uid, True)


def test_a_stray_variable_does_not_make_real_root_rootless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    monkeypatch.setenv(paths.ROOTLESS_UID_ENV, "1000")
    assert (paths.host_uid(), paths.is_rootless()) == (0, False)

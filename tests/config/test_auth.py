"""Auth files and credential helpers, against real files in a private home and a real helper."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from config_homes import FakeHelper, Home

from boxwright.config.auth import (
    AuthStore,
    Credentials,
    normalize_host,
    normalize_key,
    parse_creds,
    scopes_of,
)
from boxwright.errors import ConfigError, UsageError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def auths(**entries: str) -> dict[str, object]:
    return {"auths": {host: {"auth": b64(pair)} for host, pair in entries.items()}}


# --- Credentials and parse_creds -------------------------------------------------------------


def test_repr_hides_password_and_token() -> None:
    creds = Credentials("alice", "s3cret", identity_token="tok-123")
    assert repr(creds) == "Credentials(username='alice', password=***, identity_token=***)"
    assert str(creds) == repr(creds)
    assert "s3cret" not in repr(Credentials("alice", "s3cret"))


def test_parse_creds_splits_at_the_first_colon() -> None:
    assert parse_creds("bob:pa:ss") == Credentials("bob", "pa:ss")
    assert parse_creds("bob:") == Credentials("bob", "")


@pytest.mark.parametrize(
    ("value", "reason"), [("bob", "no colon found"), (":pw", "the user name is empty")]
)
def test_parse_creds_rejects_malformed(value: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        parse_creds(value)
    assert "pw" not in str(caught.value)


# --- key normalization -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("http://r.example:5000/v2/", "r.example:5000"),
        ("quay.io/team/app", "quay.io/team/app"),
        ("quay.io/team/", "quay.io/team"),
        ("docker.io/library/busybox", "docker.io/library/busybox"),
    ],
)
def test_normalize_key(key: str, expected: str) -> None:
    assert normalize_key(key) == expected


def test_normalize_key_legacy_files_are_host_only() -> None:
    assert normalize_key("quay.io/team", legacy=True) == "quay.io"
    assert normalize_host("https://registry-1.docker.io/v2/") == "docker.io"


def test_scopes_most_specific_first() -> None:
    assert scopes_of("quay.io/a/b") == ["quay.io/a/b", "quay.io/a", "quay.io"]
    assert scopes_of("index.docker.io") == ["docker.io"]


# --- lookup ----------------------------------------------------------------------------------


def test_lookup_base64_auth_in_runtime_file(home: Home) -> None:
    home.write(home.runtime_auth, auths(**{"r.example:5000": "alice:pw:with:colons"}))
    assert AuthStore().lookup("r.example:5000") == Credentials("alice", "pw:with:colons")
    assert AuthStore().lookup("other.example") is None


def test_lookup_username_password_and_identity_token_fields(home: Home) -> None:
    home.write(
        home.runtime_auth,
        {
            "auths": {
                "a.example": {"username": "u", "password": "p"},
                "b.example": {"auth": b64("u2:p2"), "identitytoken": "refresh"},
                "c.example": {"identitytoken": "only-token"},
            }
        },
    )
    store = AuthStore()
    assert store.lookup("a.example") == Credentials("u", "p")
    assert store.lookup("b.example") == Credentials("u2", "p2", identity_token="refresh")
    assert store.lookup("c.example") == Credentials("", "", identity_token="only-token")


def test_chain_order_runtime_then_config_then_docker_then_legacy(home: Home) -> None:
    home.write(home.runtime_auth, auths(**{"one.example": "run:1"}))
    home.write(home.config_auth, auths(**{"one.example": "cfg:1", "two.example": "cfg:2"}))
    home.write(
        home.docker_config,
        auths(**{"two.example": "dock:2", "https://three.example/v1/": "dock:3"}),
    )
    home.write(home.home / ".dockercfg", {"https://four.example": {"auth": b64("legacy:4")}})
    store = AuthStore()
    assert store.paths == [
        home.runtime_auth,
        home.config_auth,
        home.docker_config,
        home.home / ".dockercfg",
    ]
    assert store.lookup("one.example") == Credentials("run", "1")
    assert store.lookup("two.example") == Credentials("cfg", "2")
    assert store.lookup("three.example") == Credentials("dock", "3")
    assert store.lookup("four.example") == Credentials("legacy", "4")
    assert store.source_of("two.example") == home.config_auth


def test_docker_config_env_moves_docker_file(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = home.home / "dockercfg-dir"
    home.write(elsewhere / "config.json", auths(**{"d.example": "x:y"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(elsewhere))
    assert AuthStore().lookup("d.example") == Credentials("x", "y")


def test_explicit_path_and_env_replace_the_chain(
    home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.write(home.runtime_auth, auths(**{"r.example": "default:1"}))
    explicit = home.write(tmp_path / "mine.json", auths(**{"m.example": "mine:1"}))
    store = AuthStore(explicit)
    assert store.paths == [explicit]
    assert store.write_path == explicit
    assert store.lookup("r.example") is None
    assert store.lookup("m.example") == Credentials("mine", "1")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert AuthStore().paths == [explicit]
    assert AuthStore().lookup("m.example") == Credentials("mine", "1")


def test_docker_hub_spellings_are_one_host(home: Home) -> None:
    home.write(home.docker_config, auths(**{"https://index.docker.io/v1/": "hub:pw"}))
    store = AuthStore()
    for spelling in ("docker.io", "index.docker.io", "registry-1.docker.io", "docker.io/lib/x"):
        assert store.lookup(spelling) == Credentials("hub", "pw"), spelling


def test_repository_scoped_keys_most_specific_first(home: Home) -> None:
    home.write(
        home.runtime_auth,
        auths(
            **{
                "quay.io": "host:0",
                "quay.io/team": "team:1",
                "quay.io/team/app": "app:2",
            }
        ),
    )
    store = AuthStore()
    assert store.lookup("quay.io/team/app") == Credentials("app", "2")
    assert store.lookup("quay.io/team/app/sub") == Credentials("app", "2")
    assert store.lookup("quay.io/team/other") == Credentials("team", "1")
    assert store.lookup("quay.io/elsewhere/x") == Credentials("host", "0")
    assert store.lookup("quay.io") == Credentials("host", "0")


def test_empty_placeholder_entries_fall_through(home: Home) -> None:
    home.write(home.runtime_auth, {"auths": {"p.example": {}}})
    home.write(home.docker_config, auths(**{"p.example": "real:pw"}))
    assert AuthStore().lookup("p.example") == Credentials("real", "pw")


# --- credential helpers ----------------------------------------------------------------------


def test_cred_helpers_per_host(home: Home, fake_helper: FakeHelper) -> None:
    fake_helper.seed(
        {
            "h.example": {"Username": "helped", "Secret": "pw"},
            "https://index.docker.io/v1/": {"Username": "hub", "Secret": "hubpw"},
        }
    )
    home.write(
        home.docker_config,
        {
            "auths": {"h.example": {"auth": b64("ignored:x")}},
            "credHelpers": {"h.example": "fake", "docker.io": "fake"},
        },
    )
    store = AuthStore()
    assert store.lookup("h.example/ns/repo") == Credentials("helped", "pw")
    assert store.lookup("index.docker.io") == Credentials("hub", "hubpw")
    assert fake_helper.calls() == ["get h.example", "get https://index.docker.io/v1/"]


def test_helper_not_found_answer_continues_the_chain(home: Home, fake_helper: FakeHelper) -> None:
    home.write(home.runtime_auth, {"credHelpers": {"n.example": "fake"}})
    home.write(home.docker_config, auths(**{"n.example": "file:pw"}))
    assert AuthStore().lookup("n.example") == Credentials("file", "pw")
    assert fake_helper.calls() == ["get n.example"]


def test_creds_store_default_and_token_user(home: Home, fake_helper: FakeHelper) -> None:
    fake_helper.seed({"t.example": {"Username": "<token>", "Secret": "refresh-tok"}})
    home.write(home.docker_config, {"auths": {"t.example": {}}, "credsStore": "fake"})
    assert AuthStore().lookup("t.example") == Credentials("", "", identity_token="refresh-tok")
    assert AuthStore().lookup("absent.example") is None


def test_helper_missing_from_path(home: Home) -> None:
    home.write(home.docker_config, {"credsStore": "nosuchhelper-xyz"})
    with pytest.raises(ConfigError, match="docker-credential-nosuchhelper-xyz is configured but"):
        AuthStore().lookup("x.example")


def test_helper_bad_answer_and_bad_name(home: Home, fake_helper: FakeHelper) -> None:
    fake_helper.seed({"broken.example": {"Username": "u", "Secret": "s"}})
    home.write(home.docker_config, {"credsStore": "fake"})
    with pytest.raises(ConfigError, match="docker-credential-fake answered with invalid JSON"):
        AuthStore().lookup("broken.example")
    home.write(home.docker_config, {"credsStore": "../evil"})
    with pytest.raises(ConfigError, match=r"invalid credential helper name '\.\./evil'"):
        AuthStore().lookup("broken.example")


# --- malformed files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"auths": ', "is not valid JSON: Expecting value at line 1 column 11"),
        ("[1]", "must hold a JSON object"),
        ('{"auths": []}', "'auths' must be a JSON object"),
        ('{"credHelpers": {"a": 1}}', "every 'credHelpers' value must be a helper name"),
        ('{"auths": {"m.example": {"auth": "%%%"}}}', "'auth' value that is not base64"),
        (
            json.dumps({"auths": {"m.example": {"auth": b64("nocolon-secret")}}}),
            "'auth' value without 'user:password'",
        ),
        ('{"auths": {"m.example": {"auth": 5}}}', "non-string fields"),
    ],
)
def test_malformed_files_name_the_file(home: Home, content: str, message: str) -> None:
    home.runtime_auth.parent.mkdir(parents=True)
    home.runtime_auth.write_text(content)
    with pytest.raises(ConfigError) as caught:
        AuthStore().lookup("m.example")
    assert str(caught.value).startswith(f"auth file {home.runtime_auth}")
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_unreadable_and_directory_files(home: Home) -> None:
    home.runtime_auth.mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a directory, not a JSON file"):
        AuthStore().lookup("x.example")


# --- writing ---------------------------------------------------------------------------------


def test_store_writes_runtime_file_0600_keeping_unknown_keys(home: Home) -> None:
    home.write(
        home.runtime_auth,
        {
            "auths": {"https://w.example/v1/": {"auth": b64("old:pw")}, "keep.example": {}},
            "HttpHeaders": {"User-Agent": "x"},
        },
    )
    written = AuthStore().store("w.example", Credentials("new", "pw2"))
    assert written == home.runtime_auth
    data = json.loads(home.runtime_auth.read_text())
    assert data == {
        "auths": {"keep.example": {}, "w.example": {"auth": b64("new:pw2")}},
        "HttpHeaders": {"User-Agent": "x"},
    }
    assert stat.S_IMODE(home.runtime_auth.stat().st_mode) == 0o600
    assert os.listdir(home.runtime_auth.parent) == ["auth.json"]
    assert AuthStore().lookup("w.example") == Credentials("new", "pw2")


def test_store_creates_private_parent_and_token_entry(home: Home) -> None:
    AuthStore().store("t.example/ns", Credentials("u", "p", identity_token="tok"))
    assert stat.S_IMODE(home.runtime_auth.parent.stat().st_mode) == 0o700
    data = json.loads(home.runtime_auth.read_text())
    assert data == {"auths": {"t.example/ns": {"auth": b64("u:p"), "identitytoken": "tok"}}}


def test_store_and_remove_through_the_files_helper(home: Home, fake_helper: FakeHelper) -> None:
    home.write(home.runtime_auth, {"credHelpers": {"h.example": "fake"}})
    store = AuthStore()
    store.store("h.example", Credentials("helped", "pw"))
    assert fake_helper.entries() == {"h.example": {"Username": "helped", "Secret": "pw"}}
    assert json.loads(home.runtime_auth.read_text()) == {"credHelpers": {"h.example": "fake"}}
    assert store.lookup("h.example") == Credentials("helped", "pw")
    assert store.remove("h.example") is True
    assert fake_helper.entries() == {}
    assert store.remove("h.example") is False


def test_helper_store_failure_is_reported(home: Home, fake_helper: FakeHelper) -> None:
    home.write(home.runtime_auth, {"credsStore": "fake"})
    with pytest.raises(ConfigError, match=r"store failed \(exit 3\): keychain locked"):
        AuthStore().store("refuse.example", Credentials("u", "p"))


def test_remove_only_the_exact_key(home: Home) -> None:
    home.write(
        home.runtime_auth,
        {
            "auths": {
                "https://r.example/v1/": {"auth": b64("a:1")},
                "r.example/team": {"auth": b64("b:2")},
                "s.example": {"auth": b64("c:3")},
            },
            "other": True,
        },
    )
    store = AuthStore()
    assert store.remove("r.example") is True
    data = json.loads(home.runtime_auth.read_text())
    assert data == {
        "auths": {"r.example/team": {"auth": b64("b:2")}, "s.example": {"auth": b64("c:3")}},
        "other": True,
    }
    assert store.remove("r.example") is False
    assert store.remove_all() == ["r.example/team", "s.example"]
    assert json.loads(home.runtime_auth.read_text()) == {"auths": {}, "other": True}


def test_remove_without_a_file(home: Home) -> None:
    assert AuthStore().remove("x.example") is False
    assert AuthStore().remove_all() == []
    assert not home.runtime_auth.exists()


def test_default_write_path_without_runtime_dir(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert AuthStore().write_path == Path(f"/run/containers/{os.geteuid()}/auth.json")

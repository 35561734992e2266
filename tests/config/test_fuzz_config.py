"""Fuzz tests of the parsers of configuration files and what credential helpers answer.

Parsers covered (the text comes from files a user, an administrator or another tool wrote):

* ``config/registries.py``: ``RegistriesConfig.from_text`` (registries.conf v2, TOML), then
  ``lookup``, ``pull_sources``, ``push_destination``, ``resolve_short_name``,
  ``is_insecure``, ``check_not_blocked`` with any image name;
* ``config/auth.py``: ``read_auth_file`` (auth.json, Docker's ``config.json`` with
  ``auths``/``credHelpers``/``credsStore``, the legacy ``.dockercfg``), ``decode_entry``
  (base64 ``auth``), ``AuthStore.lookup`` over such a file, ``CredentialHelper.get`` (a
  helper's JSON answer), ``parse_creds``, ``normalize_key``, ``scopes_of``;
* ``config/certs.py``: ``host_cert_dir`` (a registry host as a certs.d folder name).

boxwright has no signature-policy (``policy.json``) parser; the policy-like JSON it reads is
the auth file and the helper answers above.

The property (see ``tests/boxwright_testing/fuzz.py``): any file gives a configuration or a
:class:`ConfigError` naming the file — never another exception.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.config.auth import (
    AuthStore,
    CredentialHelper,
    normalize_key,
    parse_creds,
    read_auth_file,
    scopes_of,
)
from boxwright.config.certs import host_cert_dir
from boxwright.config.registries import RegistriesConfig
from boxwright.errors import BoxwrightError, ConfigError, InvalidReferenceError, UsageError
from boxwright_testing.fuzz import (
    fragments,
    fuzz,
    hostile_text,
    json_bytes,
    json_values,
    mutated,
    outcome,
)

pytestmark = fuzz

_TOML_PIECES = [
    'unqualified-search-registries = ["docker.io", "quay.io"]\n',
    "unqualified-search-registries = [1]\n",
    'short-name-mode = "enforcing"\n',
    'short-name-mode = "bogus"\n',
    'credential-helpers = ["containers-auth.json"]\n',
    "[aliases]\n",
    '"app" = "quay.io/team/app"\n',
    '"app:1" = "quay.io/team/app"\n',
    '"x" = "docker.io/library/\u00b2"\n',
    "[[registry]]\n",
    'prefix = "example.com/foo"\n',
    'prefix = "*.example.com"\n',
    'prefix = "*.example.*"\n',
    'prefix = ""\n',
    'location = "mirror.example.com/bar"\n',
    'location = "https://x"\n',
    "insecure = true\n",
    'insecure = "yes"\n',
    "blocked = true\n",
    "mirror-by-digest-only = true\n",
    "[[registry.mirror]]\n",
    'location = "m.example.com"\n',
    'pull-from-mirror = "digest-only"\n',
    'pull-from-mirror = "x"\n',
    "[registries.search]\n",
    "registries = []\n",
    "registry = 1\n",
    "= \n",
    "[\n",
    '"\\ud800" = 1\n',
    "a = 1979-05-27T07:32:00Z\n",
    "a = inf\n",
    "a = " + "[" * 3000 + "\n",
]
_NAMES = st.one_of(
    hostile_text(40),
    fragments(
        [
            "example.com",
            "/",
            "foo",
            ":",
            "latest",
            "@sha256:" + "a" * 64,
            "x.example.com",
            "app",
            "docker.io",
            "\u00b2",
            "..",
        ],
        max_size=8,
    ),
)


@given(st.one_of(fragments(_TOML_PIECES, max_size=14), hostile_text(200)), _NAMES)
@example("a = " + "[" * 3000 + "\n", "app")
def test_any_registries_conf_is_a_config_or_a_config_error(text: str, name: str) -> None:
    config = outcome(
        RegistriesConfig.from_text,
        text,
        Path("/etc/containers/registries.conf"),
        errors=ConfigError,
    )
    if isinstance(config, BoxwrightError):
        return
    # Names reach these from references, which the reference grammar already limited; any
    # name still gives an answer or a typed error, never a crash.
    allowed = (ConfigError, InvalidReferenceError, UsageError)
    for query in (
        config.lookup,
        config.pull_sources,
        config.push_destination,
        config.check_not_blocked,
        config.resolve_short_name,
    ):
        outcome(query, name, errors=allowed)
    outcome(config.is_insecure, name, errors=allowed)
    merged = outcome(config.merged, config, errors=allowed)
    assert not isinstance(merged, BoxwrightError)


_auth_entry = st.fixed_dictionaries(
    {},
    optional={
        "auth": st.sampled_from(["dXNlcjpwYXNz", "dXNlcg==", "!!", "", "7w==", " dXNlcjpwYXNz "]),
        "identitytoken": st.just("token"),
        "username": st.just("u"),
        "password": st.just("p"),
    },
)
_auth_file = st.fixed_dictionaries(
    {
        "auths": st.dictionaries(
            st.sampled_from(
                ["example.com", "https://index.docker.io/v1/", "quay.io/team", "\u00b2"]
            ),
            _auth_entry,
            max_size=3,
        )
    },
    optional={
        "credHelpers": st.dictionaries(
            st.sampled_from(["example.com", "quay.io"]),
            st.sampled_from(["secretservice", "../x", ""]),
            max_size=2,
        ),
        "credsStore": st.sampled_from(["desktop", "", "a b"]),
    },
)


def _no_helper(argv: Sequence[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(
        list(argv), 1, "", "credentials not found in native keychain"
    )


@given(
    st.one_of(json_bytes(mutated(_auth_file)), json_bytes(json_values()), st.binary(max_size=100)),
    st.sampled_from(["auth.json", ".dockercfg"]),
    st.sampled_from(["example.com", "docker.io", "quay.io/team/app", "\u00b2", ""]),
)
@example(b"[" * 100_000, "auth.json", "example.com")
@example(b'{"auths": {"example.com": []}}', "auth.json", "example.com")
@example(b'{"example.com": 1}', ".dockercfg", "example.com")
def test_any_auth_file_gives_credentials_or_a_config_error(raw: bytes, name: str, key: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        parsed = outcome(read_auth_file, path, errors=ConfigError)
        if isinstance(parsed, BoxwrightError):
            return
        store = AuthStore(path, runner=_no_helper)
        outcome(store.lookup, key, errors=ConfigError)


def _answer(stdout: str, code: int = 0) -> Any:
    def run(argv: Sequence[str], stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(argv), code, stdout, "")

    return run


_helper_answer = st.fixed_dictionaries(
    {"ServerURL": st.just("example.com"), "Username": st.just("u"), "Secret": st.just("s")}
)


@given(
    st.one_of(json_bytes(mutated(_helper_answer)), json_bytes(json_values())).map(
        lambda b: b.decode("utf-8", "surrogateescape")
    ),
    st.sampled_from([0, 1]),
)
@example("[" * 100_000, 0)
def test_any_credential_helper_answer_is_credentials_or_a_config_error(
    stdout: str, code: int
) -> None:
    helper = CredentialHelper("test", _answer(stdout, code))
    outcome(helper.get, "example.com", errors=ConfigError)


@given(hostile_text(40))
def test_any_creds_text_and_key_parse_or_raise_a_typed_error(text: str) -> None:
    outcome(parse_creds, text, errors=UsageError)
    assert isinstance(normalize_key(text), str)
    assert all(isinstance(scope, str) for scope in scopes_of(text))
    outcome(host_cert_dir, text, [Path("/nonexistent-certs.d")], errors=ConfigError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


def _write(tmp_path: Path, raw: bytes, name: str = "auth.json") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def test_auth_file_nested_too_deep_is_a_config_error(tmp_path: Path) -> None:
    # json.loads raised RecursionError, which is not a ValueError.
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_auth_file(_write(tmp_path, b"[" * 100_000))


def test_credential_helper_answer_nested_too_deep_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="answered with invalid JSON"):
        CredentialHelper("test", _answer("[" * 100_000)).get("example.com")


def test_registries_conf_nested_too_deep_is_a_config_error() -> None:
    # tomllib raised RecursionError, which is not a TOMLDecodeError.
    with pytest.raises(ConfigError, match="nested too deeply"):
        RegistriesConfig.from_text("a = " + "[" * 3000 + "\n", Path("/etc/registries.conf"))

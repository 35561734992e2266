"""Registry credentials: the auth files the container tools share, and credential helpers.

Reading follows containers/image (podman, skopeo, buildah) and the Docker CLI, so whatever
``podman login`` or ``docker login`` stored is found:

* the files: an explicit ``--authfile`` or ``$REGISTRY_AUTH_FILE`` alone, else the chain of
  :func:`boxwright.config.paths.auth_file_chain` (``$XDG_RUNTIME_DIR/containers/auth.json``,
  ``~/.config/containers/auth.json``, ``~/.docker/config.json``, legacy ``~/.dockercfg``); the
  first file that knows a key wins;
* an entry of ``"auths"`` holds ``"auth"`` (base64 of ``user:password``), or ``"username"`` and
  ``"password"``, and optionally ``"identitytoken"`` (an OAuth2 refresh token);
* keys are normalized as containers/image does: a scheme is dropped (``https://host/v1/`` means
  ``host``), and ``docker.io``, ``index.docker.io`` and ``registry-1.docker.io`` are one host;
* repository-scoped keys (``quay.io/team/app``) are matched most specific first, then the host;
* in one file, ``"credHelpers"[host]`` comes first, then an ``"auths"`` entry with credentials,
  then the ``"credsStore"`` default; a helper is the program ``docker-credential-NAME``, run
  with ``get`` and the server on stdin, answering ``{"Username": ..., "Secret": ...}``
  (``"<token>"`` as the user name means the secret is an identity token).

Writing (``login``/``logout``) changes only the one file :attr:`AuthStore.write_path`, atomically
(temporary file, fsync, rename), with mode 0600, keeping every key boxwright does not know; a
host that file sends to a credential helper is stored with the helper's ``store``/``erase``.
No secret is ever part of an error message or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from boxwright._atomic import replace_file
from boxwright.config import paths
from boxwright.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import subprocess

MAX_AUTH_FILE: Final = 4 << 20
"""Auth files are small; anything larger is refused rather than read into memory."""

HELPER_TIMEOUT: Final = 60.0
HELPER_PREFIX: Final = "docker-credential-"
TOKEN_USERNAME: Final = "<token>"
"""The user name a credential helper reports when the secret is an identity token."""

DOCKER_HUB_LEGACY_KEY: Final = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_NOT_FOUND_MESSAGE: Final = "credentials not found in native keychain"
_HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Credentials:
    """A user name with its password, or an identity token (OAuth2 refresh token).

    The ``repr`` never shows the password or the token, so credentials can be logged safely.
    """

    username: str
    password: str
    identity_token: str = ""

    def __repr__(self) -> str:
        secret = "***" if self.password else "''"
        token = ", identity_token=***" if self.identity_token else ""
        return f"Credentials(username={self.username!r}, password={secret}{token})"

    __str__ = __repr__


def parse_creds(value: str) -> Credentials:
    """``USERNAME:PASSWORD`` (``--creds``, ``--src-creds``, ``--dest-creds``) as credentials.

    The password is everything after the first colon and may itself contain colons.
    """
    username, colon, password = value.partition(":")
    if not colon:
        raise UsageError("credentials must be given as USERNAME:PASSWORD (no colon found)")
    if not username:
        raise UsageError("credentials must be given as USERNAME:PASSWORD (the user name is empty)")
    return Credentials(username, password)


def normalize_host(host: str) -> str:
    """A registry host as auth files key it: no scheme or path, Docker Hub spelled one way."""
    stripped = _strip_scheme(host).split("/", 1)[0]
    return "docker.io" if stripped in _DOCKER_HUB_HOSTS else stripped


def _strip_scheme(key: str) -> str:
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            return key[len(scheme) :]
    return key


def normalize_key(key: str, *, legacy: bool = False) -> str:
    """An auth-file key in canonical form (containers/image's ``normalizeAuthFileKey``).

    A key with a scheme (``https://index.docker.io/v1/``), or any key of a legacy file, is cut
    to its host; a plain key keeps its repository path (``quay.io/team/app``). Docker Hub's
    host names become ``docker.io``.
    """
    stripped = _strip_scheme(key)
    if legacy or stripped != key:
        stripped = stripped.split("/", 1)[0]
    host, slash, rest = stripped.partition("/")
    host = "docker.io" if host in _DOCKER_HUB_HOSTS else host
    return f"{host}{slash}{rest}".rstrip("/")


def scopes_of(key: str) -> list[str]:
    """The keys that may hold credentials for ``key``, most specific first.

    ``quay.io/team/app`` → ``["quay.io/team/app", "quay.io/team", "quay.io"]``.
    """
    canonical = normalize_key(key)
    parts = canonical.split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


HelperRunner = Callable[[Sequence[str], str], "subprocess.CompletedProcess[str]"]
"""Runs a helper: (argv, stdin text) → completed process. Injectable for callers, not mocks."""


def _run_helper_process(argv: Sequence[str], stdin: str) -> subprocess.CompletedProcess[str]:
    import subprocess  # only when a helper runs: it costs ~3 ms of every registry copy's start

    return subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=HELPER_TIMEOUT,
        check=False,
    )


class CredentialHelper:
    """A ``docker-credential-NAME`` program, spoken to with the docker-credential-helpers protocol.

    The runner is injectable so a program can route helper calls (a sandbox, a log).
    """

    def __init__(self, name: str, runner: HelperRunner | None = None) -> None:
        if not _HELPER_NAME.match(name):
            raise ConfigError(f"invalid credential helper name {name!r} (expected a plain name)")
        self.name = name
        self.program = HELPER_PREFIX + name
        self._runner = runner or _run_helper_process

    def _call(self, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
        import subprocess  # as in _run_helper_process: only when a helper runs

        try:
            return self._runner([self.program, action], stdin)
        except FileNotFoundError:
            raise ConfigError(
                f"credential helper {self.program} is configured but not found in PATH"
            ) from None
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"credential helper {self.program} did not answer within {HELPER_TIMEOUT:.0f} s"
            ) from None
        except OSError as error:
            raise ConfigError(
                f"credential helper {self.program} cannot be run: {error.strerror}"
            ) from None

    def _failure(self, action: str, done: subprocess.CompletedProcess[str]) -> ConfigError:
        detail = " ".join((done.stdout.strip() or done.stderr.strip()).split())[:200]
        return ConfigError(
            f"credential helper {self.program} {action} failed (exit {done.returncode})"
            + (f": {detail}" if detail else "")
        )

    def get(self, server: str) -> Credentials | None:
        """The helper's credentials for ``server``, or None when it has none."""
        done = self._call("get", server)
        if done.returncode != 0:
            if _NOT_FOUND_MESSAGE in done.stdout or _NOT_FOUND_MESSAGE in done.stderr:
                return None
            raise self._failure("get", done)
        try:
            answer = json.loads(done.stdout)
        except (ValueError, RecursionError):
            raise ConfigError(
                f"credential helper {self.program} answered with invalid JSON"
            ) from None
        if not isinstance(answer, dict):
            raise ConfigError(f"credential helper {self.program} answered with a non-object")
        username, secret = answer.get("Username", ""), answer.get("Secret", "")
        if not isinstance(username, str) or not isinstance(secret, str):
            raise ConfigError(f"credential helper {self.program} answered with non-string fields")
        if not username and not secret:
            return None
        if username == TOKEN_USERNAME:
            return Credentials("", "", identity_token=secret)
        return Credentials(username, secret)

    def store(self, server: str, credentials: Credentials) -> None:
        """Hand ``credentials`` for ``server`` to the helper."""
        if credentials.identity_token:
            username, secret = TOKEN_USERNAME, credentials.identity_token
        else:
            username, secret = credentials.username, credentials.password
        payload = json.dumps({"ServerURL": server, "Username": username, "Secret": secret})
        done = self._call("store", payload)
        if done.returncode != 0:
            raise self._failure("store", done)

    def erase(self, server: str) -> bool:
        """Ask the helper to forget ``server``; False when it held nothing for it."""
        done = self._call("erase", server)
        if done.returncode == 0:
            return True
        if _NOT_FOUND_MESSAGE in done.stdout or _NOT_FOUND_MESSAGE in done.stderr:
            return False
        raise self._failure("erase", done)


def _helper_server(key: str) -> str:
    """The server name a helper is asked about: Docker Hub keeps its legacy URL, as docker does."""
    return DOCKER_HUB_LEGACY_KEY if normalize_host(key) == "docker.io" else key


@dataclass(frozen=True)
class AuthFile:
    """One parsed auth file: its path, its whole JSON object, and whether it is legacy."""

    path: Path
    data: dict[str, Any]
    legacy: bool

    @property
    def auths(self) -> dict[str, Any]:
        """The ``host → entry`` table (the whole file for a legacy ``.dockercfg``)."""
        if self.legacy:
            return self.data
        auths = self.data.get("auths", {})
        return auths if isinstance(auths, dict) else {}

    def helper_for(self, host: str) -> str | None:
        """The helper named for ``host`` by ``credHelpers``, else the ``credsStore`` default."""
        named = self.named_helper(host)
        if named is not None or self.legacy:
            return named
        store = self.data.get("credsStore", "")
        return str(store) if store else None

    def named_helper(self, host: str) -> str | None:
        """Only the per-host ``credHelpers`` entry for ``host``."""
        if self.legacy:
            return None
        for key, name in self.data.get("credHelpers", {}).items():
            if normalize_key(key, legacy=True) == normalize_host(host):
                return str(name)
        return None

    def entry(self, scope: str) -> tuple[str, dict[str, Any]] | None:
        """The ``(key, entry)`` of ``auths`` whose normalized key is exactly ``scope``."""
        table = self.auths
        if scope in table and isinstance(table[scope], dict):
            return scope, table[scope]
        for key, value in table.items():
            if normalize_key(key, legacy=self.legacy) == scope and isinstance(value, dict):
                return key, value
        return None


def _auth_error(message: str) -> ConfigError:
    """An error about an auth file: ``message`` (which names the file) and the way to use
    another one."""
    return ConfigError(f"{message} {paths.AUTHFILE_HINT}")


def read_auth_file(path: Path) -> AuthFile | None:
    """Parse one auth file; None when it does not exist. Malformed files are a ConfigError."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_AUTH_FILE + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise _auth_error(f"auth file {path} is a directory, not a JSON file") from None
    except OSError as error:
        raise paths.unreadable("auth file", path, error) from None
    if len(raw) > MAX_AUTH_FILE:
        raise _auth_error(f"auth file {path} is larger than {MAX_AUTH_FILE >> 20} MiB")
    if not raw.strip():
        return AuthFile(path, {}, legacy=False)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _auth_error(f"auth file {path} is not valid JSON: {_json_reason(error)}") from None
    if not isinstance(data, dict):
        raise _auth_error(f"auth file {path} must hold a JSON object")
    legacy = path.name == ".dockercfg" and "auths" not in data
    for field in ("auths", "credHelpers"):
        if field in data and not isinstance(data[field], dict):
            raise _auth_error(f"auth file {path}: {field!r} must be a JSON object")
    helpers = data.get("credHelpers", {})
    if not all(isinstance(v, str) for v in helpers.values()):
        raise _auth_error(f"auth file {path}: every 'credHelpers' value must be a helper name")
    if "credsStore" in data and not isinstance(data["credsStore"], str):
        raise _auth_error(f"auth file {path}: 'credsStore' must be a helper name")
    return AuthFile(path, data, legacy)


def _json_reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return "not UTF-8"


def decode_entry(path: Path, key: str, entry: dict[str, Any]) -> Credentials | None:
    """The credentials of one ``auths`` entry; None for an empty placeholder (``{}``)."""
    token = entry.get("identitytoken", "")
    auth = entry.get("auth", "")
    if not isinstance(token, str) or not isinstance(auth, str):
        raise _auth_error(f"auth file {path}: entry {key!r} has non-string fields")
    if auth:
        try:
            decoded = base64.b64decode(auth.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _auth_error(
                f"auth file {path}: entry {key!r} has an 'auth' value that is not base64"
            ) from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise _auth_error(
                f"auth file {path}: entry {key!r} has an 'auth' value without 'user:password'"
            )
        return Credentials(username, password, identity_token=token)
    username, password = entry.get("username", ""), entry.get("password", "")
    if not isinstance(username, str) or not isinstance(password, str):
        raise _auth_error(f"auth file {path}: entry {key!r} has non-string fields")
    if username or password or token:
        return Credentials(username, password, identity_token=token)
    return None


def encode_entry(credentials: Credentials) -> dict[str, str]:
    """An ``auths`` entry as podman writes it: base64 ``auth``, plus ``identitytoken`` if any."""
    entry: dict[str, str] = {}
    if credentials.username or credentials.password:
        pair = f"{credentials.username}:{credentials.password}".encode()
        entry["auth"] = base64.b64encode(pair).decode("ascii")
    if credentials.identity_token:
        entry["identitytoken"] = credentials.identity_token
    return entry


def write_auth_file(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as ``path`` atomically, mode 0600, missing parents created mode 0700
    (each of them: podman uses its runtime directory only when it is private)."""
    encoded = (json.dumps(data, indent="\t") + "\n").encode("utf-8")
    try:
        missing = [p for p in reversed(path.parents) if not p.exists()]
        for parent in missing:
            parent.mkdir(mode=0o700, exist_ok=True)
        replace_file(path, encoded, 0o600)
    except OSError as error:
        where = error.filename if error.filename not in (None, str(path)) else None
        reason = error.strerror or str(error)
        detail = f"{reason}: {where}" if where else reason
        raise _auth_error(f"cannot write the auth file {path}: {detail}") from None


class AuthStore:
    """Credentials for registries, from the auth-file chain and credential helpers.

    ``path`` (``--authfile``) or ``$REGISTRY_AUTH_FILE`` replaces the default chain and is the
    file written; without either, the chain of :func:`~boxwright.config.paths.auth_file_chain`
    is read and :func:`~boxwright.config.paths.default_auth_file` is written.
    """

    def __init__(self, path: Path | str | None = None, *, runner: HelperRunner | None = None):
        if path is None and os.environ.get(paths.AUTH_FILE_ENV):
            path = os.environ[paths.AUTH_FILE_ENV]
        self.explicit: Path | None = Path(path) if path is not None else None
        self._runner = runner

    @property
    def paths(self) -> list[Path]:
        """The files read, in order."""
        if self.explicit is not None:
            return [self.explicit]
        return paths.auth_file_chain()

    @property
    def write_path(self) -> Path:
        """The one file ``store`` and ``remove`` change."""
        return self.explicit if self.explicit is not None else paths.default_auth_file()

    def _files(self) -> Iterator[AuthFile]:
        for path in self.paths:
            parsed = read_auth_file(path)
            if parsed is not None:
                yield parsed

    def _helper(self, name: str) -> CredentialHelper:
        return CredentialHelper(name, self._runner)

    def lookup(self, key: str) -> Credentials | None:
        """Credentials for ``key`` (``host[:port]`` or ``host/namespace/repo``), else None."""
        scopes = scopes_of(key)
        host = scopes[-1]
        for auth_file in self._files():
            found = self._lookup_in(auth_file, host, scopes)
            if found is not None:
                return found
        return None

    def source_of(self, key: str) -> Path | None:
        """The file whose entry or helper answered :meth:`lookup` for ``key`` (None if none)."""
        scopes = scopes_of(key)
        for auth_file in self._files():
            if self._lookup_in(auth_file, scopes[-1], scopes) is not None:
                return auth_file.path
        return None

    def _lookup_in(self, auth_file: AuthFile, host: str, scopes: list[str]) -> Credentials | None:
        named = auth_file.named_helper(host)
        if named is not None:
            return self._helper(named).get(_helper_server(host))
        for scope in scopes:
            found = auth_file.entry(scope)
            if found is None:
                continue
            credentials = decode_entry(auth_file.path, found[0], found[1])
            if credentials is not None:
                return credentials
        store = auth_file.helper_for(host)
        if store is not None:
            return self._helper(store).get(_helper_server(host))
        return None

    def store(self, key: str, credentials: Credentials) -> Path:
        """Remember ``credentials`` for ``key`` in :attr:`write_path` (or its helper)."""
        path = self.write_path
        canonical = normalize_key(key)
        current = read_auth_file(path)
        data: dict[str, Any] = dict(current.data) if current is not None else {}
        helper = current.helper_for(canonical) if current is not None else None
        if helper is not None and "/" not in canonical:
            self._helper(helper).store(_helper_server(canonical), credentials)
            return path
        auths = dict(data.get("auths", {}))
        for old in [k for k in auths if normalize_key(k) == canonical]:
            del auths[old]
        auths[canonical] = encode_entry(credentials)
        data["auths"] = auths
        write_auth_file(path, data)
        return path

    def remove(self, key: str) -> bool:
        """Forget the credentials for exactly ``key`` in :attr:`write_path`; False if none."""
        path = self.write_path
        canonical = normalize_key(key)
        current = read_auth_file(path)
        if current is None:
            return False
        removed = False
        helper = current.helper_for(canonical)
        if helper is not None and "/" not in canonical:
            removed = self._helper(helper).erase(_helper_server(canonical))
        auths = dict(current.auths)
        stale = [k for k in auths if normalize_key(k) == canonical]
        if stale:
            for old in stale:
                del auths[old]
            data = dict(current.data)
            data["auths"] = auths
            write_auth_file(path, data)
            removed = True
        return removed

    def remove_all(self) -> list[str]:
        """Forget every ``auths`` entry of :attr:`write_path` (other keys stay); their keys."""
        path = self.write_path
        current = read_auth_file(path)
        if current is None:
            return []
        keys = list(current.auths)
        for key in current.data.get("credHelpers", {}):
            with contextlib.suppress(ConfigError):
                self._helper(current.data["credHelpers"][key]).erase(_helper_server(key))
        if keys:
            data = dict(current.data)
            data["auths"] = {}
            write_auth_file(path, data)
        return keys


__all__ = [
    "AuthFile",
    "AuthStore",
    "CredentialHelper",
    "Credentials",
    "HelperRunner",
    "decode_entry",
    "encode_entry",
    "normalize_host",
    "normalize_key",
    "parse_creds",
    "read_auth_file",
    "scopes_of",
    "write_auth_file",
]

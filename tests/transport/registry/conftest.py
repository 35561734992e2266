"""Real registries for the registry tests, started once per session on 127.0.0.1.

* ``registry_plain`` — Debian's ``docker-registry`` over plain HTTP, anonymous.
* ``registry_tls_basic`` — HTTPS with a server certificate from a CA made in the session
  (``.ca_path``, ``.cert_dir`` with ``ca.crt`` for skopeo, ``.certs_d`` = a ``certs.d`` root
  holding ``HOST/ca.crt``) and htpasswd Basic auth (``.username``, ``.password``, ``.creds``).
* ``registry_token`` — plain HTTP behind Bearer token auth served by :mod:`token_server`
  (``.token_server``: users, per-repository grants, request log reset for each test).
  Users: ``.username``/``.password`` may pull, push and delete everywhere and list the catalog;
  ``.extra["reader"]`` = (user, password) may only pull; anonymous may pull ``public-*``.
* ``registry_mtls`` — HTTPS that requires a client certificate from the test CA
  (``.cert_dir`` with ``ca.crt``, ``client.cert``, ``client.key``; ``.certs_d`` likewise).
* ``registry_any`` — each of the three in turn (parametrized), for tests every flavour must pass.
* ``fault_proxy`` — a :class:`fault_proxy.FaultProxy` in front of ``registry_plain``, fresh
  for each test (faults disarmed, request log empty).
* ``hostile`` — a factory of :class:`hostile_registry.HostileRegistry` servers (``hostile()``
  plain HTTP, ``hostile(tls=True)`` HTTPS with a certificate from ``hostile_pki``'s CA for
  127.0.0.1 and localhost, asking for an optional client certificate), stopped after the test.

The servers are shared: a test gets its own repository name from ``server.repo("hint")`` and
must not assume an empty registry (``server.wipe()`` exists for tests that list the catalog,
but they should prefer filtering by their own repository names). Every fixture skips only when
``docker-registry`` is genuinely missing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from hostile_registry import HostileRegistry
from pki import KeyPair, htpasswd_line, issue, make_ca, self_signed_signing_key
from token_server import ALL_ACTIONS, TokenServer

from boxwright_testing.registry_servers import REGISTRY_BINARY, RegistryServer, start_registry

TLS_USER = "boxwright"
TOKEN_USER = "tokenuser"
READER_USER = "reader"


def _need_registry() -> None:
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    _need_registry()
    server = start_registry(tmp_path_factory.mktemp("registry-plain"), "plain")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_tls_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    _need_registry()
    work = tmp_path_factory.mktemp("registry-tls")
    ca = make_ca(work / "pki")
    server_cert = issue(
        ca, work / "pki", "server", common_name="127.0.0.1", hosts=("127.0.0.1", "localhost")
    )
    password = secrets.token_urlsafe(12)
    htpasswd = work / "htpasswd"
    htpasswd.write_text(htpasswd_line(TLS_USER, password))
    server = start_registry(
        work,
        "tls-basic",
        tls=(server_cert.cert_path, server_cert.key_path),
        ca_path=ca.cert_path,
        htpasswd=htpasswd,
    )
    server.username, server.password = TLS_USER, password
    server.cert_dir = work / "cert-dir"
    server.cert_dir.mkdir()
    (server.cert_dir / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    server.certs_d = work / "certs.d"
    (server.certs_d / server.host).mkdir(parents=True)
    (server.certs_d / server.host / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    server.extra["ca"] = ca
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registry_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """HTTPS that demands a client certificate (anonymous otherwise). ``.cert_dir`` holds
    ``ca.crt``, ``client.cert`` and ``client.key`` (the certs.d layout skopeo and podman read),
    ``.certs_d`` the same under ``HOST/``; ``.extra["client"]`` is the (cert, key) pair."""
    _need_registry()
    work = tmp_path_factory.mktemp("registry-mtls")
    ca = make_ca(work / "pki")
    server_cert = issue(
        ca, work / "pki", "server", common_name="127.0.0.1", hosts=("127.0.0.1", "localhost")
    )
    client = issue(ca, work / "pki", "client", common_name="boxwright-client", client=True)
    server = start_registry(
        work,
        "mtls",
        tls=(server_cert.cert_path, server_cert.key_path),
        ca_path=ca.cert_path,
        client_ca=ca.cert_path,
        client_cert=(client.cert_path, client.key_path),
    )
    for directory in (work / "cert-dir", work / "certs.d" / server.host):
        directory.mkdir(parents=True)
        (directory / "ca.crt").write_bytes(ca.cert_path.read_bytes())
        (directory / "client.cert").write_bytes(client.cert_path.read_bytes())
        (directory / "client.key").write_bytes(client.key_path.read_bytes())
    server.cert_dir, server.certs_d = work / "cert-dir", work / "certs.d"
    server.extra["client"] = (client.cert_path, client.key_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _registry_token_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RegistryServer]:
    _need_registry()
    work = tmp_path_factory.mktemp("registry-token")
    signer = self_signed_signing_key(work / "pki", "boxwright test token signer")
    password, reader_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    tokens = TokenServer(
        signer=signer,
        users={TOKEN_USER: password, READER_USER: reader_password},
        grants={
            TOKEN_USER: {"*": set(ALL_ACTIONS), "catalog": set()},
            READER_USER: {"*": {"pull"}},
            "": {"public-*": {"pull"}},
        },
    ).start()
    try:
        server = start_registry(work, "token", token=tokens.registry_config(signer.cert_path))
    except Exception:
        tokens.stop()
        raise
    server.username, server.password = TOKEN_USER, password
    server.token_server = tokens
    server.extra["reader"] = (READER_USER, reader_password)
    yield server
    server.stop()
    tokens.stop()


@pytest.fixture
def registry_token(_registry_token_session: RegistryServer) -> RegistryServer:
    """The Bearer registry, with the token service's request log and settings reset."""
    tokens = _registry_token_session.token_server
    assert isinstance(tokens, TokenServer)
    tokens.reset()
    return _registry_token_session


@pytest.fixture(params=["plain", "tls_basic", "token"])
def registry_any(request: pytest.FixtureRequest) -> RegistryServer:
    """Each registry flavour in turn."""
    server: RegistryServer = request.getfixturevalue(f"registry_{request.param}")
    return server


@pytest.fixture
def fault_proxy(registry_plain: RegistryServer) -> Iterator[FaultProxy]:
    """A fresh fault-injecting proxy in front of the plain registry."""
    host, port = registry_plain.host.rsplit(":", 1)
    proxy = FaultProxy(host, int(port)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxied_registry(registry_plain: RegistryServer, fault_proxy: FaultProxy) -> RegistryServer:
    """``registry_plain`` seen through ``fault_proxy``: same storage, the proxy's host."""
    return RegistryServer(
        name="plain-via-proxy",
        host=fault_proxy.host,
        scheme="http",
        storage=registry_plain.storage,
        config_path=registry_plain.config_path,
        log_path=registry_plain.log_path,
    )


@pytest.fixture(scope="session")
def hostile_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""
    work = tmp_path_factory.mktemp("hostile-pki")
    ca = make_ca(work)
    server = issue(ca, work, "server", common_name="127.0.0.1", hosts=("127.0.0.1", "localhost"))
    client = issue(ca, work, "client", common_name="boxwright-client", client=True)
    return {"ca": ca, "server": server, "client": client}


@pytest.fixture
def hostile(hostile_pki: dict[str, KeyPair]) -> Iterator[Callable[..., HostileRegistry]]:
    """A factory of hostile registries (see the module docstring), all stopped afterwards."""
    started: list[HostileRegistry] = []

    def start(*, tls: bool = False) -> HostileRegistry:
        server = hostile_pki["server"]
        registry = HostileRegistry(
            tls=(server.cert_path, server.key_path) if tls else None,
            client_ca=hostile_pki["ca"].cert_path if tls else None,
        ).start()
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture
def isolated_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every auth-file lookup (and the caches) at empty temp locations, so no host
    credentials leak in and no blob-location cache is shared between tests. Returns the
    default auth.json path (``$XDG_RUNTIME_DIR/containers/auth.json``, not created)."""
    runtime = tmp_path / "runtime"
    (runtime / "containers").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return runtime / "containers" / "auth.json"

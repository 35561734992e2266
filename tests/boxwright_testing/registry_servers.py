"""Real registries for the tests: Debian's ``docker-registry`` (CNCF distribution 2.8) processes.

:func:`start_registry` writes a config file, starts ``docker-registry serve CONFIG`` on a free
127.0.0.1 port with filesystem storage in a temporary directory (deletes enabled, no blob
descriptor cache, so wiping the storage between tests is safe), and waits until ``/v2/`` answers.
The returned :class:`RegistryServer` says how to reach it (host, url, scheme), with what (user,
password, CA), and gives each test a fresh repository name (:meth:`RegistryServer.repo`) so
session-scoped servers can be shared without tests seeing each other's images.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY_BINARY = shutil.which("docker-registry")
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RegistryServer:
    """One running registry process and everything a test needs to talk to it.

    ``host`` is ``127.0.0.1:PORT`` (what goes after ``docker://``), ``url`` the base URL with
    scheme. For the TLS registry ``ca_path`` is the CA certificate, ``cert_dir`` a directory
    holding it as ``ca.crt`` (skopeo's ``--cert-dir``), and ``certs_d`` a ``certs.d``-style root
    with ``HOST/ca.crt`` inside. ``username``/``password`` are empty for an anonymous registry.
    """

    name: str
    host: str
    scheme: str
    storage: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    username: str = ""
    password: str = ""
    ca_path: Path | None = None
    cert_dir: Path | None = None
    certs_d: Path | None = None
    token_server: object | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def creds(self) -> str:
        """``user:password`` as ``--creds`` takes it ("" when the registry is anonymous)."""
        return f"{self.username}:{self.password}" if self.username else ""

    def repo(self, hint: str = "test") -> str:
        """A repository name no other test uses: ``HINT-RANDOM`` (lowercase, valid)."""
        return f"{hint.lower()}-{uuid.uuid4().hex[:10]}"

    def ref(self, repo: str, tag: str = "latest") -> str:
        """``docker://HOST/REPO:TAG``."""
        return f"docker://{self.host}/{repo}:{tag}"

    def wipe(self) -> None:
        """Delete every repository and blob (the registry keeps no cache, so this is safe)."""
        root = self.storage / "docker"
        if root.exists():
            shutil.rmtree(root)

    def log(self) -> str:
        """The registry's own log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _config_yaml(
    addr: str,
    storage: Path,
    *,
    tls: tuple[Path, Path] | None,
    htpasswd: Path | None,
    token: dict[str, str] | None,
    client_ca: Path | None = None,
) -> str:
    """The registry config. JSON is YAML, but block style keeps it readable in logs."""
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: {addr}",
        f"  secret: {uuid.uuid4().hex}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if client_ca is not None:
            lines += ["    clientcas:", f"      - {client_ca}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: boxwright-test", f"    path: {htpasswd}"]
    if token is not None:
        lines += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in token.items()]
    return "\n".join(lines) + "\n"


def _registry_env() -> dict[str, str]:
    """The environment without ``REGISTRY_*``: distribution reads every ``REGISTRY_A_B`` as an
    override of config key ``a.b``, so a client-side ``REGISTRY_AUTH_FILE`` (set by a test or
    a user) would turn into a broken ``auth: file:`` section."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _answers(server: RegistryServer, context: ssl.SSLContext | None) -> bool:
    """True once ``GET /v2/`` gets any HTTP answer (200, or 401 behind auth)."""
    conn: http.client.HTTPConnection
    if server.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=2, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
    try:
        conn.request("GET", "/v2/")
        status = conn.getresponse().status
        return status in (200, 401)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def start_registry(
    workdir: Path,
    name: str,
    *,
    tls: tuple[Path, Path] | None = None,
    ca_path: Path | None = None,
    htpasswd: Path | None = None,
    token: dict[str, str] | None = None,
    client_ca: Path | None = None,
    client_cert: tuple[Path, Path] | None = None,
    attempts: int = 3,
) -> RegistryServer:
    """Start ``docker-registry serve`` in ``workdir`` and wait until it answers.

    With ``client_ca`` the registry demands a client certificate signed by it (mutual TLS);
    ``client_cert`` (cert, key) is what the readiness check presents.

    A port taken between :func:`free_port` and the registry's bind is retried with another
    port (``attempts`` times); any other start failure raises with the registry's log.
    """
    if REGISTRY_BINARY is None:
        raise RuntimeError("docker-registry is not installed (scripts/install-test-deps)")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    context = ssl.create_default_context(cafile=str(ca_path)) if ca_path else None
    if context is not None and client_cert is not None:
        context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    last_log = ""
    for _ in range(attempts):
        host = f"127.0.0.1:{free_port()}"
        config = workdir / "config.yml"
        config.write_text(
            _config_yaml(
                host, storage, tls=tls, htpasswd=htpasswd, token=token, client_ca=client_ca
            )
        )
        log_path = workdir / "registry.log"
        server = RegistryServer(
            name=name,
            host=host,
            scheme="https" if tls else "http",
            storage=storage,
            config_path=config,
            log_path=log_path,
            ca_path=ca_path,
        )
        with log_path.open("wb") as log:
            server.process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                env=_registry_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            if _answers(server, context):
                return server
            time.sleep(0.05)
        last_log = server.log()
        with contextlib.suppress(Exception):
            server.stop()
        if "address already in use" not in last_log:
            break
    raise RuntimeError(f"docker-registry {name} did not start:\n{last_log}")

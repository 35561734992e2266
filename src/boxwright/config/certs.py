"""TLS settings per registry host: certs.d folders, ``--tls-verify`` and ``--cert-dir``.

As in containers/image, a host's certificates live in a folder named ``HOST[:PORT]`` under the
first of these base directories where that folder exists (``paths.certs_dirs()``):
``~/.config/containers/certs.d`` (rootless only), ``/etc/containers/certs.d``,
``/etc/docker/certs.d``. ``--cert-dir D`` names the folder itself and replaces the search.

In the folder, ``*.crt`` files are extra certificate authorities (added to the system trust,
never replacing it), and each ``NAME.cert`` is a client certificate whose key is ``NAME.key``.
A certificate without its key, or a key without its certificate, is a :class:`ConfigError`.
``verify=False`` turns server verification off but still presents a client certificate.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from boxwright.config import paths
from boxwright.errors import ConfigError


@dataclass(frozen=True)
class TLSSettings:
    """How to speak TLS to one registry: verify or not, extra CAs, a client certificate."""

    verify: bool = True
    ca_files: tuple[Path, ...] = ()
    client_cert: tuple[Path, Path] | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` with system trust plus :attr:`ca_files` and the client pair.

        Unreadable or malformed certificate files are a :class:`ConfigError` naming the file.
        """
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        for ca_file in self.ca_files:
            try:
                context.load_verify_locations(cafile=os.fspath(ca_file))
            except (ssl.SSLError, OSError) as error:
                raise ConfigError(f"CA certificate {ca_file} cannot be loaded: {error}") from None
        if self.client_cert is not None:
            cert, key = self.client_cert
            try:
                context.load_cert_chain(os.fspath(cert), os.fspath(key))
            except (ssl.SSLError, OSError) as error:
                raise ConfigError(
                    f"client certificate {cert} with key {key} cannot be loaded: {error}"
                ) from None
        return context


def host_cert_dir(host: str, certs_dirs: Sequence[Path] | None = None) -> Path | None:
    """The first ``BASE/HOST[:PORT]`` folder that exists, or None."""
    if not host or "/" in host or host in {".", ".."}:
        raise ConfigError(f"invalid registry host {host!r} for a certificate directory")
    for base in paths.certs_dirs() if certs_dirs is None else certs_dirs:
        candidate = Path(base) / host
        if candidate.is_dir():
            return candidate
    return None


def read_cert_dir(directory: Path) -> tuple[tuple[Path, ...], tuple[Path, Path] | None]:
    """The CA files and the client pair of one certificate folder (sorted, as Go reads them)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as error:
        raise paths.unreadable("certificate directory", directory, error) from None
    ca_files: list[Path] = []
    client: tuple[Path, Path] | None = None
    present = set(names)
    for name in names:
        if name.endswith(".crt"):
            ca_files.append(directory / name)
        elif name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in present:
                raise ConfigError(f"missing key {key} for client certificate {directory / name}")
            if client is None:
                client = (directory / name, directory / key)
        elif name.endswith(".key"):
            cert = name[: -len(".key")] + ".cert"
            if cert not in present:
                raise ConfigError(f"missing client certificate {cert} for key {directory / name}")
    return tuple(ca_files), client


def tls_settings_for(
    host: str,
    verify: bool | None = None,
    certs_dirs: Sequence[Path] | None = None,
    *,
    cert_dir: Path | None = None,
) -> TLSSettings:
    """The TLS settings for ``host`` (``HOST[:PORT]``).

    ``verify`` None means the default (verify). ``certs_dirs`` replaces the base directories
    searched; ``cert_dir`` (``--cert-dir``) names the host's folder directly.
    """
    directory = Path(cert_dir) if cert_dir is not None else host_cert_dir(host, certs_dirs)
    if directory is None:
        return TLSSettings(verify=verify is not False)
    ca_files, client = read_cert_dir(directory)
    return TLSSettings(verify=verify is not False, ca_files=ca_files, client_cert=client)


__all__ = ["TLSSettings", "host_cert_dir", "read_cert_dir", "tls_settings_for"]

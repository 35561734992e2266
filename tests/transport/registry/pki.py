"""Certificates and password hashes made in the tests: a CA, server certificates, signing keys.

Everything here is generated fresh per test session with the ``cryptography`` package (no openssl
CLI, no files from the host), so the TLS registry trusts nothing but the CA made in the test, and
a client only gets through when it is given that CA (a ``certs.d``-style directory or a path).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key on disk, plus the loaded objects."""

    cert_path: Path
    key_path: Path
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _save(directory: Path, stem: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> KeyPair:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_path = _write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM))
    key_path = _write(directory / f"{stem}.key", key_pem)
    return KeyPair(cert_path, key_path, cert, key)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "boxwright tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(directory: Path, common_name: str = "boxwright test CA") -> KeyPair:
    """A self-signed CA certificate (``ca.crt``/``ca.key`` in ``directory``)."""
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _save(directory, "ca", cert, key)


def issue(
    ca: KeyPair,
    directory: Path,
    stem: str,
    *,
    common_name: str,
    hosts: tuple[str, ...] = (),
    client: bool = False,
) -> KeyPair:
    """A leaf certificate signed by ``ca``: a server certificate for ``hosts`` (IPs or DNS
    names in the subjectAltName, as Go's TLS stack requires), or a client certificate."""
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.private_key, hashes.SHA256())
    return _save(directory, stem, cert, key)


def self_signed_signing_key(directory: Path, common_name: str) -> KeyPair:
    """A self-signed certificate for a token-signing key: the registry's ``rootcertbundle``
    holds it, and each token carries it in its ``x5c`` header, which distribution verifies
    against that bundle."""
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _save(directory, "token-signer", cert, key)


def htpasswd_line(username: str, password: str) -> str:
    """One htpasswd line with a bcrypt hash (the only scheme distribution's htpasswd accepts)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{username}:{hashed}\n"

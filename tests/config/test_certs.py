"""certs.d folders and TLS settings, with certificates made in the test."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from boxwright.config import paths
from boxwright.config.certs import TLSSettings, host_cert_dir, read_cert_dir, tls_settings_for
from boxwright.errors import ConfigError


def make_cert(directory: Path, stem: str) -> tuple[Path, Path]:
    """A self-signed certificate and key (PEM) made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / f"{stem}.pem", directory / f"{stem}.key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-subj", f"/CN={stem}", "-days", "2",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_first_existing_host_folder_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (second / "r.example:5000").mkdir(parents=True)
    (second / "r.example:5000" / "ca.crt").write_text("x")
    assert host_cert_dir("r.example:5000", [first, second]) == second / "r.example:5000"
    (first / "r.example:5000").mkdir(parents=True)
    assert host_cert_dir("r.example:5000", [first, second]) == first / "r.example:5000"
    assert host_cert_dir("other.example", [first, second]) is None


def test_cas_and_client_pair_sorted(tmp_path: Path) -> None:
    folder = tmp_path / "certs.d" / "r.example"
    folder.mkdir(parents=True)
    for name in ("b.crt", "a.crt", "client.cert", "client.key", "notes.txt"):
        (folder / name).write_text("x")
    settings = tls_settings_for("r.example", None, [tmp_path / "certs.d"])
    assert settings == TLSSettings(
        verify=True,
        ca_files=(folder / "a.crt", folder / "b.crt"),
        client_cert=(folder / "client.cert", folder / "client.key"),
    )
    assert tls_settings_for("r.example", False, [tmp_path / "certs.d"]).verify is False
    assert tls_settings_for("none.example", None, [tmp_path / "certs.d"]) == TLSSettings()


def test_cert_dir_names_the_folder_itself(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    settings = tls_settings_for("ignored.example", cert_dir=tmp_path)
    assert settings.ca_files == (tmp_path / "ca.crt",)
    with pytest.raises(ConfigError, match="does not exist"):
        tls_settings_for("x", cert_dir=tmp_path / "missing")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["c.cert"], "missing key c.key for client certificate"),
        (["c.key"], "missing client certificate c.cert for key"),
    ],
)
def test_unpaired_client_files(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        (tmp_path / name).write_text("x")
    with pytest.raises(ConfigError, match=message):
        read_cert_dir(tmp_path)


def test_bad_hosts_never_become_paths(tmp_path: Path) -> None:
    for host in ("", "..", "a/../../etc"):
        with pytest.raises(ConfigError, match="invalid registry host"):
            host_cert_dir(host, [tmp_path])


def test_default_search_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(paths, "is_rootless", lambda: True)
    assert paths.certs_dirs() == [
        tmp_path / "containers" / "certs.d",
        Path("/etc/containers/certs.d"),
        Path("/etc/docker/certs.d"),
    ]
    monkeypatch.setattr(paths, "is_rootless", lambda: False)
    assert paths.certs_dirs() == [Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d")]


def test_ssl_context_loads_real_files_and_rejects_garbage(tmp_path: Path) -> None:
    ca, _ = make_cert(tmp_path, "ca")
    client_cert, client_key = make_cert(tmp_path, "client")
    context = TLSSettings(ca_files=(ca,), client_cert=(client_cert, client_key)).ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    subjects = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "ca"} in subjects
    insecure = TLSSettings(verify=False).ssl_context()
    assert (insecure.verify_mode, insecure.check_hostname) == (ssl.CERT_NONE, False)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate")
    with pytest.raises(ConfigError, match=f"CA certificate {garbage} cannot be loaded"):
        TLSSettings(ca_files=(garbage,)).ssl_context()
    with pytest.raises(ConfigError, match=r"client certificate .* cannot be loaded"):
        TLSSettings(client_cert=(client_cert, ca)).ssl_context()

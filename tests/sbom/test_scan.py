"""One pass over the layers: what the merged filesystem still holds is what the SBOM lists."""

from __future__ import annotations

from pathlib import Path

from boxwright.sbom import image_sbom
from boxwright.sbom.model import Distro
from boxwright_testing.sbom_images import STATUS, make_rpmdb, tar_of, write_layout


def _pkg_json(name: str, version: str) -> bytes:
    return f'{{"name": "{name}", "version": "{version}", "license": "MIT"}}'.encode()


def test_layers_merge_before_packages_are_listed(tmp_path: Path) -> None:
    rpmdb = make_rpmdb(tmp_path / "rpmdb.sqlite").read_bytes()
    base = tar_of(
        tmp_path / "base.tar",
        {
            "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian 12"\n',
            "var/lib/dpkg/status": STATUS,
            "usr/lib/python3/dist-packages/a-1.0.dist-info/METADATA": (
                b"Name: a\nVersion: 1.0\n\n"
            ),
            "usr/lib/python3/dist-packages/b-2.0.egg-info": b"Name: b\nVersion: 2.0\n\n",
            "app/node_modules/x/package.json": _pkg_json("x", "1.0.0"),
            "app/node_modules/y/package.json": _pkg_json("y", "1.0.0"),
            "var/lib/rpm/Packages": b"\0" * 4096,
            "usr/lib/sysimage/rpm/rpmdb.sqlite": rpmdb,
        },
    )
    top = tar_of(
        tmp_path / "top.tar",
        {
            "usr/lib/python3/dist-packages/.wh.a-1.0.dist-info": b"",
            "app/node_modules/.wh..wh..opq": b"",
            "app/node_modules/x/package.json": _pkg_json("x", "2.0.0"),
            "var/lib/rpm/.wh.Packages": b"",
        },
    )
    digest = write_layout(tmp_path / "layout", [base, top])
    sbom = image_sbom(f"oci:{tmp_path / 'layout'}:latest")
    assert sbom.digest == digest
    assert sbom.distro == Distro("debian", "12", "Debian 12")
    assert [(p.type, p.name, p.version, p.location) for p in sbom.packages] == [
        ("python", "b", "2.0", "/usr/lib/python3/dist-packages/b-2.0.egg-info"),
        ("rpm", "bash", "5.2.15-5.fc39", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("deb", "libc6", "2.36-9+deb12u4", "/var/lib/dpkg/status"),
        ("deb", "login", "1:4.13+dfsg1-1+b1", "/var/lib/dpkg/status"),
        ("rpm", "vim-minimal", "2:9.0.2120-1.fc39", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("npm", "x", "2.0.0", "/app/node_modules/x/package.json"),
    ]
    assert [f.path for f in sbom.files] == [
        "/app/node_modules/x/package.json",
        "/usr/lib/python3/dist-packages/b-2.0.egg-info",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        "/var/lib/dpkg/status",
    ]
    assert sbom.notes == ()


def test_unreadable_databases_are_noted(tmp_path: Path) -> None:
    layer = tar_of(
        tmp_path / "l.tar",
        {"var/lib/rpm/Packages": b"\0" * 4096, "usr/lib/sysimage/rpm/rpmdb.sqlite": b"junk"},
    )
    write_layout(tmp_path / "layout", [layer])
    sbom = image_sbom(f"oci:{tmp_path / 'layout'}")
    assert sbom.packages == ()
    assert sbom.notes == (
        "/usr/lib/sysimage/rpm/rpmdb.sqlite: the rpm database has no readable Packages table: "
        "file is not a database, not read",
        "/var/lib/rpm/Packages: rpm database in Berkeley DB or ndb format, not read",
    )

"""The package-database readers, each on the bytes its package manager writes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from boxwright.errors import SbomError
from boxwright.sbom import apk, dpkg, npm, python, rpm
from boxwright.sbom.model import Distro, Package
from boxwright.sbom.purl import purl
from boxwright_testing.sbom_images import STATUS, make_rpmdb

DEBIAN = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")


def test_dpkg_status_lists_installed_packages_with_syft_purls() -> None:
    found = dpkg.parse_status(STATUS, "var/lib/dpkg/status", DEBIAN)
    assert found == [
        Package(
            "libc6",
            "2.36-9+deb12u4",
            "deb",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12",
            "/var/lib/dpkg/status",
            supplier="GNU Libc Maintainers <debian-glibc@lists.debian.org>",
            source="glibc",
            arch="amd64",
        ),
        Package(
            "login",
            "1:4.13+dfsg1-1+b1",
            "deb",
            "pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64"
            "&upstream=shadow%401:4.13%2Bdfsg1-1&distro=debian-12",
            "/var/lib/dpkg/status",
            source="shadow",
            arch="amd64",
        ),
    ]


def test_dpkg_status_d_files_are_databases_and_need_no_status() -> None:
    assert dpkg.is_database("var/lib/dpkg/status")
    assert dpkg.is_database("var/lib/dpkg/status.d/base")
    assert not dpkg.is_database("var/lib/dpkg/status.d/base.md5sums")
    assert not dpkg.is_database("var/lib/dpkg/status-old")
    assert not dpkg.is_database("var/lib/dpkg/status.d/sub/x")
    text = b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
    (found,) = dpkg.parse_status(text, "var/lib/dpkg/status.d/tzdata", None)
    assert found.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all"
    assert found.location == "/var/lib/dpkg/status.d/tzdata"


def test_apk_installed_database() -> None:
    data = (
        b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nL:MIT\no:musl\n"
        b"m:Timo Teras <timo.teras@iki.fi>\n\n"
        b"P:libcrypto3\nV:3.1.4-r2\nA:x86_64\nL:Apache-2.0\no:openssl\n"
    )
    alpine = Distro("alpine", "3.19.0")
    found = apk.parse_installed(data, apk.INSTALLED, alpine)
    assert [(p.name, p.version, p.purl, p.licenses) for p in found] == [
        ("musl", "1.2.4-r2", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.0",
         ("MIT",)),
        ("libcrypto3", "3.1.4-r2",
         "pkg:apk/alpine/libcrypto3@3.1.4-r2?arch=x86_64&upstream=openssl&distro=alpine-3.19.0",
         ("Apache-2.0",)),
    ]  # fmt: skip


def test_rpm_sqlite_database(tmp_path: Path) -> None:
    headers = rpm.read_sqlite_headers(str(make_rpmdb(tmp_path / "rpmdb.sqlite")))
    fedora = Distro("fedora", "39")
    found = rpm.packages(headers, "var/lib/rpm/rpmdb.sqlite", fedora)
    assert [(p.name, p.version, p.purl, p.licenses, p.supplier) for p in found] == [
        ("bash", "5.2.15-5.fc39",
         "pkg:rpm/fedora/bash@5.2.15-5.fc39?arch=x86_64&upstream=bash-5.2.15-5.fc39.src.rpm"
         "&distro=fedora-39", ("GPL-3.0-or-later",), "Fedora Project"),
        ("vim-minimal", "2:9.0.2120-1.fc39",
         "pkg:rpm/fedora/vim-minimal@9.0.2120-1.fc39?arch=x86_64&epoch=2"
         "&upstream=vim-9.0.2120-1.fc39.src.rpm&distro=fedora-39", (), ""),
    ]  # fmt: skip


def test_rpm_header_that_lies_about_its_size_is_an_error() -> None:
    with pytest.raises(SbomError, match="rpm header counts exceed the blob"):
        rpm.parse_header(struct.pack(">II", 5, 1000) + b"\0" * 20)


def test_python_metadata_files() -> None:
    assert python.is_metadata("usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA")
    assert python.is_metadata("usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO")
    assert python.is_metadata("usr/lib/python3/dist-packages/distro-1.8.0.egg-info")
    assert not python.is_metadata("usr/lib/python3/dist-packages/pip/METADATA")
    data = b"Metadata-Version: 2.1\nName: Flask_Cors\nVersion: 4.0.0\nLicense: MIT\n\nbody\n"
    (found,) = python.parse_metadata(data, "x/Flask_Cors-4.0.0.dist-info/METADATA")
    assert (found.name, found.version, found.purl, found.licenses) == (
        "Flask_Cors", "4.0.0", "pkg:pypi/Flask_Cors@4.0.0", ("MIT",)
    )  # fmt: skip
    assert python.parse_metadata(b"Name: x\n\n", "x.egg-info") == []


def test_npm_package_json() -> None:
    assert npm.is_manifest("app/node_modules/lodash/package.json")
    assert npm.is_manifest("app/node_modules/@babel/core/package.json")
    assert npm.is_manifest("node_modules/a/node_modules/b/package.json")
    assert not npm.is_manifest("app/package.json")
    assert not npm.is_manifest("app/node_modules/@babel/package.json")
    assert not npm.is_manifest("app/node_modules/.bin/package.json")
    data = b'{"name": "@babel/core", "version": "7.23.0", "license": {"type": "MIT"}}'
    (found,) = npm.parse_manifest(data, "app/node_modules/@babel/core/package.json")
    assert (found.name, found.purl, found.licenses) == (
        "@babel/core", "pkg:npm/%40babel/core@7.23.0", ("MIT",)
    )  # fmt: skip
    assert npm.parse_manifest(b"not json", "x") == []
    assert npm.parse_manifest(b'{"name": "x"}', "x") == []


def test_purl_encodes_as_the_spec_says() -> None:
    assert purl("golang", "mod", "v1.0.0+incompatible", "github.com/a") == (
        "pkg:golang/github.com/a/mod@v1.0.0%2Bincompatible"
    )
    assert purl("deb", "x", "1:2", "debian", [("arch", "amd64"), ("upstream", "")]) == (
        "pkg:deb/debian/x@1:2?arch=amd64"
    )

"""registries.conf v2: prefixes, rewrites, wildcards, mirrors, blocking, aliases, drop-ins."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from boxwright.config.registries import Mirror, PullSource, RegistriesConfig, Registry
from boxwright.errors import ConfigError

CONF = """
unqualified-search-registries = ["registry.example", "docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json"]

[[registry]]
prefix = "example.com/foo"
location = "internal.example/mirror/foo"
insecure = true

[[registry]]
location = "example.com"

[[registry]]
prefix = "*.wild.example"
blocked = true

[[registry]]
prefix = "*.rewrite.example"
location = "central.example"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror-a.example/hub"
[[registry.mirror]]
location = "mirror-b.example:5000"
insecure = true
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "mirror-c.example"
pull-from-mirror = "tag-only"

[[registry]]
location = "quay.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "quay-mirror.example"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"""

DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def config() -> RegistriesConfig:
    return RegistriesConfig.from_text(CONF, Path("/x/registries.conf"))


def test_globals(config: RegistriesConfig) -> None:
    assert config.unqualified_search_registries == ("registry.example", "docker.io")
    assert config.short_name_mode == "enforcing"
    assert config.credential_helpers == ("containers-auth.json",)
    assert dict(config.aliases) == {"fedora": "registry.fedoraproject.org/fedora"}
    assert config.files == (Path("/x/registries.conf"),)


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("example.com/foo/app:1", "example.com/foo"),
        ("example.com/foo", "example.com/foo"),
        ("example.com/foobar/app", "example.com"),
        ("example.com/other@" + DIGEST, "example.com"),
        ("example.com:5000/app", None),
        ("a.wild.example/app", "*.wild.example"),
        ("a.b.wild.example:443/app", "*.wild.example"),
        ("wild.example/app", None),
        ("notwild.example/app", None),
        ("unknown.example/app", None),
    ],
)
def test_lookup_longest_prefix(config: RegistriesConfig, name: str, prefix: str | None) -> None:
    found = config.lookup(name)
    assert (found.prefix if found else None) == prefix


def test_rewrite_and_insecure(config: RegistriesConfig) -> None:
    assert config.pull_sources("example.com/foo/app:1") == [
        PullSource("internal.example/mirror/foo/app:1", insecure=True)
    ]
    assert config.pull_sources("unknown.example/app:1") == [
        PullSource("unknown.example/app:1", insecure=False)
    ]
    assert config.pull_sources("x.rewrite.example/ns/app:2") == [
        PullSource("central.example/ns/app:2", insecure=False)
    ]
    assert config.is_insecure("example.com") is False
    assert config.is_insecure("internal.example") is True
    assert config.is_insecure("mirror-b.example:5000") is True


def test_mirrors_by_tag_and_by_digest(config: RegistriesConfig) -> None:
    assert config.pull_sources("docker.io/library/busybox:1.36") == [
        PullSource("mirror-a.example/hub/library/busybox:1.36", False, mirror=True),
        PullSource("mirror-c.example/library/busybox:1.36", False, mirror=True),
        PullSource("docker.io/library/busybox:1.36", False),
    ]
    by_digest = f"docker.io/library/busybox@{DIGEST}"
    assert config.pull_sources(by_digest) == [
        PullSource(f"mirror-a.example/hub/library/busybox@{DIGEST}", False, mirror=True),
        PullSource(f"mirror-b.example:5000/library/busybox@{DIGEST}", True, mirror=True),
        PullSource(by_digest, False),
    ]
    assert config.pull_sources("quay.io/a/b:1") == [PullSource("quay.io/a/b:1", False)]
    assert config.pull_sources(f"quay.io/a/b@{DIGEST}")[0] == PullSource(
        f"quay-mirror.example/a/b@{DIGEST}", False, mirror=True
    )
    assert config.push_destination("docker.io/library/busybox:1") == PullSource(
        "docker.io/library/busybox:1", False
    )


def test_blocked(config: RegistriesConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        config.pull_sources("x.wild.example/app:1")
    assert str(caught.value) == (
        "registry for 'x.wild.example/app:1' is blocked in /x/registries.conf "
        "([[registry]] prefix '*.wild.example')"
    )


def test_short_names(config: RegistriesConfig) -> None:
    assert config.resolve_short_name("fedora:39") == ["registry.fedoraproject.org/fedora:39"]
    assert config.resolve_short_name("busybox") == [
        "registry.example/busybox",
        "docker.io/library/busybox",
    ]
    assert config.resolve_short_name("team/app@" + DIGEST) == [
        "registry.example/team/app@" + DIGEST,
        "docker.io/team/app@" + DIGEST,
    ]
    assert config.resolve_short_name("localhost/app") == ["localhost/app"]
    assert config.resolve_short_name("r.example:5000/app") == ["r.example:5000/app"]


def test_registry_defaults() -> None:
    registry = RegistriesConfig.from_text('[[registry]]\nprefix = "p.example/ns"\n').registries
    assert registry == (Registry("p.example/ns", "p.example/ns", source=Path("<registries.conf>")),)
    assert Mirror("m.example").serves(by_digest=False) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unqualified-search-registries = [", "is not valid TOML"),
        ('[registries.search]\nregistries = ["a"]', "uses the version 1 format"),
        ('unqualified-search-registries = "docker.io"', "must be an array of strings"),
        ('short-name-mode = "loose"', "short-name-mode must be one of"),
        ("[[registry]]\ninsecure = true", "needs a prefix or a location"),
        ('[[registry]]\nlocation = "a"\ninsecure = "yes"', "insecure must be true or false"),
        ('[[registry]]\nlocation = "https://a.example"', "must not contain a scheme"),
        ('[[registry]]\nprefix = "a.*.example"', "must have the form *.example.com"),
        ('[[registry]]\nprefix = "*.a.example/ns"', "must have the form *.example.com"),
        ('[[registry]]\nlocation = "a"\n[[registry]]\nlocation = "a"', "is defined twice"),
        ('[[registry]]\nlocation = "a"\n[[registry.mirror]]\ninsecure = true', "needs a location"),
        (
            '[[registry]]\nlocation = "a"\n[[registry.mirror]]\nlocation = "m"\n'
            'pull-from-mirror = "sometimes"',
            "pull-from-mirror must be all, digest-only or tag-only",
        ),
        (
            '[[registry]]\nlocation = "a"\nmirror-by-digest-only = true\n'
            '[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "all"',
            "cannot be combined with mirror-by-digest-only",
        ),
        ('[aliases]\n"r.example/x" = "r.example/x"', "must be a short name"),
        ('[aliases]\n"x" = "x"', "must point to a fully qualified name"),
        ('registry = "a"', "must be an array of tables"),
    ],
)
def test_malformed(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RegistriesConfig.from_text(text, Path("/etc/bad.conf"))
    assert str(caught.value).startswith("registries.conf /etc/bad.conf")
    assert message in str(caught.value)


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A fake /etc/containers and a private XDG config home."""
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    system = tmp_path / "etc"
    user = tmp_path / "config"
    (system / "registries.conf.d").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
    return system, user / "containers"


def test_load_system_then_drop_ins(layout: tuple[Path, Path]) -> None:
    system, user = layout
    (system / "registries.conf").write_text(
        'unqualified-search-registries = ["a.example"]\n'
        '[[registry]]\nlocation = "r.example"\ninsecure = true\n'
        '[aliases]\n"one" = "a.example/one"\n'
    )
    (system / "registries.conf.d" / "20-b.conf").write_text(
        'unqualified-search-registries = []\n[aliases]\n"two" = "b.example/two"\n'
    )
    (system / "registries.conf.d" / "10-a.conf").write_text(
        '[[registry]]\nlocation = "r.example"\nblocked = true\n'
    )
    (system / "registries.conf.d" / "ignored.txt").write_text("not toml [")
    (user / "registries.conf.d").mkdir(parents=True)
    (user / "registries.conf.d" / "00-user.conf").write_text('short-name-mode = "permissive"\n')
    config = RegistriesConfig.load(system_dir=system)
    assert config.files == (
        system / "registries.conf",
        system / "registries.conf.d" / "10-a.conf",
        system / "registries.conf.d" / "20-b.conf",
        user / "registries.conf.d" / "00-user.conf",
    )
    assert config.unqualified_search_registries == ()
    assert dict(config.aliases) == {"one": "a.example/one", "two": "b.example/two"}
    assert config.short_name_mode == "permissive"
    registry = config.lookup("r.example/app")
    assert registry is not None
    assert (registry.blocked, registry.insecure) == (True, False)


def test_user_file_replaces_system_file(layout: tuple[Path, Path]) -> None:
    system, user = layout
    (system / "registries.conf").write_text('unqualified-search-registries = ["sys.example"]\n')
    user.mkdir(parents=True)
    (user / "registries.conf").write_text('unqualified-search-registries = ["user.example"]\n')
    config = RegistriesConfig.load(system_dir=system)
    assert config.unqualified_search_registries == ("user.example",)
    assert config.files == (user / "registries.conf",)


def test_env_override_with_its_own_drop_ins(
    layout: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system, _ = layout
    (system / "registries.conf.d" / "x.conf").write_text('short-name-mode = "disabled"\n')
    mine = tmp_path / "mine" / "registries.conf"
    (mine.parent / "registries.conf.d").mkdir(parents=True)
    mine.write_text('unqualified-search-registries = ["mine.example"]\n')
    (mine.parent / "registries.conf.d" / "a.conf").write_text('short-name-mode = "enforcing"\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(mine))
    config = RegistriesConfig.load(system_dir=system)
    assert config.unqualified_search_registries == ("mine.example",)
    assert config.short_name_mode == "enforcing"
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "missing.conf"))
    with pytest.raises(ConfigError, match=r"missing\.conf does not exist"):
        RegistriesConfig.load(system_dir=system)


def test_no_files_at_all(layout: tuple[Path, Path]) -> None:
    system, _ = layout
    assert RegistriesConfig.load(system_dir=system) == RegistriesConfig()


def test_debian_system_file_parses() -> None:
    """The files Debian's containers-common (podman's dependency) installs load cleanly."""
    if shutil.which("podman") is None:
        pytest.skip("podman (and its /etc/containers files) is not installed")
    config = RegistriesConfig.load(Path("/etc/containers/registries.conf"))
    assert Path("/etc/containers/registries.conf") in config.files

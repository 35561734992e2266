"""registries.conf (version 2, TOML) with drop-ins: which registry serves a name, and how.

The rules are those of containers-registries.conf(5), as containers/image applies them:

* ``[[registry]]`` tables are chosen by ``prefix`` (default: the ``location``); a name matches a
  prefix when it equals it or continues it with ``/``, ``@`` or (after a path) ``:``; the
  longest matching prefix wins. A wildcard prefix ``*.example.com`` matches any subdomain of
  ``example.com`` (not ``example.com`` itself) in the host part of the name;
* the matched part of the name is replaced by ``location`` (a wildcard table with no location
  keeps the name); ``insecure = true`` allows plain HTTP and unverified TLS;
  ``blocked = true`` refuses pulls and pushes;
* ``[[registry.mirror]]`` entries (``location``, ``insecure``, ``pull-from-mirror`` =
  ``all`` | ``digest-only`` | ``tag-only``) are tried in order before the primary location;
  ``mirror-by-digest-only = true`` on the registry limits every mirror to digest references;
* ``unqualified-search-registries``, ``short-name-mode`` and ``credential-helpers`` are global;
  ``[aliases]`` maps short names to fully qualified ones.

Files: ``$CONTAINERS_REGISTRIES_CONF`` or an explicit path (with the ``registries.conf.d``
folder beside it), else ``$XDG_CONFIG_HOME/containers/registries.conf`` when it exists, else
``/etc/containers/registries.conf``, each followed by the drop-ins
``*.conf`` of ``/etc/containers/registries.conf.d`` and then of
``$XDG_CONFIG_HOME/containers/registries.conf.d``, in name order. A drop-in replaces
``[[registry]]`` tables with the same prefix and the global settings it sets, and adds to the
aliases. A malformed file is a :class:`ConfigError` naming
the file and the setting. Version 1 files (``[registries.search]``) are refused with a hint.

Names passed to :meth:`RegistriesConfig.lookup` and :meth:`RegistriesConfig.pull_sources`
are fully qualified (``docker.io/library/busybox:1.36``), as containers/image matches them.
One deliberate difference: the prefix ``example.com`` does not match ``example.com:5000/x``
(containers/image documents that match as unintended).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from boxwright._log import Logger
from boxwright.config import paths
from boxwright.errors import ConfigError

log = Logger(__name__)

PULL_FROM_MIRROR: Final = frozenset({"all", "digest-only", "tag-only"})
SHORT_NAME_MODES: Final = frozenset({"enforcing", "permissive", "disabled"})
DROPIN_SUFFIX: Final = ".conf"
DROPIN_DIR: Final = "registries.conf.d"


@dataclass(frozen=True)
class Mirror:
    """One mirror of a registry: where it is, whether it is insecure, which pulls it serves."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"

    def serves(self, by_digest: bool) -> bool:
        """Whether this mirror is tried for a reference by digest (or by tag)."""
        if self.pull_from_mirror == "digest-only":
            return by_digest
        if self.pull_from_mirror == "tag-only":
            return not by_digest
        return True


@dataclass(frozen=True)
class Registry:
    """One ``[[registry]]`` table: the names it covers and where they really live."""

    prefix: str
    location: str = ""
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()
    source: Path | None = None

    def match_length(self, name: str) -> int:
        """How many leading characters of ``name`` the prefix matches, or -1."""
        return _match_prefix(name, self.prefix)

    def rewrite(self, name: str, location: str | None = None) -> str:
        """``name`` with its matched prefix replaced by ``location`` (default: the registry's)."""
        target = self.location if location is None else location
        matched = self.match_length(name)
        if matched < 0:
            raise ConfigError(f"{name!r} does not match the registry prefix {self.prefix!r}")
        if not target:
            return name
        return target + name[matched:]


class PullSource(NamedTuple):
    """A place to try when pulling: the rewritten reference and whether it is insecure."""

    reference: str
    insecure: bool
    mirror: bool = False


def _split_host(name: str) -> tuple[str, str]:
    host, _, rest = name.partition("/")
    return host, rest


def _match_prefix(name: str, prefix: str) -> int:
    """containers/image's ``refMatchingPrefix``, without its ``host`` ↔ ``host:port`` slip."""
    if prefix.startswith("*."):
        suffix = prefix[1:]
        host_end = len(name)
        for index, char in enumerate(name):
            if char in "/@":
                host_end = index
                break
        host = name[:host_end]
        host_only = host.split(":", 1)[0]
        if not host_only.endswith(suffix) or host_only == suffix[1:]:
            return -1
        return len(host_only)
    if name == prefix:
        return len(prefix)
    if len(name) <= len(prefix) or not name.startswith(prefix):
        return -1
    separator = name[len(prefix)]
    if separator in "/@" or (separator == ":" and "/" in prefix):
        return len(prefix)
    return -1


def _is_fully_qualified(name: str) -> bool:
    """Whether the first component of ``name`` is a host (has ``.`` or ``:``, or is localhost)."""
    first, slash, _ = name.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _strip_tag_digest(name: str) -> tuple[str, str]:
    """``repo`` and its ``:tag``/``@digest`` suffix (the suffix keeps its separator)."""
    at = name.find("@")
    if at >= 0:
        return name[:at], name[at:]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon:]
    return name, ""


@dataclass(frozen=True)
class RegistriesConfig:
    """A merged registries.conf: registry tables, search registries, aliases, modes."""

    registries: tuple[Registry, ...] = ()
    unqualified_search_registries: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    short_name_mode: str = ""
    credential_helpers: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    set_keys: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """The global keys the (last) parsed file set, so merging tells "empty" from "unset"."""

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        *,
        system_dir: Path | None = None,
    ) -> RegistriesConfig:
        """Read the registries.conf files in effect (see the module docstring for the order).

        ``path`` (or ``$CONTAINERS_REGISTRIES_CONF``) names the main file, which must exist;
        ``system_dir`` replaces ``/etc/containers`` (for tests and chroots).
        """
        system = paths.SYSTEM_CONTAINERS_DIR if system_dir is None else Path(system_dir)
        explicit = path if path is not None else os.environ.get(paths.REGISTRIES_CONF_ENV) or None
        dropin_dirs: list[Path]
        if explicit is not None:
            main = Path(explicit)
            if not main.is_file():
                raise ConfigError(f"registries.conf {main} does not exist or is not a file")
            dropin_dirs = [main.parent / DROPIN_DIR]
        else:
            user = paths.user_registries_conf()
            main = user if user.is_file() else system / "registries.conf"
            dropin_dirs = [system / DROPIN_DIR, user.parent / DROPIN_DIR]
        files: list[Path] = [main] if main.is_file() else []
        seen: set[Path] = set()
        for directory in dropin_dirs:
            if directory in seen or not directory.is_dir():
                continue
            seen.add(directory)
            files.extend(sorted(p for p in directory.iterdir() if p.name.endswith(DROPIN_SUFFIX)))
        return cls.from_files(files)

    @classmethod
    def from_files(cls, files: Sequence[Path]) -> RegistriesConfig:
        """Merge ``files`` in order: later files replace same-prefix tables and set globals."""
        config = cls()
        for file in files:
            config = config.merged(_parse_file(Path(file)))
        return config

    @classmethod
    def from_text(cls, text: str, source: Path | None = None) -> RegistriesConfig:
        """Parse one registries.conf document (``source`` only names it in errors)."""
        return _parse_text(text, source or Path("<registries.conf>"))

    def merged(self, later: RegistriesConfig) -> RegistriesConfig:
        """This config with ``later`` (a drop-in) applied on top."""
        by_prefix = {r.prefix: r for r in self.registries}
        for registry in later.registries:
            by_prefix[registry.prefix] = registry
        aliases = {**self.aliases, **later.aliases}
        raw = later.set_keys
        return RegistriesConfig(
            registries=tuple(by_prefix.values()),
            unqualified_search_registries=(
                later.unqualified_search_registries
                if "unqualified-search-registries" in raw
                else self.unqualified_search_registries
            ),
            aliases=MappingProxyType(aliases),
            short_name_mode=later.short_name_mode or self.short_name_mode,
            credential_helpers=(
                later.credential_helpers if "credential-helpers" in raw else self.credential_helpers
            ),
            files=self.files + later.files,
            set_keys=self.set_keys | raw,
        )

    def lookup(self, reference_name: str) -> Registry | None:
        """The ``[[registry]]`` table with the longest prefix matching the name, or None."""
        best: Registry | None = None
        best_length = -1
        for registry in self.registries:
            if registry.match_length(reference_name) >= 0 and len(registry.prefix) > best_length:
                best, best_length = registry, len(registry.prefix)
        return best

    def is_insecure(self, host: str) -> bool:
        """Whether ``host[:port]`` is marked ``insecure`` (as a registry or as a mirror)."""
        registry = self.lookup(host)
        if registry is not None and registry.insecure:
            return True
        for candidate in self.registries:
            if any(m.insecure and _split_host(m.location)[0] == host for m in candidate.mirrors):
                return True
            if candidate.insecure and _split_host(candidate.location)[0] == host:
                return True
        return False

    def check_not_blocked(self, reference_name: str) -> None:
        """Raise :class:`ConfigError` when the name is covered by a ``blocked`` registry."""
        registry = self.lookup(reference_name)
        if registry is not None and registry.blocked:
            where = f" in {registry.source}" if registry.source else ""
            raise ConfigError(
                f"registry for {reference_name!r} is blocked{where} "
                f"([[registry]] prefix {registry.prefix!r})"
            )

    def pull_sources(self, reference_name: str) -> list[PullSource]:
        """Where to pull ``reference_name`` from, in order: usable mirrors, then the primary.

        A blocked registry raises :class:`ConfigError`; a name no table covers is its own
        single, secure source.
        """
        registry = self.lookup(reference_name)
        if registry is None:
            return [PullSource(reference_name, insecure=False)]
        self.check_not_blocked(reference_name)
        by_digest = "@" in reference_name
        sources = [
            PullSource(registry.rewrite(reference_name, m.location), m.insecure, mirror=True)
            for m in registry.mirrors
            if m.serves(by_digest)
        ]
        sources.append(PullSource(registry.rewrite(reference_name), registry.insecure))
        return sources

    def push_destination(self, reference_name: str) -> PullSource:
        """Where a push of ``reference_name`` goes: the primary location (never a mirror)."""
        return self.pull_sources(reference_name)[-1]

    def resolve_short_name(self, name: str) -> list[str]:
        """Fully qualified candidates for a short name: its alias, else each search registry.

        A fully qualified name is returned alone. Docker Hub candidates of one-component
        names get ``library/``, as containers/image adds it.
        """
        if _is_fully_qualified(name):
            return [name]
        repo, suffix = _strip_tag_digest(name)
        alias = self.aliases.get(repo)
        if alias is not None:
            return [alias + suffix]
        candidates = []
        for registry in self.unqualified_search_registries:
            path = f"library/{repo}" if registry == "docker.io" and "/" not in repo else repo
            candidates.append(f"{registry}/{path}{suffix}")
        return candidates


def _parse_file(path: Path) -> RegistriesConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise paths.unreadable("registries.conf", path, error) from None
    except UnicodeDecodeError:
        raise ConfigError(f"registries.conf {path} is not UTF-8 text") from None
    return _parse_text(text, path)


def _parse_text(text: str, source: Path) -> RegistriesConfig:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"registries.conf {source} is not valid TOML: {error}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"registries.conf {source} is nested too deeply") from None
    if isinstance(data.get("registries"), dict):
        raise ConfigError(
            f"registries.conf {source} uses the version 1 format ([registries.search]); "
            "rewrite it as version 2 (unqualified-search-registries and [[registry]] tables)"
        )
    where = f"registries.conf {source}"
    search = _string_list(data, "unqualified-search-registries", where)
    helpers = _string_list(data, "credential-helpers", where)
    mode = data.get("short-name-mode", "")
    if mode and mode not in SHORT_NAME_MODES:
        raise ConfigError(
            f"{where}: short-name-mode must be one of {', '.join(sorted(SHORT_NAME_MODES))}, "
            f"not {mode!r}"
        )
    aliases = _aliases(data.get("aliases", {}), where)
    tables = data.get("registry", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: 'registry' must be an array of tables ([[registry]])")
    registries: dict[str, Registry] = {}
    for number, table in enumerate(tables, 1):
        registry = _registry(table, f"{where} [[registry]] #{number}", source)
        if registry.prefix in registries:
            raise ConfigError(f"{where}: the prefix {registry.prefix!r} is defined twice")
        registries[registry.prefix] = registry
    known = {
        "unqualified-search-registries",
        "credential-helpers",
        "short-name-mode",
        "aliases",
        "registry",
    }
    for key in sorted(set(data) - known):
        log.debug("%s: ignoring unknown setting %r", where, key)
    return RegistriesConfig(
        registries=tuple(registries.values()),
        unqualified_search_registries=tuple(search),
        aliases=MappingProxyType(aliases),
        short_name_mode=str(mode),
        credential_helpers=tuple(helpers),
        files=(source,),
        set_keys=frozenset(data),
    )


def _string_list(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be an array of strings")
    return list(value)


def _flag(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _location(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    if "://" in value:
        raise ConfigError(f"{where}: {key} {value!r} must not contain a scheme (write host/path)")
    return value.rstrip("/")


def _aliases(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [aliases] must be a table of short name = full name")
    aliases: dict[str, str] = {}
    for short, full in value.items():
        if not isinstance(full, str):
            raise ConfigError(f"{where}: alias {short!r} must name an image as a string")
        if _is_fully_qualified(short) or "@" in short or ":" in short:
            raise ConfigError(f"{where}: alias {short!r} must be a short name without tag")
        if not _is_fully_qualified(full):
            raise ConfigError(
                f"{where}: alias {short!r} must point to a fully qualified name, not {full!r}"
            )
        aliases[short] = full
    return aliases


def _registry(table: Mapping[str, Any], where: str, source: Path) -> Registry:
    location = _location(table.get("location", ""), "location", where)
    prefix = _location(table.get("prefix", ""), "prefix", where) or location
    if not prefix:
        raise ConfigError(f"{where}: needs a prefix or a location")
    if "*" in prefix and (not prefix.startswith("*.") or "*" in prefix[1:] or "/" in prefix):
        raise ConfigError(f"{where}: wildcard prefix {prefix!r} must have the form *.example.com")
    if not location and not prefix.startswith("*."):
        location = prefix
    insecure = _flag(table, "insecure", where)
    blocked = _flag(table, "blocked", where)
    by_digest_only = _flag(table, "mirror-by-digest-only", where)
    raw_mirrors = table.get("mirror", [])
    if not isinstance(raw_mirrors, list) or not all(isinstance(m, dict) for m in raw_mirrors):
        raise ConfigError(f"{where}: mirror must be an array of tables ([[registry.mirror]])")
    mirrors: list[Mirror] = []
    for number, raw in enumerate(raw_mirrors, 1):
        mirror_where = f"{where} mirror #{number}"
        mirror_location = _location(raw.get("location", ""), "location", mirror_where)
        if not mirror_location:
            raise ConfigError(f"{mirror_where}: needs a location")
        pull_from = raw.get("pull-from-mirror", "")
        if pull_from and pull_from not in PULL_FROM_MIRROR:
            raise ConfigError(
                f"{mirror_where}: pull-from-mirror must be all, digest-only or tag-only, "
                f"not {pull_from!r}"
            )
        if pull_from and by_digest_only:
            raise ConfigError(
                f"{mirror_where}: pull-from-mirror cannot be combined with mirror-by-digest-only"
            )
        mode = "digest-only" if by_digest_only else (pull_from or "all")
        mirrors.append(Mirror(mirror_location, _flag(raw, "insecure", mirror_where), mode))
    return Registry(prefix, location, insecure, blocked, tuple(mirrors), source)


__all__ = [
    "Mirror",
    "PullSource",
    "RegistriesConfig",
    "Registry",
]

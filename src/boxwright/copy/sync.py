"""``sync``: copy many tags, a whole repository or a list of images, as ``skopeo sync`` does.

Sources: a registry repository (``docker://HOST/REPO``: every tag, or the one given, filtered
by ``tag_regex`` and/or a ``semver`` range), a directory (``dir``: every image under it, found
as skopeo finds them, a ``dir:`` image where a ``manifest.json`` is, named by its path below the
directory, ``busybox:1.36`` or ``team/app``; and every named image of an OCI layout, which is
what a sync to a directory writes), or a YAML/JSON file in skopeo's format::

    registry.example.com:
      images:
        busybox: []                 # every tag
        redis: ["6.0", "7.0"]
      images-by-tag-regex:
        nginx: ^1\\.2[0-9]\\.
      images-by-semver:
        alpine: ">= 3.18, < 4"
      credentials: {username: u, password: p}
      tls-verify: false

Destinations: a registry prefix (``HOST/PREFIX``: each image goes to ``PREFIX/NAME:TAG``) or a
directory (each image repository becomes one OCI layout ``DIR/NAME``, its tags the layout's
ref names). ``NAME`` is the repository's last component, or with ``scoped`` the whole
``HOST/PATH``, as skopeo names them; ``append_suffix`` is added to every destination tag.
Images are copied ``parallel`` at a time through the one copy pipeline, so an image the
destination already holds costs one manifest check. A failed image is reported; as in skopeo,
no further image is started unless ``keep_going``. ``dry_run`` plans and reports, and copies
nothing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from boxwright.config.auth import Credentials
from boxwright.copy.pipeline import CopyOptions, copy_image
from boxwright.copy.semver import SemverRange, parse_version
from boxwright.errors import BoxwrightError, ConfigError, UsageError
from boxwright.oci.reference import Reference
from boxwright.transport.docker import list_tags
from boxwright.transport.oci_layout import DirectoryFiles, LayoutReader
from boxwright.transport.options import TransportOptions

DEFAULT_SYNC_PARALLEL: Final = 2
"""Images copied at once (each moves its own blobs in parallel too)."""


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """How :func:`sync` runs; see the module docstring for the kinds and the naming."""

    source_kind: str = "docker"
    dest_kind: str = "docker"
    tag_regex: str | None = None
    semver: str | None = None
    all_platforms: bool = False
    scoped: bool = False
    parallel: int = DEFAULT_SYNC_PARALLEL
    src_options: TransportOptions | None = None
    dest_options: TransportOptions | None = None
    copy_options: CopyOptions | None = None
    on_image: Callable[[str], None] | None = None
    append_suffix: str = ""
    keep_going: bool = False
    dry_run: bool = False

    def check(self) -> None:
        """Raise :class:`UsageError` for kinds or filters that cannot work."""
        if self.source_kind not in ("docker", "dir", "yaml"):
            raise UsageError(f"sync source kind {self.source_kind!r}: expected docker, dir or yaml")
        if self.dest_kind not in ("docker", "dir"):
            raise UsageError(f"sync destination kind {self.dest_kind!r}: expected docker or dir")
        if self.parallel < 1:
            raise UsageError(f"parallel must be at least 1, not {self.parallel}")
        if self.tag_regex is not None:
            _compile(self.tag_regex)
        if self.semver is not None:
            SemverRange.parse(self.semver)


@dataclass(frozen=True, slots=True)
class SyncItem:
    """One image to copy: where from (with which options), where to."""

    source: str
    destination: str
    src_options: TransportOptions | None


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What :func:`sync` did: images copied, images already there, images that failed, and
    images not tried (after a failure, without ``keep_going``; every image of a dry run)."""

    copied: tuple[str, ...]
    unchanged: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    not_tried: tuple[str, ...] = ()


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise UsageError(f"invalid tag regular expression {pattern!r}: {error}") from None


def filter_tags(
    tags: Iterable[str], tag_regex: str | None = None, semver: str | None = None
) -> list[str]:
    """The tags matching ``tag_regex`` (searched, as Go's MatchString) and in ``semver``."""
    out = list(tags)
    if tag_regex is not None:
        pattern = _compile(tag_regex)
        out = [tag for tag in out if pattern.search(tag)]
    if semver is not None:
        wanted = SemverRange.parse(semver)
        kept = []
        for tag in out:
            version = parse_version(tag)
            if version is not None and wanted.contains(version):
                kept.append(tag)
        out = kept
    return out


def _dest_name(ref: Reference, scoped: bool) -> str:
    return ref.name if scoped else ref.path.rsplit("/", 1)[-1]


def _destination(ref: Reference, tag: str, destination: str, options: SyncOptions) -> str:
    return _destination_of(_dest_name(ref, options.scoped), tag, destination, options)


def _destination_of(name: str, tag: str, destination: str, options: SyncOptions) -> str:
    """Where the image ``name:tag`` goes (``append_suffix`` added to the tag)."""
    tag += options.append_suffix
    if options.dest_kind == "dir":
        return f"oci:{Path(destination) / name}:{tag}"
    prefix = destination.removeprefix("docker://").rstrip("/")
    return f"docker://{prefix}/{name}:{tag}"


def _repo_items(
    ref: Reference,
    tags: Iterable[str] | None,
    destination: str,
    options: SyncOptions,
    src_options: TransportOptions | None,
    tag_regex: str | None,
    semver: str | None,
) -> list[SyncItem]:
    """Items for one source repository: ``tags`` given, or every tag listed, then filtered."""
    if tags is None:
        tags = list_tags(ref.with_default_tag(), src_options)
    chosen = filter_tags(tags, tag_regex, semver)
    return [
        SyncItem(
            f"docker://{ref.name}:{tag}",
            _destination(ref, tag, destination, options),
            src_options,
        )
        for tag in chosen
    ]


def plan_sync(source: str, destination: str, options: SyncOptions) -> list[SyncItem]:
    """Every image :func:`sync` would copy, in order (listing tags where needed)."""
    options.check()
    if options.source_kind == "docker":
        ref = Reference.parse_normalized(source.removeprefix("docker://"))
        if ref.digest is not None:
            raise UsageError(f"{source}: sync takes a repository or a tag, not a digest")
        tags = [ref.tag] if ref.tag else None
        return _repo_items(
            ref.without_tag_or_digest(),
            tags,
            destination,
            options,
            options.src_options,
            options.tag_regex,
            options.semver,
        )
    if options.source_kind == "dir":
        return _dir_items(Path(source), destination, options)
    items: list[SyncItem] = []
    for registry, entry in _read_list(Path(source)).items():
        src_options = _registry_options(registry, entry, options.src_options, source)
        for kind in ("images", "images-by-tag-regex", "images-by-semver"):
            table = entry.get(kind) or {}
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: {registry}: {kind} must be a mapping")
            for image, value in table.items():
                ref = Reference.parse_normalized(f"{registry}/{image}")
                if kind == "images":
                    if value is not None and not isinstance(value, list):
                        raise ConfigError(f"{source}: {registry}/{image}: tags must be a list")
                    tags = [str(tag) for tag in value] if value else None
                    regex, rng = options.tag_regex, options.semver
                elif kind == "images-by-tag-regex":
                    tags, regex, rng = None, str(value), options.semver
                else:
                    tags, regex, rng = None, options.tag_regex, str(value)
                items += _repo_items(ref, tags, destination, options, src_options, regex, rng)
    return items


def _dir_items(root: Path, destination: str, options: SyncOptions) -> list[SyncItem]:
    """Every image below ``root``: ``dir:`` images (named by their path, ``NAME[:TAG]``) and
    the named images of OCI layouts (``PATH:REFNAME``), in path order."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory (sync --src dir takes one)")
    items: list[SyncItem] = []
    for path in sorted(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if (path / "manifest.json").is_file():
            name, _, tag = rel.partition(":")
            items.append(
                SyncItem(
                    f"dir:{path}",
                    _destination_of(name, tag or "latest", destination, options),
                    options.src_options,
                )
            )
        elif (path / "index.json").is_file() and (path / "oci-layout").is_file():
            for tag in LayoutReader(DirectoryFiles(path), str(path)).names():
                items.append(
                    SyncItem(
                        f"oci:{path}:{tag}",
                        _destination_of(rel, tag, destination, options),
                        options.src_options,
                    )
                )
    return items


def _read_list(path: Path) -> dict[str, dict[str, Any]]:
    """The YAML (or JSON) list of registries and images."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the sync list {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the sync list is not UTF-8 text") from None
    import yaml  # YAML 1.1 is a superset of JSON: one parser reads both list formats

    data: Any
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path}: expected a mapping of registry → images, as skopeo sync")
    return data


def _registry_options(
    registry: str, entry: dict[str, Any], base: TransportOptions | None, where: str
) -> TransportOptions:
    """The list's per-registry credentials, tls-verify and cert-dir over ``base``."""
    options = base or TransportOptions()
    creds = entry.get("credentials")
    if creds is not None:
        if not isinstance(creds, dict) or not isinstance(creds.get("username"), str):
            raise ConfigError(f"{where}: {registry}: credentials need a username and a password")

        options = replace(
            options,
            credentials=Credentials(str(creds["username"]), str(creds.get("password", ""))),
        )
    if "tls-verify" in entry:
        options = replace(options, tls_verify=bool(entry["tls-verify"]))
    if "cert-dir" in entry:
        options = replace(options, cert_dir=Path(str(entry["cert-dir"])))
    return options


def sync(source: str, destination: str, options: SyncOptions | None = None) -> SyncResult:
    """Copy every image :func:`plan_sync` lists; a failure is recorded, not raised."""
    options = options or SyncOptions()
    items = plan_sync(source, destination, options)
    if options.dest_kind == "dir" and not options.dry_run:
        Path(destination).mkdir(parents=True, exist_ok=True)
    base = options.copy_options or CopyOptions()
    copied: list[str] = []
    unchanged: list[str] = []
    failed: list[tuple[str, str]] = []
    not_tried: list[str] = []
    stop = threading.Event()

    def one(item: SyncItem) -> None:
        if options.dry_run or stop.is_set():
            not_tried.append(item.source)
            if options.dry_run:
                _say(options, f"Would have copied image from={item.source} to={item.destination}")
            return
        copy_options = replace(
            base,
            all_platforms=options.all_platforms or base.all_platforms,
            src_options=item.src_options,
            dest_options=options.dest_options,
        )
        try:
            result = copy_image(item.source, item.destination, copy_options)
        except BoxwrightError as error:
            failed.append((item.source, str(error)))
            _say(options, f"Failed {item.source}: {error}")
            if not options.keep_going:
                stop.set()
            return
        if result.unchanged:
            unchanged.append(item.source)
            _say(options, f"Unchanged {item.source} (already at {item.destination})")
        else:
            copied.append(item.source)
            _say(options, f"Copied {item.source} to {item.destination} ({result.digest})")

    _run_all(items, options, one)
    order = {item.source: n for n, item in enumerate(items)}
    return SyncResult(
        tuple(sorted(copied, key=order.__getitem__)),
        tuple(sorted(unchanged, key=order.__getitem__)),
        tuple(sorted(failed, key=lambda f: order[f[0]])),
        tuple(sorted(not_tried, key=order.__getitem__)),
    )


def _run_all(items: list[SyncItem], options: SyncOptions, one: Callable[[SyncItem], None]) -> None:
    """Run ``one`` on every item: in order for a dry run, else on ``options.parallel``
    threads."""
    if options.dry_run:
        for item in items:
            one(item)
    elif options.dest_kind == "dir":
        # One OCI layout per repository: its tags go in one after another (index.json is
        # locked per write, but sequential writes keep the layout's order predictable).
        by_layout: dict[str, list[SyncItem]] = {}
        for item in items:
            by_layout.setdefault(item.destination.rsplit(":", 1)[0], []).append(item)

        def in_order(group: list[SyncItem]) -> None:
            for item in group:
                one(item)

        with ThreadPoolExecutor(options.parallel, thread_name_prefix="boxwright-sync") as pool:
            list(pool.map(in_order, by_layout.values()))
    else:
        with ThreadPoolExecutor(options.parallel, thread_name_prefix="boxwright-sync") as pool:
            list(pool.map(one, items))


def _say(options: SyncOptions, line: str) -> None:
    if options.on_image is not None:
        options.on_image(line)


__all__ = [
    "DEFAULT_SYNC_PARALLEL",
    "SyncItem",
    "SyncOptions",
    "SyncResult",
    "filter_tags",
    "plan_sync",
    "sync",
]

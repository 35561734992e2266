"""Output helpers every command shares: JSON, progress, tables, sizes.

Every text shown to a person passes :func:`boxwright.cli.sanitize.escape` here, cell by
cell, so what an image says (file names, labels, history) cannot drive the terminal; rich is
given :class:`rich.text.Text` objects, never markup strings, so ``[bold]`` in a file name is
shown as it is. JSON (:func:`emit_json`) is printed exactly as serialized.

The library never prints; it reports progress through a plain callback
``(event_kind, descriptor_or_name, done, total)`` (see :data:`ProgressCallback`). This module
turns those calls into rich progress bars when stderr is a terminal, into one plain line per
finished item when it is piped, and into nothing with ``--quiet``. Data goes to stdout (JSON or a
table), progress and messages to stderr, so ``boxwright inspect ... | jq`` always works.

rich is drawn through :mod:`boxwright.cli.bars` and :mod:`boxwright.cli.tables`, imported only
when the output is a terminal, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import IO, Any, Protocol, Self, runtime_checkable

import click

from boxwright.cli.sanitize import escape

#: ``(event_kind, descriptor_or_name, done, total)``: what the library's progress callbacks
#: receive. ``event_kind`` is a short word; the reporters here treat :data:`FINISHED_KINDS` as
#: "this item is complete" and every other kind ("start", "progress", "write", ...) as "still
#: running". ``descriptor_or_name`` identifies the item (a digest string, or a name such as
#: ``"config"`` or a path); ``done`` counts bytes (or items) so far; ``total`` is the expected
#: amount, or ``None`` when it is unknown.
ProgressCallback = Callable[[str, str, int, "int | None"], None]

#: Event kinds that end an item: its bar is completed and, when piped, it is reported as one
#: line. ("manifest" is what the copy pipeline reports when it writes a manifest.)
FINISHED_KINDS = frozenset(
    {"done", "finished", "skipped", "exists", "reused", "manifest", "failed", "error"}
)


# What the reporters read of an event (OwnershipEntryLike is alike in shape, for files).
class ProgressEventLike(Protocol):
    """An event object a reporter accepts instead of the four positional values.

    The copy pipeline's :class:`boxwright.copy.progress.ProgressEvent` is one: ``kind``,
    ``digest`` (or ``name``), ``done`` and ``total`` are read from it.
    """

    @property
    def kind(self) -> str: ...

    @property
    def done(self) -> int: ...

    @property
    def total(self) -> int | None: ...


@runtime_checkable
class _HasDigest(Protocol):
    """An event naming its item by digest (the copy pipeline's)."""

    @property
    def digest(self) -> object: ...


@runtime_checkable
class _HasName(Protocol):
    """An event naming its item by name."""

    @property
    def name(self) -> object: ...


@runtime_checkable
class _HasToDict(Protocol):
    """A library value that says how it looks as JSON."""

    def to_dict(self) -> Any: ...


def _fields(
    event: str | ProgressEventLike, name: str | None, done: int, total: int | None
) -> tuple[str, str, int, int | None]:
    """``(kind, name, done, total)`` from either calling convention."""
    if isinstance(event, str):
        return event, name if name is not None else "", done, total
    label = event.digest if isinstance(event, _HasDigest) else None
    if not label and isinstance(event, _HasName):
        label = event.name
    return event.kind, str(label or ""), event.done, event.total


#: The words shown for finished kinds in plain (piped) output.
_FINISHED_WORDS = {
    "done": "done",
    "manifest": "written",
    "finished": "done",
    "skipped": "already present",
    "exists": "already present",
    "reused": "reused",
    "failed": "failed",
    "error": "failed",
}


def human_size(size: int | None) -> str:
    """A size the way docker and skopeo print it: decimal units, three significant digits."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def short_name(name: str, width: int = 19) -> str:
    """``sha256:0123456789ab`` for a digest (12 hex digits, as docker shows); other names as is.

    Names longer than ``width`` keep their tail, which is the informative part of a path.
    """
    algorithm, sep, encoded = name.partition(":")
    if sep and algorithm in {"sha256", "sha512"} and len(encoded) > 12:
        return f"{algorithm}:{encoded[:12]}"
    if len(name) > width:
        return "…" + name[-(width - 1) :]
    return name


def _json_default(obj: Any) -> Any:
    """Make the library's values JSON-able: ``to_dict()``, digests, dataclasses, paths, times."""
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, _HasToDict):
        return obj.to_dict()
    if getattr(type(obj), "__str__", None) is not object.__str__:
        return str(obj)  # Digest, Platform, Reference: their text form is canonical
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot render {type(obj).__name__} as JSON")


def to_json(obj: Any, *, indent: int | None = 4) -> str:
    """``obj`` as JSON text (4-space indent like skopeo, key order kept, UTF-8 unescaped)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False, default=_json_default)


def emit_json(obj: Any, *, stream: IO[str] | None = None, indent: int | None = 4) -> None:
    """Write ``obj`` as JSON and a newline to stdout (or ``stream``)."""
    click.echo(to_json(obj, indent=indent), file=stream if stream is not None else sys.stdout)


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def _quiet_from_context() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    state = ctx.find_root().obj
    return bool(getattr(state, "quiet", False))


class ProgressReporter(Protocol):
    """A progress callback that is also a context manager (entering starts a live display).

    Call it as ``reporter(kind, name, done, total)`` or with one event object
    (:class:`ProgressEventLike`, e.g. the copy pipeline's ``ProgressEvent``).
    """

    def __call__(
        self,
        event: str | ProgressEventLike,
        name: str | None = None,
        done: int = 0,
        total: int | None = None,
    ) -> None: ...

    def __enter__(self) -> ProgressReporter: ...

    def __exit__(self, *exc: object) -> None: ...


# SilentProgress implements ProgressReporter, so its __call__ repeats the protocol's signature.
class SilentProgress:
    """Reports nothing (``--quiet``); the base of every reporter: its ``__call__`` takes both
    calling conventions of :class:`ProgressReporter` and hands :meth:`report` the fields."""

    def __call__(
        self,
        event: str | ProgressEventLike,
        name: str | None = None,
        done: int = 0,
        total: int | None = None,
    ) -> None:
        self.report(*_fields(event, name, done, total))

    def report(self, kind: str, name: str, done: int, total: int | None) -> None:
        """Show one event (``kind``, the item's ``name``, bytes ``done`` of ``total``)."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class PlainProgress(SilentProgress):
    """One line per finished item, for logs and pipes: ``sha256:0123456789ab: done (1.2 MB)``.

    Safe to call from several threads (the copy pipeline moves blobs in parallel).
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._reported: set[str] = set()

    def report(self, event_kind: str, name: str, done: int, total: int | None) -> None:
        if event_kind not in FINISHED_KINDS:
            return
        with self._lock:
            if name in self._reported:
                return
            self._reported.add(name)
            word = _FINISHED_WORDS[event_kind]
            size = total if total is not None else done
            line = f"{escape(short_name(name, 64))}: {word} ({human_size(size)})"
            self._stream.write(line + "\n")
            self._stream.flush()


class RichProgress(SilentProgress):
    """Live progress bars on a terminal, one per item, driven by the same callback."""

    def __init__(self, stream: IO[str], *, force_terminal: bool | None = None) -> None:
        from boxwright.cli.bars import LiveBars

        self._bars = LiveBars(stream, force_terminal=force_terminal)
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def report(self, event_kind: str, name: str, done: int, total: int | None) -> None:
        with self._lock:
            description = escape(short_name(name))
            task = self._tasks.get(name)
            if task is None:
                task = self._bars.add(description, total)
                self._tasks[name] = task
            finished = event_kind in FINISHED_KINDS
            if finished and total is None:
                total = done
            if finished and event_kind != "done":
                description = f"{description} ({_FINISHED_WORDS[event_kind]})"
            self._bars.update(task, completed=done, total=total, description=description)
            if finished:
                self._bars.update(task, completed=total, total=total, description=None)

    def __enter__(self) -> Self:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()


def make_progress(
    quiet: bool | None = None,
    *,
    stream: IO[str] | None = None,
    force_terminal: bool | None = None,
) -> ProgressReporter:
    """The reporter fitting where stderr goes: bars on a terminal, lines when piped, or nothing.

    ``quiet`` defaults to the global ``--quiet``. Use it as a context manager and pass it as the
    library's progress callback::

        with make_progress() as progress:
            copy_image(src, dst, progress=progress)
    """
    if quiet is None:
        quiet = _quiet_from_context()
    if quiet:
        return SilentProgress()
    out = stream if stream is not None else sys.stderr
    terminal = force_terminal if force_terminal is not None else _is_tty(out)
    if terminal:
        return RichProgress(out, force_terminal=True)
    return PlainProgress(out)


def _cell(value: object) -> str:
    """A table cell or summary value as one line of text, escaped."""
    if value is None:
        return ""
    return escape(str(value))


def render_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    stream: IO[str] | None = None,
    force_terminal: bool | None = None,
) -> None:
    """Print rows under upper-case headers: a rich table on a terminal, plain columns otherwise.

    Plain output is what podman and skopeo print when piped: columns padded with spaces, at
    least two between them, no trailing spaces, so ``awk``/``cut`` work on it. Every cell is
    escaped (:func:`boxwright.cli.sanitize.escape`), so each row is exactly one line.
    """
    out = stream if stream is not None else sys.stdout
    headers = [escape(column.upper()) for column in columns]
    body = [[_cell(value) for value in row] for row in rows]
    for row in body:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row!r}")
    terminal = force_terminal if force_terminal is not None else _is_tty(out)
    if terminal:
        from boxwright.cli.tables import print_table

        print_table(headers, body, out)
        return
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    for row in [headers, *body]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write(line.rstrip() + "\n")
    out.flush()


def render_mapping(data: Mapping[str, object], *, stream: IO[str] | None = None) -> None:
    """Print ``key: value`` lines with aligned values (for one-object summaries), escaped."""
    out = stream if stream is not None else sys.stdout
    keys = {key: escape(key) for key in data}
    width = max((len(key) for key in keys.values()), default=0)
    for key, value in data.items():
        out.write(f"{(keys[key] + ':').ljust(width + 1)} {_cell(value)}".rstrip() + "\n")
    out.flush()


__all__ = [
    "FINISHED_KINDS",
    "PlainProgress",
    "ProgressCallback",
    "ProgressEventLike",
    "ProgressReporter",
    "RichProgress",
    "SilentProgress",
    "emit_json",
    "human_size",
    "make_progress",
    "render_mapping",
    "render_table",
    "short_name",
    "to_json",
]

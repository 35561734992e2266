"""Wasted bytes, efficiency and per-layer file changes, gathered while the layers apply.

:class:`WasteTracker` is fed each layer right after it was applied to a
:class:`~boxwright.explain.layerfiles.FileSystemView` (it needs the view as it is at that
moment) and produces the :class:`~boxwright.explain.model.Waste` summary and, when asked,
one :class:`~boxwright.explain.model.LayerFileReport` per layer.

Wasted bytes are exact: the sizes of regular files a layer wrote that a later layer
replaced or deleted (a file written in the same layer twice is not counted: only the
last copy reaches the layer's tar view). Efficiency follows dive: for each path, every
size a layer wrote there and, for a deletion, the size deleted; the score is the sum of
each path's smallest size over the sum of all of them (a file written once scores 1, a
file written and then deleted 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from boxwright.explain.layerfiles import FileEntry, FileSystemView, LayerChanges, LayerFiles
from boxwright.explain.model import LayerFileReport, Offender, Shadowed, Waste

#: How many offenders the summary lists.
TOP_OFFENDERS = 10


@dataclass
class _PathSizes:
    smallest: int
    total: int


@dataclass
class _Offence:
    wasted: int = 0
    copies: int = 0
    layers: set[int] = field(default_factory=set)


class WasteTracker:
    """Accumulates waste and file changes, layer by layer (see the module docstring)."""

    def __init__(self, *, files: bool = False) -> None:
        self.files = files
        self.wasted_bytes = 0
        self._sizes: dict[str, _PathSizes] = {}
        self._offences: dict[str, _Offence] = {}
        self._reports: list[LayerFileReport] = []
        """Each layer's report as recorded: ``shadowed`` is known only after the last layer."""
        self._shadowed: dict[int, list[Shadowed]] = {}

    def _size(self, path: str, size: int) -> None:
        seen = self._sizes.get(path)
        if seen is None:
            self._sizes[path] = _PathSizes(size, size)
        else:
            seen.total += size
            if size < seen.smallest:
                seen.smallest = size

    def record(self, layer: LayerFiles, changes: LayerChanges, view: FileSystemView) -> None:
        """Take in ``layer``, just applied to ``view`` with the result ``changes``."""
        index = layer.index
        current = view.files
        new_entries: list[FileEntry] = []
        changed_entries: list[FileEntry] = []
        for path in changes.added:
            found = current.get(path)
            if found is not None and found[1] == index:
                new_entries.append(found[0])
                if found[0].kind == "file":
                    self._size(path, found[0].size)
        for path, _old, _layer in changes.changed:
            found = current.get(path)
            if found is not None and found[1] == index:
                changed_entries.append(found[0])
                if found[0].kind == "file":
                    self._size(path, found[0].size)
        for how, shadowed in (("changed", changes.changed), ("deleted", changes.deleted)):
            for path, old, old_layer in shadowed:
                if old.kind == "file":
                    self.wasted_bytes += old.size
                    offence = self._offences.setdefault(path, _Offence())
                    offence.wasted += old.size
                    offence.copies += 1
                    offence.layers.add(old_layer)
                    if how == "deleted":
                        self._size(path, old.size)
                if self.files:
                    self._shadowed.setdefault(old_layer, []).append(
                        Shadowed(path, old.kind, old.size, old_layer, index, how)
                    )
        if self.files:
            self._reports.append(
                LayerFileReport(
                    layer=index,
                    added=tuple(new_entries),
                    changed=tuple(changed_entries),
                    deleted=tuple(path for path, _, _ in changes.deleted),
                    whiteouts=layer.whiteouts,
                    opaque_dirs=layer.opaque_dirs,
                    shadowed=(),
                    wasted_bytes=0,
                )
            )

    def waste(self, uncompressed_sizes: Sequence[int]) -> Waste:
        """The summary, given each layer's uncompressed size (base first)."""
        total = sum(s.total for s in self._sizes.values())
        smallest = sum(s.smallest for s in self._sizes.values())
        efficiency = 1.0 if total == 0 else smallest / total
        user_size = sum(uncompressed_sizes[1:])
        user_wasted = 0.0 if user_size == 0 else self.wasted_bytes / user_size
        ranked = sorted(self._offences.items(), key=lambda item: (-item[1].wasted, item[0]))
        offenders = tuple(
            Offender(path, o.wasted, o.copies, tuple(sorted(o.layers)))
            for path, o in ranked[:TOP_OFFENDERS]
            if o.wasted > 0
        )
        return Waste(self.wasted_bytes, efficiency, user_wasted, offenders)

    def file_reports(self) -> tuple[LayerFileReport, ...]:
        """One report per layer (only when the tracker was made with ``files=True``)."""
        out: list[LayerFileReport] = []
        for report in self._reports:
            shadowed = tuple(self._shadowed.get(report.layer, ()))
            wasted = sum(s.size for s in shadowed if s.kind == "file")
            out.append(replace(report, shadowed=shadowed, wasted_bytes=wasted))
        return tuple(out)


__all__ = ["TOP_OFFENDERS", "WasteTracker"]

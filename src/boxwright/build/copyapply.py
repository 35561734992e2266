"""COPY and ADD once the cache lacks the step: a :class:`~boxwright.build.copystep.CopyStep`'s
sources written into the stage's working container (:func:`apply_copy`).

A directory source whose ignore file or ``--exclude`` drops paths inside it is first staged
as a filtered copy (hard links where the filesystem allows), which the copy reads through an
alias of its :class:`~boxwright.build.sources.SourceRoot`, so owners and links are taken from
the original root. ADD extracts a local archive and downloads a URL
(:meth:`~boxwright.build.builder.Builder.add`); every other copy is
:meth:`~boxwright.build.builder.Builder.copy` with the file rules of
:mod:`boxwright.build.files`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

from boxwright.build.builder import Builder
from boxwright.build.copystep import CopyStep
from boxwright.build.files import is_archive
from boxwright.build.sources import staged_copy


def apply_copy(step: CopyStep, container: str | None = None) -> str:
    """Copy ``step``'s sources into the stage's container (or ``container``: the empty one a
    linked layer is made in, with :meth:`~CopyStep.link_dest`); return the history's
    ``created_by``."""
    ctx = step.ctx
    cid = container if container is not None else ctx.workspace.container()
    builder = Builder(ctx.store, cid, keep=True, attached=True)
    dest = step.link_dest() if container is not None else step.dest
    staged: list[tuple[Path, Path]] = []  # filtered copies: (staged, original)
    paths = [(_filtered(step, p, staged), rel) for p, rel in step.sources]
    source_root = dataclasses.replace(step.source_root, aliases=tuple(staged))
    summary = ""
    if not paths and not step.urls:
        # every source was a wildcard that matched nothing: BuildKit copies nothing
        summary = "multi:" + hashlib.sha256(b"").hexdigest()
    elif step.keyword == "ADD" and (
        step.urls or any(is_archive(source_root.follow(p)) for p, _ in paths)
    ):
        items = [str(source_root.follow(p)) for p, _ in paths] + step.urls
        builder.add(items, dest, chown=step.chown, chmod=step.chmod, checksum=step.checksum)
        summary = _add_summary([p for p, _ in paths], step.urls)
    elif step.parents:
        digests = []
        for path, rel in paths:
            parent = os.path.dirname(rel)
            target = dest.rstrip("/") + "/" + parent + "/" if parent else dest
            result = builder.copy(
                [path], target, chown=step.chown, chmod=step.chmod, source_root=source_root
            )
            digests.append(result.digest)
        summary = (
            digests[0]
            if len(digests) == 1
            else "multi:" + hashlib.sha256("".join(digests).encode()).hexdigest()
        )
    else:
        result = builder.copy(
            [p for p, _ in paths],
            dest,
            chown=step.chown,
            chmod=step.chmod,
            source_root=source_root,
        )
        summary = result.digest
    return f"/bin/sh -c #(nop) {step.keyword} {summary} in {step.raw_dest} "


def _filtered(step: CopyStep, path: Path, staged: list[tuple[Path, Path]]) -> Path:
    """``path`` itself, or a staged copy of it without the ignored paths inside it (noted in
    ``staged`` as the alias of its original)."""
    content = step.source_root.follow(path)
    if not content.is_dir() or (step.origin is not None and step.exclude is None):
        return path
    if step.origin is None and not step.ctx.ignore and step.exclude is None:
        return path
    base = str(content)
    dropped = False
    for dirpath, dirnames, filenames in os.walk(content):
        if any(step.ignored(os.path.join(dirpath, n), base) for n in (*dirnames, *filenames)):
            dropped = True
            break
    if not dropped:
        return path
    directory = tempfile.mkdtemp(prefix="filtered-", dir=step.ctx.workspace.staging())
    target = Path(directory) / (path.name or "root")
    staged_copy(content, target, lambda p: step.ignored(str(p), base))
    staged.append((target, content))
    return target


def _add_summary(paths: list[Path], urls: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    for url in urls:
        digest.update(url.encode())
    kind = "file" if len(paths) + len(urls) == 1 else "multi"
    return f"{kind}:{digest.hexdigest()}"


__all__ = ["apply_copy"]

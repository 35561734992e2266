"""Planning a multi-stage build: ARG scopes, which stages are needed, and in what order.

* The global scope is the ARGs before the first FROM (their defaults, overridden by
  ``--build-arg``) plus the predefined platform ARGs (``TARGETPLATFORM``, ``TARGETOS``,
  ``TARGETARCH``, ``TARGETVARIANT``, ``BUILDPLATFORM``, ``BUILDOS``, ``BUILDARCH``,
  ``BUILDVARIANT``): FROM lines expand with it. Inside a stage an ARG must be declared again
  to be seen (a declaration without a value takes the global one), as BuildKit scopes it.
* A stage depends on the stages its FROM names and those its ``COPY --from`` and
  ``RUN --mount=from=`` name; only the target (``--target``, else the last stage) and what it
  depends on are built, each dependency before its dependents, independent stages at once.
* A named context (``--build-context NAME=...``) comes before a stage of the same name:
  ``FROM NAME`` starts from its image, and ``--from=NAME`` makes no stage a dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boxwright._numbers import ascii_int
from boxwright.build.containerfile.shell import Expander, parse_key_values
from boxwright.build.context import NamedContext, find_named
from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Containerfile, Instruction, Stage
    from boxwright.oci.platform import Platform

#: ARGs every build defines without a declaration (Docker's proxy ARGs): passed to RUN,
#: never recorded in the image.
PROXY_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    """The predefined platform ARGs for a build on ``build`` for ``target``."""

    def text(p: Platform) -> str:
        return f"{p.os}/{p.architecture}" + (f"/{p.variant}" if p.variant else "")

    return {
        "TARGETPLATFORM": text(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
        "BUILDPLATFORM": text(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
    }


def global_args(
    cf: Containerfile, build_args: Mapping[str, str], predefined: Mapping[str, str]
) -> dict[str, str]:
    """The global ARG scope (module docstring): what FROM lines and re-declarations see."""
    scope = dict(predefined)
    for instruction in cf.meta_args:
        for name, default in parse_key_values(instruction):
            if name in build_args:
                scope[name] = build_args[name]
            elif default is not None:
                scope[name] = Expander(scope, cf.escape, str(instruction.location)).word(default)
    return scope


@dataclass(frozen=True)
class StagePlan:
    """One stage to build: its index, the stages it waits for, its base after expansion."""

    stage: Stage
    base: str
    """The FROM image after expansion (``scratch``, an image reference, or a stage name)."""
    base_stage: int | None
    """The index of the earlier stage FROM names, when it names one."""
    depends: frozenset[int]


def _stage_index(cf: Containerfile, name: str, before: int) -> int | None:
    """The index of the stage ``name`` (an ``AS`` name or a number) earlier than ``before``."""
    lowered = name.lower()
    for stage in cf.stages[:before]:
        if stage.name == lowered:
            return stage.index
    index = ascii_int(name)
    if index is not None and index < before:
        return index
    return None


def _flag(instruction: Instruction, name: str) -> list[str]:
    return [f.value or "" for f in instruction.flags if f.name == name]


def _mount_froms(instruction: Instruction) -> list[str]:
    out: list[str] = []
    for spec in _flag(instruction, "mount"):
        for part in spec.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "from" and value:
                out.append(value.strip())
    return out


def plan_stages(
    cf: Containerfile,
    scope: Mapping[str, str],
    target: str | None,
    named: Mapping[str, NamedContext] | None = None,
) -> list[StagePlan]:
    """The stages the target needs, dependencies first (module docstring). A name of
    ``named`` (``--build-context``) is that context, never a stage: FROM takes its image."""
    if not cf.stages:
        raise UsageError(f"{cf.filename}: no FROM instruction: a Containerfile needs one")
    named = named or {}
    plans: list[StagePlan] = []
    for stage in cf.stages:
        where = str(stage.from_instruction.location)
        base = Expander(dict(scope), cf.escape, where).word(stage.base)
        if not base:
            raise UsageError(f"{where}: FROM names no image (an ARG it uses is empty?)")
        context = find_named(named, base)
        if context is not None:
            base = _context_image(context, where)
        base_stage = None if context is not None else _stage_index(cf, base, stage.index)
        depends: set[int] = {base_stage} if base_stage is not None else set()
        for instruction in stage.instructions:
            names = _flag(instruction, "from") if instruction.keyword in ("COPY", "ADD") else []
            if instruction.keyword == "RUN":
                names = _mount_froms(instruction)
            for name in names:
                expanded = Expander(dict(scope), cf.escape, str(instruction.location)).word(name)
                found = _stage_index(cf, expanded, stage.index)
                if found is not None and find_named(named, expanded) is None:
                    depends.add(found)
        plans.append(StagePlan(stage, base, base_stage, frozenset(depends)))
    if target is None:
        wanted = len(cf.stages) - 1
    else:
        found = _stage_index(cf, target, len(cf.stages))
        if found is None:
            known = ", ".join(s.name for s in cf.stages if s.name) or "none"
            raise UsageError(f"--target {target!r}: no such stage (named stages: {known})")
        wanted = found
    needed: set[int] = set()
    todo = [wanted]
    while todo:
        index = todo.pop()
        if index not in needed:
            needed.add(index)
            todo.extend(plans[index].depends)
    return [p for p in plans if p.stage.index in needed]


def _context_image(context: NamedContext, where: str) -> str:
    """The image a ``FROM NAME`` of a named context starts from (only an image context has
    one)."""
    if context.image is None:
        raise UsageError(
            f"{where}: FROM {context.name}: the build context {context.name}={context.value} is "
            "a directory; FROM takes an image (docker-image://, container-image://, oci-layout://)"
        )
    return context.image


def stage_of(cf: Containerfile, name: str, before: int) -> int | None:
    """The index of the earlier stage ``name`` refers to (see :func:`plan_stages`)."""
    return _stage_index(cf, name, before)


__all__ = ["PROXY_ARGS", "StagePlan", "global_args", "plan_stages", "platform_args", "stage_of"]

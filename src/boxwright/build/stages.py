"""Planning a multi-stage build: ARG scopes, which stages are needed, and in what order.

* The global scope is the ARGs before the first FROM (their defaults, overridden by
  ``--build-arg``) plus the predefined platform ARGs (``TARGETPLATFORM``, ``TARGETOS``,
  ``TARGETARCH``, ``TARGETVARIANT``, ``BUILDPLATFORM``, ``BUILDOS``, ``BUILDARCH``,
  ``BUILDVARIANT``): FROM lines expand with it. Inside a stage an ARG must be declared again
  to be seen (a declaration without a value takes the global one), as BuildKit scopes it.
* Stage names, as BuildKit resolves them: a FROM names the last stage of that name before it
  (else an image); ``COPY --from``, ``RUN --mount=from=`` and ``--target`` name the last stage
  of that name in the whole file, or a stage by its number. A name may be used by several
  stages (:func:`duplicate_names` lists them for a warning); a ``--from`` may name a later
  stage, and a cycle of stages is refused.
* ``--from`` values are expanded, as buildah expands them (BuildKit does not): with the
  global scope, and over it the ARGs the stage declared before the line (their values are
  known before anything runs: ``--build-arg``, the default, the global value). An ARG whose
  default reads the environment (an ENV, the base image's) has a value only while building:
  a ``--from`` that uses it is refused (:class:`~boxwright.errors.UsageError`), since the
  stages a stage waits for are known before any of them runs.
* A stage depends on the stages its FROM names and those its ``--from`` flags name; only the
  target (``--target``, else the last stage) and what it depends on are built, each
  dependency before its dependents (in file order where the dependencies allow),
  independent stages at once.
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
from boxwright.errors import ContainerfileError, UsageError

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
    platform: str = ""
    """``FROM --platform=...`` after expansion (``$BUILDPLATFORM`` for a stage that runs on the
    build machine): the platform this stage's base and RUN steps are for; empty: the build's."""


def _named(cf: Containerfile, name: str, stages: range) -> int | None:
    """The last stage among ``stages`` whose ``AS`` name is ``name`` (case-insensitive), else
    the stage numbered ``name`` when it is among them."""
    lowered = name.lower()
    for index in reversed(stages):
        if cf.stages[index].name == lowered:
            return index
    number = ascii_int(name)
    return number if number is not None and number in stages else None


def base_stage_of(cf: Containerfile, name: str, stage: int) -> int | None:
    """The stage a FROM of stage ``stage`` names: the last earlier one (module docstring)."""
    return _named(cf, name, range(stage))


def stage_of(cf: Containerfile, name: str, stage: int | None = None) -> int | None:
    """The stage a ``--from`` (of stage ``stage``) or ``--target`` names: the last of that
    name in the file, or the stage of that number; None when ``name`` is an image."""
    return _named(cf, name, range(len(cf.stages)))


def duplicate_names(cf: Containerfile) -> list[Stage]:
    """Every stage whose ``AS`` name an earlier stage has too (BuildKit warns of each)."""
    seen: set[str] = set()
    out: list[Stage] = []
    for stage in cf.stages:
        if stage.name is not None:
            if stage.name in seen:
                out.append(stage)
            seen.add(stage.name)
    return out


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


class _StageArgs:
    """The ARG values a stage has at each line, as far as they are known before building."""

    def __init__(self, cf: Containerfile, scope: Mapping[str, str], given: Mapping[str, str]):
        self.cf = cf
        self.scope = scope
        self.given = given
        self.values: dict[str, str] = {}
        self.unknown: set[str] = set()
        """ARGs whose value is known only while building (their default reads the env)."""
        self.shadowed: set[str] = set()
        """Names an ENV set after their ARG: in the environment, the ENV's value."""

    def step(self, instruction: Instruction) -> None:
        """Take in what ``instruction`` (ARG or ENV) does to the stage's ARG values."""
        if instruction.keyword == "ENV":
            where = str(instruction.location)
            for key, _ in parse_key_values(instruction):
                self.shadowed.add(Expander({}, self.cf.escape, where).word(key))
        elif instruction.keyword == "ARG":
            for name, default in parse_key_values(instruction):
                self._declare(instruction, name, default)

    def _declare(self, instruction: Instruction, name: str, default: str | None) -> None:
        value: str | None
        if name in self.given:
            value = self.given[name]
        elif default is not None:
            live = {k: v for k, v in self.values.items() if k not in self.shadowed}
            ex = Expander(live, self.cf.escape, str(instruction.location))
            try:
                value = ex.word(default)
            except ContainerfileError:  # ${V:?msg}: an error only if the stage is built
                ex.used.add("")
            if ex.used - live.keys():  # read an ENV, the base image's environment, or nothing
                self.values.pop(name, None)
                self.unknown.add(name)
                self.shadowed.discard(name)
                return
        else:
            value = self.scope.get(name)
        if value is not None:
            self.values[name] = value
            self.unknown.discard(name)
            self.shadowed.discard(name)

    def expand_from(self, instruction: Instruction, text: str) -> str:
        """A ``--from`` value of ``instruction`` expanded (module docstring)."""
        where = str(instruction.location)
        ex = Expander({**self.scope, **self.values}, self.cf.escape, where)
        value = ex.word(text)
        late = sorted(ex.used & self.unknown)
        if late:
            raise UsageError(
                f"{where}: {instruction.keyword} --from={text}: the value of "
                f"{', '.join(late)} is known only while building (its ARG default reads the "
                "environment), but the stages a stage waits for are chosen before building: "
                "give it with --build-arg or a default without variables"
            )
        return value


def _stage_plan(
    cf: Containerfile,
    stage: Stage,
    scope: Mapping[str, str],
    given: Mapping[str, str],
    named: Mapping[str, NamedContext],
) -> StagePlan:
    where = str(stage.from_instruction.location)
    base = Expander(dict(scope), cf.escape, where).word(stage.base)
    if not base:
        raise UsageError(f"{where}: FROM names no image (an ARG it uses is empty?)")
    context = find_named(named, base)
    if context is not None:
        base = _context_image(context, where)
    base_stage = None if context is not None else base_stage_of(cf, base, stage.index)
    depends: set[int] = {base_stage} if base_stage is not None else set()
    args = _StageArgs(cf, scope, given)
    for instruction in stage.instructions:
        args.step(instruction)
        names = _flag(instruction, "from") if instruction.keyword in ("COPY", "ADD") else []
        if instruction.keyword == "RUN":
            names = _mount_froms(instruction)
        for name in names:
            expanded = args.expand_from(instruction, name)
            found = stage_of(cf, expanded, stage.index)
            if found is not None and find_named(named, expanded) is None:
                depends.add(found)
    platform = ""
    if stage.platform:
        platform = Expander(dict(scope), cf.escape, where).word(stage.platform)
    return StagePlan(stage, base, base_stage, frozenset(depends), platform)


def plan_stages(
    cf: Containerfile,
    scope: Mapping[str, str],
    target: str | None,
    build_args: Mapping[str, str] | None = None,
    named: Mapping[str, NamedContext] | None = None,
) -> list[StagePlan]:
    """The stages the target needs, each after the stages it depends on (module docstring);
    the target is the last. A name of ``named`` (``--build-context``) is that context, never
    a stage: FROM takes its image."""
    if not cf.stages:
        raise UsageError(f"{cf.filename}: no FROM instruction: a Containerfile needs one")
    given = build_args or {}
    plans = [_stage_plan(cf, stage, scope, given, named or {}) for stage in cf.stages]
    if target is None:
        wanted = len(cf.stages) - 1
    else:
        found = stage_of(cf, target)
        if found is None:
            known = ", ".join(dict.fromkeys(s.name for s in cf.stages if s.name)) or "none"
            raise UsageError(f"--target {target!r}: no such stage (named stages: {known})")
        wanted = found
    needed: set[int] = set()
    todo = [wanted]
    while todo:
        index = todo.pop()
        if index not in needed:
            needed.add(index)
            todo.extend(plans[index].depends)
    return [plans[i] for i in _ordered(cf, {i: plans[i].depends for i in needed})]


def _context_image(context: NamedContext, where: str) -> str:
    """The image a ``FROM NAME`` of a named context starts from (only an image context has
    one)."""
    if context.image is None:
        raise UsageError(
            f"{where}: FROM {context.name}: the build context {context.name}={context.value} is "
            "a directory; FROM takes an image (docker-image://, container-image://, oci-layout://)"
        )
    return context.image


def _ordered(cf: Containerfile, depends: Mapping[int, frozenset[int]]) -> list[int]:
    """The stages of ``depends`` each after those it depends on, the lowest number first
    whenever several are ready (file order when no ``--from`` names a later stage)."""
    left = dict(depends)
    order: list[int] = []
    while left:
        ready = [i for i in sorted(left) if not left[i] & left.keys()]
        if not ready:
            stuck = cf.stages[min(left)]
            raise UsageError(
                f"{stuck.from_instruction.location}: circular dependency detected on stage: "
                f"{stuck.name or stuck.index}"
            )
        order.append(ready[0])
        del left[ready[0]]
    return order


__all__ = [
    "PROXY_ARGS",
    "StagePlan",
    "base_stage_of",
    "duplicate_names",
    "global_args",
    "plan_stages",
    "platform_args",
    "stage_of",
]

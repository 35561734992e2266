"""What one step of a stage needs (:class:`StepContext`) and what its cache key reads
(:class:`StepKey`).

A step function takes the context, a value that does not change while the step runs: the
stage's config as the step starts, its ARGs, the build's options, store, context directory and
ignore rules, and the stage's :class:`Workspace` (its working container, the images ``--from``
names, a scratch directory). Config-only steps are pure (:mod:`boxwright.build.configsteps`:
config in, config out); RUN and COPY/ADD first compute their key (:func:`~boxwright.build.
runstep.run_key`, :func:`~boxwright.build.copystep.copy_key`), and the stage runs them only
when the cache has no image for it. What a step returns (a new config, a history note, the
``created_by`` of a new layer) the stage records; no step changes the stage itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from boxwright.build import instructions as ins
from boxwright.build.containerfile.shell import Expander
from boxwright.build.context import BuildOptions, FileHashes, OutputStream
from boxwright.build.stages import PROXY_ARGS
from boxwright.oci.config import ImageConfig

if TYPE_CHECKING:
    from boxwright.build.containerfile.ignore import IgnoreMatcher
    from boxwright.build.containerfile.model import Instruction
    from boxwright.layer.ownership import OwnershipRecord
    from boxwright.oci.platform import Platform
    from boxwright.store.store import Store

#: The ``created_by`` prefix of a history entry with no command of its own (buildah's).
NOP = "/bin/sh -c #(nop) "


class Workspace(Protocol):
    """The files a stage's steps reach: made on first use, released when the stage ends."""

    def container(self) -> str:
        """The working container of the current step; its record holds the stage's config."""
        ...

    def mounted_image(self, name: str) -> Path:
        """A host path holding the files of the stage or image a ``--from`` names."""
        ...

    def mounted_ownership(self, name: str) -> OwnershipRecord | None:
        """The side record of :meth:`mounted_image`'s files (owners a rootless store keeps
        beside them); None for a named directory context, whose files are copied as the
        build context's are (owned by 0:0)."""
        ...

    def origin_id(self, name: str) -> str:
        """The image ID a ``--from`` names (an earlier stage, by name or number, else an image)."""
        ...

    def staging(self) -> Path:
        """A private scratch directory of the stage."""
        ...


@dataclass(frozen=True)
class StepContext:
    """What a step needs (module docstring); a new one for every step."""

    config: ImageConfig
    """The stage's image config as the step starts."""
    args: Mapping[str, str]
    """The stage's ARGs with their values."""
    options: BuildOptions
    store: Store
    context: Path
    """The build context directory (resolved)."""
    ignore: IgnoreMatcher | None
    escape: str
    """The Containerfile's escape character."""
    scope: Mapping[str, str]
    """The global ARG scope (an ARG without a default in the stage takes its value here)."""
    target: Platform
    workspace: Workspace
    output: Callable[[str, OutputStream], None]
    """Where a RUN's output lines go (an ``"output"`` event of the step)."""
    file_hashes: FileHashes
    hashes_lock: threading.Lock
    """Held while ``file_hashes`` learns (stages run on threads)."""
    location: str = ""
    """``file:line`` of the instruction, for expansion errors."""
    cmd_set: bool = False
    """Whether the stage has set CMD (an ENTRYPOINT then keeps it)."""
    arg_names: tuple[str, ...] = ()
    """Every ARG the stage declared, with or without a value, once each, in the order of
    their first declaration (what a RUN's history prefix lists)."""
    shadowed: frozenset[str] = frozenset()
    """The ARGs an ENV of the same name set after their last declaration: in the environment
    they have the ENV's value."""

    def environment(self) -> dict[str, str]:
        """The stage's environment, as BuildKit keeps it: the config's Env, and over it each
        ARG with a value, unless an ENV of the same name came after the ARG (the later of the
        two wins; the base image's Env is always earlier)."""
        env = ins.env_map(self.config)
        env.update({k: v for k, v in self.args.items() if k not in self.shadowed})
        return env

    def expander(self) -> Expander:
        """The expansion scope of the step, :meth:`environment`; errors name the instruction."""
        return Expander(self.environment(), self.escape, location=self.location)

    def from_expander(self) -> Expander:
        """The expansion scope of a ``--from`` value: the global ARGs, and over them the
        stage's ARGs, as :mod:`boxwright.build.stages` planned which stages to build first."""
        return Expander({**self.scope, **self.args}, self.escape, location=self.location)

    def run_env(self) -> list[str]:
        """The environment of a RUN: the config's Env, then :meth:`run_only_env` over it."""
        env = ins.env_list(self.config)
        for entry in self.run_only_env():
            name = entry.partition("=")[0]
            env = [e for e in env if e.partition("=")[0] != name]
            env.append(entry)
        return env

    def run_only_env(self) -> list[str]:
        """What a RUN's environment sets over the config's Env: the stage's ARGs that
        :meth:`environment` takes (those an ENV did not set since), then the proxy ARGs given
        with ``--build-arg`` that the Env lacks."""
        config = ins.env_map(self.config)
        env: list[str] = []
        names = set(config)
        for name, value in self.args.items():
            if name not in self.shadowed and config.get(name) != value:
                env.append(f"{name}={value}")
            names.add(name)
        for name, value in self.options.build_args.items():
            if name in PROXY_ARGS and name not in names:
                env.append(f"{name}={value}")
        return env

    def build_args_prefix(self) -> str:
        """The ``|N K=V ...`` prefix of a RUN's ``created_by`` (BuildKit's
        ``runCommandString``): every ARG the stage declared, in the order of their first
        declaration, each with its value in :meth:`environment` (an ENV set after the ARG
        gives its own), ``K=`` for one with no value."""
        env = self.environment()
        used = [f"{name}={env.get(name, '')}" for name in self.arg_names]
        return f"|{len(used)} {' '.join(used)} " if used else ""


@dataclass(frozen=True)
class Note:
    """A pending history entry and the expanded text the cache key uses for it."""

    created_by: str
    key: str
    created: str


@dataclass(frozen=True)
class StepKey:
    """What a step adds to its stage's cache key (:func:`boxwright.build.cache.step_key`): its
    instruction after expansion and the content hash of the files it reads."""

    text: str
    content: str = ""


def where(instruction: Instruction) -> str:
    """``file:line`` of an instruction, for error messages."""
    return f"{instruction.location.file}:{instruction.location.line}"


__all__ = ["NOP", "Note", "StepContext", "StepKey", "Workspace", "where"]

"""The config-only steps of a stage (ENV, LABEL, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE,
VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER, ONBUILD, ARG): pure functions of the step
context and the instruction, returning a :class:`ConfigOutcome` (the new config and the
history note the next commit writes with ``empty_layer``). Each instruction's edit of the
config is :mod:`boxwright.build.instructions`'; here its words are expanded and its note and
cache-key text made. The note's key text is what the stage's cache key reads for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boxwright.build import instructions as ins
from boxwright.build.containerfile.shell import Expander, parse_key_values
from boxwright.build.step import NOP
from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.step import StepContext
    from boxwright.oci.config import ImageConfig


@dataclass(frozen=True)
class ConfigOutcome:
    """What a config-only step gives back to its stage."""

    config: ImageConfig
    created_by: str
    """The ``created_by`` of its history note."""
    key: str
    """The note's text for the cache key (the instruction after expansion)."""
    args: Mapping[str, str]
    """The stage's ARGs after the step (changed by ARG only)."""
    cmd_set: bool
    """Whether the stage has set CMD after the step."""
    arg_key: str | None = None
    """An ARG's ``NAME=value`` text, which every later step's key reads."""
    arg_names: tuple[str, ...] = ()
    """The ARGs the stage declared after the step (:attr:`StepContext.arg_names`)."""
    shadowed: frozenset[str] = frozenset()
    """The ARGs an ENV set after them, after the step (:attr:`StepContext.shadowed`)."""
    workdir: str | None = None
    """A WORKDIR's absolute path (the stage makes the directory when it is missing)."""


#: An edit: (context, instruction, expander) → (new config, key text).
Edit = Callable[["StepContext", "Instruction", "Expander"], "tuple[ImageConfig, str]"]


def config_step(ctx: StepContext, instruction: Instruction) -> ConfigOutcome:
    """The outcome of the config-only ``instruction`` in ``ctx`` (module docstring)."""
    keyword = instruction.keyword
    ex = ctx.expander()
    if keyword == "ARG":
        return _arg(ctx, instruction, ex)
    edit = EDITS.get(keyword)
    if edit is None:
        raise UsageError(f"unknown instruction {keyword}")
    config, key = edit(ctx, instruction, ex)
    shadowed = ctx.shadowed
    if keyword == "ENV":  # the names it sets, after expansion (its key text)
        shadowed = shadowed | {k for k, _ in json.loads(key)}
    return ConfigOutcome(
        config,
        NOP + instruction.original.strip(),
        f"{keyword} {key}",
        ctx.args,
        ctx.cmd_set or keyword == "CMD",
        workdir=key if keyword == "WORKDIR" else None,
        arg_names=ctx.arg_names,
        shadowed=shadowed,
    )


def _arg(ctx: StepContext, instruction: Instruction, ex: Expander) -> ConfigOutcome:
    """ARG: each name's value (``--build-arg``, else its default, else the global one). The
    note is BuildKit's (``dispatchArg``): each name with ``=value`` when it has one, bare
    when it has none. An ARG with a value takes its name back from an earlier ENV's shadow."""
    args = dict(ctx.args)
    names = dict.fromkeys(ctx.arg_names)
    shadowed = set(ctx.shadowed)
    words: list[str] = []
    key = ""
    for name, default in parse_key_values(instruction):
        value = arg_value(ctx, name, default, ex)
        if value is not None:
            args[name] = value
            shadowed.discard(name)
            ex = Expander({**ex.env, name: value}, ex.escape, ex.location)
        names[name] = None
        words.append(name if value is None else f"{name}={value}")
        key += f"{name}={value} "
    return ConfigOutcome(
        ctx.config,
        NOP + "ARG " + " ".join(words),
        "ARG " + key,
        args,
        ctx.cmd_set,
        arg_key=key,
        arg_names=tuple(names),
        shadowed=frozenset(shadowed),
    )


def arg_value(ctx: StepContext, name: str, default: str | None, ex: Expander) -> str | None:
    """An ARG's value in the stage: --build-arg, else its default, else the global one."""
    given = ctx.options.build_args
    if name in given:
        return given[name]
    if default is not None:
        return ex.word(default)
    return ctx.scope.get(name)


def _words(instruction: Instruction, ex: Expander) -> list[str]:
    if instruction.json_form:
        return [ex.word(a) for a in instruction.args]
    return ex.words(" ".join(instruction.args))


def _text(instruction: Instruction, ex: Expander) -> str:
    return ex.word(" ".join(instruction.args))


def _env(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    pairs = [(ex.word(k), ex.word(v or "")) for k, v in parse_key_values(instruction)]
    return ins.set_env(ctx.config, pairs), json.dumps(pairs)


def _label(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    pairs = [(ex.word(k), ex.word(v or "")) for k, v in parse_key_values(instruction)]
    return ins.set_labels(ctx.config, pairs), json.dumps(pairs)


def _cmd(ctx: StepContext, instruction: Instruction, _ex: Expander) -> tuple[ImageConfig, str]:
    argv = ins.command(ctx.config, instruction.args, instruction.json_form)
    return ins.set_cmd(ctx.config, argv), json.dumps(argv)


def _entrypoint(
    ctx: StepContext, instruction: Instruction, _ex: Expander
) -> tuple[ImageConfig, str]:
    argv = ins.command(ctx.config, instruction.args, instruction.json_form)
    return ins.set_entrypoint(ctx.config, argv, ctx.cmd_set), json.dumps(argv)


def _workdir(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    path = ins.workdir_path(ctx.config, _text(instruction, ex))
    return ins.set_workdir(ctx.config, path), path


def _user(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    user = _text(instruction, ex)
    return ins.set_user(ctx.config, user), user


def _expose(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    ports = _words(instruction, ex)
    return ins.add_ports(ctx.config, ports), json.dumps(ports)


def _volume(ctx: StepContext, instruction: Instruction, ex: Expander) -> tuple[ImageConfig, str]:
    paths = _words(instruction, ex)
    return ins.add_volumes(ctx.config, paths), json.dumps(paths)


def _stopsignal(
    ctx: StepContext, instruction: Instruction, ex: Expander
) -> tuple[ImageConfig, str]:
    signal = _text(instruction, ex)
    return ins.set_stop_signal(ctx.config, signal), signal


def _healthcheck(
    ctx: StepContext, instruction: Instruction, _ex: Expander
) -> tuple[ImageConfig, str]:
    flags = [(f.name, f.value) for f in instruction.flags]
    config = ins.set_healthcheck(ctx.config, instruction.args, instruction.json_form, flags)
    return config, json.dumps(config.config.healthcheck)


def _shell(ctx: StepContext, instruction: Instruction, _ex: Expander) -> tuple[ImageConfig, str]:
    config = ins.set_shell(ctx.config, instruction.args, instruction.json_form)
    return config, json.dumps(list(instruction.args))


def _maintainer(
    ctx: StepContext, instruction: Instruction, _ex: Expander
) -> tuple[ImageConfig, str]:
    text = " ".join(instruction.args)
    return ins.set_maintainer(ctx.config, text), text


def _onbuild(ctx: StepContext, instruction: Instruction, _ex: Expander) -> tuple[ImageConfig, str]:
    assert instruction.onbuild is not None  # the parser requires the trigger
    trigger = instruction.onbuild.original.strip()
    return ins.add_onbuild(ctx.config, trigger), trigger


#: The config-only instructions but ARG, each with its edit.
EDITS: dict[str, Edit] = {
    "ENV": _env,
    "LABEL": _label,
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "WORKDIR": _workdir,
    "USER": _user,
    "EXPOSE": _expose,
    "VOLUME": _volume,
    "STOPSIGNAL": _stopsignal,
    "HEALTHCHECK": _healthcheck,
    "SHELL": _shell,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
}
#: Instructions that only change the config (a history note, no layer of their own).
CONFIG_STEPS = frozenset({*EDITS, "ARG"})


__all__ = ["CONFIG_STEPS", "EDITS", "ConfigOutcome", "arg_value", "config_step"]

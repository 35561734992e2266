"""The step functions of a stage: config-only steps are pure (config in, outcome out, nothing
of the store or the working container touched), and a RUN's cache key is computed without
running anything."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from boxwright.build.configsteps import config_step
from boxwright.build.containerfile.model import Instruction
from boxwright.build.containerfile.parser import parse
from boxwright.build.context import BuildOptions, FileHashes
from boxwright.build.runstep import run_key
from boxwright.build.step import NOP, StepContext, StepKey
from boxwright.oci.config import ImageConfig
from boxwright.oci.platform import Platform


class Untouchable:
    """A store or workspace a pure step must never use: any attribute fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the step touched {name!r}")


BASE = ImageConfig.from_data(
    {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}}
)


def context(**changes: Any) -> StepContext:
    values: dict[str, Any] = {
        "config": BASE,
        "args": {},
        "options": BuildOptions(context=Path("."), build_args={"V": "given"}),
        "store": Untouchable(),
        "context": Path("."),
        "ignore": None,
        "escape": "\\",
        "scope": {"G": "global"},
        "target": Platform.parse("linux/amd64"),
        "workspace": Untouchable(),
        "output": lambda line, stream: None,
        "file_hashes": FileHashes(),
        "hashes_lock": threading.Lock(),
        "location": "Containerfile:2",
    }
    values.update(changes)
    return StepContext(**values)


def instruction(line: str) -> Instruction:
    return parse(f"FROM scratch\n{line}\n", "Containerfile").stages[0].instructions[0]


def test_env_is_config_in_config_out() -> None:
    ctx = context(args={"A": "1"})
    outcome = config_step(ctx, instruction("ENV B=$A C=x"))
    assert outcome.config.config.env == ("PATH=/bin", "B=1", "C=x")
    assert outcome.created_by == NOP + "ENV B=$A C=x"
    assert outcome.key == 'ENV [["B", "1"], ["C", "x"]]'
    assert outcome.args == {"A": "1"}
    assert (outcome.cmd_set, outcome.arg_key, outcome.workdir) == (False, None, None)
    assert BASE.config.env == ("PATH=/bin",)  # the input is unchanged
    assert ctx.config is BASE


def test_arg_takes_build_arg_then_default_then_global() -> None:
    outcome = config_step(context(), instruction("ARG V=default W=d G"))
    assert outcome.args == {"V": "given", "W": "d", "G": "global"}
    assert outcome.config is BASE
    assert outcome.created_by == NOP + "ARG V=given W=d G=global"  # BuildKit's dispatchArg
    assert outcome.arg_names == ("V", "W", "G")
    assert outcome.key == "ARG V=given W=d G=global "
    assert outcome.arg_key == "V=given W=d G=global "


def test_entrypoint_keeps_a_cmd_set_in_the_stage() -> None:
    cmd = config_step(context(), instruction('CMD ["run"]'))
    assert cmd.cmd_set is True
    kept = config_step(context(config=cmd.config, cmd_set=True), instruction('ENTRYPOINT ["e"]'))
    assert (kept.config.config.entrypoint, kept.config.config.cmd) == (("e",), ("run",))
    dropped = config_step(context(config=cmd.config), instruction('ENTRYPOINT ["e"]'))
    assert dropped.config.config.cmd is None


def test_workdir_says_which_directory_to_make() -> None:
    outcome = config_step(context(args={"D": "x"}), instruction("WORKDIR app/$D/$G"))
    assert outcome.workdir == "/app/x"  # G is global, undeclared in the stage: empty
    assert outcome.config.config.working_dir == "/app/x"
    assert outcome.key == "WORKDIR /app/x"


def test_a_run_key_is_computed_without_running() -> None:
    ctx = context(args={"A": "1"}, arg_names=("A", "B"), options=BuildOptions(
        context=Path("."), build_args={"HTTP_PROXY": "http://proxy"}))  # fmt: skip
    key = run_key(ctx, instruction("RUN --network=none --mount=type=tmpfs,target=/t echo hi"))
    env = "PATH=/bin\0A=1\0HTTP_PROXY=http://proxy"
    assert key == StepKey(f"RUN /bin/sh\0-c\0echo hi\0none\0{env}", "tmpfs:/t;")
    assert ctx.run_only_env() == ["A=1", "HTTP_PROXY=http://proxy"]
    assert ctx.build_args_prefix() == "|2 A=1 B= "  # every declared ARG, K= without a value


def test_the_later_of_arg_and_env_is_the_environment() -> None:
    env = config_step(context(args={"A": "arg"}, arg_names=("A",)), instruction("ENV A=env"))
    assert env.shadowed == frozenset({"A"})
    shadowed = context(
        config=env.config, args={"A": "arg"}, arg_names=("A",), shadowed=env.shadowed
    )
    assert (shadowed.environment()["A"], shadowed.run_only_env()) == ("env", [])
    assert shadowed.build_args_prefix() == "|1 A=env "
    arg = config_step(shadowed, instruction("ARG A=again"))
    assert (arg.shadowed, arg.args, arg.arg_names) == (frozenset(), {"A": "again"}, ("A",))
    later = context(config=env.config, args=arg.args, arg_names=arg.arg_names)
    assert later.run_only_env() == ["A=again"] and later.expander().word("$A") == "again"
    assert later.from_expander().word("$A-$G") == "again-global"


def test_a_required_secret_that_is_missing_fails_before_the_cache_is_asked() -> None:
    from boxwright.errors import UsageError

    with pytest.raises(UsageError, match="no secret 'tok': give --secret id=tok,src=FILE"):
        run_key(context(), instruction("RUN --mount=type=secret,id=tok,required echo"))

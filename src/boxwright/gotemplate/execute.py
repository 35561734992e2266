"""Running a parsed template on data: Go's ``text/template`` execution rules.

Dot starts as the data; ``range`` and ``with`` move it; ``$`` is always the data. A field of
a map that is missing is ``<no value>``; a field a struct lacks is an error naming it. The
output of each action passes ``escape`` (``escape_json`` for what ``json`` made), so a value
cannot drive the terminal; the template's own text is written as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from boxwright.gotemplate import parse as p
from boxwright.gotemplate.funcs import Function, functions
from boxwright.gotemplate.lex import TemplateError
from boxwright.gotemplate.values import (
    MISSING,
    GoNil,
    GoStruct,
    JsonText,
    go_print,
    truth,
    type_name,
)

Escape = Callable[[str], str]


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass
class _State:
    funcs: Mapping[str, Function]
    escape: Escape | None
    escape_json: Escape | None
    out: list[str] = field(default_factory=list)
    variables: list[tuple[str, Any]] = field(default_factory=list)

    def lookup(self, name: str) -> Any:
        for known, value in reversed(self.variables):
            if known == name:
                return value
        raise TemplateError(f"template: undefined variable {name!r}")

    def assign(self, name: str, value: Any) -> None:
        for i in range(len(self.variables) - 1, -1, -1):
            if self.variables[i][0] == name:
                self.variables[i] = (name, value)
                return
        raise TemplateError(f"template: undefined variable {name!r}")


class Template:
    """A parsed Go template; :meth:`execute` fills it with data.

    ``funcs`` adds or replaces functions (default: :func:`~boxwright.gotemplate.funcs
    .functions`); ``escape_html_json`` makes ``json`` escape ``<``, ``>`` and ``&`` as Go's
    ``json.Marshal`` does (podman's ``json`` does not).
    """

    def __init__(
        self,
        source: str,
        *,
        funcs: Mapping[str, Function] | None = None,
        escape_html_json: bool = False,
    ) -> None:
        self.source = source
        self.nodes = p.parse(source)
        self.funcs: dict[str, Function] = functions(escape_html_json=escape_html_json)
        self.funcs.update(funcs or {})
        self._check_functions(self.nodes)

    def _check_functions(self, nodes: tuple[p.Node, ...]) -> None:
        """Unknown functions fail at parse time, as in Go."""
        for node in nodes:
            for name in _identifiers(node):
                if name not in self.funcs:
                    raise TemplateError(f'template: function "{name}" not defined')

    def execute(
        self, data: Any, *, escape: Escape | None = None, escape_json: Escape | None = None
    ) -> str:
        """The text of the template run on ``data``."""
        state = _State(self.funcs, escape, escape_json, variables=[("$", data)])
        _walk(state, self.nodes, data)
        return "".join(state.out)


def _identifiers(node: p.Node) -> list[str]:
    if isinstance(node, p.Identifier):
        return [node.name]
    if isinstance(node, p.Pipeline):
        return [n for c in node.commands for a in c.args for n in _identifiers(a)]
    if isinstance(node, p.Chain):
        return _identifiers(node.node)
    if isinstance(node, p.ActionNode):
        return _identifiers(node.pipeline)
    if isinstance(node, p.Branch):
        found = _identifiers(node.pipeline)
        for child in (*node.body, *node.orelse):
            found += _identifiers(child)
        return found
    return []


def _walk(state: _State, nodes: tuple[p.Node, ...], dot: Any) -> None:
    for node in nodes:
        if isinstance(node, p.Text):
            state.out.append(node.text)
        elif isinstance(node, p.ActionNode):
            value = _pipeline(state, node.pipeline, dot)
            if not node.pipeline.variables:
                state.out.append(_printed(state, value))
        elif isinstance(node, p.Branch):
            _branch(state, node, dot)
        elif isinstance(node, p.Loop):
            raise _Break() if node.kind == "break" else _Continue()


def _printed(state: _State, value: Any) -> str:
    text = go_print(value)
    if isinstance(value, JsonText):
        return state.escape_json(text) if state.escape_json is not None else text
    return state.escape(text) if state.escape is not None else text


def _branch(state: _State, node: p.Branch, dot: Any) -> None:
    mark = len(state.variables)
    try:
        if node.kind == "range":
            _range(state, node, dot)
            return
        value = _pipeline(state, node.pipeline, dot)
        if truth(value):
            _walk(state, node.body, value if node.kind == "with" else dot)
        else:
            _walk(state, node.orelse, dot)
    finally:
        del state.variables[mark:]


def _range(state: _State, node: p.Branch, dot: Any) -> None:
    value = _pipeline(state, node.pipeline, dot, declare=False)
    pairs: list[tuple[Any, Any]]
    if isinstance(value, Mapping):
        pairs = [(k, value[k]) for k in sorted(value, key=str)]
    elif isinstance(value, list | tuple):
        pairs = list(enumerate(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        pairs = [(i, i) for i in range(value)]
    elif value is None or value is MISSING or isinstance(value, GoNil):
        pairs = []
    else:
        raise TemplateError(f"template: range can't iterate over {go_print(value)}")
    if not pairs:
        _walk(state, node.orelse, dot)
        return
    names = node.pipeline.variables
    mark = len(state.variables)
    for key, item in pairs:
        del state.variables[mark:]
        if len(names) == 1:
            state.variables.append((names[0], item))
        elif len(names) == 2:
            state.variables += [(names[0], key), (names[1], item)]
        try:
            _walk(state, node.body, item)
        except _Break:
            break
        except _Continue:
            continue


def _pipeline(state: _State, pipeline: p.Pipeline, dot: Any, *, declare: bool = True) -> Any:
    value: Any = MISSING
    final: Any = _NONE
    for command in pipeline.commands:
        value = _command(state, command, dot, final)
        final = value
    if declare and pipeline.variables:
        name = pipeline.variables[0]
        if pipeline.assign:
            state.assign(name, value)
        else:
            state.variables.append((name, value))
    return value


_NONE: Any = object()


def _command(state: _State, command: p.Command, dot: Any, final: Any) -> Any:
    first = command.args[0]
    if isinstance(first, p.Identifier):
        args = [_arg(state, a, dot) for a in command.args[1:]]
        if final is not _NONE:
            args.append(final)
        function = state.funcs[first.name]
        try:
            return function(*args)
        except TemplateError:
            raise
        except (TypeError, ValueError) as error:
            raise TemplateError(f"template: error calling {first.name}: {error}") from None
    if len(command.args) > 1 or final is not _NONE:
        raise TemplateError(f"template: can't give argument to non-function {_describe(first)}")
    return _arg(state, first, dot)


def _describe(node: p.Node) -> str:
    if isinstance(node, p.Field):
        return "." + ".".join(node.names)
    if isinstance(node, p.Variable):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, p.Literal):
        return go_print(node.value)
    return type(node).__name__


def _arg(state: _State, node: p.Node, dot: Any) -> Any:
    if isinstance(node, p.Dot):
        return dot
    if isinstance(node, p.Literal):
        return node.value
    if isinstance(node, p.Field):
        return _fields(dot, node.names)
    if isinstance(node, p.Variable):
        return _fields(state.lookup(node.name), node.names)
    if isinstance(node, p.Pipeline):
        return _pipeline(state, node, dot)
    if isinstance(node, p.Chain):
        return _fields(_arg(state, node.node, dot), node.names)
    if isinstance(node, p.Identifier):
        return state.funcs[node.name]()
    raise TemplateError(f"template: unexpected {_describe(node)} in operand")


def _fields(value: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = _field(value, name)
    return value


def _field(value: Any, name: str) -> Any:
    if isinstance(value, GoStruct):
        if not value.has(name):
            raise TemplateError(f"template: can't evaluate field {name} in type {value.type_name}")
        return value.get(name)
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if isinstance(value, GoNil) and value.kind == "map":
        return MISSING
    if value is None or value is MISSING or isinstance(value, GoNil):
        raise TemplateError(f"template: nil pointer evaluating {type_name(value)}.{name}")
    raise TemplateError(f"template: can't evaluate field {name} in type {type_name(value)}")


__all__ = ["Escape", "Template"]

"""Go ``text/template`` items → a tree of nodes (Go's ``parse`` package, the parts users write).

Control structures: ``if``/``else if``/``else``, ``range`` (with ``$i, $v :=``, ``else``,
``break``, ``continue``), ``with``/``else with``/``else``, each closed by ``end``. Pipelines:
commands joined by ``|``, optionally declaring or assigning variables. Operands: fields and
field chains (``.A.B``, ``$x.A``, ``(pipeline).A``), ``.``, variables, literals, function
names. ``define``, ``template`` and ``block`` are refused: a ``--format`` is one template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from boxwright.gotemplate import lex as lx
from boxwright.gotemplate.lex import Action, TemplateError, Token


# The node types of Go's parse package, one small frozen dataclass each: alike in shape,
# each a different node the evaluator dispatches on.
@dataclass(frozen=True, slots=True)
class Field:
    """``.A.B`` on dot."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """``$x`` or ``$x.A.B``."""

    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dot:
    """``.``"""


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number, character, boolean or ``nil``."""

    value: object


@dataclass(frozen=True, slots=True)
class Identifier:
    """A function name."""

    name: str


@dataclass(frozen=True, slots=True)
class Chain:
    """``(pipeline).A.B``."""

    node: Node
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """One command of a pipeline: an operand, or a function and its arguments."""

    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Commands joined by ``|``; ``variables`` declared (``:=``) or assigned (``=``)."""

    commands: tuple[Command, ...]
    variables: tuple[str, ...] = ()
    assign: bool = False


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class ActionNode:
    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class Branch:
    """``if``, ``range`` or ``with`` (``kind``) with its body and ``else`` body."""

    kind: str
    pipeline: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class Loop:
    """``break`` or ``continue`` (``kind``)."""

    kind: str


Node = (
    Field
    | Variable
    | Dot
    | Literal
    | Identifier
    | Chain
    | Pipeline
    | Text
    | ActionNode
    | Branch
    | Loop
)


@dataclass
class _Parser:
    items: Sequence[lx.Item]
    pos: int = 0
    loops: int = 0
    declared: list[set[str]] = field(default_factory=lambda: [{"$"}])

    def parse(self) -> tuple[Node, ...]:
        body, stop = self.block(("",))
        if stop:
            raise TemplateError(f"template: unexpected {{{{{stop}}}}}")
        return body

    def block(self, stops: tuple[str, ...]) -> tuple[tuple[Node, ...], str]:
        """Nodes up to one of ``stops`` (a keyword: ``end``, ``else``); which one ended it."""
        out: list[Node] = []
        while self.pos < len(self.items):
            item = self.items[self.pos]
            self.pos += 1
            if isinstance(item, str):
                out.append(Text(item))
                continue
            if item.comment:
                continue
            node, stop = self.action(item, stops)
            if stop:
                return tuple(out), stop
            if node is not None:
                out.append(node)
        if "" not in stops:
            raise TemplateError("template: unexpected EOF (a {{end}} is missing)")
        return tuple(out), ""

    def action(self, item: Action, stops: tuple[str, ...]) -> tuple[Node | None, str]:
        tokens = list(item.tokens)
        if not tokens:
            raise TemplateError(f"template: missing value for command at offset {item.start}")
        head = tokens[0]
        word = head.value if head.kind == lx.IDENT else None
        if word in ("end", "else"):
            if word not in stops:
                raise TemplateError(f"template: unexpected {{{{{word}}}}}")
            self.pending = tokens[1:]
            if word == "end" and tokens[1:]:
                raise TemplateError("template: unexpected tokens after {{end}}")
            return None, str(word)
        if word in ("if", "range", "with"):
            return self.branch(str(word), tokens[1:]), ""
        if word in ("break", "continue"):
            if self.loops == 0 or len(tokens) != 1:
                raise TemplateError(f"template: {{{{{word}}}}} outside {{{{range}}}}")
            return Loop(str(word)), ""
        if word in ("define", "template", "block"):
            raise TemplateError(f"template: {{{{{word}}}}} is not supported in --format")
        return ActionNode(self.pipeline(tokens, item.start)), ""

    def branch(self, kind: str, tokens: list[Token]) -> Branch:
        self.declared.append(set())
        pipeline = self.pipeline(tokens, tokens[0].start if tokens else 0, branch=kind)
        if kind == "range":
            self.loops += 1
        body, stop = self.block(("end", "else"))
        if kind == "range":
            self.loops -= 1
        try:
            return self._orelse(kind, pipeline, body, stop)
        finally:
            self.declared.pop()

    def _orelse(self, kind: str, pipeline: Pipeline, body: tuple[Node, ...], stop: str) -> Branch:
        orelse: tuple[Node, ...] = ()
        if stop == "else":
            rest = self.pending
            if rest and rest[0].kind == lx.IDENT and rest[0].value in ("if", "with"):
                if rest[0].value != kind:
                    raise TemplateError(f"template: {{{{else {rest[0].value}}}}} in {kind}")
                orelse = (self.branch(str(rest[0].value), rest[1:]),)
                return Branch(kind, pipeline, body, orelse)
            if rest:
                raise TemplateError("template: unexpected tokens after {{else}}")
            orelse, stop = self.block(("end",))
        return Branch(kind, pipeline, body, orelse)

    def pipeline(self, tokens: list[Token], start: int, branch: str = "") -> Pipeline:
        if not tokens:
            what = f"{{{{{branch}}}}}" if branch else "command"
            raise TemplateError(f"template: missing value for {what} at offset {start}")
        variables: list[str] = []
        assign = False
        i = 0
        kinds = [t.kind for t in tokens[:4]]
        binding = (lx.DECLARE, lx.ASSIGN)
        if len(kinds) >= 2 and kinds[0] == lx.VARIABLE and kinds[1] in binding:
            variables, assign, i = [str(tokens[0].value)], kinds[1] == lx.ASSIGN, 2
        elif (
            branch == "range"
            and len(kinds) == 4
            and kinds[:3] == [lx.VARIABLE, lx.COMMA, lx.VARIABLE]
            and kinds[3] in binding
        ):
            variables = [str(tokens[0].value), str(tokens[2].value)]
            assign, i = kinds[3] == lx.ASSIGN, 4
        if len(variables) > (2 if branch == "range" else 1):
            raise TemplateError("template: too many declarations in a pipeline")
        for name in variables:
            if assign and not self.known(name):
                raise TemplateError(f"template: undefined variable {name!r}")
            if not assign:
                self.declared[-1].add(name)
        commands = self.commands(tokens[i:])
        return Pipeline(tuple(commands), tuple(variables), assign)

    def known(self, name: str) -> bool:
        return any(name in scope for scope in self.declared)

    def commands(self, tokens: list[Token]) -> list[Command]:
        commands: list[Command] = []
        args: list[Node] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.kind == lx.PIPE:
                if not args:
                    raise TemplateError("template: missing command before |")
                commands.append(Command(tuple(args)))
                args = []
                i += 1
                continue
            node, i = self.operand(tokens, i)
            args.append(node)
        if not args:
            raise TemplateError("template: missing command")
        commands.append(Command(tuple(args)))
        return commands

    def operand(self, tokens: list[Token], i: int) -> tuple[Node, int]:
        token = tokens[i]
        node: Node
        if token.kind == lx.LPAREN:
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {lx.LPAREN: 1, lx.RPAREN: -1}.get(tokens[j].kind, 0)
                j += 1
            if depth:
                raise TemplateError("template: unclosed left paren")
            inner = tokens[i + 1 : j - 1]
            node = Pipeline(tuple(self.commands(inner)))
            i = j
        elif token.kind == lx.FIELD:
            node, i = Field((str(token.value),)), i + 1
        elif token.kind == lx.DOT:
            node, i = Dot(), i + 1
        elif token.kind == lx.VARIABLE:
            if not self.known(str(token.value)):
                raise TemplateError(f"template: undefined variable {token.value!r}")
            node, i = Variable(str(token.value)), i + 1
        elif token.kind in (lx.STRING, lx.NUMBER, lx.CHAR, lx.BOOL, lx.NIL):
            node, i = Literal(token.value), i + 1
        elif token.kind == lx.IDENT:
            node, i = Identifier(str(token.value)), i + 1
        else:
            raise TemplateError(f"template: unexpected {token.value!r} in operand")
        names: list[str] = []
        while (
            i < len(tokens) and tokens[i].kind == lx.FIELD and tokens[i].start == tokens[i - 1].end
        ):
            names.append(str(tokens[i].value))
            i += 1
        if not names:
            return node, i
        if isinstance(node, Field):
            return Field(node.names + tuple(names)), i
        if isinstance(node, Variable):
            return Variable(node.name, tuple(names)), i
        if isinstance(node, Pipeline):
            return Chain(node, tuple(names)), i
        raise TemplateError(
            f"template: unexpected .{names[0]} after {tokens[i - len(names) - 1].value!r}"
        )

    pending: list[Token] = field(default_factory=list)


def parse(source: str) -> tuple[Node, ...]:
    """The tree of ``source``; :class:`TemplateError` when it does not parse."""
    return _Parser(lx.lex(source)).parse()


__all__ = [
    "ActionNode",
    "Branch",
    "Chain",
    "Command",
    "Dot",
    "Field",
    "Identifier",
    "Literal",
    "Loop",
    "Node",
    "Pipeline",
    "Text",
    "Variable",
    "parse",
]

"""The Go template engine: Go's rules, exact output for each form podman and skopeo users write."""

from __future__ import annotations

from typing import Any

import pytest

from boxwright.gotemplate import GoNil, GoStruct, GoTime, Template, TemplateError
from boxwright.gotemplate.report import render, tabwrite
from boxwright.gotemplate.values import go_float

DATA: dict[str, Any] = {
    "Name": "app",
    "Labels": {"b": "2", "a": "x<y"},
    "Names": ["localhost/app:1", "quay.io/x/app:2"],
    "N": 3,
    "Empty": [],
    "Nil": GoNil("slice"),
    "Map": GoNil("map"),
    "When": GoTime("2024-01-02T03:04:05.5+01:00"),
    "Row": GoStruct({"A": 1, "B": "two"}, type_name="report.Row"),
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}} {{.Labels}} {{.Labels.a}} {{.Labels.zz}}", "app map[a:x<y b:2] x<y <no value>"),
        ('{{index .Labels "b"}} {{index .Names 1}}', "2 quay.io/x/app:2"),
        (
            "{{json .Labels}} {{json .Names}} {{json .Nil}}",
            '{"a":"x<y","b":"2"} ["localhost/app:1","quay.io/x/app:2"] null',
        ),
        ("{{json .Row}} {{.Row}} {{.Row.B}}", '{"A":1,"B":"two"} {1 two} two'),
        ("{{.Nil}} {{.Map}} {{.Empty}} {{.When}}", "[] map[] [] 2024-01-02 03:04:05.5 +0100 +0100"),
        ("{{range $i, $n := .Names}}{{$i}}={{$n}};{{end}}", "0=localhost/app:1;1=quay.io/x/app:2;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range .Labels}}{{.}},{{end}}", "x<y,2,"),
        (
            '{{range .Names}}{{if eq . "quay.io/x/app:2"}}{{break}}{{end}}{{.}}{{end}}',
            "localhost/app:1",
        ),
        ("{{if .Empty}}a{{else if .N}}b{{else}}c{{end}}", "b"),
        ("{{with .Row}}{{.A}}{{end}}{{with .Empty}}x{{else}}y{{end}}", "1y"),
        ("{{$x := .N}}{{$x = 4}}{{$x}} {{$.Name}}", "4 app"),
        (
            '{{printf "%-5s|%3d|%q|%v|%x|%5.2f|%%" .Name .N .Name .Names 255 3.14159}}',
            'app  |  3|"app"|[localhost/app:1 quay.io/x/app:2]|ff| 3.14|%',
        ),
        ('{{printf "%d"}} {{printf "%s" 1 2}}', "%!d(MISSING) %!s(int=1)%!(EXTRA int=2)"),
        (
            '{{upper .Name | lower}} {{title "hello world"}} {{join .Names ", "}}',
            "app Hello World localhost/app:1, quay.io/x/app:2",
        ),
        (
            '{{split "a:b" ":"}} {{truncate .Name 2}} [{{pad .Name 1 2}}] '
            '{{len .Names}} {{len "é"}}',
            "[a b] ap [ app  ] 2 2",
        ),
        (
            '{{and 1 0}} {{or 0 "" .Name}} {{not .Empty}} {{lt 1 2}} {{ge .N 4}} {{ne .Name "x"}}',
            "0 app true true false true",
        ),
        (
            '{{slice .Names 1}} {{slice .Name 1 2}} {{print 1 2 "a" 3}} {{println .N}}',
            "[quay.io/x/app:2] p 1 2a3 3\n",
        ),
        ("a  {{- .N -}}  b {{/* a comment */}}c", "a3b c"),
        ('{{(index .Names 0)}} {{.N | printf "%03d"}}', "localhost/app:1 003"),
        ("{{1.5}} {{1e6}} {{0x10}} {{'a'}} {{true}} {{nil}}", "1.5 1e+06 16 97 true <nil>"),
    ],
)
def test_forms(template: str, expected: str) -> None:
    assert Template(template).execute(DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Row.C}}", "can't evaluate field C in type report.Row"),
        ("{{.Name.X}}", "can't evaluate field X in type string"),
        ("{{nosuch .Name}}", 'function "nosuch" not defined'),
        ("{{if .N}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{.Name", "unclosed action"),
        ("{{$y}}", "undefined variable '$y'"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ('{{template "x"}}', "not supported"),
        ("{{.Name 1}}", "can't give argument to non-function .Name"),
        ("{{index .Names 5}}", "index out of range: 5"),
        ('{{eq .N "3"}}', "incompatible types for comparison"),
        ("{{len .N}}", "len of type int"),
        ('{{"\\q"}}', "unknown escape"),
    ],
)
def test_errors_are_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template(template).execute(DATA)
    assert message in str(caught.value)


def test_escapers_apply_to_each_action_and_json_apart() -> None:
    data = {"V": "a\x1bb", "L": {"k": "<\x1b>"}}
    out = Template("<{{.V}}> {{json .L}}").execute(
        data, escape=lambda s: s.replace("\x1b", "ESC"), escape_json=lambda s: f"J({s})"
    )
    assert out == '<aESCb> J({"k":"<\\u001b>"})'
    assert Template("{{json .L}}", escape_html_json=True).execute(data) == (
        '{"k":"\\u003c\\u001b\\u003e"}'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e6, "1e+06"),
        (123456789.0, "1.23456789e+08"),
        (100000.0, "100000"),
        (0.5, "0.5"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (-2.5, "-2.5"),
        (0.0, "0"),
    ],
)
def test_floats_print_as_go(value: float, text: str) -> None:
    assert go_float(value) == text


def test_tabwriter_as_go() -> None:
    """Go's column blocks: a cell is padded to the widest in its block (at least 12), the last
    cell of a line is not; a line with fewer cells ends the block."""
    text = "A\tBB\tC\nlonger-than-twelve\tx\ty\nsolo\nq\tr\n"
    assert tabwrite(text) == (
        "A                   BB          C\n"
        "longer-than-twelve  x           y\n"
        "solo\n"
        "q           r\n"
    )


def test_render_table_headers_rows_and_plain_formats() -> None:
    rows = [GoStruct({"ID": "abc", "Size": "1 kB"}), GoStruct({"ID": "defghi", "Size": "22 kB"})]
    headers = {"ID": "IMAGE ID", "Size": "SIZE"}
    table = render("table {{.ID}}\\t{{.Size}}", rows, headers=headers)
    assert table == "IMAGE ID    SIZE\nabc         1 kB\ndefghi      22 kB\n"
    assert render("table {{.ID}}", rows, headers=headers, noheading=True) == "abc\ndefghi\n"
    assert render("{{.ID}}:{{.Size}}", rows, headers=headers) == "abc:1 kB\ndefghi:22 kB\n"
    assert render("{{range .}}{{.ID}},{{end}}", rows, headers=headers) == "abc,defghi,\n"

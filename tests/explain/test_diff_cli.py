"""``boxwright diff``: text output exact (piped, so plain columns), JSON equal to the library's,
exit codes with and without --exit-code, one-line errors."""

from __future__ import annotations

import json

from click.testing import CliRunner
from diff_pair import Pair

from boxwright.cli.main import main
from boxwright.explain.diff import diff_images


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def test_text_output_exact(pair: Pair) -> None:
    code, out, err = run(pair.ref("a"), pair.ref("b"))
    assert (code, err) == (0, "")
    a_digest, b_digest = pair.a["manifest"][7:19], pair.b["manifest"][7:19]
    base, top_a = (d["digest"][7:19] for d in pair.a["layers"])
    top_b = pair.b["layers"][1]["digest"][7:19]
    sizes = [d["size"] for d in (*pair.a["layers"], pair.b["layers"][1])]
    content_a, content_b = (
        "sha256:61be55a8e2f6",  # sha256 of b"aaaa"
        "sha256:81cc5b170186",  # sha256 of b"bbbb"
    )
    expected = f"""\
A: {pair.ref("a")} (sha256:{a_digest})
B: {pair.ref("b")} (sha256:{b_digest})

Config: 7 field(s) differ
FIELD                A           B
config.Env[BAR]      (absent)    3
config.Env[FOO]      1           2
config.Cmd           ["/bin/a"]  ["/bin/b"]
config.Labels[gone]  yes         (absent)
config.Labels[y]     (absent)    2
config.User          0           1000
config.ExposedPorts  (absent)    ["80/tcp"]

History: 1 entry in common, then:
IMAGE  #  CREATED               CREATED BY  EMPTY LAYER
A      1  2024-01-02T00:00:00Z  RUN make-a
A      2  2024-01-02T00:00:01Z  ENV FOO=1   yes
B      1  2024-01-03T00:00:00Z  RUN make-b

Layers: 1 in common from the base
IMAGE  #  DIGEST               SIZE   IN THE OTHER IMAGE
A      0  sha256:{base}  {sizes[0]} B  shared: B layer 0
A      1  sha256:{top_a}  {sizes[1]} B  not in B
B      0  sha256:{base}  {sizes[0]} B  shared: A layer 0
B      1  sha256:{top_b}  {sizes[2]} B  not in A

Files: 1 added, 5 removed, 5 modified
   PATH               KIND     DETAILS
+  /data/new.txt      file     8 B
-  /app               dir
-  /app/old           dir
-  /app/old/x.txt     file     1 B
-  /data/gone.txt     file     4 B
-  /data/keep.txt     file     4 B
M  /data/content.txt  file     content {content_a} -> {content_b}
M  /data/link         symlink  link same.txt -> keep.txt
M  /data/own.txt      file     owner 0:0 -> 1000:1000
M  /data/perm.txt     file     mode 0644 -> 0755
M  /usr/bin/tool      dir      type file -> dir
"""
    assert out == expected


def test_json_is_the_library_dict(pair: Pair) -> None:
    code, out, _ = run("--format", "json", pair.ref("a"), pair.ref("b"))
    assert code == 0
    assert json.loads(out) == diff_images(pair.ref("a"), pair.ref("b")).to_dict()
    assert json.loads(out)["differs"] is True


def test_exit_code(pair: Pair) -> None:
    assert run("--exit-code", pair.ref("a"), pair.ref("b"))[:1] == (1,)
    code, out, err = run("--exit-code", pair.ref("a"), pair.ref("c"))
    assert (code, err) == (0, "")
    assert out.endswith("Files: 0 added, 0 removed, 0 modified\n\nThe images do not differ.\n")
    assert run(pair.ref("a"), pair.ref("b"))[0] == 0  # without --exit-code: 0 either way


def test_errors(pair: Pair) -> None:
    code, out, err = run(pair.ref("a"), pair.ref("nope"))
    assert (code, out) == (1, "")
    assert err == f"Error: no image named 'nope' in {pair.layout} (names: a, b, c)\n"
    code, _, err = run(pair.ref("a"))
    assert code == 2
    assert "Missing argument 'B'" in err
    code, _, err = run("--platform", "linux", pair.ref("a"), pair.ref("b"))
    assert code == 2
    assert "--platform" in err


def test_help_has_examples() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "boxwright diff oci:./layout:v1 oci:./layout:v2" in out
    assert "--exit-code" in out

"""Bearer tokens are fetched once per scope set, not once per request or per parallel blob."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_images import make_image
from registry_peers import SKOPEO
from token_server import parse_scope, token_server_of

from boxwright.cli.main import main
from boxwright_testing.registry_servers import RegistryServer

pytestmark = [
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed"),
    pytest.mark.usefixtures("isolated_auth"),
]


def test_a_push_fetches_one_push_token_however_many_blobs(
    registry_token: RegistryServer, tmp_path: Path
) -> None:
    server, tokens = registry_token, token_server_of(registry_token)
    image = make_image(tmp_path / "src", layers=4)
    repo = server.repo("cache")
    result = CliRunner().invoke(
        main,
        [
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            f"--dest-creds={server.creds}",
            image.ref,
            server.ref(repo),
        ],
    )
    assert result.exit_code == 0, result.output
    assert all(r.status == 200 for r in tokens.requests), tokens.requests
    push_tokens = [
        r
        for r in tokens.requests
        if any((p := parse_scope(s)) and "push" in p[2] for s in r.scopes)
    ]
    # Five blobs uploaded in parallel and a manifest: one push token serves them all; at most
    # one more (pull) token for the first manifest check.
    assert len(push_tokens) == 1, tokens.requests
    assert len(tokens.requests) <= 2, tokens.requests

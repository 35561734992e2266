"""What the config tests' fixtures hand a test: a private home, a fake credential helper."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Home:
    """A throwaway home: ``home`` is $HOME, ``runtime`` is $XDG_RUNTIME_DIR."""

    home: Path
    runtime: Path

    @property
    def runtime_auth(self) -> Path:
        return self.runtime / "containers" / "auth.json"

    @property
    def config_auth(self) -> Path:
        return self.home / ".config" / "containers" / "auth.json"

    @property
    def docker_config(self) -> Path:
        return self.home / ".docker" / "config.json"

    @staticmethod
    def write(path: Path, data: object) -> Path:
        """Write ``data`` as JSON to ``path``, creating its parents."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return path


@dataclass
class FakeHelper:
    """A real ``docker-credential-NAME`` executable on $PATH, with its database and call log."""

    name: str
    directory: Path

    @property
    def db(self) -> Path:
        return self.directory / f"{self.name}.db.json"

    def seed(self, entries: dict[str, dict[str, str]]) -> None:
        self.db.write_text(json.dumps(entries))

    def entries(self) -> dict[str, dict[str, str]]:
        if not self.db.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(self.db.read_text())
        return data

    def calls(self) -> list[str]:
        log = self.directory / f"{self.name}.log"
        return log.read_text().splitlines() if log.exists() else []

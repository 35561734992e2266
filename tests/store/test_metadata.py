"""The record files (images.json, containers.json): one reader and writer, exact refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxwright.errors import StoreError
from boxwright.store import Store
from boxwright.store.metadata import read_records, write_records


def test_a_missing_file_holds_no_records(tmp_path: Path) -> None:
    assert read_records(tmp_path / "none.json", "boxwright-things", 1, "things") == []


def test_written_records_read_back_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "things.json"
    write_records(path, "boxwright-things", 1, "things", [{"a": 1}, {"b": [2]}])
    assert read_records(path, "boxwright-things", 1, "things") == [{"a": 1}, {"b": [2]}]
    assert json.loads(path.read_bytes())["format"] == "boxwright-things"
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", r"Expecting property name"),
        (b"[]", r"^not a boxwright-things file$"),
        (b'{"format":"boxwright-other","version":1,"things":[]}', r"^not a boxwright-things"),
        (b'{"format":"boxwright-things","version":7,"things":[]}', r"^version 7, this boxwright"),
        (b'{"format":"boxwright-things","version":1}', r"^'things' is not a list$"),
        (b'{"format":"boxwright-things","version":1,"things":{}}', r"^'things' is not a list$"),
    ],
)
def test_a_foreign_or_damaged_file_is_refused_with_its_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "things.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        read_records(path, "boxwright-things", 1, "things")


def test_each_store_file_names_itself_and_the_way_out(store: Store) -> None:
    doc = b'{"format":"boxwright-images","version":2,"images":[]}'
    store.layout.images_file.write_bytes(doc)
    with pytest.raises(StoreError, match=r"images\.json is damaged \(version 2, this boxwright"):
        store.images.list()
    store.layout.containers_file.write_bytes(b'{"format":"boxwright-images"}')
    with pytest.raises(StoreError, match=r"containers\.json is corrupt \(not a boxwright-contai"):
        store.containers.list()

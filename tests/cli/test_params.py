"""The option values the commands share: KEY=VALUE words and their three bare-KEY rules."""

from __future__ import annotations

import click
import pytest

from boxwright.cli.params import key_values


def test_key_values_later_key_wins_and_values_keep_their_equals() -> None:
    assert key_values(("a=1", "b=x=y", "a=2"), "--label") == {"a": "2", "b": "x=y"}


def test_a_bare_key_is_empty_for_labels() -> None:
    assert key_values(("a", "b="), "--label", bare="empty") == {"a": "", "b": ""}


def test_a_bare_key_takes_the_environment_or_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BW_SET", "from-env")
    monkeypatch.delenv("BW_UNSET", raising=False)
    got = key_values(("BW_SET", "BW_UNSET", "C=3"), "--env", bare="environ")
    assert got == {"BW_SET": "from-env", "C": "3"}


def test_a_bare_key_is_refused_by_default() -> None:
    with pytest.raises(click.BadParameter) as caught:
        key_values(("a",), "--annotation")
    assert caught.value.format_message() == "Invalid value for '--annotation': 'a' is not KEY=VALUE"


def test_a_word_with_no_key_is_refused_whatever_the_rule() -> None:
    with pytest.raises(click.BadParameter) as caught:
        key_values(("=v",), "--label", bare="empty")
    assert caught.value.format_message() == "Invalid value for '--label': '=v' is not KEY[=VALUE]"

"""call_in_namespace: the caller's error class for what is not a boxwright error of its own
(the store's and containers-storage's callers each name theirs)."""

from __future__ import annotations

import os

import pytest

from boxwright.errors import DigestMismatchError, TransportError
from boxwright.rootless.forked import call_in_namespace


def _oserror() -> None:
    os.rmdir("/nonexistent-boxwright-dir")


def test_an_oserror_becomes_the_callers_error_class() -> None:
    with pytest.raises(TransportError, match=r"No such file or directory.*nonexistent-boxwright"):
        call_in_namespace(_oserror, error=TransportError)


def _mismatch() -> None:
    raise DigestMismatchError("blob sha256:00 does not match")


def test_a_boxwright_error_keeps_its_class_whatever_the_callers() -> None:
    with pytest.raises(DigestMismatchError, match=r"^blob sha256:00 does not match$"):
        call_in_namespace(_mismatch, error=TransportError)


def test_a_bug_in_the_child_is_the_callers_error_with_its_traceback() -> None:
    message = r"^failed inside the user namespace: ZeroDivisionError"
    with pytest.raises(TransportError, match=message):
        call_in_namespace(lambda: 1 // 0, error=TransportError)

"""One check every front end's tests make: a language holds exactly the samples it should."""

from __future__ import annotations

from typing import Callable, Iterable


def assert_language(accepts: Callable[[object], bool], accepted: Iterable, rejected: Iterable) -> None:
    """``accepts`` holds for every sample of ``accepted`` and for none of ``rejected``; a
    failure names the sample."""
    for sample in accepted:
        assert accepts(sample), f"rejected, should be accepted: {sample!r}"
    for sample in rejected:
        assert not accepts(sample), f"accepted, should be rejected: {sample!r}"

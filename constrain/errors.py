"""Errors a user can catch.

Every error derives from :class:`ConstrainError`; most also derive from the builtin that
fits, so ``except ValueError`` keeps working. Messages say *what*, *where* and, when there
is one, *how to fix it*.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple


class ConstrainError(Exception):
    """Base class of every error raised by constrain."""


class ConfigurationError(ConstrainError, ValueError):
    """A public function was called with bad arguments."""


class GrammarError(ConstrainError):
    """A grammar, regex or schema could not be turned into a constraint."""


class InvalidGrammarError(GrammarError, ValueError):
    """The input is malformed: a regex or grammar syntax error, or an invalid schema."""


class Feature(NamedTuple):
    """One unsupported feature: which front end, what, and where."""

    source: str  # "regex", "lark", "gbnf" or "json_schema"
    name: str  # the keyword or construct, e.g. "uniqueItems"
    location: str  # a JSON pointer, "line 3, column 5", or a position in a pattern

    def __str__(self) -> str:
        return f"{self.name!r} at {self.location}"


class UnsupportedFeatureError(GrammarError, NotImplementedError):
    """The input is valid but uses features that cannot be enforced exactly.

    ``features`` lists every such feature, sorted, so one error reports them all.
    """

    def __init__(self, features: Iterable[Feature], hint: str = "") -> None:
        self.features = sorted(set(features))
        if not self.features:
            raise ValueError("UnsupportedFeatureError needs at least one feature")
        source = self.features[0].source
        what = {
            "json_schema": "JSON Schema keyword",
            "regex": "regex feature",
            "lark": "Lark grammar feature",
            "gbnf": "GBNF grammar feature",
        }.get(source, "feature")
        listed = ", ".join(str(f) for f in self.features)
        plural = "s" if len(self.features) > 1 else ""
        message = f"Unsupported {what}{plural}: {listed}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class UnsatisfiableGrammarError(GrammarError):
    """The input is valid and supported, but no string satisfies it."""


class VocabularyError(ConstrainError):
    """The tokenizer's vocabulary cannot spell what the grammar requires."""


class ResourceLimitError(ConstrainError):
    """A limit on time, size or depth was exceeded while compiling or matching."""


class ConstrainWarning(UserWarning):
    """Something was dropped or approximated at the user's request (lenient mode), or the
    input looks mistaken although it is legal (a JSON Schema key close to a keyword)."""


__all__ = (
    "ConfigurationError",
    "ConstrainError",
    "ConstrainWarning",
    "Feature",
    "GrammarError",
    "InvalidGrammarError",
    "ResourceLimitError",
    "UnsatisfiableGrammarError",
    "UnsupportedFeatureError",
    "VocabularyError",
)

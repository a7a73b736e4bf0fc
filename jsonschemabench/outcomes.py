"""Outcome categories of one schema, ordered best to worst, and how errors map onto them."""

from __future__ import annotations

from typing import Dict, Iterable

#: Every category a schema can end in, best first. ``invalid_accepted`` is last: an engine
#: that lets an invalid document through has a bug, which is worse than any refusal.
OUTCOMES = (
    "pass",
    "valid_rejected",
    "unsupported",
    "invalid_schema",
    "unsatisfiable",
    "limit",
    "compile_error",
    "timeout",
    "crash",
    "invalid_accepted",
)

#: Categories that mean "the schema did not compile" (coverage counts the rest).
COMPILE_FAILURES = frozenset({"unsupported", "invalid_schema", "unsatisfiable", "limit", "compile_error"})

_RANK: Dict[str, int] = {name: i for i, name in enumerate(OUTCOMES)}


def rank(outcome: str) -> int:
    """The position of ``outcome`` in :data:`OUTCOMES` (0 is best).

    Raises:
        ValueError: ``outcome`` is not a known category.
    """
    try:
        return _RANK[outcome]
    except KeyError:
        raise ValueError(f"unknown outcome {outcome!r}; known: {', '.join(OUTCOMES)}") from None


def worst(outcomes: Iterable[str]) -> str:
    """The worst of ``outcomes``; ``"pass"`` when there are none."""
    result = "pass"
    for outcome in outcomes:
        if rank(outcome) > rank(result):
            result = outcome
    return result


def classify_constrain_error(exc: BaseException) -> str:
    """The category of an exception raised by the ``constrain`` engine.

    ``constrain.errors`` is imported lazily so that peers can be judged without it.
    """
    try:
        from constrain import errors
    except ImportError:  # pragma: no cover - constrain is this repository's package
        return "compile_error"
    if isinstance(exc, errors.UnsupportedFeatureError):
        return "unsupported"
    if isinstance(exc, errors.InvalidGrammarError):
        return "invalid_schema"
    if isinstance(exc, errors.UnsatisfiableGrammarError):
        return "unsatisfiable"
    if isinstance(exc, (errors.ResourceLimitError, MemoryError, RecursionError)):
        return "limit"
    return "compile_error"


def classify_generic_error(exc: BaseException) -> str:
    """The category of an exception raised by an engine that has no classifier of its own."""
    if isinstance(exc, (MemoryError, RecursionError)):
        return "limit"
    return "compile_error"


def counts(outcomes: Iterable[str]) -> Dict[str, int]:
    """How many of each category, every category present (zeros included), in order."""
    result = {name: 0 for name in OUTCOMES}
    for outcome in outcomes:
        rank(outcome)
        result[outcome] += 1
    return result

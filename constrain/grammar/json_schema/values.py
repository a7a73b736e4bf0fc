"""JSON values as a schema holds them: equality, hashing, types, decimals, JSON pointers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, List, Optional, Set, Tuple

from ...errors import InvalidGrammarError

#: A JSON value as ``json.loads`` returns it (None, bool, int, float, str, list, dict).
Json = Any

ALL_TYPES = ("null", "boolean", "object", "array", "string", "number", "integer")


def json_equal(a: Json, b: Json) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def json_key(value: Json) -> Tuple[Any, ...]:
    """A hashable key equal for two values exactly when :func:`json_equal` holds: 1 and 1.0
    alike, true and 1 apart, objects whatever their key order."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, json_key(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def common_values(values: Optional[List[Json]], allowed: List[Json]) -> List[Json]:
    """The members of ``values`` (all of ``allowed`` when ``None``) that ``allowed`` holds:
    the intersection of two ``enum``/``const`` constraints, in ``values``' order."""
    if values is None:
        return allowed
    keys = {json_key(v) for v in allowed}
    return [v for v in values if json_key(v) in keys]


def json_type(v: Json) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def type_set(t: Json) -> Set[str]:
    """The instance types a ``type`` keyword allows (``number`` includes ``integer``)."""
    names = [t] if isinstance(t, str) else list(t)
    out = set()
    for name in names:
        if name not in ALL_TYPES and name != "any":
            raise InvalidGrammarError(f"unknown type {name!r}")
        out.add(name)
    if "any" in out:
        return set(ALL_TYPES)
    if "number" in out:
        out.add("integer")
    return out


def to_decimal(v: Json) -> Decimal:
    """A schema's number exactly (a float by its shortest repr)."""
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def ptr_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def ptr_tokens(pointer: str) -> List[str]:
    if pointer == "":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]

"""The meta-schema check, compiled: is a schema valid under its draft's meta-schema?

``jsonschema`` interprets the meta-schema afresh at every node of the schema (evolving a
validator, resolving each ``$ref`` through its registry), which was about half of the JSON
Schema front end's time on MaskBench. The meta-schemas are five fixed documents that use a
dozen keywords, so each is compiled once, on first use, into nested closures that answer
valid or not (:func:`meta_schema_check`). ``jsonschema`` still explains a failure
(``best_match``) and decides when the two disagree, so a compiled check can only save time:
it never lets through a schema that ``jsonschema`` refuses, and its tests hold it to
``jsonschema``'s verdicts on the test-suite schemas and on random mutations of them.

The compiled form follows the meta-schema's own draft: ``$ref`` overrides its siblings up to
draft 7; ``integer`` excludes ``1.0`` in draft 4, where ``exclusiveMinimum`` is a boolean;
formats are annotations (``jsonschema`` checks none without a format checker). A meta-schema
using a keyword outside :data:`_ANNOTATIONS` and the compiled ones is not compiled
(``KeyError`` at build time) and its schemas go to ``jsonschema`` alone.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ...cache import memoize
from .values import json_key

__all__ = ("meta_schema_check",)

Json = Any
#: ``check(instance) -> valid``.
Check = Callable[[Json], bool]

#: The meta-schema URI of each draft number (``keywords.draft_of``).
META_SCHEMA_URIS = {
    4: "http://json-schema.org/draft-04/schema",
    6: "http://json-schema.org/draft-06/schema",
    7: "http://json-schema.org/draft-07/schema",
    2019: "https://json-schema.org/draft/2019-09/schema",
    2020: "https://json-schema.org/draft/2020-12/schema",
}

#: Keywords of the meta-schemas that assert nothing.
_ANNOTATIONS = frozenset(
    {
        "$id",
        "id",
        "$schema",
        "$comment",
        "$vocabulary",
        "$anchor",
        "$dynamicAnchor",
        "$recursiveAnchor",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "format",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentMediaType",
        "contentEncoding",
    }
)


def _always(_: Json) -> bool:
    return True


def _never(_: Json) -> bool:
    return False


def _type_test(name: str, draft: int) -> Callable[[Json], bool]:
    if name == "integer":
        if draft == 4:
            return lambda x: isinstance(x, int) and not isinstance(x, bool)
        return lambda x: (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())
    if name == "number":
        return lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = kinds[name]  # KeyError: not a JSON type
    return lambda x: isinstance(x, kind)


def _UNFINISHED(_: Json) -> bool:
    """The check of a node while it is being compiled (only references to it see it)."""
    raise AssertionError("a meta-schema check ran before it was compiled")


def _any_of(parts: Tuple[Check, ...]) -> Check:
    def check(x: Json) -> bool:
        for part in parts:
            if part(x):
                return True
        return False

    return check


def _all_of(checks: List[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    parts = tuple(checks)

    def check(x: Json) -> bool:
        for part in parts:
            if not part(x):
                return False
        return True

    return check


def _has_all(names: Tuple[str, ...]) -> Check:
    return lambda x: all(n in x for n in names)


def _is_number(x: Json) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class _MetaCompiler:
    """Compiles one meta-schema (and the documents it refers to) into a :data:`Check`."""

    def __init__(self, uri: str, draft: int) -> None:
        from jsonschema_specifications import REGISTRY

        self.draft = draft
        self.registry = REGISTRY
        resolved = REGISTRY.resolver().lookup(uri)
        # Compiled subschemas by the identity of the node (each node of the meta-schema
        # documents sits under one base URI): a cell that a reference reads when it runs,
        # so that recursive references close their cycle.
        self.cells: Dict[int, List[Check]] = {}
        self.keep: List[Json] = []  # the nodes whose identities key ``cells``
        self.root = self.compile(resolved.contents, resolved.resolver)

    def compile(self, schema: Json, resolver: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise KeyError(f"a meta-schema node that is not a schema: {schema!r}")
        key = id(schema)
        known = self.cells.get(key)
        if known is not None:
            if known[0] is not _UNFINISHED:
                return known[0]
            return lambda x: known[0](x)  # a reference back into the node being compiled
        cell: List[Check] = [_UNFINISHED]
        self.cells[key] = cell
        self.keep.append(schema)
        checks = self._keywords(schema, resolver)
        cell[0] = _all_of(checks)
        return cell[0]

    def _ref(self, ref: str, resolver: Any) -> Check:
        resolved = resolver.lookup(ref)
        return self.compile(resolved.contents, resolved.resolver)

    def _dynamic_root(self) -> Check:
        # Validation starts at the meta-schema itself, the outermost resource of the dynamic
        # scope, and it carries the anchor: every $dynamicRef "#meta" / $recursiveRef "#"
        # of the standard meta-schemas resolves to it.
        return lambda x: self.root(x)

    def _keywords(self, schema: Dict[str, Json], resolver: Any) -> List[Check]:
        draft = self.draft
        if "$ref" in schema and draft <= 7:
            return [self._ref(schema["$ref"], resolver)]
        checks: List[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("additionalProperties", "patternProperties", "additionalItems"):
                continue  # annotations; the last three are compiled with properties and items
            maker = getattr(self, "_k_" + keyword.lstrip("$"), None)
            if maker is None:
                raise KeyError(f"meta-schema keyword {keyword!r} is not compiled")
            check = maker(value, schema, resolver)
            if check is not None:
                checks.append(check)
        if "properties" not in schema and ("additionalProperties" in schema or "patternProperties" in schema):
            checks.append(self._k_properties({}, schema, resolver))
        if "items" not in schema and "additionalItems" in schema:
            pass  # additionalItems without items asserts nothing
        return checks

    # -- references -------------------------------------------------------------------------
    def _k_ref(self, value: str, schema: Json, resolver: Any) -> Check:
        return self._ref(value, resolver)

    def _k_dynamicRef(self, value: str, schema: Json, resolver: Any) -> Check:
        target = resolver.lookup(value).contents
        if not (isinstance(target, dict) and "$dynamicAnchor" in target):
            raise KeyError(f"$dynamicRef {value!r} without a dynamic anchor")
        return self._dynamic_root()

    def _k_recursiveRef(self, value: str, schema: Json, resolver: Any) -> Check:
        target = resolver.lookup(value).contents
        if not (isinstance(target, dict) and target.get("$recursiveAnchor") is True):
            raise KeyError(f"$recursiveRef {value!r} without a recursive anchor")
        return self._dynamic_root()

    # -- any instance -----------------------------------------------------------------------
    def _k_type(self, value: Json, schema: Json, resolver: Any) -> Check:
        tests = tuple(_type_test(t, self.draft) for t in (value if isinstance(value, list) else [value]))
        return tests[0] if len(tests) == 1 else _any_of(tests)

    def _k_enum(self, value: List[Json], schema: Json, resolver: Any) -> Check:
        keys = frozenset(json_key(v) for v in value)
        return lambda x: json_key(x) in keys

    def _k_const(self, value: Json, schema: Json, resolver: Any) -> Check:
        key = json_key(value)
        return lambda x: json_key(x) == key

    def _k_allOf(self, value: List[Json], schema: Json, resolver: Any) -> Check:
        return _all_of([self.compile(s, resolver) for s in value])

    def _k_anyOf(self, value: List[Json], schema: Json, resolver: Any) -> Check:
        return _any_of(tuple(self.compile(s, resolver) for s in value))

    def _k_oneOf(self, value: List[Json], schema: Json, resolver: Any) -> Check:
        parts = tuple(self.compile(s, resolver) for s in value)
        return lambda x: sum(1 for part in parts if part(x)) == 1

    def _k_not(self, value: Json, schema: Json, resolver: Any) -> Check:
        part = self.compile(value, resolver)
        return lambda x: not part(x)

    # -- numbers ----------------------------------------------------------------------------
    def _k_minimum(self, value: float, schema: Json, resolver: Any) -> Check:
        if self.draft == 4 and schema.get("exclusiveMinimum") is True:
            return lambda x: not _is_number(x) or x > value
        return lambda x: not _is_number(x) or x >= value

    def _k_maximum(self, value: float, schema: Json, resolver: Any) -> Check:
        if self.draft == 4 and schema.get("exclusiveMaximum") is True:
            return lambda x: not _is_number(x) or x < value
        return lambda x: not _is_number(x) or x <= value

    def _k_exclusiveMinimum(self, value: Json, schema: Json, resolver: Any) -> Optional[Check]:
        if self.draft == 4:
            return None  # a modifier of minimum
        return lambda x: not _is_number(x) or x > value

    def _k_exclusiveMaximum(self, value: Json, schema: Json, resolver: Any) -> Optional[Check]:
        if self.draft == 4:
            return None
        return lambda x: not _is_number(x) or x < value

    # -- strings ----------------------------------------------------------------------------
    def _k_pattern(self, value: str, schema: Json, resolver: Any) -> Check:
        search = re.compile(value).search  # as jsonschema checks patterns: Python's re
        return lambda x: not isinstance(x, str) or search(x) is not None

    def _k_minLength(self, value: int, schema: Json, resolver: Any) -> Check:
        return lambda x: not isinstance(x, str) or len(x) >= value

    # -- arrays -----------------------------------------------------------------------------
    def _k_items(self, value: Json, schema: Json, resolver: Any) -> Check:
        if isinstance(value, list):
            if self.draft == 2020:
                raise KeyError("items as an array in a 2020-12 meta-schema")
            parts = tuple(self.compile(s, resolver) for s in value)
            extra = self.compile(schema.get("additionalItems", True), resolver)

            def tuple_items(x: Json) -> bool:
                if not isinstance(x, list):
                    return True
                for i, item in enumerate(x):
                    if not (parts[i] if i < len(parts) else extra)(item):
                        return False
                return True

            return tuple_items
        part = self.compile(value, resolver)
        return lambda x: not isinstance(x, list) or all(part(item) for item in x)

    def _k_minItems(self, value: int, schema: Json, resolver: Any) -> Check:
        return lambda x: not isinstance(x, list) or len(x) >= value

    def _k_uniqueItems(self, value: bool, schema: Json, resolver: Any) -> Optional[Check]:
        if not value:
            return None

        def unique(x: Json) -> bool:
            if not isinstance(x, list):
                return True
            keys = [json_key(item) for item in x]
            return len(set(keys)) == len(keys)

        return unique

    # -- objects ----------------------------------------------------------------------------
    def _k_properties(self, value: Dict[str, Json], schema: Json, resolver: Any) -> Check:
        named = {k: self.compile(s, resolver) for k, s in value.items()}
        patterns = tuple(
            (re.compile(p).search, self.compile(s, resolver)) for p, s in schema.get("patternProperties", {}).items()
        )
        extra = None if "additionalProperties" not in schema else self.compile(schema["additionalProperties"], resolver)
        if extra is _always:
            extra = None

        def properties(x: Json) -> bool:
            if not isinstance(x, dict):
                return True
            for k, v in x.items():
                check = named.get(k)
                matched = check is not None
                if matched and not check(v):  # type: ignore[misc]
                    return False
                for search, part in patterns:
                    if search(k) is not None:
                        matched = True
                        if not part(v):
                            return False
                if not matched and extra is not None and not extra(v):
                    return False
            return True

        return properties

    def _k_propertyNames(self, value: Json, schema: Json, resolver: Any) -> Check:
        part = self.compile(value, resolver)
        return lambda x: not isinstance(x, dict) or all(part(k) for k in x)

    def _k_required(self, value: List[str], schema: Json, resolver: Any) -> Check:
        has_all = _has_all(tuple(value))
        return lambda x: not isinstance(x, dict) or has_all(x)

    def _k_dependencies(self, value: Dict[str, Json], schema: Json, resolver: Any) -> Check:
        rules: List[Tuple[str, Check]] = []
        for name, dependency in value.items():
            if isinstance(dependency, list):
                rules.append((name, _has_all(tuple(dependency))))
            else:
                rules.append((name, self.compile(dependency, resolver)))
        return lambda x: not isinstance(x, dict) or all(check(x) for name, check in rules if name in x)


@memoize("grammar.json_schema_meta_checks", maxsize=8)
def meta_schema_check(draft: int) -> Optional[Check]:
    """The compiled meta-schema check of ``draft`` (4, 6, 7, 2019 or 2020), built once per
    process, or ``None`` when its meta-schema uses a keyword this module does not compile."""
    try:
        return _MetaCompiler(META_SCHEMA_URIS[draft], draft).root
    except KeyError:
        return None

"""The compiler: a conjunction of schemas becomes one rule (memoized), through the applicators,
the merged shape and its lowering per type; and :func:`grammar_from_json_schema`, its entry point."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, FrozenSet, List, Optional, Tuple

import jsonschema

from ...config import DEFAULT_LIMITS, Limits
from ...errors import (
    ConfigurationError,
    ConstrainWarning,
    Feature,
    InvalidGrammarError,
    ResourceLimitError,
    UnsupportedFeatureError,
)
from ..ecma_regex import ir_fullmatch
from ..ir import And, Grammar, Regex, Repeat, literal
from .builder import finish_grammar
from .documents import load_schema
from .keywords import draft_of
from .layout import MAX_INDENT_DEPTH
from .meta import meta_schema_check
from .negation import Expansion
from .lower_arrays import ArrayLowering
from .lower_numbers import NumberLowering
from .lower_objects import ObjectLowering
from .numbers import INTEGER, number_literal
from .shapes import Shape
from .strings import ANY, STRING_ESCAPES
from .values import Json, json_equal, json_key, json_type, ptr_escape, to_decimal

_ANY_STRING = Repeat(ANY, 0, None)  # what _string_decoded gives for a string without constraints


class Compiler(ArrayLowering, ObjectLowering, NumberLowering):
    """A JSON Schema to a grammar: each conjunction (a frozenset of schema ids) becomes a rule."""

    def value(self, key: FrozenSet[str], depth: int) -> str:
        """A rule deriving the JSON texts valid for every schema in ``key``."""
        memo_key = (key, depth)
        name = self.memo.get(memo_key)
        if name is not None:
            return name
        self._tick()
        expanded = self._expand(key)
        shared_key = None
        if expanded is not None:
            # Keys that expand to the same schemas share one rule: a hundred properties that
            # are each {"$ref": "#/definitions/record"} lower the record once, not a hundred
            # times. A node whose only constraint is a $ref means its target, which the
            # expansion holds, so it is left out of the comparison.
            flat, pending = expanded
            members = frozenset(i for i in (*key, *flat) if not self._only_ref(i))
            shared_key = (members, pending, depth)
            name = self.shared.get(shared_key)
            if name is not None:
                self.memo[memo_key] = name
                return name
        self.nesting += 1
        if self.nesting > self.limits.max_schema_depth:
            raise ResourceLimitError(
                f"the schema nests deeper than {self.limits.max_schema_depth} (Limits.max_schema_depth)"
            )
        try:
            name = self.b.new_rule("v")
            self.memo[memo_key] = name
            if shared_key is not None:
                self.shared[shared_key] = name
            self.b.set_rule(name, self._alternatives(key, expanded, depth))
        finally:
            self.nesting -= 1
        return name

    def _only_ref(self, ident: str) -> bool:
        """Whether the node constrains through ``$ref`` alone (no other keyword)."""
        if not isinstance(self.node(ident).schema, dict):
            return False
        kws = self.kw(ident)
        return len(kws) == 1 and "$ref" in kws

    def _alternatives(self, key: FrozenSet[str], expanded: Optional[Expansion], depth: int) -> List[Tuple[str, ...]]:
        if expanded is None:
            return []
        flat, pending = expanded
        if self._contradiction(flat):
            return []
        if pending is not None:
            # Branch on the expanded, applicator-free nodes, so that no parent re-adds the
            # applicator being split and the new keys stay within a finite set.
            stripped = {f: self._strip(f) for f in flat}
            kw, ident = pending
            branches = self._branches(frozenset(stripped.values()), kw, stripped[ident])
            return [(self.value(branch, depth),) for branch in branches]
        shape = self._merge(flat)
        return self._lower(shape, key, flat, depth)

    def _lower(self, shape: Shape, key: FrozenSet[str], flat: List[str], depth: int) -> List[Tuple[str, ...]]:
        types = shape.types
        if "number" in types:
            types = types | {"integer"}
        containers = not (self.indent and depth >= MAX_INDENT_DEPTH)
        if not containers and ({"object", "array"} & types):
            msg = f"objects and arrays nested deeper than {MAX_INDENT_DEPTH} are not laid out with indent"
            if msg not in self.warnings:
                self.warnings.append(msg)
        out: List[Tuple[str, ...]] = []
        if shape.values is not None:
            string_re: Optional[Regex] = _ANY_STRING
            if any(isinstance(v, str) for v in shape.values):
                # jsonschema checks patterns with Python's re and some formats loosely or not
                # at all; the values must also pass this compiler's own string checks. The
                # excluded values are dropped by key below, so they stay out of this regex
                # (a long enum's complement made it a conjunction of hundreds of negations,
                # matched against every value).
                string_re = self._string_decoded(replace(shape, excluded=[]))
            excluded_keys = {json_key(x) for x, _ in shape.excluded}
            for i, v in enumerate(shape.values):
                if i % 256 == 255:
                    self._tick()
                if isinstance(v, str) and (
                    string_re is None or (string_re != _ANY_STRING and not ir_fullmatch(string_re, v))
                ):
                    continue
                t = json_type(v)
                if t not in types or (t == "number" and "number" not in types):
                    continue
                if t in ("object", "array") and not containers:
                    continue
                if json_key(v) in excluded_keys:
                    continue
                if all(self.validates(i, v) for i in set(key) | set(flat)):
                    if t == "integer" and "number" not in shape.types and self.draft == 4:
                        # draft 4: 1.0 is not an integer, so only integer spellings.
                        out.append((self.b.terminal(And((number_literal(to_decimal(v)), INTEGER)), "NUM"),))
                    else:
                        out.append(self._literal(v, depth))
            return out
        excluded = shape.excluded
        if "null" in types and not any(v is None for v, _ in excluded):
            out.append((self.b.terminal(literal("null"), "NULL"),))
        if "boolean" in types:
            for b in (True, False):
                if not any(json_equal(v, b) for v, _ in excluded):
                    out.append((self.b.terminal(literal("true" if b else "false"), "BOOL"),))
        if shape.fraction:
            types = types - {"integer"} if "number" not in types else types
        if "integer" in types:
            regex = self._number(shape, integer_only="number" not in types)
            if regex is not None:
                out.append((self.b.terminal(regex, "NUM"),))
        if "string" in types:
            out.extend(self._string(shape))
        for v, where in excluded:
            if isinstance(v, (list, dict)) and json_type(v) in types:
                self.feature("not (an array or object value)", where)
        if "array" in types and containers:
            out.extend(self._array(shape, depth))
        if "object" in types and containers:
            out.extend(self._object(shape, depth))
        return out

    def grammar(self) -> Grammar:
        top = self.value(frozenset({""}), 0)
        if self.features and not self.lenient:
            raise UnsupportedFeatureError(
                [Feature("json_schema", name, where) for name, where in self.features],
                hint="pass lenient=True to drop them (the grammar then accepts more than the schema)",
            )
        warnings = list(self.warnings)
        for name, where in sorted(self.features):
            warnings.append(f"dropped {name!r} at {where}: it cannot be enforced exactly")
        return finish_grammar(self.b, top, tuple(warnings))


def _check_meta_schema(root: Json, draft: int) -> None:
    """Raise ``InvalidGrammarError`` if ``root`` fails its draft's meta-schema. The compiled
    check answers first; ``jsonschema`` explains a failure, and its verdict stands."""
    fast = meta_schema_check(draft)
    try:
        if fast is not None and fast(root):
            return
        cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
        # No format checker: "format": "regex" would check patterns with Python's re, while
        # patterns are ECMAScript and get their own parser.
        error = jsonschema.exceptions.best_match(cls(cls.META_SCHEMA).iter_errors(root))
    except RecursionError:  # only from a caller already deep in its own stack
        raise ResourceLimitError("the schema nests too deeply to check against its meta-schema") from None
    except Exception as e:  # e.g. a $ref inside the meta-schema check that cannot resolve
        raise InvalidGrammarError(f"invalid schema: {e}") from None
    if error is not None:
        where = "#" + "".join("/" + ptr_escape(str(p)) for p in error.path)
        raise InvalidGrammarError(f"invalid schema at {where}: {error.message}")


def grammar_from_json_schema(
    schema: Any,
    *,
    lenient: bool = False,
    whitespace: str = "compact",
    max_whitespace: int = 4,
    indent: Optional[int] = None,
    property_order: str = "schema",
    string_escapes: str = "minimal",
    limits: Limits = DEFAULT_LIMITS,
) -> Grammar:
    """Compile a JSON Schema to a grammar of exactly the JSON texts it accepts.

    Args:
        schema: a dict (or bool), a JSON string, or a pydantic model class.
        lenient: drop keywords that cannot be enforced exactly (recording a warning on the
            grammar, whose language is then wider than the schema) instead of raising.
        whitespace: ``"compact"`` (no whitespace, like ``json.dumps(separators=(",", ":"))``),
            ``"flexible"`` (runs of at most ``max_whitespace`` blanks around punctuation) or
            ``"indent"`` (exactly ``json.dumps(indent=indent)``).
        max_whitespace: the longest whitespace run in flexible mode.
        indent: spaces per level; setting it implies ``whitespace="indent"`` (default 2).
        property_order: ``"schema"`` (declared properties in schema order, then others),
            ``"required_first"`` (required declared properties first), or ``"any"`` (any order,
            for objects with at most ``MAX_ANY_ORDER_PROPERTIES`` declared properties; larger
            objects keep the schema's order and the grammar records a warning).
        string_escapes: how strings (property names, values, enum and const literals) may be
            spelled: ``"minimal"`` (the default) exactly as ``json.dumps(v, ensure_ascii=False)``
            writes them, one spelling per string, so declared keys come out literally;
            ``"any"`` every spelling JSON allows (``\\u0061`` for ``a``, ``\\/``, surrogate
            pairs). Under ``"minimal"`` a valid document spelled otherwise is not accepted: a
            choice of output form, never a wider language.
        limits: compile time, grammar size and schema depth bounds.

    Returns:
        A :class:`Grammar` with ``kind="json_schema"``.

    Raises:
        ConfigurationError: bad options.
        InvalidGrammarError: the schema is malformed (not JSON, fails its meta-schema, a
            ``$ref`` or pointer that does not resolve, an invalid pattern).
        UnsupportedFeatureError: keywords that cannot be enforced exactly, all listed with
            their JSON pointers (unless ``lenient``).
        UnsatisfiableGrammarError: no JSON value satisfies the schema.
        ResourceLimitError: the compile ran past ``limits``.
    """
    if indent is not None:
        if whitespace not in ("compact", "indent"):
            raise ConfigurationError(f"indent={indent!r} needs whitespace='indent', not {whitespace!r}")
        whitespace = "indent"
    if whitespace == "indent" and indent is None:
        indent = 2
    if whitespace not in ("compact", "flexible", "indent"):
        raise ConfigurationError(f"whitespace must be 'compact', 'flexible' or 'indent', not {whitespace!r}")
    if indent is not None and (not isinstance(indent, int) or isinstance(indent, bool) or indent < 0):
        raise ConfigurationError(f"indent must be a non-negative int, not {indent!r}")
    if not isinstance(max_whitespace, int) or max_whitespace < 0:
        raise ConfigurationError(f"max_whitespace must be a non-negative int, not {max_whitespace!r}")
    if string_escapes not in STRING_ESCAPES:
        raise ConfigurationError(f"string_escapes must be 'minimal' or 'any', not {string_escapes!r}")
    if property_order not in ("schema", "required_first", "any"):
        raise ConfigurationError(f"property_order must be 'schema', 'required_first' or 'any', not {property_order!r}")
    root = load_schema(schema, 2 * limits.max_schema_depth)
    draft = draft_of(root)
    _check_meta_schema(root, draft)
    try:
        compiler = Compiler(
            root,
            draft,
            lenient,
            {"whitespace": whitespace, "max_whitespace": max_whitespace, "indent": indent},
            property_order,
            limits,
            string_escapes,
        )
        for message in compiler.warnings:  # so far only misspelled keywords, found while indexing
            warnings.warn(message, ConstrainWarning, stacklevel=2)
        return compiler.grammar()
    except RecursionError:  # a backstop: Limits.max_schema_depth is meant to come first
        raise ResourceLimitError(
            "the schema nests too deeply to compile from this call's stack depth (Limits.max_schema_depth)"
        ) from None

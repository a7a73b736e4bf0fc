"""JSON Schema front end under hostile input: negations that must not hold vacuously,
paradoxical schemas, non-JSON numbers, huge bounds and lengths, deep documents; each gives the
right language or a library error, quickly."""

from __future__ import annotations

import json
import time

import pytest

import constrain
from constrain import Matcher, Vocabulary
from constrain.config import DEFAULT_LIMITS
from constrain.errors import InvalidGrammarError, ResourceLimitError, UnsatisfiableGrammarError
from constrain.grammar.json_schema import grammar_from_json_schema
from constrain.grammar.json_schema.digits import fixed_range
from constrain.grammar.json_schema.numbers import dec_class
from constrain.automata.fsm import regex_to_dfa

BYTES = Vocabulary.byte_level()


def accepts(schema, text: str) -> bool:
    m = Matcher(constrain.compile(grammar_from_json_schema(schema), BYTES))
    return m.accept_bytes(text.encode()) and m.is_accepting()


# `required` holds for every non-object, so its negation holds for objects only.
NEGATIONS = [
    ({"not": {"required": ["a"]}}, "1", False),
    ({"not": {"required": ["a"]}}, '"x"', False),
    ({"not": {"required": ["a"]}}, "{}", True),
    ({"not": {"required": ["a"]}}, '{"a":1}', False),
    ({"not": {"required": ["a"]}}, '{"b":1}', True),
    ({"not": {"minLength": 2}}, "1", False),
    ({"not": {"minLength": 2}}, '"x"', True),
    ({"not": {"minimum": 2}}, '"x"', False),
    ({"not": {"minimum": 2}}, "1", True),
    ({"not": {"maxItems": 1}}, "{}", False),
    ({"not": {"maxItems": 1}}, "[1,2]", True),
    ({"not": {"properties": {"a": {"type": "string"}}}}, "1", False),
    ({"not": {"properties": {"a": {"type": "string"}}}}, '{"a":1}', True),
    ({"not": {"items": {"type": "string"}}}, "1", False),
    ({"not": {"items": {"type": "string"}}}, "[1]", True),
    ({"not": {"maxProperties": 0}}, "[]", False),
    ({"not": {"maxProperties": 0}}, '{"a":1}', True),
    ({"not": {"pattern": "^a"}}, "1", False),
    ({"not": {"pattern": "^a"}}, '"b"', True),
]


@pytest.mark.parametrize("schema,text,expected", NEGATIONS)
def test_negated_keywords_do_not_hold_vacuously(schema, text, expected):
    assert accepts(schema, text) is expected


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "not": {"required": ["a"]}},
        {"type": "string", "not": {"required": ["a"]}},
    ],
)
def test_negated_required_on_non_objects_is_unsatisfiable(schema):
    with pytest.raises(UnsatisfiableGrammarError):
        constrain.compile(grammar_from_json_schema(schema), BYTES)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"},
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"},
        {
            "definitions": {"a": {"not": {"$ref": "#/definitions/a"}}},
            "$ref": "#/definitions/a",
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    ],
)
def test_schemas_applying_themselves_in_place_are_errors(schema):
    with pytest.raises(InvalidGrammarError, match="cycle"):
        grammar_from_json_schema(schema)


def test_recursion_through_a_child_is_not_a_cycle():
    schema = {
        "$defs": {"list": {"type": "object", "properties": {"next": {"$ref": "#/$defs/list"}}}},
        "$ref": "#/$defs/list",
    }
    assert accepts(schema, '{"next":{"next":{}}}')


@pytest.mark.parametrize(
    "schema,where",
    [
        ({"type": "number", "minimum": float("nan")}, "#/minimum"),
        ({"maximum": float("inf")}, "#/maximum"),
        ({"const": float("nan")}, "#/const"),
        ({"enum": [1, float("-inf")]}, "#/enum/1"),
        ({"multipleOf": float("nan")}, "#/multipleOf"),
        ({"properties": {"a": {"default": float("nan")}}}, "#/properties/a/default"),
        ('{"minimum": NaN}', "NaN"),
        ('{"maximum": Infinity}', "Infinity"),
        ({"minimum": object()}, "#/minimum"),
        ({1: {}}, "key 1"),
    ],
)
def test_non_json_values_are_invalid(schema, where):
    with pytest.raises(InvalidGrammarError, match=where):
        grammar_from_json_schema(schema)


def _quick(schema, **options):
    start = time.monotonic()
    try:
        return grammar_from_json_schema(schema, **options)
    finally:
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("p,m", [(10**12, 10**12), (1e30, 10**30), (2**3 * 5**12, 2**3 * 5**12)])
def test_huge_integer_multiple_of_is_quick_and_exact(p, m):
    compiled = constrain.compile(_quick({"type": "integer", "multipleOf": p}), BYTES)
    for value, expected in ((0, True), (m, True), (3 * m, True), (m + 1, False), (m // 2, False), (-m, True)):
        mm = Matcher(compiled)
        assert (mm.accept_bytes(str(value).encode()) and mm.is_accepting()) is expected, value


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 10**9},
        {"type": "string", "maxLength": 10**9},
        {"type": "string", "minLength": 10**9, "maxLength": 10**9 + 5},
    ],
)
def test_huge_string_lengths_compile_in_few_rules(schema):
    # chunk counts are rules in binary: a billion characters is about 90 rules
    grammar = _quick(schema)
    assert len(grammar.rules) < 100
    compiled = constrain.compile(grammar, BYTES)
    short = Matcher(compiled)
    fits = short.accept_bytes(b'"' + b"a" * 5000 + b'"') and short.is_accepting()
    assert fits is ("minLength" not in schema)


def test_long_string_lengths_within_limits_compile():
    compiled = constrain.compile(_quick({"type": "string", "minLength": 3000, "maxLength": 3001}), BYTES)
    for n, expected in ((2999, False), (3000, True), (3001, True), (3002, False)):
        m = Matcher(compiled)
        assert (m.accept_bytes(json.dumps("x" * n).encode()) and m.is_accepting()) is expected


@pytest.mark.parametrize(
    "schema,inside,outside",
    [
        ({"type": "number", "minimum": 1e150}, "1" + "0" * 150, "9" * 150),
        ({"maximum": -1e300}, "-1" + "0" * 300, "-9" * 1 + "0" * 299),
        (
            {"type": "number", "exclusiveMinimum": 1.7976931348623157e308},
            "2" + "0" * 308,
            "17976931348623157" + "0" * 292,
        ),
        ({"type": "integer", "exclusiveMinimum": 1e300}, "1" + "0" * 299 + "1", "1" + "0" * 300),
        ({"type": "integer", "exclusiveMaximum": -1e200}, "-1" + "0" * 199 + "1", "-1" + "0" * 200),
    ],
)
def test_huge_bounds_compile_and_are_exact(schema, inside, outside):
    compiled = constrain.compile(_quick(schema), BYTES)
    for text, expected in ((inside, True), (outside, False)):
        m = Matcher(compiled)
        assert (m.accept_bytes(text.encode()) and m.is_accepting()) is expected, text[:20]


@pytest.mark.parametrize(
    "schema,match",
    [
        ({"minimum": int("7" * 200)}, "significant digits"),
        ({"minimum": 10**5000}, "1000 digits"),
    ],
)
def test_bounds_past_their_digit_limits_are_resource_errors(schema, match):
    with pytest.raises(ResourceLimitError, match=match):
        _quick(schema)


def _nest(depth: int, kind: str):
    schema = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema} if kind == "items" else {"properties": {"a": schema}}
    return schema


@pytest.mark.parametrize("kind", ["items", "properties"])
def test_the_documented_depth_compiles_from_a_deep_caller(kind):
    depth = DEFAULT_LIMITS.max_schema_depth - 1

    def at(frames: int):  # the caller's own stack: 300 frames, as the documented limit assumes
        return grammar_from_json_schema(_nest(depth, kind)) if frames == 0 else at(frames - 1)

    assert at(300).kind == "json_schema"


@pytest.mark.parametrize(
    "schema",
    [
        _nest(DEFAULT_LIMITS.max_schema_depth + 1, "items"),
        _nest(DEFAULT_LIMITS.max_schema_depth + 1, "properties"),
        '{"items":' * 10_000 + "{}" + "}" * 10_000,
        "[" * 100_000 + "]" * 100_000,
        {"const": json.loads("[" * 500 + "]" * 500)},
    ],
)
def test_past_the_documented_depth_is_a_resource_limit(schema):
    with pytest.raises(ResourceLimitError, match="Limits.max_schema_depth"):
        _quick(schema)


def test_fixed_range_matches_brute_force():
    import random

    rng = random.Random(3)
    for _ in range(150):
        width = rng.randint(1, 4)
        picks = [int("".join(rng.choice("0919") for _ in range(width))), rng.randrange(10**width)]
        lo, hi = sorted(picks)
        dfa = regex_to_dfa(fixed_range(lo, hi, width, 10, dec_class))
        for v in range(10**width) if width <= 3 else rng.sample(range(10**width), 500) + [lo, hi]:
            assert dfa.matches(str(v).rjust(width, "0").encode()) == (lo <= v <= hi), (lo, hi, width, v)

"""JSON Schema -> Grammar: pattern translation, formats, exact numbers and strings, the
compiled grammars' languages (on the byte-level vocabulary), layouts and errors."""

from __future__ import annotations

import json
import random
import re
from decimal import Decimal

import pytest

import constrain
from constrain import Matcher, Vocabulary
from constrain.automata.fsm import regex_to_dfa
from constrain.errors import (
    ConfigurationError,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from constrain.config import DEFAULT_LIMITS
from constrain.grammar import Grammar
from constrain.grammar.ecma_regex import ecma_search_regex, ir_fullmatch, parse_ecma
from constrain.grammar.formats import format_regex
from constrain.grammar.json_schema import (
    NUMBER,
    grammar_from_json_schema,
    int_range,
    number_bound,
    number_literal,
    string_literal_regex,
    string_terminal_regex,
)
from constrain.grammar.json_schema.values import common_values, json_equal
from language import assert_language

BYTES = Vocabulary.byte_level()


def accepts(compiled, text: str) -> bool:
    m = Matcher(compiled)
    return m.accept_bytes(text.encode()) and m.is_accepting()


def language(schema, **options):
    return constrain.compile(grammar_from_json_schema(schema, **options), BYTES)


# --- ECMAScript patterns ---------------------------------------------------------------------

PATTERNS = [
    ("abc", "xxabcyy", True),
    ("abc", "ab", False),
    ("^abc$", "abc", True),
    ("^abc$", "abcd", False),
    ("^a|b$", "ab", True),
    ("^a|b$", "ca", False),
    ("^(a|b)+$", "abba", True),
    (r"^\d{3}-\d{4}$", "555-1234", True),
    (r"^\d{3}-\d{4}$", "555-12345", False),
    ("[^a-z]", "abc", False),
    ("[^a-z]", "abC", True),
    ("^.$", "\n", False),
    ("^.$", "\u2028", False),
    ("^.$", "😀", True),
    ("x{2,}", "axxb", True),
    ("x{", "x{", True),
    (r"^[\w.-]+@[\w-]+$", "a.b@c", True),
    (r"^\S+$", "a b", False),
    (r"^\s$", "\u00a0", True),
    ("^(?:[a-z]{2})?$", "", True),
    ("^(?:[a-z]{2})?$", "abc", False),
    (r"^\u00e9$", "é", True),
    (r"^\x41$", "A", True),
    (r"^[\-+]$", "-", True),
    (r"^\cJ$", "\n", True),
    ("^(?<year>[0-9]{4})$", "2024", True),
    ("^a*?$", "aaa", True),
    (r"^[a-f\d]+$", "c0ffee", True),
    (r"^[a-f\d]+$", "coffee", False),
    (r"^(?!foo)\w+$", "foobar", False),
    (r"^(?!foo)\w+$", "barfoo", True),
    (r"^(?=.*\d)(?=.*[a-z]).{6,}$", "abc123", True),
    (r"^(?=.*\d)(?=.*[a-z]).{6,}$", "abcdef", False),
    ("a(?!b)", "abac", True),
    ("a(?!b)", "ab", False),
    ("(?=a)", "xxa", True),
    (r"^\p{L}+$", "héllo", True),
    (r"^\p{L}+$", "h3", False),
    (r"^\P{L}+$", "123", True),
    (r"^\p{Lu}$", "É", True),
    (r"^\p{Nd}+$", "٣3", True),
    (r"^\d+$", "٣", False),
]


@pytest.mark.parametrize("pattern,text,expected", PATTERNS)
def test_ecma_pattern_search_semantics(pattern, text, expected):
    assert ir_fullmatch(ecma_search_regex(pattern), text) is expected


@pytest.mark.parametrize(
    "pattern,error",
    [
        ("(?<=a)b", UnsupportedFeatureError),
        ("(?:(?=a)b)*", UnsupportedFeatureError),
        (r"(a)\1", UnsupportedFeatureError),
        ("a^b", UnsupportedFeatureError),
        (r"\p{Script=Greek}", UnsupportedFeatureError),
        (r"\bword", UnsupportedFeatureError),
        ("(a", InvalidGrammarError),
        ("a)", InvalidGrammarError),
        ("*a", InvalidGrammarError),
        ("[z-a]", InvalidGrammarError),
        ("a{3,1}", InvalidGrammarError),
    ],
)
def test_ecma_pattern_errors(pattern, error):
    with pytest.raises(error):
        ecma_search_regex(pattern)


def test_parse_ecma_is_a_whole_match():
    assert ir_fullmatch(parse_ecma("a+b"), "aab")
    assert not ir_fullmatch(parse_ecma("a+b"), "xaab")


# --- formats ---------------------------------------------------------------------------------

FORMATS = [
    ("date", "2024-02-29", True),
    ("date", "2023-02-29", False),
    ("date", "2000-02-29", True),
    ("date", "1900-02-29", False),
    ("date", "2023-04-31", False),
    ("date", "2023-12-31", True),
    ("date-time", "2023-12-31T23:59:59.123Z", True),
    ("date-time", "2023-12-31t23:59:59+01:00", True),
    ("date-time", "2023-12-31 23:59:59Z", False),
    ("time", "12:00:00+05:30", True),
    ("time", "24:00:00Z", False),
    ("time", "12:00:00", False),
    ("duration", "P1Y2M3DT4H5M6S", True),
    ("duration", "P1W", True),
    ("duration", "PT", False),
    ("duration", "P1Y1W", False),
    ("ipv4", "192.168.0.1", True),
    ("ipv4", "256.1.1.1", False),
    ("ipv4", "01.1.1.1", False),
    ("ipv6", "::1", True),
    ("ipv6", "2001:db8::8a2e:370:7334", True),
    ("ipv6", "1::2::3", False),
    ("ipv6", "::ffff:1.2.3.4", True),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", True),
    ("uuid", "123e4567-e89b-12d3-a456-42661417400", False),
    ("email", "a.b@example.com", True),
    ("email", "a..b@example.com", False),
    ("email", "no-at-sign", False),
    ("hostname", "example.com", True),
    ("hostname", "-bad.com", False),
    ("uri", "http://example.com/a?b#c", True),
    ("uri", "urn:isbn:0451450523", True),
    ("uri", "//example.com", False),
    ("uri", "http://a@b@c", False),
    ("uri-reference", "//example.com", True),
    ("uri-reference", "../a", True),
    ("json-pointer", "/a~1b", True),
    ("json-pointer", "/a~2b", False),
    ("relative-json-pointer", "1/a", True),
    ("iri", "http://example.org/a", True),
    ("uri-template", "http://example.org/a", True),
    ("uri-template", "http://example.org/{a}", True),
    ("uri-template", "http://example.org/{+a,b*}{?q:3}", True),
    ("uri-template", "a'b", False),
    ("uri-template", "http://example.org/{a", False),
    ("uri-template", "{a..b}", False),
    ("idn-hostname", "xn--bcher-kva.example", False),
    ("idn-email", "a@example.com", True),
]


@pytest.mark.parametrize("fmt,text,expected", FORMATS)
def test_formats(fmt, text, expected):
    assert ir_fullmatch(format_regex(fmt), text) is expected


# --- numbers ---------------------------------------------------------------------------------


def _random_numbers(n: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    out = ["0", "-0", "0.0", "-0.0", "0e5", "-0E-1", "1", "1.0", "1.5", "12.50", "12.5", "12.49999", "12.5000001"]
    for _ in range(n):
        s = rng.choice(["", "-"]) + rng.choice(["0", str(rng.randint(1, 200))])
        if rng.random() < 0.5:
            s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            s += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 3))
        out.append(s)
    return out


NUMBERS = _random_numbers(600)
BOUNDS = ["0", "1", "12.5", "-12.5", "0.05", "-0.05", "100", "-1"]
OPS = {">=": Decimal.__ge__, ">": Decimal.__gt__, "<=": Decimal.__le__, "<": Decimal.__lt__}


@pytest.mark.parametrize("bound", BOUNDS)
@pytest.mark.parametrize("op", list(OPS))
def test_number_bounds_never_wider_and_exact_on_plain_decimals(op, bound):
    dfa = regex_to_dfa(number_bound(op, Decimal(bound)))
    for s in NUMBERS:
        want = OPS[op](Decimal(s), Decimal(bound))
        got = dfa.matches(s.encode())
        assert not (got and not want), s
        if "e" not in s.lower():
            assert got == want, s


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1e5", True),
        ("1.5E+3", True),
        ("-2e-07", True),
        ("0.0e0", True),
        ("1e,5", False),
        ("1e", False),
        ("01", False),
        ("1.", False),
        (".5", False),
        ("+1", False),
        ("-", False),
        ("1E+-3", False),
    ],
)
def test_number_syntax(text, expected):
    assert accepts(language({"type": "number"}), text) is expected
    assert regex_to_dfa(NUMBER).matches(text.encode()) is expected


@pytest.mark.parametrize("value", ["0", "1", "-1", "12.5", "-0.05", "100"])
def test_number_literal(value):
    dfa = regex_to_dfa(number_literal(Decimal(value)))
    for s in NUMBERS:
        got, want = dfa.matches(s.encode()), Decimal(s) == Decimal(value)
        assert not (got and not want), s
        if "e" not in s.lower():
            assert got == want, s


@pytest.mark.parametrize(
    "lo,hi", [(0, 0), (0, 9), (5, 123), (-17, 3), (-1000, -5), (None, 7), (3, None), (None, None), (10, 99)]
)
def test_int_range(lo, hi):
    dfa = regex_to_dfa(int_range(lo, hi))
    for v in range(-1100, 1100):
        want = (lo is None or v >= lo) and (hi is None or v <= hi)
        assert dfa.matches(str(v).encode()) == want, v
    assert not dfa.matches(b"01") and not dfa.matches(b"-01") and not dfa.matches(b"1.0")


# --- strings ---------------------------------------------------------------------------------

STRINGS = ["", "a", "ab", "abc", "abcd", "é", "😀", "aé😀", "\n", 'x"y', "\\", "xx", "q/", "A", "\u2028"]


@pytest.mark.parametrize(
    "pattern,predicate",
    [
        ("^[a-zé😀]+$", lambda s: len(s) > 0 and all(c in "abcdefghijklmnopqrstuvwxyzé😀" for c in s)),
        ("x", lambda s: "x" in s),
        ("^.{2,3}$", lambda s: 2 <= len(s) <= 3 and "\n" not in s and "\u2028" not in s),
    ],
)
def test_string_pattern_applies_to_decoded_text_in_every_spelling(pattern, predicate):
    dfa = regex_to_dfa(string_terminal_regex(ecma_search_regex(pattern)))
    for s in STRINGS:
        upper_hex = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps(s))
        for spelling in {json.dumps(s), json.dumps(s, ensure_ascii=False), upper_hex}:
            assert dfa.matches(spelling.encode()) == predicate(s), (s, spelling)


@pytest.mark.parametrize(
    "spelling,expected",
    [
        ('"a/b"', True),
        ('"a\\/b"', True),
        ('"a\\u002fb"', True),
        ('"a\\u002Fb"', True),
        ('"a\\u002Gb"', False),
        ('"ab"', False),
        ('"a/b', False),
    ],
)
def test_string_literal_spellings(spelling, expected):
    assert regex_to_dfa(string_literal_regex("a/b")).matches(spelling.encode()) is expected


def test_raw_control_characters_and_lone_surrogates_are_rejected():
    dfa = regex_to_dfa(string_terminal_regex(ecma_search_regex("")))
    assert not dfa.matches(b'"a\nb"')
    assert dfa.matches(b'"a\\nb"')
    assert not dfa.matches(b'"\\ud800"')
    assert dfa.matches(b'"\\ud83d\\ude00"')


# --- whole schemas ---------------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
    },
    "required": ["name"],
    "additionalProperties": False,
}

SCHEMAS = [
    (
        PERSON,
        [{"name": "Bob"}, {"name": "Bob", "age": 3}, {"name": "Bob", "tags": ["a", "b"]}, {"name": "é"}],
        [
            {},
            {"name": ""},
            {"name": "Robert"},
            {"name": "Bob", "age": -1},
            {"name": "Bob", "age": 1.5},
            {"name": "Bob", "x": 1},
            {"name": "Bob", "tags": ["a", "b", "a"]},
            {"name": "Bob", "tags": ["c"]},
        ],
    ),
    ({"type": ["string", "null"]}, ["x", None], [1, True, [], {}]),
    (
        {"enum": [1, "a", None, [1, 2], {"k": True}]},
        [1, 1.0, "a", None, [1, 2], {"k": True}],
        [2, "b", [2, 1], {"k": False}],
    ),
    ({"const": 0}, [0, -0.0, 0.0], [1, False]),
    ({"type": "number", "exclusiveMinimum": 0, "maximum": 1.5}, [0.1, 1, 1.5], [0, -1, 1.50001, 2]),
    ({"type": "integer", "multipleOf": 5, "minimum": -10}, [-10, 0, 5, 100], [-15, 3, 12]),
    ({"type": "integer", "multipleOf": 3}, [0, 3, -9, 123], [1, 100]),
    ({"type": "number", "multipleOf": 0.01}, [1, 0.07, 2.5, -3.14], [0.001, 1.005]),
    ({"type": "string", "format": "date"}, ["2024-02-29"], ["2023-02-29", "x"]),
    ({"type": "string", "pattern": "^[A-Z]{2}\\d$"}, ["AB1"], ["ab1", "AB12"]),
    ({"type": "string", "minLength": 200, "maxLength": 300}, ["x" * 200, "é" * 300, "x" * 250], ["x" * 199, "x" * 301]),
    ({"type": "string", "maxLength": 2}, ["", "ab", "\n\t", "😀😀"], ["abc"]),
    (
        {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        [[], [1], [1, "a"]],
        [["a"], [1, 2], [1, "a", 3]],
    ),
    (
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "array",
            "items": [{"type": "integer"}],
            "additionalItems": {"type": "string"},
        },
        [[1, "a", "b"]],
        [[1, 2]],
    ),
    (
        {"type": "array", "contains": {"const": 1}, "minContains": 2, "maxContains": 3},
        [[1, 1], [1, 2, 1, 1]],
        [[1], [1, 1, 1, 1], [2, 3]],
    ),
    ({"type": "array", "items": {"type": "boolean"}, "uniqueItems": True}, [[], [True], [True, False]], [[True, True]]),
    (
        {
            "type": "object",
            "patternProperties": {"^x-": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"x-a": 1, "b": "s"}, {}],
        [{"x-a": "s"}, {"b": 1}],
    ),
    ({"type": "object", "propertyNames": {"maxLength": 2}}, [{"ab": 1}], [{"abc": 1}]),
    (
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 2,
            "properties": {"a": {}, "b": {}, "c": {}},
            "additionalProperties": False,
        },
        [{"a": 1}, {"a": 1, "c": 2}],
        [{}, {"a": 1, "b": 2, "c": 3}],
    ),
    (
        {"type": "object", "dependentRequired": {"a": ["b"]}, "properties": {"a": {}, "b": {}}},
        [{}, {"b": 1}, {"a": 1, "b": 2}],
        [{"a": 1}],
    ),
    ({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]}, [1, "a"], ["ab", 1.5]),
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, [1, "a"], [None]),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, [1.5], [1]),
    (
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "integer"}}},
                {"properties": {"a": {"minimum": 2}}, "required": ["a"]},
            ]
        },
        [{"a": 2}],
        [{"a": 1}, {}],
    ),
    (
        {
            "if": {"properties": {"kind": {"const": "n"}}, "required": ["kind"]},
            "then": {"properties": {"v": {"type": "number"}}},
            "else": {"properties": {"v": {"type": "string"}}},
        },
        [{"kind": "n", "v": 1}, {"kind": "s", "v": "x"}],
        [{"kind": "n", "v": "x"}, {"kind": "s", "v": 1}],
    ),
    ({"not": {"type": "string"}}, [1, None, {}], ["a"]),
    ({"type": "string", "not": {"enum": ["a", "b"]}}, ["c", ""], ["a", "b"]),
    (
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {"next": {"$ref": "#/$defs/node"}},
                    "additionalProperties": False,
                }
            },
            "$ref": "#/$defs/node",
        },
        [{}, {"next": {"next": {}}}],
        [{"next": 1}],
    ),
    ({"$defs": {"a": {"$anchor": "thing", "type": "integer"}}, "$ref": "#thing"}, [1], ["1"]),
    (
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "number",
            "minimum": 1,
            "exclusiveMinimum": True,
        },
        [1.5],
        [1],
    ),
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}, [1], [1.0]),
    ({"type": "integer"}, [1, 1.0], [1.5]),
    ({"type": "string", "format": "int32"}, ["anything"], [1]),
    ({"type": "integer", "format": "int32"}, [2**31 - 1], [2**31]),
    (True, [1, "a", None, {"a": [1]}], []),
    (
        {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "array", "items": {"type": "integer"}}]},
        [["a"], [1]],
        [[], ["a", 1], [1.5]],
    ),
    (
        {
            "oneOf": [
                {"type": "object", "properties": {"a": {}}, "required": ["a"], "additionalProperties": False},
                {"type": "object", "properties": {"b": {}}, "required": ["b"], "additionalProperties": False},
            ]
        },
        [{"a": 1}, {"b": 1}],
        [{"a": 1, "b": 1}, {}],
    ),
    ({"not": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}, [None, 1.5, []], ["a", 1]),
    # Overlapping enums under oneOf: a value in both branches is in neither alternative (each
    # branch's values are checked against the other's complement), a pattern still applies.
    (
        {
            "oneOf": [
                {"enum": ["ab", "ac", "b1", 1, [1, 2]], "pattern": "^[a-z]"},
                {"enum": ["ac", "b1", "zz", 1.0, [1, 2.0], {"k": 1}]},
            ]
        },
        ["ab", "zz", {"k": 1}],
        ["ac", "b1", 1, [1, 2], "a", {"k": 1.5}],
    ),
    ({"type": "array", "not": {"items": {"type": "string"}}}, [[1], ["a", 1]], [[], ["a"]]),
    (
        {
            "type": "object",
            "allOf": [
                {
                    "if": {"properties": {"t": {"const": k}}, "required": ["t"]},
                    "then": {"properties": {"v": {"type": t}}},
                }
                for k, t in [
                    ("s", "string"),
                    ("n", "number"),
                    ("b", "boolean"),
                    ("z", "null"),
                    ("a", "array"),
                    ("o", "object"),
                ]
            ],
        },
        [{"t": "s", "v": "x"}, {"t": "n", "v": 1}, {"t": "q", "v": 1}, {}],
        [{"t": "s", "v": 1}, {"t": "z", "v": 0}],
    ),
]


@pytest.mark.parametrize("schema,valid,invalid", SCHEMAS, ids=[f"s{i}" for i in range(len(SCHEMAS))])
def test_schemas_accept_valid_and_reject_invalid(schema, valid, invalid):
    compiled = language(schema)
    assert_language(
        lambda v: accepts(compiled, json.dumps(v, separators=(",", ":"), ensure_ascii=False)), valid, invalid
    )


def test_keys_and_strings_accept_every_spelling():
    compiled = language(
        {"type": "object", "properties": {"é": {"const": "ü"}}, "required": ["é"]}, string_escapes="any"
    )
    for text in ['{"é":"ü"}', '{"\\u00e9":"\\u00FC"}', '{"\\u00E9":"ü"}']:
        assert accepts(compiled, text), text
    assert not accepts(compiled, '{"e":"ü"}')


def test_property_order_is_the_schema_order():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }
    compiled = language(schema)
    assert accepts(compiled, '{"a":1,"b":2}')
    assert not accepts(compiled, '{"b":2,"a":1}')
    first = language({**schema, "required": ["b"]}, property_order="required_first")
    assert accepts(first, '{"b":2,"a":1}') and not accepts(first, '{"a":1,"b":2}')


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"b":"x","a":1}', True),
        ('{"a":1,"b":"x"}', True),
        ('{"x":1,"b":"x","a":1}', True),
        ('{"a":1}', False),
        ('{"a":1,"a":2,"b":"x"}', False),
        ('{"a":1,"b":"x","c":1,"d":2}', False),
        ('{"c":null,"b":"","a":0}', True),
    ],
)
def test_any_property_order(text, expected):
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {}},
        "required": ["a", "b"],
        "maxProperties": 3,
    }
    assert accepts(language(schema, property_order="any"), text) is expected


def test_any_property_order_falls_back_to_schema_order_for_big_objects():
    from constrain.grammar.json_schema import MAX_ANY_ORDER_PROPERTIES

    names = [f"p{i}" for i in range(MAX_ANY_ORDER_PROPERTIES + 1)]
    g = grammar_from_json_schema({"type": "object", "properties": {n: {} for n in names}}, property_order="any")
    assert any("schema's order" in w for w in g.warnings)


def test_declared_properties_are_never_duplicated():
    compiled = language({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert accepts(compiled, '{"a":1,"b":2}')
    assert not accepts(compiled, '{"a":1,"a":2}')
    assert not accepts(compiled, '{"a":1,"\\u0061":2}')


# --- layouts ---------------------------------------------------------------------------------

LAYOUT_VALUE = {"name": "x", "items": [1, {"k": []}, {}], "n": None}
LAYOUT_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "items": {"type": "array"}, "n": {}}}


@pytest.mark.parametrize("indent", [0, 2, 4])
def test_indent_layout_is_exactly_json_dumps(indent):
    compiled = language(LAYOUT_SCHEMA, indent=indent)
    assert accepts(compiled, json.dumps(LAYOUT_VALUE, indent=indent))
    assert not accepts(compiled, json.dumps(LAYOUT_VALUE, separators=(",", ":")))
    assert not accepts(compiled, json.dumps(LAYOUT_VALUE, indent=indent + 1))


def test_compact_layout_has_no_whitespace():
    compiled = language(LAYOUT_SCHEMA)
    assert accepts(compiled, json.dumps(LAYOUT_VALUE, separators=(",", ":")))
    assert not accepts(compiled, json.dumps(LAYOUT_VALUE))


def test_flexible_layout_bounds_whitespace_runs():
    compiled = language(LAYOUT_SCHEMA, whitespace="flexible", max_whitespace=2)
    assert accepts(compiled, json.dumps(LAYOUT_VALUE))
    assert accepts(compiled, json.dumps(LAYOUT_VALUE, separators=(",", ":")))
    assert accepts(compiled, '{ "name" : "x" ,\n "n" : null }')
    assert accepts(compiled, "{  }")
    assert not accepts(compiled, "{   }")
    assert not accepts(compiled, '{"name":   "x"}')


# --- inputs, errors, limits ------------------------------------------------------------------


def test_schema_as_json_string_and_grammar_classmethod():
    g = Grammar.from_json_schema(json.dumps({"type": "integer"}))
    assert g.kind == "json_schema"
    assert accepts(constrain.compile(g, BYTES), "42")


def test_pydantic_model_class():
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        x: int
        y: float = 0.0
        label: str | None = None

    compiled = language(Point)
    assert accepts(compiled, '{"x":1,"y":2.5,"label":null}')
    assert accepts(compiled, '{"x":1}')
    assert not accepts(compiled, '{"y":2.5}')


def test_unsupported_keywords_are_all_listed_with_pointers():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "pattern": "(?<=x)y"},
            "b": {"type": "string", "format": "regex"},
            "c": {"$ref": "http://example.com/remote.json"},
            "d": {"type": "array", "uniqueItems": True},
        },
    }
    with pytest.raises(UnsupportedFeatureError) as info:
        grammar_from_json_schema(schema)
    where = {f.location for f in info.value.features}
    assert where == {"#/properties/a/pattern", "#/properties/b/format", "#/properties/c", "#/properties/d/uniqueItems"}
    assert all(f.source == "json_schema" for f in info.value.features)
    lenient = grammar_from_json_schema(schema, lenient=True)
    assert len(lenient.warnings) == 4


def test_a_format_json_schema_does_not_define_is_an_annotation():
    """Validators ignore custom formats (jsonschema's checker does), so the language is the
    schema's without them; the grammar records a warning."""
    grammar = grammar_from_json_schema({"type": "string", "format": "made-up"})
    assert any("made-up" in w for w in grammar.warnings)
    compiled = language({"type": "string", "format": "made-up", "maxLength": 3})
    assert accepts(compiled, '"abc"') and not accepts(compiled, '"abcd"') and not accepts(compiled, "1")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 5, "maximum": 4},
        {"type": "string", "minLength": 3, "maxLength": 2},
        {"enum": [1, 2], "type": "string"},
        {"type": "object", "required": ["a"], "properties": {"a": False}},
        {"allOf": [{"type": "string"}, {"type": "integer"}]},
        False,
        {"type": "array", "minItems": 1, "items": False},
    ],
)
def test_unsatisfiable_schemas(schema):
    with pytest.raises(UnsatisfiableGrammarError):
        grammar_from_json_schema(schema)


@pytest.mark.parametrize(
    "schema",
    ["{not json", {"type": "integr"}, {"minLength": -1}, {"$ref": "#/$defs/missing"}, {"pattern": "(unclosed"}, 42],
)
def test_malformed_schemas(schema):
    with pytest.raises(InvalidGrammarError):
        grammar_from_json_schema(schema)


def test_options_are_checked():
    with pytest.raises(ConfigurationError):
        grammar_from_json_schema({}, whitespace="tabs")
    with pytest.raises(ConfigurationError):
        grammar_from_json_schema({}, property_order="alphabetical")
    with pytest.raises(ConfigurationError):
        grammar_from_json_schema({}, indent=-1)


def test_limits_raise_resource_errors():
    deep = {"type": "integer"}
    for _ in range(40):
        deep = {"type": "array", "items": deep}
    with pytest.raises(ResourceLimitError):
        grammar_from_json_schema(deep, limits=DEFAULT_LIMITS.replace(max_schema_depth=10))
    wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(200)}}
    with pytest.raises(ResourceLimitError):
        grammar_from_json_schema(wide, limits=DEFAULT_LIMITS.replace(max_grammar_symbols=100))


def test_same_regex_becomes_the_same_terminal():
    g = grammar_from_json_schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}})
    regexes = [t.regex for t in g.terminals]
    assert len(regexes) == len(set(regexes))


def test_qwen2_tokens_one_by_one(qwen2_vocab):
    compiled = constrain.compile(grammar_from_json_schema(PERSON), qwen2_vocab)
    from constrain.testing import qwen2_hf_tokenizer

    tok = qwen2_hf_tokenizer()
    for value, ok in [({"name": "Bob", "age": 30, "tags": ["a"]}, True), ({"name": "Bob", "age": 300}, False)]:
        ids = tok.encode(json.dumps(value, separators=(",", ":")), add_special_tokens=False)
        m = Matcher(compiled)
        accepted = all(m.accept_token(t) for t in ids) and m.is_accepting()
        assert accepted is ok


def test_a_schema_nested_thousands_deep_is_a_resource_limit():
    schema = {}
    for _ in range(3000):
        schema = {"items": schema}
    with pytest.raises(ResourceLimitError, match="nests deeper than 80"):
        grammar_from_json_schema(schema)


@pytest.mark.parametrize(
    ("draft", "defs"),
    [
        ("http://json-schema.org/draft-07/schema#", "definitions"),
        ("https://json-schema.org/draft/2020-12/schema", "$defs"),
    ],
)
def test_properties_with_the_same_ref_share_one_lowering(draft, defs):
    # 60 properties, each a $ref to one 40-property record (or to a $ref to it): the record
    # is lowered once, so the grammar grows with the sum of the sizes, not their product.
    record = {"type": "object", "properties": {f"f{i}": {"type": "integer"} for i in range(40)}}
    schema = {
        "$schema": draft,
        defs: {"record": record, "alias": {"$ref": f"#/{defs}/record"}},
        "type": "object",
        "properties": {f"p{i}": {"$ref": f"#/{defs}/{'alias' if i % 2 else 'record'}"} for i in range(60)},
    }
    grammar = grammar_from_json_schema(schema)
    assert sum(len(r.alternatives) for r in grammar.rules) < 1000  # 60 copies of the record: over 9,000
    compiled = constrain.compile(grammar, BYTES)
    assert accepts(compiled, '{"p0":{"f1":2,"f39":3},"p1":{},"p59":{"f0":1}}')
    assert not accepts(compiled, '{"p1":{"f1":"x"}}')
    # a $ref beside another keyword is not the bare reference: its rule is its own
    narrowed = {
        **schema,
        "properties": {"p0": {"$ref": f"#/{defs}/record", "required": ["f3"]}, "p1": schema["properties"]["p0"]},
    }
    compiled = constrain.compile(grammar_from_json_schema(narrowed), BYTES)
    if defs == "$defs":  # 2020-12 applies the sibling; draft 7 ignores it
        assert not accepts(compiled, '{"p0":{"f1":2}}') and accepts(compiled, '{"p0":{"f3":2}}')
    else:
        assert accepts(compiled, '{"p0":{"f1":2}}')
    assert accepts(compiled, '{"p1":{"f1":2}}')


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 200), (150, 150), (100, 300), (129, None), (31, 129), (200, 4000), (1000, 1000), (0, 65535), (5000, None)],
)
def test_long_strings_count_their_chunks_exactly_in_few_rules(lo, hi):
    schema = {"type": "string", "minLength": lo, **({"maxLength": hi} if hi is not None else {})}
    grammar = grammar_from_json_schema(schema)
    assert len(grammar.rules) <= 2 + 3 * (hi or lo).bit_length()  # not one per chunk
    compiled = constrain.compile(grammar, BYTES)
    lengths = set(range(0, 300, 7)) | {lo - 1, lo, lo + 1, 2 * lo} | ({hi - 1, hi, hi + 1} if hi else set())
    for n in sorted(x for x in lengths if x >= 0):
        for ch in ("a", "é", "\n"):  # one byte, two bytes, an escape
            assert accepts(compiled, json.dumps(ch * n, ensure_ascii=False)) == (lo <= n and (hi is None or n <= hi)), (
                n,
                ch,
            )


JSON_VALUES = [None, True, False, 0, 1, 1.0, -0.0, 2.5, "", "1", "a", [], [1], [1.0], [True], {}, {"a": 1}, {"a": 1.0}]


def test_common_values_agree_with_pairwise_json_equal():
    # common_values intersects enums by hash (oneOf branches are checked for overlap with it)
    rng = random.Random(0)
    for _ in range(500):
        a = rng.sample(JSON_VALUES, rng.randint(0, 5))
        b = rng.sample(JSON_VALUES, rng.randint(0, 5))
        assert common_values(a, b) == [x for x in a if any(json_equal(x, y) for y in b)], (a, b)

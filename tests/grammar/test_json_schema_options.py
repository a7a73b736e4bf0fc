"""JSON Schema front end: misspelled-keyword warnings, the string escape policy, and length
bounds on patterned strings (checked on the byte-level vocabulary)."""

from __future__ import annotations

import itertools
import json
import random
import warnings
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain
from constrain import Matcher, Vocabulary
from constrain.automata.fsm import regex_to_dfa
from constrain.errors import ConfigurationError, ConstrainWarning, ResourceLimitError
from constrain.grammar.ecma_regex import ecma_search_regex, ir_fullmatch
from constrain.grammar.formats import format_regex
from constrain.grammar.ir import literal
from constrain.grammar.json_schema import grammar_from_json_schema, string_literal_regex
from constrain.grammar.json_schema.strings import string_terminal_regex

# --- misspelled keywords -----------------------------------------------------------------

TYPOS = [
    ({"type": "object", "propertes": {"a": {}}}, "'propertes' at #", "'properties'"),
    ({"type": "object", "requried": ["a"]}, "'requried' at #", "'required'"),
    ({"properties": {"a": {"type": "string", "maxlength": 3}}}, "'maxlength' at #/properties/a", "'maxLength'"),
    ({"items": {"anyof": [{"type": "string"}]}}, "'anyof' at #/items", "'anyOf'"),
    ({"$defs": {"d": {"item": {}}}}, "'item' at #/$defs/d", "'items'"),
    ({"additonalProperties": False}, "'additonalProperties' at #", "'additionalProperties'"),
]


@pytest.mark.parametrize("schema, key, meant", TYPOS)
def test_a_key_close_to_a_keyword_warns_naming_both(schema, key, meant):
    with pytest.warns(ConstrainWarning) as record:
        grammar = grammar_from_json_schema(schema)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and key in messages[0] and meant in messages[0], messages
    assert grammar.warnings == tuple(messages)


NOT_TYPOS = [
    {"type": "object", "properties": {"propertes": {}, "requried": {}}},  # property names, not keywords
    {"type": "string", "description": "d", "examples": ["x"], "example": "x", "nullable": True},
    {"type": "string", "x-propertes": 1, "_format": "date", "@type": "Thing", "//pattern": "a"},
    {"type": "string", "propertiesOrder": ["a"], "typeof": "x", "title": "t"},  # below the cutoff
    {"$schema": "http://json-schema.org/draft-07/schema#", "dependentRequired": {}},  # a keyword of another draft
]


@pytest.mark.parametrize("schema", NOT_TYPOS)
def test_no_warning_for_keywords_annotations_and_distant_keys(schema):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grammar = grammar_from_json_schema(schema)
    assert grammar.warnings == ()


# --- string escape policy ----------------------------------------------------------------

BYTES = Vocabulary.byte_level()


def accepts(compiled, text: str) -> bool:
    m = Matcher(compiled)
    return m.accept_bytes(text.encode()) and m.is_accepting()


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "tag": {"enum": ["a/b", "é"]}},
    "required": ["name"],
    "additionalProperties": {"type": "integer"},
}

# (text, accepted with "minimal", accepted with "any")
SPELLINGS = [
    ('{"name":"x"}', True, True),
    ('{"n\\u0061me":"x"}', False, True),  # a declared key spelled with an escape
    ('{"name":"\\u0078"}', False, True),
    ('{"name":"x","tag":"a/b"}', True, True),
    ('{"name":"x","tag":"a\\/b"}', False, True),  # "\/" is legal JSON, json.dumps writes "/"
    ('{"name":"x","tag":"é"}', True, True),
    ('{"name":"x","tag":"\\u00e9"}', False, True),  # ensure_ascii=True's spelling
    ('{"name":"\\"\\\\\\n\\t\\r\\b\\f"}', True, True),
    ('{"name":"\\u000a"}', False, True),  # json.dumps writes \n
    ('{"name":"\\u0001\\u001f"}', True, True),
    ('{"name":"\\u001F"}', False, True),  # json.dumps writes lowercase hex
    ('{"name":"\x7f😀"}', True, True),
    ('{"name":"\\ud83d\\ude00"}', False, True),  # a surrogate pair
    ('{"name":"x","other":1}', True, True),
    ('{"name":"x","\\u006fther":1}', False, True),  # an undeclared key
    ('{"name":"\x01"}', False, False),  # a raw control character is never JSON
    ('{"n\\u0061me":"x","name":"y"}', False, False),  # a duplicate key under any spelling
]


@pytest.mark.parametrize("text, minimal, any_", SPELLINGS)
def test_escape_policies(text, minimal, any_):
    assert accepts(_compiled(json.dumps(PERSON), "minimal"), text) is minimal
    assert accepts(_compiled(json.dumps(PERSON), "any"), text) is any_


@lru_cache(maxsize=None)
def _compiled(schema_text: str, string_escapes: str):
    return constrain.compile(grammar_from_json_schema(json.loads(schema_text), string_escapes=string_escapes), BYTES)


def test_default_policy_is_minimal():
    assert grammar_from_json_schema(PERSON) == grammar_from_json_schema(PERSON, string_escapes="minimal")
    assert grammar_from_json_schema(PERSON) != grammar_from_json_schema(PERSON, string_escapes="any")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=6))
def test_minimal_literal_is_exactly_json_dumps(value):
    dfa = regex_to_dfa(string_literal_regex(value, "minimal"))
    canonical = json.dumps(value, ensure_ascii=False)
    assert dfa.matches(canonical.encode("utf-8", "surrogatepass")) is not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    assert not dfa.matches(json.dumps(value).encode()) or json.dumps(value) == canonical
    assert not dfa.matches(json.dumps(value).replace("/", "\\/").encode()) or "/" not in value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=6))
def test_minimal_literal_equals_the_encoding_character_by_character(value):
    fast = regex_to_dfa(string_literal_regex(value, "minimal"))
    slow = regex_to_dfa(string_terminal_regex(literal(value), "minimal"))
    assert fast.num_states == slow.num_states
    assert (fast.transitions == slow.transitions).all() and (fast.accepting == slow.accepting).all()


@pytest.mark.parametrize("bad", ["ascii", None, "MINIMAL", 1])
def test_bad_policy_is_a_configuration_error(bad):
    with pytest.raises(ConfigurationError, match="string_escapes"):
        grammar_from_json_schema({"type": "string"}, string_escapes=bad)


# --- length bounds on patterned strings ----------------------------------------------------

# (format, maxLength, counted by rules): with every escape allowed, one terminal for each
# was too big (the pattern's DFA times a length counter). E-mail addresses and host names
# are counted by rules (no product); a URI's positions are too many for that, and with the
# default escape policy its product DFA (14,000 states) fits.
BOUNDED_FORMATS = [("email", 40, True), ("uri", 100, False), ("hostname", 50, True), ("email", 254, True)]


def _oracle(regex, lo, hi):
    return lambda s: lo <= len(s) <= hi and ir_fullmatch(regex, s)


def _samples(fmt: str, n: int, rng: random.Random):
    """Strings near the format and the bound: valid ones padded to lengths around n, and
    random strings over the format's structural characters."""
    seeds = {
        "email": ["a@b.c", "first.last@example.com", "x@a-b.org", "a..b@c.d", "a@-b.c", ".a@b.c", "a@b"],
        "uri": ["http://x.org/a?b#c", "urn:isbn:0451450523", "a:", "http://[::1]:80/p", "1http://x", "http://x y"],
        "hostname": ["a.b", "a-b.c", "-a.b", "a..b", "a" * 21, "xn--a.b"],
    }[fmt]
    out = list(seeds)
    for s in seeds:
        for _ in range(4):
            fill = rng.choice("abz019")
            k = max(0, n - len(s) + rng.randint(-2, 2))
            cut = rng.randint(0, len(s))
            out.append(s[:cut] + fill * k + s[cut:])
    for _ in range(12):  # well-formed strings of about n characters
        labels = []
        while sum(len(x) + 1 for x in labels) < n - 8 and len(labels) < 12:
            labels.append("".join(rng.choice("abc09") for _ in range(rng.randint(1 if n <= 100 else 18, 20))))
        host = ".".join(labels)[: rng.randint(max(1, n - 12), n + 2)].strip(".")
        out.append({"email": "me@" + host, "uri": "http://" + host, "hostname": host}[fmt])
    alphabet = "ab1-.@:/?#[]%_~ "
    out += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(60)]
    return out


@pytest.mark.parametrize("fmt, n, counted", BOUNDED_FORMATS)
def test_format_with_max_length_compiles_exactly(fmt, n, counted):
    compiled = _compiled(json.dumps({"type": "string", "format": fmt, "maxLength": n}), "minimal")
    # Counted by rules: no terminal holds the product of the pattern and a length counter.
    assert (max(d.num_states for d in compiled.terminal_dfas) < 1000) is counted
    in_language = _oracle(format_regex(fmt), 0, n)
    rng = random.Random(n)
    checked = 0
    for s in _samples(fmt, n, rng):
        assert accepts(compiled, json.dumps(s, ensure_ascii=False)) == in_language(s), s
        checked += in_language(s)
    assert checked >= 5  # the samples include valid strings, at and around the bound


@pytest.mark.parametrize(
    "schema, text, expected",
    [
        ({"type": "string", "format": "email", "maxLength": 40, "minLength": 10}, "a@b.cd", False),
        ({"type": "string", "format": "email", "maxLength": 40, "minLength": 10}, "abcde@b.cd", True),
        ({"type": "string", "format": "email", "maxLength": 40}, "a" * 29 + "@exampl.com", True),  # 40
        ({"type": "string", "format": "email", "maxLength": 40}, "a" * 30 + "@exampl.com", False),  # 41
        ({"type": "string", "format": "hostname", "maxLength": 50}, "a" * 20 + "." + "b" * 20 + "." + "c" * 8, True),
        ({"type": "string", "format": "hostname", "maxLength": 50}, "a" * 20 + "." + "b" * 20 + "." + "c" * 9, False),
        ({"type": "string", "format": "uri", "maxLength": 100}, "http://" + "x" * 93, True),
        ({"type": "string", "format": "uri", "maxLength": 100}, "http://" + "x" * 94, False),
        ({"type": "string", "pattern": "^(ab|c)+$", "maxLength": 300}, "ab" * 100 + "c" * 100, True),
        ({"type": "string", "pattern": "^(ab|c)+$", "maxLength": 300}, "ab" * 100 + "c" * 101, False),
        ({"type": "string", "pattern": "^(ab|c)+$", "maxLength": 300}, "ab" * 100 + "a", False),
    ],
)
def test_counted_lengths_at_the_bounds(schema, text, expected):
    assert accepts(_compiled(json.dumps(schema), "minimal"), json.dumps(text)) is expected


def test_counted_string_inside_an_object():
    schema = {
        "type": "object",
        "properties": {"to": {"type": "string", "format": "email", "maxLength": 40}, "n": {"type": "integer"}},
        "required": ["to", "n"],
    }
    compiled = _compiled(json.dumps(schema), "minimal")
    assert accepts(compiled, '{"to":"ann@example.org","n":1}')
    assert not accepts(compiled, '{"to":"ann@example","n":1}') or ir_fullmatch(format_regex("email"), "ann@example")
    assert not accepts(compiled, '{"to":"' + "a" * 41 + '@x.org","n":1}')


def test_a_limit_error_names_the_schema_location_and_the_limit():
    # With every escape allowed, a label can be continued by the escape that spells the
    # "." after it, so labels cannot be lexed apart: one terminal, whose product is too big.
    schema = {"type": "object", "properties": {"to": {"type": "string", "format": "email", "maxLength": 40}}}
    grammar = grammar_from_json_schema(schema, string_escapes="any")
    with pytest.raises(ResourceLimitError) as info:
        constrain.compile(grammar, BYTES)
    message = str(info.value)
    assert "#/properties/to" in message and "maxLength 40" in message and "Limits.max_dfa_states" in message


COUNTED_PATTERNS = [
    ("^(ab|c)+$", 0, 7),
    ("^[ab]+(-[ab]+)*$", 2, 6),
    ("^a*b?a*$", 1, 5),
    ("b", 0, 4),  # unanchored: a search
    ("^(?!ab)[abc]{1,5}$", 0, 4),  # a lookahead: one And piece
    ("^([ab]{1,3}\\.)*c$", 0, 6),
]


@pytest.mark.parametrize("pattern, lo, hi", COUNTED_PATTERNS)
def test_counted_patterns_against_the_definition(monkeypatch, pattern, lo, hi):
    from constrain.grammar.json_schema import lower_strings

    monkeypatch.setattr(lower_strings, "_SMALL_PRODUCT", 0)  # count even these small ones
    monkeypatch.setattr(lower_strings, "_ONE_TERMINAL_STATES", 0)
    schema = {"type": "string", "pattern": pattern, "minLength": lo, "maxLength": hi}
    compiled = constrain.compile(grammar_from_json_schema(schema), BYTES)
    assert len(compiled.grammar.terminals) > 2  # counted: pieces and the closing quote apart
    in_language = _oracle(ecma_search_regex(pattern), lo, hi)
    for n in range(hi + 2):
        for chars in itertools.product("abc.-", repeat=n) if n <= 4 else ():
            s = "".join(chars)
            assert accepts(compiled, json.dumps(s)) == in_language(s), s
    rng = random.Random(hi)
    for _ in range(300):
        s = "".join(rng.choice("abc.-") for _ in range(rng.randint(5, hi + 1)))
        assert accepts(compiled, json.dumps(s)) == in_language(s), s


# --- small products of a pattern and a length bound keep one exact terminal -----------------

# (pattern, maxLength, a string of the pattern one character too long when cut by one)
ONE_TERMINAL_STRINGS = [
    ("^[A-Z][a-z]+( [A-Z][a-z]+)*$", 1000, ("Ab " * 333)[:-1] + "cd"),  # 1,000 characters
    ("^[a-z]*$", 400, "a" * 400),  # below _SMALL_PRODUCT: once capped at 256 characters
    ("^[\\w/.:-]+$", 300, "a/b.c:d-" * 37 + "abcd"),
]


@pytest.mark.parametrize("pattern, n, longest", ONE_TERMINAL_STRINGS)
def test_small_products_are_one_exact_terminal(pattern, n, longest):
    assert len(longest) == n
    schema = {"type": "string", "pattern": pattern, "maxLength": n}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "enforced as 256" narrowing
        grammar = grammar_from_json_schema(schema)
    compiled = constrain.compile(grammar, BYTES)
    assert len(compiled.grammar.terminals) == 1  # not counted by rules
    assert accepts(compiled, json.dumps(longest))
    assert not accepts(compiled, json.dumps(longest + longest[-1]))
    assert accepts(compiled, json.dumps(longest[: n // 2].rstrip(" ")))


@pytest.mark.parametrize(
    "pattern, states",
    [("^abc$", 4), ("^[ab]*$", 2), ("^(ab|c)+$", 7), ("^a?b?$", 3), ("^(a|ab)$", 3), ("^([a-c]x|[b-d]y)$", 6)],
)
def test_character_states_of_positions(pattern, states):
    from constrain.grammar.json_schema.positions import Glushkov, character_states

    positions = Glushkov(100, 100)
    _, first, _ = positions.build(ecma_search_regex(pattern))
    assert character_states(positions, first, 100) == states
    assert character_states(positions, first, states - 1) == states  # over the bound: bound + 1
    # never fewer than the minimal DFA's states (ASCII: one byte a character), dead state aside
    assert regex_to_dfa(ecma_search_regex(pattern)).num_states <= states

"""JSON Schema front end: misspelled-keyword warnings, the string escape policy, and length
bounds on patterned strings (checked on the byte-level vocabulary)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain
from constrain import Matcher, Vocabulary
from constrain.automata.fsm import regex_to_dfa
from constrain.errors import ConfigurationError, ConstrainWarning
from constrain.grammar.json_schema import grammar_from_json_schema, string_literal_regex

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


PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "tag": {"enum": ["a/b", "é"]}},
          "required": ["name"], "additionalProperties": {"type": "integer"}}

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


@pytest.mark.parametrize("bad", ["ascii", None, "MINIMAL", 1])
def test_bad_policy_is_a_configuration_error(bad):
    with pytest.raises(ConfigurationError, match="string_escapes"):
        grammar_from_json_schema({"type": "string"}, string_escapes=bad)

"""JSON Schema front end: misspelled-keyword warnings, the string escape policy, and length
bounds on patterned strings (checked on the byte-level vocabulary)."""

from __future__ import annotations

import warnings

import pytest

from constrain.errors import ConstrainWarning
from constrain.grammar.json_schema import grammar_from_json_schema

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

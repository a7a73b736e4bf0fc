"""The compiled meta-schema check (``constrain.grammar.json_schema.meta``) against jsonschema.

Its verdict must be jsonschema's on every schema: the fixtures' schemas, their instances
read as schemas (mostly invalid ones), random mutations of both, under each of the five
drafts; and a table of the cases where the drafts differ.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Iterator, List

import jsonschema
import pytest

from constrain.errors import InvalidGrammarError
from constrain.grammar.json_schema import grammar_from_json_schema
from constrain.grammar.json_schema.meta import META_SCHEMA_URIS, meta_schema_check

DATA = Path(__file__).resolve().parent.parent / "data" / "json_schema"
VALIDATORS = {
    4: jsonschema.Draft4Validator,
    6: jsonschema.Draft6Validator,
    7: jsonschema.Draft7Validator,
    2019: jsonschema.Draft201909Validator,
    2020: jsonschema.Draft202012Validator,
}
#: Values a mutation puts in place of a node: wrong types, integers as floats, repeats.
REPLACEMENTS: List[Any] = [
    None, True, False, 0, -1, 1.5, 1.0, 2**70, "x", "", "integer", "number",
    [], [1, 1], ["a", "a"], ["string"], ["string", "null"], [{}], {}, {"type": 3}, {"minimum": "1"},
]  # fmt: skip


def jsonschema_says_valid(draft: int, schema: Any) -> bool:
    cls = VALIDATORS[draft]
    return next(iter(cls(cls.META_SCHEMA).iter_errors(schema)), None) is None


def fixture_schemas() -> Iterator[Any]:
    for name in ("suite.json", "maskbench.json"):
        for group in json.loads((DATA / name).read_text(encoding="utf-8")):
            yield group["schema"]
            for test in group["tests"]:
                yield test["data"]


def mutate(value: Any, rng: random.Random) -> Any:
    """``value`` with one node (reached by a random walk down from the top) replaced."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        return value[:i] + [mutate(value[i], rng)] + value[i + 1 :]
    return copy.deepcopy(rng.choice(REPLACEMENTS))


@pytest.mark.parametrize("draft", sorted(META_SCHEMA_URIS))
def test_every_meta_schema_compiles(draft: int) -> None:
    assert meta_schema_check(draft) is not None


@pytest.mark.parametrize("draft", sorted(META_SCHEMA_URIS))
def test_agrees_with_jsonschema_on_fixtures_and_mutations(draft: int) -> None:
    check = meta_schema_check(draft)
    assert check is not None
    rng = random.Random(draft)
    verdicts = {True: 0, False: 0}
    for schema in fixture_schemas():
        for candidate in (schema, mutate(schema, rng), mutate(schema, rng)):
            expected = jsonschema_says_valid(draft, candidate)
            assert check(candidate) == expected, (draft, json.dumps(candidate)[:300])
            verdicts[expected] += 1
    # Both verdicts are well represented, so agreement is not agreement on one answer.
    assert min(verdicts.values()) > 200, verdicts


# (draft, schema, valid): where the drafts' meta-schemas differ, and the keywords' shapes.
CASES = [
    (4, {"minimum": 1, "exclusiveMinimum": True}, True),
    (6, {"minimum": 1, "exclusiveMinimum": True}, False),
    (4, {"exclusiveMinimum": 3}, False),
    (6, {"exclusiveMinimum": 3}, True),
    (4, {"exclusiveMaximum": True}, False),  # draft 4: needs maximum
    (4, {"minLength": 1.0}, False),  # draft 4: 1.0 is not an integer
    (6, {"minLength": 1.0}, True),
    (4, {"required": []}, False),  # draft 4: at least one name
    (6, {"required": []}, True),
    (7, {"required": ["a", "a"]}, False),
    (4, {"enum": []}, False),
    (2020, {"enum": []}, True),
    (2020, {"type": ["string", "string"]}, False),
    (2020, {"type": "integr"}, False),
    (2020, {"type": []}, False),
    (2020, {"multipleOf": 0}, False),
    (2020, {"multipleOf": 0.5}, True),
    (2020, {"minItems": -1}, False),
    (2020, {"minItems": True}, False),
    (2020, {"properties": {"a": 1}}, False),
    (2020, {"properties": {"a": True}}, True),
    (4, {"properties": {"a": True}}, False),  # draft 4: no boolean schemas
    (2020, {"items": [{}]}, False),  # 2020-12: prefixItems holds the array form
    (2019, {"items": [{}]}, True),
    (2020, {"prefixItems": [{}, False]}, True),
    (2020, {"$defs": {"x": {"type": 1}}}, False),
    (7, {"definitions": {"x": {"type": 1}}}, False),
    (2020, {"dependentRequired": {"a": ["b", "b"]}}, False),
    (7, {"dependencies": {"a": ["b"], "c": {"type": "null"}}}, True),
    (2020, {"$anchor": "1bad"}, False),
    (2020, {"$id": "http://x/y#frag"}, False),
    (2020, {"unknownKeyword": {"type": 1}}, True),
    (2020, {"allOf": [{"not": {"type": "nul"}}]}, False),
    (7, {"if": {"minimum": "x"}}, False),
    (2020, {"format": 3}, False),
    (2020, {"format": "no-such-format"}, True),
    (2020, True, True),
    (2020, 3, False),
]


@pytest.mark.parametrize(("draft", "schema", "valid"), CASES)
def test_table(draft: int, schema: Any, valid: bool) -> None:
    assert jsonschema_says_valid(draft, schema) is valid  # the table itself is right
    check = meta_schema_check(draft)
    assert check is not None and check(schema) is valid


def test_a_failure_is_explained_by_jsonschema() -> None:
    with pytest.raises(InvalidGrammarError, match=r"invalid schema at #/properties/a/minLength: -1 is less than"):
        grammar_from_json_schema({"properties": {"a": {"type": "string", "minLength": -1}}})

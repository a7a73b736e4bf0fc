"""Templates with gaps, filled by an autoregressive model under a grammar."""

from __future__ import annotations

import json

import jsonschema
import pytest

import constrain
from constrain.errors import ConfigurationError
from constrain.infill import TemplateGap, generate_template, parse_template
from tiny_lm import tiny_model, tiny_tokenizer

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
PERSON_TEMPLATE = '{"name":"<gap>","age":<gap>,"tags":[<gap>]}'


@pytest.mark.parametrize(
    "template,expected",
    [
        ("a<gap>b", ["a", TemplateGap(), "b"]),
        ("<gap>", [TemplateGap()]),
        ("<gap>,<gap>", [TemplateGap(), ",", TemplateGap()]),
        (["x=", TemplateGap(3), ";"], ["x=", TemplateGap(3), ";"]),
    ],
)
def test_parse_template(template, expected):
    assert parse_template(template) == expected


def test_bad_templates():
    with pytest.raises(ConfigurationError, match="no gap"):
        parse_template(["abc"])
    with pytest.raises(ConfigurationError, match="part 1"):
        parse_template(["abc", 3])
    with pytest.raises(ConfigurationError, match="no filling"):
        # the compact JSON of the schema compiler has no space after ':'
        generate_template("", '{"name": "<gap>"}', model=tiny_model(), tokenizer=tiny_tokenizer(), schema=PERSON)


@pytest.mark.parametrize("seed", range(4))
def test_tiny_model_fills_a_json_template(seed):
    result = generate_template(
        "Person:",
        PERSON_TEMPLATE,
        model=tiny_model(),
        tokenizer=tiny_tokenizer(),
        schema=PERSON,
        temperature=1.0,
        seed=seed,
        max_gap_tokens=8,
    )
    assert result.finish_reason == "eos"
    value = json.loads(result.text)
    jsonschema.validate(value, PERSON)
    assert result.value == value
    # the fixed text is where the template put it, and the fills are what stands between
    rebuilt = '{"name":"%s","age":%s,"tags":[%s]}' % tuple(result.fills)
    assert rebuilt == result.text
    assert all(len(ids) <= 8 for ids in result.token_ids)


def test_token_budget_is_kept():
    result = generate_template(
        "",
        ["x = ", TemplateGap(max_tokens=3), ";"],
        model=tiny_model(),
        tokenizer=tiny_tokenizer(),
        regex=r"x = \d+;",
        temperature=1.0,
        seed=1,
    )
    assert result.finish_reason == "eos"
    assert len(result.token_ids[0]) <= 3
    assert constrain.Grammar.from_regex(r"x = \d+;")  # sanity: the regex compiles
    import re

    assert re.fullmatch(r"x = \d+;", result.text)


def test_budget_too_small_for_the_template_is_an_error():
    with pytest.raises(ConfigurationError, match="no filling"):
        generate_template(
            "",
            ["code=", TemplateGap(max_tokens=2), ";"],
            model=tiny_model(),
            tokenizer=tiny_tokenizer(),
            regex=r"code=[a-z]{8};",
        )


@pytest.mark.model
def test_smollm2_fills_a_json_template():
    from constrain.lm import load_default_model

    model, tokenizer = load_default_model()
    result = generate_template(
        "Invent a person: name, age and hobbies.",
        PERSON_TEMPLATE,
        model=model,
        tokenizer=tokenizer,
        schema=PERSON,
        max_gap_tokens=10,
    )
    assert result.finish_reason == "eos"
    jsonschema.validate(json.loads(result.text), PERSON)

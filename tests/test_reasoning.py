"""A <think> block then the constrained output: the composed grammar's language."""

from __future__ import annotations

import pytest

from constrain import Grammar, Matcher, compile
from constrain.errors import ConfigurationError
from constrain.reasoning import split_reasoning, with_reasoning
from constrain.testing import qwen2_vocabulary

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}

CASES = [  # (text, in the language of with_reasoning(schema, max_chars=20))
    ('<think></think>\n{"a":1}', True),
    ('<think>a</think >{"a":1}</think>\n{"a":2}', True),
    ('<think>x</think>\n</think>\n{"a":1}', False),  # the block ends at the first </think>
    ("<think>" + "y" * 20 + '</think>\n{"a":1}', True),
    ("<think>" + "y" * 21 + '</think>\n{"a":1}', False),
    ('<think>日本</think>\n{"a":-3}', True),
    ('{"a":1}', False),
    ('<think>x</think>{"a":1}', False),
    ('<think>x</think>\n{"a":"s"}', False),
    ("<think>x</think>\n", False),
]


@pytest.fixture(scope="module")
def compiled():
    return compile(with_reasoning(Grammar.from_json_schema(SCHEMA), max_chars=20), qwen2_vocabulary())


@pytest.mark.parametrize("text, expected", CASES)
def test_language(compiled, text, expected):
    matcher = Matcher(compiled)
    assert (matcher.accept_bytes(text.encode()) and matcher.is_accepting()) is expected


def test_inner_names_cannot_clash():
    inner = Grammar.from_lark('start: THINK reasoning\nTHINK: "a"\nreasoning: "b"\n')
    composed = with_reasoning(inner)
    assert composed.kind == "reasoning+lark"
    matcher = Matcher(compile(composed, qwen2_vocabulary()))
    assert matcher.accept_bytes(b"<think>hm</think>\nab") and matcher.is_accepting()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>a</think>\nrest", ("a", "rest")),
        ("<think>a", (None, "")),
        ("no", (None, "")),
        ("<think></think>\n", ("", "")),
    ],
)
def test_split_reasoning(text, expected):
    assert split_reasoning(text) == expected


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_bounds_are_refused(bad):
    with pytest.raises(ConfigurationError):
        with_reasoning(Grammar.from_regex("a"), bad)

"""Deep and huge grammar input: nesting up to ``MAX_NESTING`` compiles (also from a caller
already deep in its stack), deeper nesting and absurd repetition counts are
``ResourceLimitError``; long chains of rules are fine at any length."""

from __future__ import annotations

import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.config import DEFAULT_LIMITS, MAX_NESTING
from constrain.errors import ResourceLimitError
from constrain.grammar.gbnf import grammar_from_gbnf
from constrain.grammar.json_schema import grammar_from_json_schema

BYTES = Vocabulary.byte_level()


def accepts(grammar, text: str) -> bool:
    m = Matcher(constrain.compile(grammar, BYTES))
    return m.accept_bytes(text.encode()) and m.is_accepting()


def nested(open_: str, close: str, depth: int, inner: str) -> str:
    return open_ * depth + inner + close * depth


AT_LIMIT = [
    ("regex", lambda: Grammar.from_regex(nested("(", ")", MAX_NESTING, "a") + "b")),
    ("regex_star", lambda: Grammar.from_regex(nested("(?:", ")*", MAX_NESTING, "a") + "b")),
    (
        "ecma",
        lambda: grammar_from_json_schema(
            {"type": "string", "pattern": "^" + nested("(", ")", MAX_NESTING, "a") + "b$"}
        ),
    ),
    ("gbnf", lambda: Grammar.from_gbnf("root ::= " + nested("(", ")", MAX_NESTING, '"a"') + ' "b"')),
    ("lark", lambda: Grammar.from_lark("start: " + nested("(", ")", MAX_NESTING, '"a"') + ' "b"')),
    ("lark_brackets", lambda: Grammar.from_lark("start: " + nested("[", "]", MAX_NESTING, '"a"') + ' "b"')),
]


@pytest.mark.parametrize("name,build", AT_LIMIT, ids=[n for n, _ in AT_LIMIT])
def test_nesting_at_the_limit_compiles_from_a_deep_caller(name, build):
    def at(frames: int):
        return build() if frames == 0 else at(frames - 1)

    grammar = at(300)
    text = '"ab"' if name == "ecma" else "ab"
    assert accepts(grammar, text)


PAST_LIMIT = [
    ("regex", lambda d: Grammar.from_regex(nested("(", ")", d, "a"))),
    ("regex_noncapturing", lambda d: Grammar.from_regex(nested("(?:", ")", d, "a"))),
    ("ecma", lambda d: grammar_from_json_schema({"type": "string", "pattern": nested("(", ")", d, "a")})),
    ("gbnf", lambda d: Grammar.from_gbnf("root ::= " + nested("(", ")", d, '"a"'))),
    ("lark", lambda d: Grammar.from_lark("start: " + nested("(", ")", d, '"a"'))),
    ("lark_brackets", lambda d: Grammar.from_lark("start: " + nested("[", "]", d, '"a"'))),
]


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100_000])
@pytest.mark.parametrize("name,build", PAST_LIMIT, ids=[n for n, _ in PAST_LIMIT])
def test_nesting_past_the_limit_is_a_resource_limit(name, build, depth):
    with pytest.raises(ResourceLimitError, match="MAX_NESTING"):
        build(depth)


def test_lark_strings_regexes_and_comments_do_not_count_as_nesting():
    text = 'start: "(((((" A  // ' + "(" * 100 + "\n" + "A: /" + r"\(" * 100 + "/\n"
    assert accepts(Grammar.from_lark(text), "(((((" + "(" * 100)


@pytest.mark.parametrize(
    "rule",
    [
        "r{i} ::= r{j}",
        'r{i} ::= "a" r{j}',
        'r{i} ::= ("a" r{j})?',
        'r{i} ::= r{j} | "b"',
    ],
)
def test_gbnf_chains_of_a_thousand_rules(rule):
    lines = [rule.format(i=i, j=i + 1) for i in range(1000)] + ['r1000 ::= "a"']
    grammar = Grammar.from_gbnf("\n".join(lines), start="r0")
    assert accepts(grammar, "a" if "|" in rule or rule.startswith("r{i} ::= r") or "?" in rule else "a" * 1001)


def test_lark_chain_of_a_thousand_rules():
    text = "\n".join([f"r{i}: r{i + 1}" for i in range(1000)] + ['r1000: "a"'])
    assert accepts(Grammar.from_lark(text, start="r0"), "a")


def test_lark_terminals_inlined_past_lark_s_own_depth_are_a_resource_limit():
    text = "start: T0\n" + "\n".join([f'T{i}: "a" T{i + 1}?' for i in range(600)] + ['T600: "a"'])
    with pytest.raises(ResourceLimitError, match="Lark"):
        Grammar.from_lark(text)


@pytest.mark.parametrize(
    "text",
    [
        'root ::= "a"{100000000000000000000}',
        'root ::= "a"{2,100000000000000000000}',
        'root ::= "a"{1000001}',
    ],
)
def test_gbnf_absurd_repetition_counts_are_resource_limits(text):
    with pytest.raises(ResourceLimitError, match="repetition count"):
        Grammar.from_gbnf(text)


@pytest.mark.parametrize(
    "build",
    [
        lambda: grammar_from_gbnf('root ::= "a"{5000}', limits=DEFAULT_LIMITS.replace(max_grammar_symbols=1000)),
        lambda: grammar_from_gbnf('root ::= "a"{2,5000} "b"', limits=DEFAULT_LIMITS.replace(max_grammar_symbols=1000)),
        lambda: constrain.compile(Grammar.from_regex("a{1000000}"), BYTES),
    ],
)
def test_large_repetitions_within_the_count_hit_a_size_limit(build):
    with pytest.raises(ResourceLimitError):
        build()

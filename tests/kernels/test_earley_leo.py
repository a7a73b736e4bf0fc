"""Leo's transitive items (``constrain.kernels.earley._leo_top``): right-recursive rules cost
what their iterative forms do, and the masks are the plain-Python parser's."""

from __future__ import annotations

import random

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.config import DEFAULT_LIMITS
from constrain.grammar.gbnf import grammar_from_gbnf
from constrain.kernels.records import COUNTER_WORK
from tests.naive import NaiveMatcher, naive_mask, unpack_bitmask

BYTES = Vocabulary.byte_level()

# (name, kind, source, texts the masks are checked along, byte by byte)
CASES = [
    (
        "json_string",  # XGrammar's JSON string rule, right-recursive, over one-character terminals
        "lark",
        r"""start: "\"" s "\""
s: | CHAR s | "\\" ESCAPE s
CHAR: /[^"\\\x00-\x1f]/
ESCAPE: /["\\\/bfnrtu]/""",
        ['"ab\\ncd\\u x"', '""', '"' + "y" * 60 + '"'],
    ),
    (
        "json_string_gbnf",  # the same in GBNF, where the rule is rewritten as a repetition
        "gbnf",
        r"""root ::= "\"" s "\""
s ::= "" | [^"\\\x00-\x1F] s | "\\" escape s
escape ::= ["\\/bfnrt] | "u" [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9] [A-Fa-f0-9]""",
        ['"ab\\ncd\\u00e9 x"', '""', '"' + "y" * 60 + '"'],
    ),
    (
        "two_rule_chain",  # the chain alternates between two nonterminals
        "lark",
        'start: a\na: "x" b | "x"\nb: "y" a | "y"',
        ["xyxyxyxyx", "xy", "x"],
    ),
    (
        "unit_rules",  # a chain through unit rules, one of them nullable
        "lark",
        'start: a "!"\na: b\nb: "x" a | c\nc: "c" |',
        ["xxxc!", "xxx!", "!", "c!"],
    ),
    (
        "right_recursive_list",  # penultimate items of two rules wait for the same symbol
        "lark",
        'start: item ("," start)?\nitem: "a" | "b" item',
        ["a,a,ba,bba", "bbbba", "a"],
    ),
    (
        "ambiguous_mix",  # not deterministic at every set: Leo and the usual completion meet
        "lark",
        'start: s\ns: "a" s | "a" | s s',
        ["aaaaaa"],
    ),
    (
        "left_and_right",
        "lark",
        'start: e\ne: e "+" t | t\nt: "x" | "(" e ")" | "-" t',
        ["x+--x+(x+-(x))", "---x"],
    ),
]


def compile_case(kind: str, source: str) -> constrain.CompiledGrammar:
    grammar = grammar_from_gbnf(source) if kind == "gbnf" else Grammar.from_lark(source)
    return constrain.compile(grammar, BYTES, limits=DEFAULT_LIMITS.replace(max_earley_work=10**12))


def masks_along(compiled: constrain.CompiledGrammar, text: bytes) -> list:
    m = Matcher(compiled)
    bitmask = constrain.allocate_token_bitmask(1, BYTES.size)
    out = []
    for b in text:
        m.fill_next_token_bitmask(bitmask)
        out.append(unpack_bitmask(bitmask[0], BYTES.size))
        assert m.accept_token(b)
    m.fill_next_token_bitmask(bitmask)
    out.append(unpack_bitmask(bitmask[0], BYTES.size))
    return out


@pytest.mark.parametrize("name, kind, source, texts", CASES, ids=[c[0] for c in CASES])
def test_masks_match_the_naive_parser(name, kind, source, texts):
    compiled = compile_case(kind, source)
    for text in texts:
        data = text.encode()
        naive = NaiveMatcher(compiled)
        expected = [naive_mask(naive, compiled)]
        for b in data:
            assert naive.step(b)
            expected.append(naive_mask(naive, compiled))
        got = masks_along(compiled, data)
        for i, (g, e) in enumerate(zip(got, expected)):
            assert np.array_equal(g, e), f"{name}: mask after {data[:i]!r}"


@pytest.mark.parametrize("name, kind, source, texts", CASES, ids=[c[0] for c in CASES])
def test_a_one_row_leo_table_changes_nothing(name, kind, source, texts):
    # The table is a cache: with one row, every lookup of another key misses and overwrites.
    roomy = compile_case(kind, source)
    cramped = compile_case(kind, source)
    cramped.thread_scratch().leo = np.full((1, 4), -1, dtype=np.int64)
    for text in texts:
        for a, b in zip(masks_along(roomy, text.encode()), masks_along(cramped, text.encode())):
            assert np.array_equal(a, b)


def random_walk(compiled: constrain.CompiledGrammar, rng: random.Random, length: int) -> bytes:
    m = Matcher(compiled)
    bitmask = constrain.allocate_token_bitmask(1, BYTES.size)
    out = bytearray()
    for _ in range(length):
        m.fill_next_token_bitmask(bitmask)
        allowed = [int(t) for t in np.flatnonzero(unpack_bitmask(bitmask[0], BYTES.size)) if t < 256]
        if not allowed:
            break
        b = rng.choice(allowed)
        assert m.accept_token(b)
        out.append(b)
    return bytes(out)


@pytest.mark.parametrize("name, kind, source, texts", CASES, ids=[c[0] for c in CASES])
def test_random_walks_are_accepted_by_the_naive_parser(name, kind, source, texts):
    compiled = compile_case(kind, source)
    rng = random.Random(name)
    for _ in range(5):
        text = random_walk(compiled, rng, 40)
        naive = NaiveMatcher(compiled)
        assert naive.advance(text), text


def step_work_at(compiled: constrain.CompiledGrammar, prefix: bytes) -> int:
    m = Matcher(compiled)
    assert m.accept_bytes(prefix)
    m.fill_next_token_bitmask(constrain.allocate_token_bitmask(1, BYTES.size))
    return int(compiled.thread_scratch().counter[COUNTER_WORK])


@pytest.mark.parametrize(
    "kind, source, head, unit",
    [
        ("lark", CASES[0][2], b'"', b"x"),
        ("lark", CASES[2][2], b"", b"xy"),
        ("lark", CASES[4][2], b"", b"a,"),
    ],
    ids=["json_string", "two_rule_chain", "right_recursive_list"],
)
def test_a_mask_deep_in_a_right_recursion_costs_what_one_near_its_start_does(kind, source, head, unit):
    # Without Leo items a mask's work grew with the depth (each completion walked the chain
    # back to the rule's start: 13 million units 1,400 characters into a string on Qwen2).
    compiled = compile_case(kind, source)
    step_work_at(compiled, head + unit * 10)  # builds the lexers (a first mask also retries)
    works = [step_work_at(compiled, head + unit * n) for n in (100, 1000, 3000)]
    assert works[0] == works[1] == works[2], works

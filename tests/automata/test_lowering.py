"""Lowering: which terminal DFAs may wait until a lexer needs them (``lazy_state_bound``),
and the lazily built sequence of DFAs (``TerminalDFAs``) through compile, masks and pickling."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.automata.fsm import regex_to_dfa
from constrain.automata.lowering import lazy_state_bound
from constrain.grammar.ir import MAX_CODE_POINT, NOTHING, And, Chars, Not, Regex, Repeat, alt, literal, seq

DATA = Path(__file__).resolve().parent.parent / "data" / "json_schema"
QUOTE = literal('"')
ANYTHING = Repeat(Chars(((0, MAX_CODE_POINT),)), 0, None)
OTHER_KEYS = seq(QUOTE, And((ANYTHING, Not(alt(literal("a"), literal("bc"))))), QUOTE)

# (regex, max_states, bound): None when the terminal must be built at compile time.
CASES = [
    (literal("abc"), 100, 4),
    (literal("é"), 100, 3),  # two UTF-8 bytes
    (literal(""), 100, None),  # the empty string: split into an optional rule at compile time
    (alt(literal("a"), literal("bc")), 100, 4),
    (alt(literal(""), literal("a")), 100, None),
    (literal("x" * 120), 100, None),  # over the state limit: compile must raise for it
    (seq(QUOTE, And((ANYTHING, Not(ANYTHING))), QUOTE), 100, None),  # removes an infinite set
    (seq(QUOTE, And((ANYTHING, Not(Repeat(literal("a"), 1, None)))), QUOTE), 100, None),
    (seq(QUOTE, And((Repeat(Chars(()), 0, None), Not(literal("a")))), QUOTE), 100, None),  # P* = {""}
    (seq(QUOTE, And((ANYTHING, Repeat(literal("a"), 0, None), Not(literal("a")))), QUOTE), 100, None),
    (Repeat(Chars(((97, 122),)), 1, None), 100, None),
    (And((ANYTHING, Not(literal("a")))), 100, None),  # no literal around it: could match ""
    (NOTHING, 100, None),
]


@pytest.mark.parametrize(("regex", "max_states", "bound"), CASES)
def test_lazy_state_bound_table(regex: Regex, max_states: int, bound: Optional[int]) -> None:
    assert lazy_state_bound(regex, max_states) == bound


def test_other_keys_are_vouched_for_with_a_bound_their_dfa_respects() -> None:
    star = regex_to_dfa(ANYTHING).num_states
    # |P*| + removed bytes ("a", "bc") + 1, plus the two quotes, plus 1
    assert lazy_state_bound(OTHER_KEYS, 100) == star + 3 + 1 + 2 + 1
    assert regex_to_dfa(OTHER_KEYS).num_states <= lazy_state_bound(OTHER_KEYS, 100)
    assert lazy_state_bound(OTHER_KEYS, star + 5) is None  # over the limit: built at compile time


def fixture_terminals():
    for name in ("suite.json", "maskbench.json"):
        for group in json.loads((DATA / name).read_text(encoding="utf-8")):
            try:
                grammar = Grammar.from_json_schema(group["schema"])
            except constrain.errors.ConstrainError:
                continue
            yield from grammar.terminals


def test_every_vouched_terminal_of_the_fixtures_is_nonempty_without_empty_string_and_bounded() -> None:
    vouched = 0
    for terminal in fixture_terminals():
        bound = lazy_state_bound(terminal.regex, 10_000)
        if bound is None:
            continue
        vouched += 1
        dfa = regex_to_dfa(terminal.regex)
        assert 0 < dfa.num_states <= bound, terminal
        assert not dfa.accepts_empty, terminal
    assert vouched > 500  # property names, enum values, other keys


SCHEMA = {
    "type": "object",
    "properties": {f"p{i}": {"enum": [f"v{i}", f"w{i}"]} for i in range(12)},
    "required": ["p0"],
}


BYTES = Vocabulary.byte_level()


def test_dfas_are_built_as_lexers_reach_them() -> None:
    compiled = constrain.compile(Grammar.from_json_schema(SCHEMA), BYTES)
    dfas = compiled.terminal_dfas
    assert sum(dfas.is_built(t) for t in range(len(dfas))) < len(dfas) // 2
    matcher = Matcher(compiled)
    assert matcher.accept_bytes(b'{"p0":"w0","p3":"v3"}') and matcher.is_accepting()
    names = [t.name for t in compiled.lowered.terminals]
    built = {names[t] for t in range(len(dfas)) if dfas.is_built(t)}
    unbuilt = set(names) - built
    assert unbuilt and len(built) < len(names)
    # every DFA can still be had, and iterating builds the rest
    assert all(d.num_states > 0 for d in dfas) and all(dfas.is_built(t) for t in range(len(dfas)))


def test_pickled_before_any_mask_builds_after() -> None:
    compiled = constrain.compile(Grammar.from_json_schema(SCHEMA), BYTES)
    copy = pickle.loads(pickle.dumps(compiled))
    a, b = Matcher(compiled), Matcher(copy)
    width = (BYTES.size + 31) // 32
    for chunk in (b'{"p0":', b'"v0"', b',"p7":"w7"', b"}"):
        masks = [np.zeros((1, width), dtype=np.int32) for _ in range(2)]
        a.fill_next_token_bitmask(masks[0])
        b.fill_next_token_bitmask(masks[1])
        assert np.array_equal(*masks)
        assert a.accept_bytes(chunk) and b.accept_bytes(chunk)
    assert a.is_accepting() and b.is_accepting()

"""The admissibility check against its brute-force twin: enumerate every filling of the gaps
over the grammar's alphabet and let the ``Matcher`` judge each completed text."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

import constrain
from constrain.config import Limits
from constrain.errors import ConfigurationError, ResourceLimitError
from constrain.infill import Gap, InfillChecker

GRAMMARS = {
    "regex": constrain.Grammar.from_regex(r"(ab|a)*c"),
    # Greedy lexing: NUM grows over every digit, so "1" "2" never lex as two numbers.
    "lark_sum": constrain.Grammar.from_lark(
        'start: expr\nexpr: expr "+" term | term\nterm: "(" expr ")" | NUM\nNUM: /[12]+/\n'
    ),
    # An ignored space and two overlapping terminals (a key literal and a generic word).
    "lark_words": constrain.Grammar.from_lark('start: "ab" WORD | WORD WORD\nWORD: /[ab]+/\n%ignore " "\n'),
    "gbnf": constrain.Grammar.from_gbnf('root ::= "x" [0-1]? ("," root)?\n'),
    "json_schema": constrain.Grammar.from_json_schema({"type": "array", "items": {"enum": [1, 22]}, "maxItems": 2}),
}


def alphabet(compiled) -> list:
    """Every byte some terminal can use: any completion is spelled with these."""
    used = np.zeros(256, dtype=bool)
    for dfa in compiled.terminal_dfas:
        used |= (dfa.transitions >= 0).any(axis=0)
    return [bytes((b,)) for b in np.flatnonzero(used)]


def brute_force(compiled, parts, letters, max_len):
    """The first filling (gaps in order, shortest first) the Matcher accepts, or None.
    Gap lengths are enumerated up to ``min(max_bytes, max_len)``."""
    choices = []
    for part in parts:
        if isinstance(part, Gap):
            top = max_len if part.max_bytes is None else min(part.max_bytes, max_len)
            fills = [b"".join(w) for n in range(part.min_bytes, top + 1) for w in itertools.product(letters, repeat=n)]
            choices.append(fills)
    for fills in itertools.product(*choices):
        text, k = [], 0
        for part in parts:
            if isinstance(part, Gap):
                text.append(fills[k])
                k += 1
            else:
                text.append(part)
        m = constrain.Matcher(compiled)
        if m.accept_bytes(b"".join(text)) and m.is_accepting():
            return list(fills)
    return None


def fill(parts, fills):
    it = iter(fills)
    return b"".join(next(it) if isinstance(p, Gap) else p for p in parts)


def accepted(compiled, text: bytes) -> bool:
    m = constrain.Matcher(compiled)
    return m.accept_bytes(text) and m.is_accepting()


@pytest.fixture(scope="module")
def byte_vocab():
    return constrain.Vocabulary.byte_level()


def random_canvases(compiled, letters, rng, count):
    """Canvases cut from valid texts (mostly admissible) and from random texts (mostly not):
    random pieces become gaps, bounded (0 to 2 bytes, or exactly the piece's length) or not."""
    valid = []
    for n in range(0, 7):
        for w in itertools.product(letters, repeat=n):
            if accepted(compiled, b"".join(w)):
                valid.append(b"".join(w))
            if len(valid) > 60:
                break
    out = []
    for i in range(count):
        if i % 2 == 0 and valid:
            text = rng.choice(valid)
        else:
            text = b"".join(rng.choice(letters) for _ in range(rng.randint(1, 6)))
        cuts = sorted(rng.sample(range(len(text) + 1), k=min(len(text) + 1, rng.randint(1, 3))))
        pieces = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        parts = []
        for j, piece in enumerate(pieces):
            if j % 2 == 1 or (len(pieces) == 1 and rng.random() < 0.5):
                kind = rng.random()
                if kind < 0.3:
                    parts.append(Gap())
                elif kind < 0.6:
                    parts.append(Gap(len(piece), len(piece)))
                else:
                    parts.append(Gap(0, 2))
            else:
                parts.append(piece)
        out.append(parts)
    return out


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_agrees_with_brute_force(name, byte_vocab):
    compiled = constrain.compile(GRAMMARS[name], byte_vocab)
    checker = InfillChecker(compiled, limits=Limits(max_infill_states=3000))
    letters = alphabet(compiled)
    rng = random.Random(name)
    max_len = 3 if len(letters) <= 6 else 2
    seen = {True: 0, False: 0, "limit": 0}
    for parts in random_canvases(compiled, letters, rng, 40):
        n_gaps = sum(isinstance(p, Gap) for p in parts)
        if n_gaps > 2:
            continue
        twin = brute_force(compiled, parts, letters, max_len)
        bounded = all(not isinstance(p, Gap) or p.max_bytes is not None for p in parts)
        try:
            found = checker.complete(parts)
        except ResourceLimitError:
            # Only an unbounded gap over infinitely many configurations (nested parentheses)
            # can run into the limit, and only when no filling exists: a filling is found
            # breadth first, shortest first.
            assert not bounded and twin is None, parts
            seen["limit"] += 1
            continue
        if found is not None:
            # The witness is real: the Matcher (over the test's vocabulary) accepts it.
            assert accepted(compiled, fill(parts, found)), (parts, found)
        if twin is not None:
            assert found is not None, (parts, twin)
        elif found is not None:
            # The twin's enumeration is cut at max_len; the check found a longer filling.
            assert any(len(f) > max_len for f in found), (parts, found)
        if all(not isinstance(p, Gap) or (p.max_bytes is not None and p.max_bytes <= max_len) for p in parts):
            assert (found is not None) == (twin is not None), parts
        seen[found is not None] += 1
    assert seen[True] and seen[False], seen  # both answers were exercised
    assert seen["limit"] <= 5, seen


# (grammar, canvas, admissible)
CASES = [
    ("regex", [b"a", Gap(), b"c"], True),
    ("regex", [b"a", Gap(), b"bb", Gap(), b"c"], False),
    ("regex", [b"ab", Gap(0, 0), b"c"], True),
    ("regex", [b"ab", Gap(1, 1), b"c"], True),  # "aba" + "c"
    ("regex", [Gap(), b"bc"], True),
    ("regex", [Gap(), b"cc"], False),
    # A segment that cuts a lexeme at both ends, and greedy lexing across a gap.
    ("lark_sum", [b"(1", Gap(), b"2)"], True),
    ("lark_sum", [b"1", Gap(0, 0), b"2"], True),  # one number, "12"
    ("lark_sum", [b"(", Gap(0, 1), b")"], True),
    ("lark_sum", [b"(", Gap(0, 0), b")"], False),
    ("lark_sum", [b"1+", Gap(0, 3), b"+"], False),
    # Greedy lexing: after "ab" the word grows, so "ab" + "ab" is one WORD, which needs a second.
    ("lark_words", [b"ab", Gap(0, 0), b"ab"], False),
    ("lark_words", [b"ab", Gap(1, 1), b"ab"], True),  # "ab ab"
    ("lark_words", [b"a", Gap(0, 0)], False),
    ("gbnf", [b"x1,", Gap(0, 1)], True),
    ("gbnf", [b"x1,", Gap(0, 0)], False),
    ("json_schema", [b"[1,", Gap(), b"]"], True),
    ("json_schema", [b"[1,2", Gap(), b",1]"], False),  # maxItems 2
    ("json_schema", [b"[", Gap(), b"2", Gap(), b"]"], True),
    ("json_schema", [b"[3", Gap(), b"]"], False),
]


@pytest.mark.parametrize("name,parts,expected", CASES)
def test_table(name, parts, expected, byte_vocab):
    compiled = constrain.compile(GRAMMARS[name], byte_vocab)
    checker = InfillChecker(compiled)
    found = checker.complete(parts)
    assert (found is not None) == expected
    twin = brute_force(compiled, parts, alphabet(compiled), 3)
    assert (twin is not None) == expected
    if found is not None:
        assert accepted(compiled, fill(parts, found))


def test_bounded_gap_rejects_what_the_unbounded_gap_accepts(byte_vocab):
    """A canvas of 4 token slots for an 8-digit code, with tokens of at most 1 byte: the
    paper's unbounded gap accepts it, but the slots cannot hold it."""
    compiled = constrain.compile(constrain.Grammar.from_regex(r"code=\d{8}"), byte_vocab)
    checker = InfillChecker(compiled)
    assert checker.is_admissible([b"code=", Gap(), b"9"])
    slots = [ord(c) for c in "code="] + [None] * 4 + [ord("9")]
    canvas = checker.slot_canvas(slots, byte_vocab)
    assert canvas == [b"code=", Gap(4, 4), b"9"]
    assert not checker.is_admissible(canvas)
    assert brute_force(compiled, canvas, [bytes([c]) for c in b"0123456789"], 4) is None
    # With 7 slots it fits.
    assert checker.is_admissible(checker.slot_canvas(slots[:5] + [None] * 7 + slots[-1:], byte_vocab))


def test_eos_in_the_canvas(byte_vocab):
    compiled = constrain.compile(constrain.Grammar.from_regex(r"ab+"), byte_vocab)
    checker = InfillChecker(compiled)
    eos = 256
    a, b = ord("a"), ord("b")
    # After EOS only EOS or masked slots (which become EOS): text after it is impossible.
    assert checker.slot_canvas([a, eos, b], byte_vocab) is None
    assert checker.slot_canvas([a, None, eos, None, eos], byte_vocab) == [b"a", Gap(0, 1)]
    assert checker.is_admissible(checker.slot_canvas([a, None, eos, None], byte_vocab))
    assert not checker.is_admissible(checker.slot_canvas([a, eos, None], byte_vocab))
    # Masked slots at the end may be padded by EOS; in the middle they hold a token each.
    assert checker.slot_canvas([a, None, None], byte_vocab) == [b"a", Gap(0, 2)]
    assert checker.slot_canvas([a, None, b], byte_vocab) == [b"a", Gap(1, 1), b"b"]


def test_independent_of_placement_order(byte_vocab):
    """The check is a function of the canvas: tokens placed in any order give, at the end,
    the same answers for the same canvases."""
    compiled = constrain.compile(GRAMMARS["json_schema"], byte_vocab)
    checker = InfillChecker(compiled)
    target = list(b"[22,1]")
    rng = random.Random(0)
    for _ in range(3):
        order = list(range(len(target)))
        rng.shuffle(order)
        slots = [None] * len(target)
        for pos in order:
            slots[pos] = target[pos]
            canvas = checker.slot_canvas(slots, byte_vocab)
            assert checker.is_admissible(canvas)
            # the answer for this canvas, asked from scratch by a fresh checker, is the same
            assert InfillChecker(compiled).is_admissible(canvas)


def test_start_matcher_and_bad_parts(byte_vocab):
    compiled = constrain.compile(GRAMMARS["regex"], byte_vocab)
    checker = InfillChecker(compiled)
    start = checker.start()
    assert start.accept_bytes(b"ab")
    assert checker.complete([Gap(0, 1), b"c"], start=start) == [b""]
    assert checker.complete([b"b"], start=start) is None
    with pytest.raises(ConfigurationError, match="str"):
        checker.complete(["abc"])
    with pytest.raises(ConfigurationError, match="this checker"):
        checker.complete([b"c"], start=constrain.Matcher(compiled))
    with pytest.raises(ConfigurationError):
        Gap(3, 2)
    with pytest.raises(ConfigurationError):
        InfillChecker("a+")


def test_limit_is_a_clear_error(byte_vocab):
    """Nested brackets give an unbounded gap infinitely many configurations; a canvas no
    filling can complete then ends at the limit with an error, not a hang."""
    grammar = constrain.Grammar.from_lark('start: x\nx: "[" x "]" | "a"\n')
    compiled = constrain.compile(grammar, byte_vocab, limits=Limits(max_infill_states=300))
    checker = InfillChecker(compiled)
    assert checker.is_admissible([b"[[", Gap(), b"]]"])
    with pytest.raises(ResourceLimitError, match="max_infill_states"):
        checker.is_admissible([b"[", Gap(), b"a]]a"])
    # Bounded, the same search is finite and exact.
    assert not checker.is_admissible([b"[", Gap(0, 6), b"a]]a"])
    # A time limit for one call.
    unlimited = InfillChecker(grammar)
    with pytest.raises(ResourceLimitError, match="max_infill_seconds"):
        unlimited.is_admissible([b"[", Gap(), b"a]]a"], max_seconds=0.05)
    # Text that no sequence of lexemes spells is refused before any search.
    assert not checker.is_admissible([b"[", Gap(), b"b"])

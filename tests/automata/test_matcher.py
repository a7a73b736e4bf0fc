"""The engine: compile + Matcher against the plain-Python twin in tests/naive.py."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary, compile
from constrain.errors import ConfigurationError, UnsatisfiableGrammarError, VocabularyError
from constrain.grammar.ir import Rule, Terminal, alt, chars, literal, repeat, seq
from naive import NaiveMatcher, naive_mask, unpack_bitmask

BYTES = Vocabulary.byte_level()


def toy_vocab() -> Vocabulary:
    """Multi-byte tokens that cross lexeme boundaries, duplicates, a special token and EOS."""
    pieces = [bytes([b]) for b in range(256)] + [
        b"ab", b"abc", b"(", b"((", b"))", b"()", b"(a", b"a)", b"1+", b"+1", b"12", b"123",
        b" +", b"+ ", b"  ", b"a b", b"ab)", b"ab", b"\"a\"", b"\",", b"\"}", b"{\"", b"\xc3\xa9",
        b"\xc3", b"\xa9a", b"true", b"tr", b"ue,", b"null]",
    ]
    eos = len(pieces)
    special = eos + 1
    return Vocabulary(pieces + [b"", b"<|special|>"], eos_token_ids={eos}, special_token_ids={special})


TOY = toy_vocab()


def cfg(start, rules, terminals, ignore=()):
    return Grammar(
        start=start,
        rules=tuple(Rule(name, tuple(tuple(a.split()) for a in alts)) for name, alts in rules.items()),
        terminals=tuple(Terminal(name, rx) for name, rx in terminals.items()),
        ignore=tuple(ignore),
    )


DIGITS = repeat(chars("09"), 1)
WS = repeat(chars(" ", "\n"), 1)

# Balanced parentheses with atoms; left-recursive sums; empty rules; ignored whitespace.
PARENS = cfg(
    "s",
    {"s": ["", "s p"], "p": ["LP s RP", "A"]},
    {"LP": literal("("), "RP": literal(")"), "A": literal("a")},
)
SUMS = cfg(
    "e",
    {"e": ["e PLUS t", "t"], "t": ["NUM", "LP e RP"]},
    {"PLUS": literal("+"), "NUM": DIGITS, "LP": literal("("), "RP": literal(")"), "WS": WS},
    ignore=["WS"],
)
AMBIGUOUS = cfg(
    "e",
    {"e": ["e e", "A", "B", ""]},
    {"A": literal("a"), "B": literal("ab")},
)
JSONISH = cfg(
    "v",
    {
        "v": ["STR", "NUM", "TRUE", "NULL", "LB RB", "LB items RB", "LC RC", "LC members RC"],
        "items": ["v", "items COMMA v"],
        "members": ["KEY COLON v", "members COMMA KEY COLON v"],
    },
    {
        "STR": seq(literal('"'), repeat(chars((0x20, 0x21), (0x23, 0x5B), (0x5D, 0x10FFFF))), literal('"')),
        "KEY": literal('"a"'),
        "NUM": seq(repeat(literal("-"), 0, 1), DIGITS),
        "TRUE": literal("true"),
        "NULL": literal("null"),
        "LB": literal("["), "RB": literal("]"), "LC": literal("{"), "RC": literal("}"),
        "COMMA": literal(","), "COLON": literal(":"),
    },
)

# Ignored whitespace (absorbed into the next lexeme by compile) and an ignored comment that
# cannot be absorbed: ";" comments run to the end of the line, over spaces and atoms.
ATOMS = cfg(
    "s",
    {"s": ["ATOM", "s ATOM", "s DIV"]},
    {"ATOM": repeat(chars("az"), 1), "DIV": literal("/"), "WS": WS,
     "COMMENT": seq(literal(";"), repeat(chars((0, 9), (11, 0x10FFFF))))},
    ignore=["WS", "COMMENT"],
)

GRAMMARS = {"parens": PARENS, "sums": SUMS, "ambiguous": AMBIGUOUS, "jsonish": JSONISH, "atoms": ATOMS}

grammar__accepted__rejected = [
    ("parens", ["", "a", "()", "(a)(a)a", "((()))a"], ["(", ")", "(()", "b", "a)"]),
    ("sums", ["1", "1+2", "(1+2)+3", "1 + 2", " 1", "1 ", "(1 +(2))"], ["", "+", "1+", "()", "1 2", "(1"]),
    ("ambiguous", ["", "a", "ab", "aab", "abab", "aaa"], ["b", "ba", "abb"]),
    ("atoms", ["a", "a b", " a ;c d\n b/", "a;x\n"], ["", "; a", " ;b", "/"]),
    ("jsonish", ['"x"', "[1,-2]", '{"a":true}', '{"a":[null,"é"]}', "[]", '"a"'], ['{"b":1}', "[1,]", "tru", '"a', "[1]]"]),
]


@pytest.mark.parametrize("name,accepted,rejected", grammar__accepted__rejected)
def test_accepts_exactly_the_language(name, accepted, rejected):
    compiled = compile(GRAMMARS[name], BYTES)
    for text in accepted:
        m = Matcher(compiled)
        assert m.accept_bytes(text.encode()) and m.is_accepting(), text
    for text in rejected:
        m = Matcher(compiled)
        assert not (m.accept_bytes(text.encode()) and m.is_accepting()), text


def _prefix_states(text: bytes):
    return [text[:i] for i in range(len(text) + 1)]


@pytest.mark.parametrize("vocab_name", ["bytes", "toy"])
@pytest.mark.parametrize("name,accepted,rejected", grammar__accepted__rejected)
def test_masks_equal_naive_twin(vocab_name, name, accepted, rejected):
    vocab = BYTES if vocab_name == "bytes" else TOY
    compiled = compile(GRAMMARS[name], vocab)
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    for text in accepted:
        for prefix in _prefix_states(text.encode()):
            m, twin = Matcher(compiled), NaiveMatcher(compiled)
            assert m.accept_bytes(prefix) and twin.advance(prefix)
            m.fill_next_token_bitmask(bitmask)
            got = unpack_bitmask(bitmask[0], vocab.size)
            want = naive_mask(twin, compiled)
            assert (got == want).all(), (text, prefix, np.nonzero(got != want)[0][:10])


def test_accept_token_agrees_with_mask_along_random_walks():
    rng = random.Random(0)
    compiled = compile(JSONISH, TOY)
    bitmask = constrain.allocate_token_bitmask(1, TOY.size)
    for _ in range(30):
        m = Matcher(compiled)
        for _ in range(25):
            m.fill_next_token_bitmask(bitmask)
            allowed = np.nonzero(unpack_bitmask(bitmask[0], TOY.size))[0]
            disallowed = rng.sample(sorted(set(range(TOY.size)) - set(allowed.tolist())), 5)
            for t in disallowed:
                assert not m.accept_token(t)
            if len(allowed) == 0:
                break
            t = int(rng.choice(allowed))
            assert m.accept_token(t)
            if m.is_terminated():
                break


def test_eos_only_when_complete_and_terminates():
    compiled = compile(Grammar.from_regex("ab"), TOY)
    eos = next(iter(TOY.eos_token_ids))
    m = Matcher(compiled)
    assert not m.accept_token(eos)
    assert m.accept_token(TOY.token_bytes.index(b"ab"))
    bitmask = constrain.allocate_token_bitmask(1, TOY.size)
    m.fill_next_token_bitmask(bitmask)
    assert np.nonzero(unpack_bitmask(bitmask[0], TOY.size))[0].tolist() == [eos]
    assert m.accept_token(eos) and m.is_terminated()
    assert not m.accept_token(0)
    m.rollback(1)
    assert not m.is_terminated() and m.is_accepting()


def test_special_and_padding_tokens_never_allowed():
    vocab = Vocabulary([b"a", b"<s>", b""], eos_token_ids={2}, special_token_ids={1}, size=40)
    compiled = compile(Grammar.from_regex("a*"), vocab)
    m = Matcher(compiled)
    assert not m.accept_token(1) and not m.accept_token(39)
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    m.fill_next_token_bitmask(bitmask)
    assert np.nonzero(unpack_bitmask(bitmask[0], vocab.size))[0].tolist() == [0, 2]


def test_rollback_and_fork_restore_the_same_state():
    rng = random.Random(1)
    compiled = compile(SUMS, TOY)
    bitmask = constrain.allocate_token_bitmask(1, TOY.size)

    def mask(m):
        m.fill_next_token_bitmask(bitmask)
        return bitmask[0].copy()

    for _ in range(20):
        m = Matcher(compiled)
        masks = [mask(m)]
        for _ in range(15):
            allowed = np.nonzero(unpack_bitmask(masks[-1], TOY.size))[0]
            allowed = [t for t in allowed if t not in TOY.eos_token_ids]
            if not allowed:
                break
            assert m.accept_token(int(rng.choice(allowed)))
            masks.append(mask(m))
        fork = m.fork()
        k = rng.randrange(len(masks))
        m.rollback(k)
        assert (mask(m) == masks[-1 - k]).all()
        assert (mask(fork) == masks[-1]).all()


def test_pickle_round_trip_gives_same_masks():
    compiled = compile(JSONISH, TOY)
    clone = pickle.loads(pickle.dumps(compiled))
    a, b = Matcher(compiled), Matcher(clone)
    assert a.accept_bytes(b'{"a":[1,') and b.accept_bytes(b'{"a":[1,')
    ma, mb = (constrain.allocate_token_bitmask(1, TOY.size) for _ in range(2))
    a.fill_next_token_bitmask(ma)
    b.fill_next_token_bitmask(mb)
    assert (ma == mb).all()


def test_errors():
    nothing = cfg("s", {"s": ["s A"]}, {"A": literal("a")})
    with pytest.raises(UnsatisfiableGrammarError):
        compile(nothing, BYTES)
    only_a = Vocabulary([b"a"], eos_token_ids={1}, size=2)
    with pytest.raises(VocabularyError):
        compile(Grammar.from_regex("b+"), only_a)
    with pytest.raises(ConfigurationError):
        compile("not a grammar", BYTES)
    m = Matcher(compile(PARENS, BYTES))
    with pytest.raises(ConfigurationError, match="dtype"):
        m.fill_next_token_bitmask(np.zeros((1, 8), dtype=np.int64))
    with pytest.raises(ConfigurationError, match="width"):
        m.fill_next_token_bitmask(np.zeros((1, 2), dtype=np.int32))
    with pytest.raises(ConfigurationError):
        m.rollback(1)

"""The engine: compile + Matcher against the plain-Python twin in tests/naive.py."""

from __future__ import annotations

import itertools
import pickle
import random

import numpy as np
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary, compile
from constrain.errors import ConfigurationError, UnsatisfiableGrammarError, VocabularyError
from constrain.grammar.ir import Rule, Terminal, chars, literal, repeat, seq
from naive import NaiveMatcher, naive_mask, unpack_bitmask

BYTES = Vocabulary.byte_level()


def toy_vocab() -> Vocabulary:
    """Multi-byte tokens that cross lexeme boundaries, duplicates, a special token and EOS."""
    pieces = [bytes([b]) for b in range(256)] + [
        b"ab",
        b"abc",
        b"(",
        b"((",
        b"))",
        b"()",
        b"(a",
        b"a)",
        b"1+",
        b"+1",
        b"12",
        b"123",
        b" +",
        b"+ ",
        b"  ",
        b"a b",
        b"ab)",
        b"ab",
        b'"a"',
        b'",',
        b'"}',
        b'{"',
        b"\xc3\xa9",
        b"\xc3",
        b"\xa9a",
        b"true",
        b"tr",
        b"ue,",
        b"null]",
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
        "LB": literal("["),
        "RB": literal("]"),
        "LC": literal("{"),
        "RC": literal("}"),
        "COMMA": literal(","),
        "COLON": literal(":"),
    },
)

# Ignored whitespace (absorbed into the next lexeme by compile) and an ignored comment that
# cannot be absorbed: ";" comments run to the end of the line, over spaces and atoms.
ATOMS = cfg(
    "s",
    {"s": ["ATOM", "s ATOM", "s DIV"]},
    {
        "ATOM": repeat(chars("az"), 1),
        "DIV": literal("/"),
        "WS": WS,
        "COMMENT": seq(literal(";"), repeat(chars((0, 9), (11, 0x10FFFF)))),
    },
    ignore=["WS", "COMMENT"],
)


def precedence_ladder(levels: int) -> Grammar:
    """``e0 -> e0 OPi e1 | e1 ... -> ( e0 ) | NUM``: one scan completes a chain of ``levels``
    rules against origin sets of more than ``INDEX_MIN_ITEMS`` items, so completion goes
    through the set index."""
    rules = {f"e{i}": [f"e{i} OP{i} e{i + 1}", f"e{i + 1}"] for i in range(levels)}
    rules[f"e{levels}"] = ["LP e0 RP", "NUM", f"MINUS e{levels}"]
    ops = "+-*/%<>=&|^!~@#$?"
    terminals = {f"OP{i}": literal(ops[i]) for i in range(levels)}
    terminals.update({"LP": literal("("), "RP": literal(")"), "NUM": DIGITS, "MINUS": literal("_")})
    return cfg("e0", rules, terminals)


LADDER = precedence_ladder(16)
# Every string of two and three of these characters: most tokens end two lexemes, so walks
# and accepted tokens push sets above sets that were themselves just rebuilt.
LADDER_VOCAB = Vocabulary(
    [bytes([b]) for b in range(256)]
    + [bytes(p) for n in (2, 3) for p in itertools.product(b"12(+)*_", repeat=n)]
    + [b""],
    eos_token_ids={256 + 7**2 + 7**3},
)

GRAMMARS = {
    "parens": PARENS,
    "sums": SUMS,
    "ambiguous": AMBIGUOUS,
    "jsonish": JSONISH,
    "atoms": ATOMS,
    "ladder": LADDER,
}

grammar__accepted__rejected = [
    ("parens", ["", "a", "()", "(a)(a)a", "((()))a"], ["(", ")", "(()", "b", "a)"]),
    ("sums", ["1", "1+2", "(1+2)+3", "1 + 2", " 1", "1 ", "(1 +(2))"], ["", "+", "1+", "()", "1 2", "(1"]),
    ("ambiguous", ["", "a", "ab", "aab", "abab", "aaa"], ["b", "ba", "abb"]),
    ("atoms", ["a", "a b", " a ;c d\n b/", "a;x\n"], ["", "; a", " ;b", "/"]),
    (
        "jsonish",
        ['"x"', "[1,-2]", '{"a":true}', '{"a":[null,"é"]}', "[]", '"a"'],
        ['{"b":1}', "[1,]", "tru", '"a', "[1]]"],
    ),
    ("ladder", ["1", "1+2*3", "((1-_2)*3)@4", "_(1)$2#3"], ["", "+1", "1+", "(1", "1)", "1++2"]),
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


@pytest.mark.parametrize("name,vocab", [("ladder", LADDER_VOCAB), ("jsonish", TOY), ("ambiguous", TOY)])
def test_reused_sets_give_the_masks_of_a_fresh_matcher(name, vocab):
    """Sets a scan finds intact are reused, and origin sets are indexed on first look-up;
    whatever a matcher went through (masks, rollbacks, forks, another thread), its mask equals
    that of a fresh matcher fed the same bytes, and the twin's."""
    import threading

    rng = random.Random(7)
    compiled = compile(GRAMMARS[name], vocab)
    bitmask = constrain.allocate_token_bitmask(1, vocab.size)
    fresh_mask = constrain.allocate_token_bitmask(1, vocab.size)

    def check(m, text):
        m.fill_next_token_bitmask(bitmask)
        again = constrain.allocate_token_bitmask(1, vocab.size + 64)  # a wider row, the last mask copied
        again[:] = -1
        m.fill_next_token_bitmask(again)
        assert (again[:, : bitmask.shape[1]] == bitmask).all() and (again[:, bitmask.shape[1] :] == 0).all()
        fresh = Matcher(compiled)
        assert fresh.accept_bytes(text)
        fresh.fill_next_token_bitmask(fresh_mask)
        assert (bitmask == fresh_mask).all(), text
        if rng.random() > 0.1:
            return
        twin = NaiveMatcher(compiled)
        assert twin.advance(text)
        assert (unpack_bitmask(bitmask[0], vocab.size) == naive_mask(twin, compiled)).all(), text

    for _ in range(8):
        m = Matcher(compiled)
        tokens = []
        for _ in range(12):
            m.fill_next_token_bitmask(bitmask)
            allowed = [t for t in np.nonzero(unpack_bitmask(bitmask[0], vocab.size))[0] if t not in vocab.eos_token_ids]
            if not allowed:
                break
            t = int(rng.choice(allowed))
            assert m.accept_token(t)
            tokens.append(t)
            if rng.random() < 0.3 and len(tokens) > 1:
                k = rng.randint(1, len(tokens))
                m.rollback(k)
                del tokens[-k:]
            text = b"".join(vocab.token_bytes[t] for t in tokens)
            check(m, text)
            if rng.random() < 0.3:
                twin = m.fork()
                check(twin, text)
                m = twin
            if rng.random() < 0.3:
                worker = threading.Thread(target=check, args=(m, text))
                worker.start()
                worker.join()


def test_last_mask_is_copied_only_for_the_same_state():
    """Inside an array's string and inside an object's, after as many lexemes, the lexer state
    is the same; the sets are not, and neither is the mask (``"}`` ends only the object's)."""
    compiled = compile(JSONISH, TOY)
    m = Matcher(compiled)
    masks = []
    for prefix in (b'[1,"ab', b'{"a":"ab', b'[1,"ab'):
        m.reset()
        assert m.accept_bytes(prefix)
        bitmask = constrain.allocate_token_bitmask(1, TOY.size)
        m.fill_next_token_bitmask(bitmask)
        twin = NaiveMatcher(compiled)
        assert twin.advance(prefix)
        assert (unpack_bitmask(bitmask[0], TOY.size) == naive_mask(twin, compiled)).all(), prefix
        masks.append(bitmask)
    close_object = TOY.token_bytes.index(b'"}')
    assert [bool(unpack_bitmask(b[0], TOY.size)[close_object]) for b in masks] == [False, True, False]


def test_fork_forgets_sets_past_the_items_it_copies():
    """A fork copies the items of the committed sets only; sets built past them (then rolled
    back) must be rebuilt in the twin, not reused."""
    compiled = compile(LADDER, BYTES)
    text = b"1" + b"+(1*2)" * 40
    m = Matcher(compiled)
    for b in text:
        assert m.accept_token(b)
    assert m._items.shape[0] > 1024  # the sets grew the items array
    m.rollback(len(text) - 1)
    twin = m.fork()
    assert twin._items.shape[0] < m._items.shape[0]
    reusable = np.flatnonzero(twin._set_build[:, 0] != 0)
    assert (twin._set_starts[reusable + 1] <= twin._items.shape[0]).all()
    fresh = Matcher(compiled)
    assert fresh.accept_token(text[0])
    a, b_ = (constrain.allocate_token_bitmask(1, BYTES.size) for _ in range(2))
    for b in text[1:]:
        assert twin.accept_token(b) and fresh.accept_token(b)
        twin.fill_next_token_bitmask(a)
        fresh.fill_next_token_bitmask(b_)
        assert (a == b_).all()
    assert twin.is_accepting()


def test_crowded_pair_table_falls_back_to_scanning():
    """An ambiguous grammar puts one position into a set with many origins; with a table of
    four slots the de-duplication must fall back to scanning the set, and still agree."""
    compiled = compile(AMBIGUOUS, BYTES)
    compiled.thread_scratch().pairs = np.zeros((4, 2), dtype=np.int64)
    for text in [b"a" * 30, b"ab" * 12 + b"a", b"aab" * 8]:
        m, twin = Matcher(compiled), NaiveMatcher(compiled)
        assert m.accept_bytes(text) and twin.advance(text)
        assert m.is_accepting() == twin.is_accepting()
        bitmask = constrain.allocate_token_bitmask(1, BYTES.size)
        m.fill_next_token_bitmask(bitmask)
        assert (unpack_bitmask(bitmask[0], BYTES.size) == naive_mask(twin, compiled)).all()
    assert not Matcher(compiled).accept_bytes(b"a" * 20 + b"bb")


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
    frozen = constrain.allocate_token_bitmask(1, BYTES.size)
    frozen.flags.writeable = False
    with pytest.raises(ConfigurationError, match="read-only"):
        m.fill_next_token_bitmask(frozen)
    with pytest.raises(ConfigurationError):
        m.rollback(1)

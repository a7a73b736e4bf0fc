"""Byte DFAs: UTF-8 exactness, Python's ``re`` as a twin, set semantics of And/Not,
minimality, canonical numbering and limits."""

from __future__ import annotations

import itertools
import pickle
import random
import re

import numpy as np
import pytest

from constrain.automata import fsm as fsm_module
from constrain.automata.fsm import (
    ByteDFA,
    complement_dfa,
    difference_dfa,
    intersect_dfa,
    product_dfa,
    regex_to_dfa,
    union_dfa,
    utf8_sequences,
)
from constrain.errors import InvalidGrammarError, ResourceLimitError, UnsupportedFeatureError
from constrain.grammar.ir import EMPTY, NOTHING, Alt, And, Chars, Not, Repeat, Seq, alt, chars, literal, seq
from constrain.grammar.regex import parse_regex
from language import assert_language


def dfa(pattern: str, **kw) -> ByteDFA:
    return regex_to_dfa(parse_regex(pattern), **kw)


# --- UTF-8 -------------------------------------------------------------------------------------


def _seq_bytes(sq):
    return [bytes(t) for t in itertools.product(*(range(lo, hi + 1) for lo, hi in sq))]


@pytest.mark.parametrize(
    "lo, hi",
    [
        (0, 0x7F),
        (0x41, 0x5A),
        (0x7F, 0x80),
        (0x80, 0x7FF),
        (0x7FF, 0x800),
        (0x100, 0x2FFF),
        (0xD000, 0xE100),
        (0xD7FF, 0xD800),
        (0xFFF0, 0x10010),
        (0x10FFF0, 0x10FFFF),
        (0x3FFF7, 0x40008),
    ],
)
def test_utf8_sequences_are_exact(lo, hi):
    seqs = utf8_sequences(lo, hi)
    encoded = [b for sq in seqs for b in _seq_bytes(sq)]
    expected = [chr(c).encode() for c in range(lo, hi + 1) if not 0xD800 <= c <= 0xDFFF]
    assert sorted(encoded) == sorted(expected)


def test_utf8_sequences_whole_range_is_small_and_disjoint():
    seqs = utf8_sequences(0, 0x10FFFF)
    assert len(seqs) <= 10
    # first-byte ranges of same-length sequences never overlap
    firsts = sorted((sq[0], len(sq)) for sq in seqs)
    for (a, _), (b, _) in zip(firsts, firsts[1:]):
        assert a[1] < b[0]


def test_every_code_point_is_accepted_exactly_once_invalid_utf8_never():
    d = dfa(r"(?s).")
    rng = random.Random(1)
    for cp in list(range(0, 0x800, 7)) + [rng.randrange(0x800, 0x110000) for _ in range(3000)]:
        ok = not 0xD800 <= cp <= 0xDFFF
        data = chr(cp).encode("utf-8", "surrogatepass")
        assert d.matches(data) == ok, hex(cp)
    for bad in [
        b"\x80",
        b"\xc0\x80",
        b"\xc1\xbf",
        b"\xe0\x80\x80",
        b"\xed\xa0\x80",
        b"\xf0\x80\x80\x80",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
    ]:
        assert not d.matches(bad), bad


# --- the twin: Python's re ----------------------------------------------------------------------

TWIN_PATTERNS = [
    r"abc",
    r"a|b|",
    r"[a-z]+\d{2,3}",
    r"(?i)[a-c]x",
    r".*",
    r"(?s).*",
    r"[^a-z]+",
    r"\w+@\w+\.com",
    r"(ab|a)*b?",
    r"[é-ü]{1,3}",
    r"\W\S\D",
    r"(?i)[^k]",
    r"x{2,}y{,2}",
    r"(?=.*a).{2,4}",
    r"^(?!.*\s).+$",
    r".{2,3}(?<=b)",
    r"(?!ab)..",
    r"[\u0100-\U0001F600]+",
    r"[^\"\\]{0,5}",
    r'"([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"',
    r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    r"(a|b)*a(a|b){3}",
    r"[😀-😂]+|€?",
    r"a|ab|abc||b|é|😀x|x😀",
]

ALPHABET = list('abkKxyz0159_ -."\\/uAeE+\n\t\x00') + ["é", "ü", "ā", "€", "😀", "😂", "\U0010ffff"]


@pytest.mark.parametrize("pattern", TWIN_PATTERNS)
def test_matches_python_re(pattern):
    d = dfa(pattern)
    compiled = re.compile(pattern, re.ASCII)
    rng = random.Random(pattern)
    for _ in range(1500):
        s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))
        assert d.matches(s.encode()) == bool(compiled.fullmatch(s)), (pattern, s)
    for _ in range(300):  # raw bytes, mostly invalid UTF-8
        b = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        try:
            expected = bool(compiled.fullmatch(b.decode("utf-8")))
        except UnicodeDecodeError:
            expected = False
        assert d.matches(b) == expected, (pattern, b)


@pytest.mark.parametrize(
    "pattern, accepted, rejected",
    [
        (r"\d{4}-\d{2}-\d{2}", ["2024-01-31"], ["2024-1-31", "2024-01-311", ""]),
        (r"[^\"\\]*", ["", "abc", "é😀"], ['"', "a\\", "\udcff"]),
        (r"(?s).{2}", ["ab", "\n\n", "😀😀"], ["a", "abc"]),
        (r"true|false|null", ["true", "null"], ["tru", "nul", "truefalse"]),
    ],
)
def test_table(pattern, accepted, rejected):
    d = dfa(pattern)
    assert_language(lambda s: d.matches(s.encode("utf-8", "surrogatepass")), accepted, rejected)


# --- And / Not against set semantics ------------------------------------------------------------

UNIVERSE = ["".join(p) for n in range(4) for p in itertools.product("abé", repeat=n)]


def _lang(d: ByteDFA) -> set:
    return {s for s in UNIVERSE if d.matches(s.encode())}


@pytest.mark.parametrize("x, y", [("a*", "(ab)*|b"), ("[ab]*", ".é?"), ("a|b|", "a*"), ("", "a"), (".*", "é")])
def test_boolean_operations_are_set_operations(x, y):
    dx, dy = dfa(x), dfa(y)
    lx, ly = _lang(dx), _lang(dy)
    all_ = set(UNIVERSE)
    assert _lang(intersect_dfa(dx, dy)) == lx & ly
    assert _lang(union_dfa(dx, dy)) == lx | ly
    assert _lang(difference_dfa(dx, dy)) == lx - ly
    assert _lang(complement_dfa(dx)) == all_ - lx
    rx, ry = parse_regex(x), parse_regex(y)
    assert _lang(regex_to_dfa(And((rx, ry)))) == lx & ly
    assert _lang(regex_to_dfa(Not(rx))) == all_ - lx
    expected = {u + "b" for u in UNIVERSE if len(u) <= 2 and u not in lx}
    assert _lang(regex_to_dfa(seq(Not(rx), literal("b")))) == expected
    # nested inside a repetition: (not x)(y)... exercised via embedding
    # embedded in a repetition: (x minus the empty string)*
    pieces = lx - {""}

    def splits(s: str) -> bool:
        return s == "" or any(s[:k] in pieces and splits(s[k:]) for k in range(1, len(s) + 1))

    nested = regex_to_dfa(Repeat(And((rx, Not(EMPTY))), 0, None))
    assert _lang(nested) == {s for s in UNIVERSE if splits(s)}


def test_complement_never_accepts_invalid_utf8():
    d = regex_to_dfa(Not(literal("a")))
    assert d.matches(b"") and d.matches(b"b") and d.matches("é".encode()) and not d.matches(b"a")
    for bad in [b"\x80", b"a\xff", b"\xed\xa0\x80", b"\xc3"]:
        assert not d.matches(bad)


def test_not_empty_minus_empty_string():
    d = regex_to_dfa(And((parse_regex("a*"), Not(EMPTY))))
    assert not d.accepts_empty and d.matches(b"a") and d.matches(b"aaa")
    assert d.num_states == 2


# --- structure: minimality, liveness, canonical numbering -------------------------------------


def _naive_min_states(d: ByteDFA) -> int:
    """Moore partition refinement on the completed DFA, written plainly."""
    n = d.num_states
    sink = n
    trans = [[int(t) if t >= 0 else sink for t in d.transitions[s]] for s in range(n)] + [[sink] * 256]
    block = [int(d.accepting[s]) for s in range(n)] + [2]
    while True:
        sig = [(block[s], tuple(block[t] for t in trans[s])) for s in range(n + 1)]
        ids = {k: i for i, k in enumerate(dict.fromkeys(sig))}
        new = [ids[k] for k in sig]
        if len(set(new)) == len(set(block)):
            return len(set(new)) - 1  # minus the sink
        block = new


@pytest.mark.parametrize(
    "pattern, states",
    [
        ("", 1),
        ("a", 2),
        ("abc", 4),
        ("a*", 1),
        ("a+", 2),
        ("(a|b)*a(a|b){3}", 16),
        ("[ab]{0,3}", 4),
        ('[^"\\\\]*', 8),
        ("(?s).", 9),
        ("(a|ab)(c|bcd)(d*)", 6),
        ("x{2,}y{,2}", 5),
    ],
)
def test_minimal_state_counts(pattern, states):
    d = dfa(pattern)
    assert d.num_states == states
    assert _naive_min_states(d) == states


@pytest.mark.parametrize("pattern", TWIN_PATTERNS)
def test_minimal_live_and_reachable(pattern):
    d = dfa(pattern)
    assert _naive_min_states(d) == d.num_states
    t = d.transitions
    # every state reachable from 0
    seen, stack = {0}, [0]
    while stack:
        for x in set(t[stack.pop()].tolist()) - {-1}:
            if x not in seen:
                seen.add(x)
                stack.append(x)
    assert len(seen) == d.num_states
    # every state live
    live = set(np.flatnonzero(d.accepting).tolist())
    changed = True
    while changed:
        changed = False
        for s in range(d.num_states):
            if s not in live and any(x in live for x in t[s].tolist()):
                live.add(s)
                changed = True
    assert len(live) == d.num_states


@pytest.mark.parametrize(
    "a, b",
    [
        ("(a|b)*", "(a*b*)*"),
        ("a{2,4}", "aa|aaa|aaaa"),
        ("[a-c]", "a|b|c"),
        ("(?!a).", "[^a\\n]"),
        ("ab|ac|\\x00|é", "a[bc]|[\\x00é]"),
        ("a{20}", "aaaaaaaaaaaaaaaaaaaa"),
        ("[^a]{0,20}", "(?:[^a]|){20}"),
        ("(?=.*b)[ab]*", "a*b[ab]*"),
    ],
)
def test_equal_languages_give_identical_tables(a, b):
    da, db = dfa(a), dfa(b)
    assert np.array_equal(da.transitions, db.transitions)
    assert np.array_equal(da.accepting, db.accepting)


def test_empty_language_and_properties():
    for r in (NOTHING, Chars(()), seq(literal("a"), NOTHING), And((literal("a"), literal("b")))):
        d = regex_to_dfa(r)
        assert d.is_empty and d.num_states == 0 and not d.matches(b"") and not d.accepts_empty
    d = regex_to_dfa(EMPTY)
    assert d.num_states == 1 and d.accepts_empty and not d.matches(b"a")


def test_immutable_picklable_cached():
    d = dfa(r"[0-9]+")
    with pytest.raises(ValueError):
        d.transitions[0, 0] = 5
    d2 = pickle.loads(pickle.dumps(d))
    assert np.array_equal(d2.transitions, d.transitions) and d2.matches(b"123")
    assert regex_to_dfa(parse_regex(r"[0-9]+")) is d
    assert d.run(b"12") >= 0 and d.run(b"1a") == -1
    classes = d.byte_classes()
    assert classes[ord("0")] == classes[ord("9")] != classes[ord("a")]


@pytest.mark.parametrize(
    "pattern", [r'"name"', r"[0-9]+", r'"[^"\\]{0,40}"', r'"[^"\\]{0,100}"', r"[a-z]+@[a-z]+\.(com|org)"]
)
def test_byte_classes_group_equal_columns_in_first_seen_order(pattern):
    """Both ways of computing them (short and long DFAs) against the definition."""
    d = dfa(pattern)
    classes = d.byte_classes()
    seen: dict = {}
    want = [seen.setdefault(d.transitions[:, b].tobytes(), len(seen)) for b in range(256)]
    assert classes.tolist() == want


def test_surrogate_chars_match_nothing():
    assert regex_to_dfa(chars((0xD800, 0xDFFF))).is_empty
    d = regex_to_dfa(chars((0xD7FF, 0xE000)))
    assert d.matches("\ud7ff".encode()) and d.matches("\ue000".encode())
    assert not d.matches(b"\xed\xa0\x80")


# --- limits and speed ------------------------------------------------------------------------


def test_limit_raises_resource_limit_error():
    with pytest.raises(ResourceLimitError, match="max_dfa_states"):
        dfa(r"[ab]*a[ab]{12}", max_states=1000)  # needs 2**13 states
    with pytest.raises(ResourceLimitError, match="max_dfa_states"):
        dfa(r"[^\"\\]{0,300}", max_states=1000)  # 8 states per position
    d = dfa(r"[^\"\\]{0,100}", max_states=1000)
    assert d.num_states == 801


def test_bounded_repetition_of_a_class_is_fast():
    import time

    dfa(r"[^\"\\]{0,1000}")  # loads (or compiles) the Numba kernels
    regex_to_dfa.cache_clear()
    t = time.perf_counter()
    d = dfa(r"[^\"\\]{0,1000}")
    assert d.num_states == 8001
    assert time.perf_counter() - t < 2.0
    assert d.matches(("é" * 1000).encode()) and not d.matches(("é" * 1001).encode())


def test_alternation_of_many_words():
    words = [f"w{i}x{i * 7 % 13}" for i in range(200)]
    d = regex_to_dfa(alt(*(literal(w) for w in words)))
    assert all(d.matches(w.encode()) for w in words)
    assert not d.matches(b"w1") and not d.matches(b"w200x5")


@pytest.mark.parametrize("pattern", ["a*", "(ab|a)*b?", r"[^\"\\]{0,20}", "", "x|", "(?s).*"])
def test_minus_empty_string_fast_path_equals_product(pattern):
    r = parse_regex(pattern)
    fast = regex_to_dfa(And((r, Not(EMPTY))))
    slow = intersect_dfa(regex_to_dfa(r), complement_dfa(regex_to_dfa(EMPTY)))
    assert np.array_equal(fast.transitions, slow.transitions)
    assert np.array_equal(fast.accepting, slow.accepting)
    assert not fast.accepts_empty


# --- the DFA-level route for big repetitions and the Numba kernels agree with the NFA route ----


@pytest.mark.parametrize(
    "pattern",
    [
        r"[^\"\\]{0,40}",
        r"[^\"\\]{16}",
        r"[^\"\\]{3,20}",
        r"[a-z]{17,}",
        r"(ab|c){0,20}",
        r"é{20,30}",
        r'"([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}){2,20}"',
        r"x[0-9]{0,20}y?z*",
        r"(?:a+){16}",
        r"(a|ab){0,16}",
        r"(?:a*b){0,16}",
        r"[ab]{0,16}[bc]{0,16}",
        r"(?:|a){0,16}",
    ],
)
def test_dfa_level_route_equals_nfa_route(pattern):
    r = parse_regex(pattern)
    fast = regex_to_dfa(r)
    slow = fsm_module._nfa_route(r, 20_000)
    assert np.array_equal(fast.transitions, slow.transitions)
    assert np.array_equal(fast.accepting, slow.accepting)
    compiled = re.compile(pattern, re.ASCII)
    rng = random.Random(pattern)
    for _ in range(300):
        s = "".join(rng.choice('abcxyz09"\\é/u') for _ in range(rng.randint(0, 25)))
        assert fast.matches(s.encode()) == bool(compiled.fullmatch(s)), (pattern, s)


def _bfs_canonical(d: ByteDFA):
    """The table renumbered breadth first from state 0, visiting bytes in increasing order."""
    t = d.transitions
    order, new_id = [0], {0: 0}
    for s in order:
        for x in t[s].tolist():
            if x >= 0 and x not in new_id:
                new_id[x] = len(order)
                order.append(x)
    trans = np.array([[new_id[x] if x >= 0 else -1 for x in t[s].tolist()] for s in order], dtype=np.int32)
    return trans.reshape(-1, 256), d.accepting[order]


@pytest.mark.parametrize(
    "pattern",
    TWIN_PATTERNS + [r"(a|b)*a(a|b){12}", r"[^\"\\]{0,60}x*", r"(x|(?s:.){0,300})", r"(?:a|[^a]b|\u0100c){1,9}"],
)
def test_kernels_give_minimal_canonical_tables(pattern):
    # (a|b)*a(a|b){12}: 8k subsets before minimization, so every kernel buffer grows
    d = dfa(pattern)
    trans, acc = _bfs_canonical(d)
    assert np.array_equal(trans, d.transitions) and np.array_equal(acc, d.accepting)
    if d.num_states <= 200:  # the naive minimization is quadratic
        assert _naive_min_states(d) == d.num_states


def test_big_repetition_fails_fast_over_the_limit():
    import time

    t = time.perf_counter()
    with pytest.raises(ResourceLimitError):
        dfa(r"[^\"\\]{0,5000}")
    with pytest.raises(ResourceLimitError, match="NFA"):
        dfa(r"(a+b?){0,100000}")  # not glueable: the NFA route, refused before building
    assert time.perf_counter() - t < 1.0


_TOKENS = [
    "a",
    "b",
    "é",
    "😀",
    ".",
    "*",
    "+",
    "?",
    "{2}",
    "{1,3}",
    "{,2}",
    "{2,}",
    "(",
    ")",
    "(?:",
    "[ab]",
    "[^a]",
    "[a-é]",
    "^",
    "$",
    "|",
    "\\d",
    "\\w",
    "\\s",
    "\\W",
    "(?i)",
    "(?s)",
    "(?=",
    "(?!",
    "(?<=",
    "(?<!",
    "\\n",
    "x",
    "(?i:",
    "*?",
]


@pytest.mark.parametrize("seed", range(4))
def test_random_patterns_match_python_re(seed):
    rng = random.Random(seed)
    checked = 0
    for _ in range(300):
        pattern = "".join(rng.choice(_TOKENS) for _ in range(rng.randint(1, 8)))
        try:
            compiled = re.compile(pattern, re.ASCII)
            d = regex_to_dfa(parse_regex(pattern), max_states=2000)
        except (re.error, InvalidGrammarError, UnsupportedFeatureError, ResourceLimitError):
            continue  # test_regex covers the errors
        checked += 1
        for _ in range(40):
            s = "".join(rng.choice("abé😀xA\n1_ ") for _ in range(rng.randint(0, 6)))
            assert d.matches(s.encode()) == bool(compiled.fullmatch(s)), (pattern, s)
    assert checked > 40


def test_products_of_many_dfas():
    parts = [dfa(f"(?s).*{c}.*") for c in "abcdefg"]
    both = intersect_dfa(*parts)
    assert both.matches(b"gfedcba") and not both.matches(b"abcdef")
    assert union_dfa(*parts).matches(b"g") and not union_dfa(*parts).matches(b"h")
    odd = product_dfa(parts[:5], lambda f: sum(f) % 2 == 1)
    assert odd.matches(b"a") and not odd.matches(b"ab") and odd.matches(b"abc") and not odd.matches(b"")


def test_cache_is_bounded_by_table_bytes():
    # one 3-state table fits
    cache = fsm_module._DFACache(fsm_module._regex_to_dfa, max_bytes=4000, name="test.dfas", register=False)
    a, b = parse_regex("ab"), parse_regex("cd")
    da = cache(a)
    assert cache(a) is da and cache.cache.nbytes == da.transitions.nbytes + da.accepting.nbytes
    cache(b)
    assert len(cache.cache) == 1 and cache(b) is not None and cache.cache.nbytes <= cache.cache.max_bytes
    cache.cache_clear()
    assert cache.cache.nbytes == 0 and not len(cache.cache)


def test_determinization_respects_the_limit():
    with pytest.raises(ResourceLimitError, match="before minimization"):
        fsm_module._nfa_route(parse_regex(r"(a|b)*a(a|b){12}"), 1000)


# --- random IR trees (And/Not nested anywhere) against a naive code-point matcher -------------


def _ends(r, text: str, i: int, memo: dict) -> frozenset:
    key = (id(r), i)
    if key in memo:
        return memo[key]
    if isinstance(r, Chars):
        out = {i + 1} if i < len(text) and any(lo <= ord(text[i]) <= hi for lo, hi in r.ranges) else set()
    elif isinstance(r, Seq):
        out = {i}
        for item in r.items:
            out = set().union(*(_ends(item, text, j, memo) for j in out))
    elif isinstance(r, Alt):
        out = set().union(*(_ends(x, text, i, memo) for x in r.items))
    elif isinstance(r, Repeat):
        out = {i} if r.min == 0 else set()
        frontier, count = {i}, 0
        while frontier and (r.max is None or count < r.max) and count <= len(text) + r.min:
            count += 1
            frontier = set().union(*(_ends(r.item, text, j, memo) for j in frontier))
            if count >= r.min:
                out |= frontier
    elif isinstance(r, And):
        out = set.intersection(*(set(_ends(x, text, i, memo)) for x in r.items))
    else:
        out = set(range(i, len(text) + 1)) - _ends(r.item, text, i, memo)
    memo[key] = frozenset(out)
    return memo[key]


def _random_ir(rng: random.Random, depth: int):
    pick = rng.random()
    if depth == 0 or pick < 0.3:
        return rng.choice([chars("a"), chars("b"), chars("ab"), chars("é"), chars("a", "é"), EMPTY, literal("ab")])
    kids = [_random_ir(rng, depth - 1) for _ in range(rng.randint(1, 3))]
    if pick < 0.45:
        return seq(*kids)
    if pick < 0.6:
        return alt(*kids)
    if pick < 0.75:
        lo = rng.randint(0, 2)
        return Repeat(kids[0], lo, rng.choice([None, lo, lo + 1, lo + 2]))
    if pick < 0.88:
        return And(tuple(kids))
    return Not(kids[0])


@pytest.mark.parametrize("seed", range(6))
def test_random_ir_trees_match_naive_semantics(seed):
    rng = random.Random(seed)
    strings = [""] + ["".join(p) for n in range(1, 4) for p in itertools.product("abé", repeat=n)]
    for _ in range(25):
        r = _random_ir(rng, 4)
        d = regex_to_dfa(r)
        for s in strings:
            assert d.matches(s.encode()) == (len(s) in _ends(r, s, 0, {})), (r, s)


def test_product_of_many_dfas_with_many_classes_keeps_bytes_apart():
    # 20 DFAs with distinct byte partitions: a mixed-radix class code would overflow int64
    parts = [regex_to_dfa(Repeat(chars((32 + 3 * i, 34 + 3 * i), (0x80, 0x10FFFF)), 0, None)) for i in range(20)]
    both = product_dfa(parts, any)
    for i in range(20):
        assert both.matches(bytes([32 + 3 * i, 34 + 3 * i]))
    assert not both.matches(b"\x1f") and not both.matches(bytes([32, 35]))


# --- routes that skip work: glued boolean parts, cached NFA fragments, acyclic minimization -----

_BODY = parse_regex(r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*')
_KEYS = alt(*(literal(k) for k in ("a", "ab", "name", "nom", "\\u0041")))


@pytest.mark.parametrize(
    "inner, accepted, rejected",
    [
        (And((_BODY, Not(_KEYS))), ['"abc"', '""', '"n\\u0061me"'], ['"a"', '"name"', '"\\u0041"', '"a"b"']),
        (And((_BODY, And((_BODY, Not(_KEYS))))), ['"abc"'], ['"ab"']),
        (Not(_KEYS), ['"abc"', '"\x00"'], ['"nom"']),
        (And((_BODY, Not(_BODY))), [], ['""', '"a"']),
        (And((_BODY, parse_regex("[a-z]{2,5}"), Not(literal("ab")))), ['"abc"', '"ba"'], ['"ab"', '"a"', '"abcdef"']),
        (And((Not(_KEYS), Not(literal("x")))), ['"y"', '""'], ['"x"', '"ab"']),
    ],
)
def test_glued_boolean_parts_equal_the_nfa_route(inner, accepted, rejected):
    regex_to_dfa.cache_clear()
    r = seq(literal('"'), inner, literal('"'))
    fast = regex_to_dfa(r)
    slow = fsm_module._nfa_route(r, 20_000)
    assert np.array_equal(fast.transitions, slow.transitions)
    assert np.array_equal(fast.accepting, slow.accepting)
    assert all(fast.matches(t.encode()) for t in accepted)
    assert not any(fast.matches(t.encode()) for t in rejected)


def test_fragment_cache_reuse_and_eviction(monkeypatch):
    shared = alt(chars("a"), literal("\\u0061"))
    patterns = [seq(literal('"'), *(shared,) * n, literal('"')) for n in range(1, 6)]
    fragments = fsm_module.FRAGMENTS
    regex_to_dfa.cache_clear()
    warm = [regex_to_dfa(p) for p in patterns]
    assert len(fragments)  # the shared item was kept
    monkeypatch.setattr(fragments, "max_bytes", 40 * fsm_module.FRAGMENT_ENTRY_BYTES)
    regex_to_dfa.cache_clear()
    cold = [regex_to_dfa(p) for p in reversed(patterns)][::-1]
    assert 0 < fragments.nbytes <= 40 * fsm_module.FRAGMENT_ENTRY_BYTES
    for a, b in zip(warm, cold):
        assert np.array_equal(a.transitions, b.transitions) and np.array_equal(a.accepting, b.accepting)
    assert cold[2].matches(b'"a\\u0061a"') and not cold[2].matches(b'"aa"')
    regex_to_dfa.cache_clear()
    assert not len(fragments) and fragments.nbytes == 0


@pytest.mark.parametrize(
    "pattern, states",
    [("abc|abd|xbc|xbd", 4), ("(a|b)(c|d)(e|f)", 4), ("colou?r|colour", 7), ("a{0,5}", 6), ("[ab]{3}|c", 4)],
)
def test_finite_languages_are_minimal(pattern, states):
    d = dfa(pattern)
    assert d.num_states == states == _naive_min_states(d)
    trans, acc = _bfs_canonical(d)
    assert np.array_equal(trans, d.transitions) and np.array_equal(acc, d.accepting)


def test_product_arity():
    parts = [dfa(f"x{{{i},{100 + i}}}") for i in range(70)]  # components move in lockstep
    with pytest.raises(ValueError, match="at most"):
        product_dfa(parts, all)
    both = intersect_dfa(*parts)  # folded over chunks of at most MAX_PRODUCT_ARITY
    assert both.matches(b"x" * 69) and both.matches(b"x" * 100)
    assert not both.matches(b"x" * 68) and not both.matches(b"x" * 101)
    either = union_dfa(*parts)
    assert either.matches(b"") and either.matches(b"x" * 169) and not either.matches(b"x" * 170)


# --- co-finite key sets between literals: the direct construction equals the NFA route ---------


_NAME_PIECES = ["a", "b", "ab", "é", "名", "😀", "\\n", '\\"', "\\u0041", "x1", ""]


@pytest.mark.parametrize("seed", range(40))
def test_cofinite_route_equals_the_nfa_route(seed):
    rng = random.Random(seed)
    names = {"".join(rng.choice(_NAME_PIECES) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(1, 12))}
    body = _BODY if seed % 3 else parse_regex("[a-zé]*")
    removed = [alt(*(literal(n) for n in sorted(names)))] if seed % 2 else [literal(n) for n in sorted(names)]
    middle = And((body, *(Not(r) for r in removed)))
    prefix, suffix = [('"', '"'), ('"', '":'), ("", ""), ("k=", "")][seed % 4]
    r = Seq(tuple(x for x in (literal(prefix), middle, literal(suffix)) if x != EMPTY))
    regex_to_dfa.cache_clear()
    fast = fsm_module._cofinite_route(r, 20_000)
    assert fast is not None, (prefix, names, suffix)
    slow = fsm_module._nfa_route(r, 20_000)
    assert np.array_equal(fast.transitions, slow.transitions)
    assert np.array_equal(fast.accepting, slow.accepting)
    assert not any(fast.matches(f"{prefix}{n}{suffix}".encode()) for n in names)
    assert fast.matches(f"{prefix}zzz{suffix}".encode())


@pytest.mark.parametrize(
    "regex",
    [
        seq(literal('"'), And((_BODY, Not(parse_regex("a+")))), literal('"')),  # not a finite set
        seq(literal('"'), And((_BODY, parse_regex("[a-z]{2,5}"), Not(literal("ab")))), literal('"')),
        seq(parse_regex("x?"), And((_BODY, Not(literal("a")))), literal('"')),  # not a literal around it
        seq(literal("a"), And((parse_regex("a*"), Not(literal("a")))), literal("a")),  # suffix continues the body
        seq(literal('"'), And((parse_regex("[ab]{0,3}"), Not(literal("a")))), literal('"')),  # not a star
    ],
)
def test_cofinite_route_declines_other_shapes(regex):
    assert fsm_module._cofinite_route(regex, 20_000) is None
    fast = regex_to_dfa(regex)
    slow = fsm_module._nfa_route(regex, 20_000)
    assert np.array_equal(fast.transitions, slow.transitions)
    assert np.array_equal(fast.accepting, slow.accepting)

"""The JSON-string slice: which tokens are in it, and when a state lets it through whole."""

from __future__ import annotations

import pytest

from constrain.automata.fsm import regex_to_dfa
from constrain.automata.slices import (
    ALL_BYTES,
    SliceMemo,
    _successor_or_dead,
    byte_representatives,
    final_length,
    is_safe_text,
    safe_closed,
    safe_length_limit,
)
from naive import naive_safe_live_states, naive_safe_successor
from constrain.grammar.regex import parse_regex

text__safe = [
    (b"hello world", True),
    ("caf\u00e9 \u4e2d\u6587 \U0001f600".encode(), True),
    (b'say "hi"', False),
    (b"back\\slash", False),
    (b"tab\there", False),
    (b"\xe4\xbd", False),  # a partial UTF-8 character
    (b"", False),
]


@pytest.mark.parametrize("data,safe", text__safe)
def test_safe_text(data, safe):
    assert is_safe_text(data) is safe


# (regex, state reached after the prefix, expected limit with max_length 16)
pattern__prefix__limit = [
    (r'"[^"\\]*"', b'"', 16),  # loops: every slice token stays
    (r'"[^"\\]+"', b'"', 16),  # one step to the loop
    (r'"[^"\\]{0,5}"', b'"', 5),  # a chain of 5, then all dead and not accepting
    (r'"[^"\\]{0,5}"', b'"ab', 3),
    (r'"[a-z]*"', b'"', -1),  # some safe characters die, some live
    (r'[^"\\]{0,3}', b"", -1),  # the chain ends in an accepting state: lexemes could end
]


def _tables(dfa):
    final = dfa.accepting & (dfa.transitions < 0).all(axis=1)
    return final, dfa.accepting.reshape(-1, 1), naive_safe_live_states(dfa.transitions, final, ALL_BYTES)


@pytest.mark.parametrize("pattern,prefix,limit", pattern__prefix__limit)
def test_safe_length_limit(pattern, prefix, limit):
    dfa = regex_to_dfa(parse_regex(pattern))
    final, accept, _ = _tables(dfa)
    state = dfa.run(prefix)
    assert safe_length_limit(dfa.transitions, final, accept, state, 16, SliceMemo()) == limit


SAFE_CHARS = [chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\'] + [
    "\u00e9",
    "\u4e2d",
    "\U0001f600",
    "\u07ff",
    "\uffff",
]


def _naive_safe_live(dfa, final, state, depth=4):
    """Brute force: every string of up to ``depth`` sample safe characters stays alive and
    never passes a final state (enough for the small DFAs below)."""
    frontier = {state}
    for _ in range(depth):
        nxt = set()
        for s in frontier:
            for ch in SAFE_CHARS:
                t = s
                for b in ch.encode():
                    t = int(dfa.transitions[t, b])
                    if t < 0 or final[t]:
                        return False
                nxt.add(t)
        frontier = nxt
    return True


@pytest.mark.parametrize(
    "pattern",
    [
        r'"[^"\\]*"',
        r'"[^"\\]{0,3}"',
        r'"[a-z]*"',
        r'"(ab|[^"\\a]*)"',
        r'x[^"\\]*',
        r'"(\u4e2d\u6587|[^"\\\u4e2d])*"',
        r'"([^"\\]*|abc\u00e9)"',
    ],
)
def test_safe_live_states_equal_brute_force(pattern):
    """The search from one state (the kernel, with every byte and with one per class) and
    its twin, the fixed point over all states, against brute force."""
    dfa = regex_to_dfa(parse_regex(pattern))
    final, _, live = _tables(dfa)
    classes = byte_representatives(dfa.byte_classes())
    for state in range(dfa.num_states):
        want = _naive_safe_live(dfa, final, state)
        assert bool(live[state]) == want, (pattern, state)
        assert safe_closed(dfa.transitions, final, state) == want, (pattern, state)
        assert safe_closed(dfa.transitions, final, state, classes) == want, (pattern, state)


def test_a_string_other_than_some_names_keeps_every_slice_token():
    """Object keys beside declared properties: the DFA follows the names' trie, yet no safe
    character ever kills the string, so the whole slice stays: no chain of single states
    shows it (safe_length_limit), the closure search does (safe_closed)."""
    from constrain.grammar.ir import And, Not, alt, chars, literal, repeat, seq

    body = repeat(chars((0x20, 0x21), (0x23, 0x5B), (0x5D, 0x10FFFF)))
    key = seq(literal('"'), And((body, Not(alt(literal("name"), literal("age"))))), literal('"'))
    dfa = regex_to_dfa(key)
    final, accept, _ = _tables(dfa)
    for prefix in (b'"', b'"na'):  # the names' trie still branches here
        assert safe_length_limit(dfa.transitions, final, accept, dfa.run(prefix), 16, SliceMemo()) == -1
    for prefix in (b'"', b'"na', b'"name', b'"x'):
        assert safe_closed(dfa.transitions, final, dfa.run(prefix))


# (regex, prefix, characters to the final state with max_length 40, or -1)
pattern__prefix__final = [
    (r'"[^"\\]{32}', b'"', 32),  # the first chunk of a long string
    (r'"[^"\\]{32}', b'"abc', 29),
    (r'[^"\\]{32}', b"", 32),  # a middle chunk
    (r'"[^"\\]{0,31}"', b'"', -1),  # dead, not final, after 31
    (r'"[^"\\]*"', b'"', -1),  # loops
    (r'"[^"\\]{50}', b'"', -1),  # further than max_length
    (r'"[a-z]{5}', b'"', -1),  # some characters die at once
    (r'"([^"\\]{3}|[^"\\]{5})', b'"', 5),  # accepting on the way is still inside
    (r'"([^"\\]{3}|[^"\\]{5}x)', b'"', -1),  # final after 3, or on to 5
]


@pytest.mark.parametrize("pattern,prefix,length", pattern__prefix__final)
def test_final_length(pattern, prefix, length):
    dfa = regex_to_dfa(parse_regex(pattern))
    final, _, _ = _tables(dfa)
    assert final_length(dfa.transitions, final, dfa.run(prefix), 40, SliceMemo()) == length


@pytest.mark.parametrize(
    "pattern",
    [
        r'"[^"\\]*"',
        r'"[^"\\]{0,5}"',
        r'"[^"\\]{32}',
        r'"[a-z]*"',
        r'"(ab|[^"\\a]*)"',
        r'x[^"\\]*',
        r'"[^"\\\u00e9]{2}\u00e9?"',
        r'"(\u4e2d|[^"\\])*"',
        r'"[\u0080-\U0010FFFF]+"',
        r'"\d{4}-\d{2}"',
    ],
)
def test_safe_successor_kernel_equals_twin(pattern):
    """The kernel against tests/naive.py on every state, with every byte and with one byte
    per class."""
    dfa = regex_to_dfa(parse_regex(pattern))
    final = dfa.accepting & (dfa.transitions < 0).all(axis=1)
    for reps in (byte_representatives(), byte_representatives(dfa.byte_classes())):
        for state in range(dfa.num_states):
            got = _successor_or_dead(dfa.transitions, final, state, reps)
            assert got == naive_safe_successor(dfa.transitions, final, state, reps), (pattern, state)


def test_safe_successor_kernel_equals_twin_on_lexer_states():
    """On a grammar's lexer states (products of terminal DFAs: a long string's chunk beside
    its short form, keys beside a generic string), with the grammar's byte classes."""
    from constrain import Grammar, Matcher, Vocabulary, compile

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 300}, "tag": {"type": "string", "pattern": "^[a-z]+$"}},
        "additionalProperties": {"type": "string"},
    }
    compiled = compile(Grammar.from_json_schema(schema), Vocabulary.byte_level())
    m = Matcher(compiled)
    assert m.accept_bytes(b'{"name":"' + b"x" * 40 + b'","tag":"ab","other":"y"}')
    trans, _, _, _, final = compiled.lexers.tables
    assert compiled.lexers.num_states > 20
    for state in range(compiled.lexers.num_states):
        reps = compiled._lexer_byte_representatives(state)
        got = _successor_or_dead(trans, final, state, reps)
        assert got == naive_safe_successor(trans, final, state, reps), state
        assert got == naive_safe_successor(trans, final, state, byte_representatives()), state


def test_safe_successor_kernel_from_several_threads():
    """The kernel runs without the GIL on per-thread scratch arrays: threads testing the same
    DFA at once get the twin's answers."""
    import threading

    dfa = regex_to_dfa(parse_regex(r'"[^"\\]{0,60}"'))
    final = dfa.accepting & (dfa.transitions < 0).all(axis=1)
    reps = byte_representatives()
    want = [naive_safe_successor(dfa.transitions, final, s, reps) for s in range(dfa.num_states)]
    wrong = []

    def work():
        for _ in range(20):
            got = [_successor_or_dead(dfa.transitions, final, s, reps) for s in range(dfa.num_states)]
            if got != want:
                wrong.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong

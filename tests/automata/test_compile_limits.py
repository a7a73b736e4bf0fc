"""Compile-time limits that hold: a byte budget for automaton construction, deadlines in
loops that grow with the input, and Numba's first-use compilation kept off the user's
compile budget."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import constrain
from constrain import Grammar, Vocabulary
from constrain.automata import compiler as compiled_module
from constrain.automata.fsm import regex_to_dfa
from constrain.config import DEFAULT_LIMITS
from constrain.errors import ResourceLimitError
from constrain.grammar.gbnf import grammar_from_gbnf
from constrain.grammar.ir import Alt, alt, literal
from constrain.grammar.json_schema import grammar_from_json_schema
from constrain.grammar.regex import parse_regex

BYTES = Vocabulary.byte_level()


def test_subset_construction_stops_at_the_byte_budget():
    # (.{0,100}){0,100}: each DFA state is a set of thousands of NFA states; it once
    # allocated 8 GiB before numpy's MemoryError. CPU time, not wall time: the bound is on the
    # work done, whatever else the machine runs. A first compile outside the timer loads (or, on
    # an empty Numba cache, compiles for tens of seconds) the kernels: that is no grammar's cost.
    constrain.compile(Grammar.from_regex("a"), BYTES)
    start = time.process_time()
    with pytest.raises(ResourceLimitError, match="max_automaton_bytes"):
        constrain.compile(
            Grammar.from_regex("(.{0,100}){0,100}"),
            BYTES,
            limits=DEFAULT_LIMITS.replace(max_automaton_bytes=64 * 2**20),
        )
    assert time.process_time() - start < 20


def test_the_byte_budget_is_scoped_to_its_call():
    regex = parse_regex("(.{0,20}){0,20}")
    regex_to_dfa.cache_clear()
    with pytest.raises(ResourceLimitError, match="max_automaton_bytes"):
        regex_to_dfa(regex, max_bytes=2**16)
    regex_to_dfa.cache_clear()
    assert regex_to_dfa(regex).num_states > 0  # the default budget again


def test_alt_is_linear_and_keeps_first_occurrences():
    words = [literal(f"w{i}") for i in range(50_000)]
    start = time.monotonic()
    r = alt(*words, *words[:10], alt(words[3], words[4]))
    assert time.monotonic() - start < 2
    assert isinstance(r, Alt) and r.items == tuple(words)
    assert alt(words[0], words[0]) is words[0]
    assert alt() == Alt(())


def test_a_huge_enum_meets_the_deadline():
    start = time.monotonic()
    with pytest.raises(ResourceLimitError, match="max_compile_seconds"):
        grammar_from_json_schema({"enum": list(range(100_000))}, limits=DEFAULT_LIMITS.replace(max_compile_seconds=2))
    assert time.monotonic() - start < 6


def test_an_enum_of_thousands_compiles_in_linear_time():
    start = time.monotonic()
    g = grammar_from_json_schema({"enum": [f"v{i}" for i in range(5000)] + list(range(5000))})
    assert time.monotonic() - start < 15
    assert len(g.terminals) == 10_000


def test_a_gbnf_of_fifty_thousand_alternatives_meets_the_deadline():
    text = "root ::= " + " | ".join(f'"w{i}"' for i in range(50_000))
    start = time.monotonic()
    with pytest.raises(ResourceLimitError, match="max_compile_seconds"):
        grammar_from_gbnf(text, limits=DEFAULT_LIMITS.replace(max_compile_seconds=3))
    assert time.monotonic() - start < 12


def test_kernel_warm_up_is_not_charged_to_the_compile_budget(monkeypatch):
    monkeypatch.setattr(compiled_module, "_warm_kernels", lambda: time.sleep(1.5))
    grammar = Grammar.from_regex(r"\d{4}-\d{2}-\d{2}")
    compiled = constrain.compile(grammar, BYTES, limits=DEFAULT_LIMITS.replace(max_compile_seconds=1.0))
    assert compiled.vocab is BYTES


@pytest.mark.slow
def test_first_compile_on_an_empty_numba_cache_meets_a_short_budget(tmp_path):
    # Compiling the kernels from scratch takes tens of seconds on 2 cores.
    script = textwrap.dedent("""
        import constrain
        from constrain.config import DEFAULT_LIMITS
        grammar = constrain.Grammar.from_regex(r"\\d{4}-\\d{2}-\\d{2}")
        constrain.compile(grammar, constrain.Vocabulary.byte_level(),
                          limits=DEFAULT_LIMITS.replace(max_compile_seconds=5))
        print("ok")
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_alternatives_using_an_unproductive_rule_are_never_offered():
    grammar = grammar_from_gbnf('root ::= "a" r1 | "b"\nr1 ::= r1 "c"')
    compiled = constrain.compile(grammar, BYTES)
    m = constrain.Matcher(compiled)
    bitmask = constrain.allocate_token_bitmask(1, BYTES.size)
    m.fill_next_token_bitmask(bitmask)
    allowed = set(map(int, constrain.bitmask_to_bool(bitmask, BYTES.size)[0].nonzero()[0]))
    assert allowed == {ord("b")}

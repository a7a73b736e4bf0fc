"""A short seeded slice of the fuzzer (``fuzzcases``): every case compiles or raises a
library error, within its time limit, and compiled cases agree with their oracles. The long
run is ``benchmarks/fuzz.py`` (see docs/limits.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzcases import KINDS, run_case

#: Cases per kind in CI (about 30 s in all on 2 cores); the seeds are derandomized.
EXAMPLES = {"regex": 40, "schema": 40, "lark": 30, "gbnf": 12, "deep": 40, "misuse": 60}


@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_slice(kind):
    @settings(
        max_examples=EXAMPLES[kind],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(seed=st.integers(min_value=0, max_value=2**31 - 1))
    def case(seed):
        outcome = run_case(kind, seed)
        assert outcome.failure is None, f"{kind} seed {seed}: {outcome.failure}\ninput: {outcome.source}"

    case()


def test_a_crash_is_reported_not_raised(monkeypatch):
    import fuzzcases

    def boom(rng, case):
        case["source"] = "x"
        raise KeyError("boom")

    monkeypatch.setitem(fuzzcases.CHECKS, "regex", boom)
    outcome = run_case("regex", 0)
    assert outcome.result == "crash" and "KeyError" in outcome.failure and outcome.source == "x"


def test_walks_through_a_grammar_with_an_unproductive_rule_never_dead_end():
    # Found by the fuzzer (gbnf seed 36): r1 ::= r1 . derives nothing, and the masks once let
    # walks into alternatives that need it.
    import random

    import constrain
    from constrain.grammar.gbnf import grammar_from_gbnf
    from fuzzcases import BYTES, walk

    text = (
        'root ::= ([0-9])? r1 | "(" | . r0 ("ab" [^a] ")" | ")" [a-c]){0,} (")" . "(" | "ab"){1,3} '
        '(")" ([^a] r1 | . "ab") "x" | "ab" ")" ")")\n'
        'r0 ::= ")" ((. .){1,3} ("ab" "ab" "ab" | [a-c] r1 | "x"){2} | ([^a] | "x" "ab" r1 | r0){2} '
        '([0-9] ")" r1 | r1 [a-c] | r1)+){1,3} ([a-c] r1 | ("(" [^a] . | [0-9] r1 ")" | "ab" r1 ")")* '
        '(r1 [^a] | ")" r0 ")")* | [a-c])? "ab" | [^a] r0\n'
        "r1 ::= r1 ."
    )
    compiled = constrain.compile(grammar_from_gbnf(text), BYTES)
    rng = random.Random(36)
    for _ in range(40):
        walk(compiled, rng, max_bytes=200)


# (kind, seed, what it once did): cases the long runs found, each an oracle of the fuzzer's own
# that gave a wrong verdict or none in time; they must end within their limit, without failure.
FOUND = [
    ("regex", 2002044, "Python's re backtracked for minutes on (?:(?:(?:(?:[^a]){0,}){3,4}){0,}){1,}"),
    ("regex", 2006149, "Python's re backtracked for minutes on (?:(?:(?:(?:.)?){1,4})+){3,6}"),
    ("schema", 2002067, 'jsonschema rejected the RFC 3339 date "0000-11-29" (datetime has no year 0)'),
    ("gbnf", 1000259, "an ambiguous grammar's masks took seconds each, before max_earley_work"),
]


@pytest.mark.parametrize("kind, seed, what", FOUND, ids=[f"{k}-{s}" for k, s, _ in FOUND])
def test_cases_the_long_runs_found(kind, seed, what):
    outcome = run_case(kind, seed)
    assert outcome.failure is None, f"{what}: {outcome.failure}"

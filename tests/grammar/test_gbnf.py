"""The GBNF front end: grammars through the engine, checked against XGrammar's GBNF reader."""

from __future__ import annotations

import functools
import importlib.util
import sys

import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.errors import (
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from constrain.config import Limits
from constrain.grammar.gbnf import grammar_from_gbnf
from language import assert_language


@functools.lru_cache(maxsize=None)
def _compiled(text: str, start: str = "root"):
    return constrain.compile(grammar_from_gbnf(text, start=start), Vocabulary.byte_level())


def engine_accepts(text: str, sample: str, start: str = "root") -> bool:
    m = Matcher(_compiled(text, start))
    return m.accept_bytes(sample.encode("utf-8")) and m.is_accepting()


# An llama.cpp-style JSON grammar (after llama.cpp's grammars/json.gbnf).
JSON_GBNF = r"""
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
"""

# (grammar, accepted, rejected): XGrammar agrees with every verdict, except for the cases in
# NOT_XGRAMMAR, whose syntax XGrammar's reader lacks (it has no ".", no empty alternative and
# no \[ \] escapes in string literals, all of which llama.cpp's reader has).
NOT_XGRAMMAR = {"any_char", "empty_alternative", "json", "escaped_brackets"}
CASES = {
    "literals_and_escapes": (
        'root ::= "a\\x41\\u00e9\\t" | "\\"q\\"" | "\\U0001F600" | "\\\\n"\n',
        ["aAé\t", '"q"', "😀", "\\n"],
        ["aA", "aAe\t", "q", '"q', "\n"],
    ),
    "escaped_brackets": (
        'root ::= "[\\[\\]]" "\\r"\n',
        ["[[]]\r"],
        ["[]\r", "[[]]", "[\\[\\]]\r"],
    ),
    "classes": (
        "root ::= [a-c] [^a-c\\n] [\\]\\[] [-x] [\\x41-\\x43é]\n",
        ["aZ]-A", "cé[xé", "b!]xB"],
        ["da]-A", "aa]-A", "a\n]-A", "aZ]yA", "aZ]-D"],
    ),
    "repetitions": (
        'root ::= "a"{2} "b"{1,2} "c"{2,} "d"? "e"* "f"+ "g"{0,1}\n',
        ["aabccf", "aabbccccdeeeffg", "aabccff"],
        ["abccf", "aabbbccf", "aabcf", "aabccdd", "aabcc", "aabccfgg"],
    ),
    "groups_across_lines_and_comments": (
        'root ::= ( # a comment\n  "x" |\n  "y" "z"\n)+ tail # trailing\ntail ::= "!"\n',
        ["x!", "yz!", "xyzx!"],
        ["!", "y!", "x", "xy!"],
    ),
    "any_char": (
        'root ::= . "x"\n',
        ["éx", "\nx", "xx", "😀x"],
        ["x", "abx", ""],
    ),
    "recursion": (
        'root ::= list\nlist ::= "(" item* ")"\nitem ::= list | [a-z]\n',
        ["()", "(a)", "(a(b)c)", "((()))"],
        ["(", "(a", "a", "(A)", "())"],
    ),
    "overrun": (
        'root ::= [a-z]+ rest\nrest ::= [a-z] rest | [a-z] "."\n',
        ["ab.", "abc.", "abcdef."],
        ["a.", ".", "ab", "ab.."],
    ),
    "runs_between_recursion": (
        'root ::= "(" root ")" | [a-z]+ " "* | root "," root\n',
        ["a", "(ab  )", "((a),b)", "a ,b"],
        ["", "()", "(a", "a,", " a"],
    ),
    "empty_alternative": (
        'root ::= "a" opt "b"\nopt ::= "c" |\n',
        ["ab", "acb"],
        ["accb", "a"],
    ),
    "json": (
        JSON_GBNF,
        ["{}", '{"a": 1}', '{"a": [1, 2.5, -3e15], "b": {"c": null}}', '{"s": "x\\n\\u00e9"}'],
        ["[]", '{"a": 01}', '{"a":: 1}', '{"a": 1,}', '{"a": "\x01"}', "{'a': 1}"],
    ),
}


def xgrammar_accepts(text: str, sample: str) -> bool:
    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    return _is_grammar_accept_string(xgr.Grammar.from_ebnf(text), sample)


@pytest.mark.parametrize("name", sorted(set(CASES) - NOT_XGRAMMAR))
def test_case_table_matches_xgrammar(name):
    text, accepted, rejected = CASES[name]
    assert_language(lambda sample: xgrammar_accepts(text, sample), accepted, rejected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_accepts_and_rejects(name):
    text, accepted, rejected = CASES[name]
    assert_language(lambda sample: engine_accepts(text, sample), accepted, rejected)


def test_regular_grammar_becomes_one_terminal():
    g = grammar_from_gbnf('root ::= [0-9] "1" [0-9] x\nx ::= [0-9]+ "11"\n')
    assert g.kind == "gbnf" and g.start == "root" and g.ignore == ()
    assert [t.name for t in g.terminals] == ["<root>"]
    assert g == Grammar.from_gbnf('root ::= [0-9] "1" [0-9] x\nx ::= [0-9]+ "11"\n')


def test_units_that_greedy_lexing_would_overrun_are_split():
    # "[a-z]+" as one terminal would eat the letters that "rest" needs.
    text = 'root ::= [a-z]+ rest\nrest ::= [a-z] rest | [a-z] "." | "(" rest ")"\n'
    g = grammar_from_gbnf(text)
    assert {t.name for t in g.terminals} == {"[a-z]", "<rest>", '"("', '")"'}  # <rest> is [a-z] "."
    assert engine_accepts(text, "ab.") and not engine_accepts(text, "a.")
    # Where nothing after it can continue it, a run stays one terminal.
    g = grammar_from_gbnf('root ::= "(" root ")" | [a-z]+ ws\nws ::= [ ]*\n')
    assert "<root>" in {t.name for t in g.terminals}


# (right-recursive grammar, the same language written with repetition)
RIGHT_RECURSIVE = [
    (
        'root ::= "\\"" s "\\""\ns ::= "" | [^"\\\\] s | "\\\\" ["n\\\\] s\n',
        'root ::= "\\"" ([^"\\\\] | "\\\\" ["n\\\\])* "\\""\n',
    ),
    ('root ::= "a" root | "b" root | "c" | "dd"\n', 'root ::= ("a" | "b")* ("c" | "dd")\n'),
    ('root ::= x "!"\nx ::= "ab" x | "c" | "(" x ")"\n', None),  # recursion inside: kept
    ('root ::= x "!"\nx ::= "ab" x | y\ny ::= "(" x ")" | "c"\n', None),  # x ::= ("ab")* y
]


@pytest.mark.parametrize("text, iterative", RIGHT_RECURSIVE)
def test_right_recursion_is_lowered_as_repetition(text, iterative):
    # Arden's rule: the least solution of s = A s | B is A* B. A rewritten rule that uses no
    # recursive rule becomes one terminal, as its iterative form does.
    samples = _strings('ab"c\\n()d!', 3)
    if iterative is not None:
        g, h = grammar_from_gbnf(text), grammar_from_gbnf(iterative)
        assert len(g.terminals) == len(h.terminals) == 1
        for sample in samples:
            assert engine_accepts(text, sample) == engine_accepts(iterative, sample), sample
    if "xgrammar" in sys.modules or importlib.util.find_spec("xgrammar"):
        for sample in samples:
            assert engine_accepts(text, sample) == xgrammar_accepts(text, sample), sample


def test_start_argument_and_unreachable_rules_dropped():
    text = 'root ::= "a"\nother ::= "b" helper\nhelper ::= "c"\nunused ::= "d"\n'
    g = grammar_from_gbnf(text, start="other")
    assert g.start == "other"
    assert {r.name for r in g.rules} == {"other"}  # "other" is regular: one terminal, "bc"
    assert engine_accepts(text, "bc", start="other")
    assert not engine_accepts(text, "a", start="other")


def test_crlf_line_endings():
    text = 'root ::= "a" b\r\nb ::= "b"\r\n'
    assert engine_accepts(text, "ab")


def test_empty_class_removes_alternatives():
    text = 'root ::= "a" [] | "b"\n'
    assert engine_accepts(text, "b") and not engine_accepts(text, "a")
    with pytest.raises(UnsatisfiableGrammarError):
        grammar_from_gbnf('root ::= [] x\nx ::= "a"\n')


# --- errors --------------------------------------------------------------------------------

ERRORS = [
    ('root ::= "a" undefined-rule\n', "undefined rule 'undefined-rule' at line 1, column 14"),
    ('root ::= "a"\n\nother "b"\n', "expecting '::=' at line 3, column 7"),
    ('root ::= "abc\n', "unterminated string literal at line 1, column 10"),
    ('root ::= "\\q"\n', "unknown escape \\q at line 1, column 11"),
    ('root ::= "\\x4"\n', "expecting 2 hex digits after \\x at line 1, column 11"),
    ("root ::= [z-a]\n", "reversed range"),
    ("root ::= [abc\n", "unterminated character class"),
    ('root ::= "a"{3,1}\n', "max < min"),
    ('root ::= "a"{x}\n', "expecting an integer at line 1, column 14"),
    ('root ::= * "a"\n', "expecting an item before '*'"),
    ('root ::= ("a" | "b"\n', "expecting ')'"),
    ('root ::= "a" )\n', "expecting newline or end of input"),
    ('root ::= "a"\nroot ::= "b"\n', "rule 'root' is defined twice (first at line 1) at line 2, column 1"),
    ('main ::= "a"\n', "start rule 'root' is not defined (rules: main)"),
    ("", "start rule 'root' is not defined (rules: none)"),
    ('root ::= "a"\n  "b"\n', "expecting a rule name at line 2, column 3"),  # a rule ends at the newline
]


@pytest.mark.parametrize("text, message", ERRORS)
def test_invalid_grammars(text, message):
    with pytest.raises(InvalidGrammarError) as info:
        grammar_from_gbnf(text)
    assert message in str(info.value)


@pytest.mark.parametrize("text, shown", [('root ::= <[1000]> "a"\n', "<[1000]>"), ("root ::= !<|eot|>\n", "<|eot|>")])
def test_token_references_are_unsupported(text, shown):
    with pytest.raises(UnsupportedFeatureError) as info:
        grammar_from_gbnf(text)
    (feature,) = info.value.features
    assert feature.source == "gbnf" and shown in feature.name and feature.location == "line 1, column 10"


def test_repetition_size_is_bounded():
    with pytest.raises(ResourceLimitError):
        grammar_from_gbnf('root ::= "a"{0,5000}\n', limits=Limits(max_grammar_symbols=1000))


def test_non_string_input():
    with pytest.raises(InvalidGrammarError):
        grammar_from_gbnf(None)  # type: ignore[arg-type]


# --- random grammars against XGrammar: the choice of terminals never changes the language -----

_ATOMS = ['"a"', '"b"', '"ab"', '"ba"', '"abc"', "[ab]", "[bc]", "[^a]", '"c"']
_OPS = ["*", "+", "?", "{2}", "{0,2}", "{1,3}", "{2,}"]


def _random_gbnf(rng) -> str:
    names = ["root", "x", "y"][: rng.randint(1, 3)]

    def expr(depth: int) -> str:
        k = rng.random()
        if depth >= 3 or k < 0.35:
            return rng.choice(names) if rng.random() < 0.25 else rng.choice(_ATOMS)
        if k < 0.6:
            return " ".join(expr(depth + 1) for _ in range(rng.randint(2, 3)))
        if k < 0.8:
            return "(" + " | ".join(expr(depth + 1) for _ in range(rng.randint(2, 3))) + ")"
        return "(" + expr(depth + 1) + ")" + rng.choice(_OPS)

    # Every rule has a non-recursive way out, so no rule is unproductive.
    return "".join(f"{n} ::= {expr(0)} | {rng.choice(_ATOMS)}\n" for n in names)


def _strings(alphabet: str, max_len: int):
    out = [""]
    frontier = [""]
    for _ in range(max_len):
        frontier = [s + c for s in frontier for c in alphabet]
        out.extend(frontier)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_grammars_agree_with_xgrammar(seed):
    import random

    xgr = pytest.importorskip("xgrammar")
    from xgrammar.testing import _is_grammar_accept_string

    rng = random.Random(seed)
    samples = _strings("abc", 4)
    for _ in range(4):
        text = _random_gbnf(rng)
        reference = xgr.Grammar.from_ebnf(text)
        compiled = constrain.compile(grammar_from_gbnf(text), Vocabulary.byte_level())
        for sample in samples:
            m = Matcher(compiled)
            ours = m.accept_bytes(sample.encode()) and m.is_accepting()
            assert ours == _is_grammar_accept_string(reference, sample), (text, sample)


# The parenthesized alternatives recurse inside the rules, so that neither is rewritten as a
# repetition (test_right_recursion_is_lowered_as_repetition) and the units stay apart.
COLIVE_TEXT = 'root ::= "<" "a" root | "{" list | "b" | "(" root ")"\nlist ::= "ab}" list | "}" | "[" list "]"\n'


def test_units_never_live_together_do_not_conflict(monkeypatch):
    # "a" then "b" would overrun the unit "ab}", but "a" (after "<") and "ab}" (after "{")
    # are never live at the same point, so "ab}" stays one terminal.
    assert "<list>" in grammar_from_gbnf(COLIVE_TEXT).terminal_names
    for sample, expected in [("<ab", True), ("{ab}ab}}", True), ("<a{}", True), ("<a{ab}", False), ("{ab}", False)]:
        assert engine_accepts(COLIVE_TEXT, sample) is expected, sample
        assert xgrammar_accepts(COLIVE_TEXT, sample) is expected, sample
    # Without the analysis (too many states), every pair of terminals counts as live together.
    from constrain.grammar.gbnf import _Lowerer

    monkeypatch.setattr(_Lowerer, "MAX_COLIVE_STATES", 0)
    assert "<list>" not in grammar_from_gbnf(COLIVE_TEXT).terminal_names


@pytest.mark.parametrize("seed", range(3))
def test_random_grammars_without_the_liveness_analysis(seed, monkeypatch):
    from constrain.grammar.gbnf import _Lowerer

    monkeypatch.setattr(_Lowerer, "MAX_COLIVE_STATES", 0)
    test_random_grammars_agree_with_xgrammar(100 + seed)


# A fuzzer's grammar (seed 3000001) whose liveness exploration gives up: it spent about 15 s
# of Python per lowering pass before giving up, five passes in all, and so hit the compile
# deadline; the exploration's budget is now about a second, spent once.
GIVES_UP_TEXT = (
    'root ::= (r1 ")" | "ab" | .)+ (.){0,} r0\nr0 ::= "x" . | "x" | ("x" [a-c])? "ab" ")"\n'
    'r1 ::= r1 [a-c] . [a-c] [0-9] r2 | (")" [a-c] | r0){1,3} (r0 [^a] ")")+ "x" (")" | [^a])? r0\n'
    'r2 ::= ([^a] ("(" | "ab" r2){0,} r2 | "(" "ab") (r1 | r1 r0 (r0 [^a] . | "ab" "ab" "ab")+ | '
    'r1 "x" [0-9] "ab" r0 (r1 | "x" "("){2}) | [a-c] .'
)


def test_a_liveness_exploration_that_gives_up_costs_a_bounded_time(monkeypatch):
    import time

    from constrain.grammar.gbnf import _Lowerer

    calls = []
    explore = _Lowerer._colive

    def counted(self, *args):
        result = explore(self, *args)
        calls.append(result is None)
        return result

    monkeypatch.setattr(_Lowerer, "_colive", counted)
    start = time.process_time()
    grammar = grammar_from_gbnf(GIVES_UP_TEXT)
    assert time.process_time() - start < 10
    assert True in calls and calls[calls.index(True) :] == [True] * (len(calls) - calls.index(True))
    assert engine_accepts(GIVES_UP_TEXT, "abx") and not engine_accepts(GIVES_UP_TEXT, "ab")
    assert grammar.kind == "gbnf"

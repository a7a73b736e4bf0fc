"""The Lark front end: grammars through the engine, checked against Lark's own Earley parser."""

from __future__ import annotations

import functools

import lark
import pytest

import constrain
from constrain import Grammar, Matcher, Vocabulary
from constrain.errors import InvalidGrammarError, UnsupportedFeatureError
from constrain.grammar.ir import EMPTY, Chars, Repeat, Seq, chars, literal
from constrain.grammar.lark import grammar_from_lark, non_empty, nullable
from language import assert_language


@functools.lru_cache(maxsize=None)
def _compiled(text: str, start: str | None = None):
    return constrain.compile(grammar_from_lark(text, start=start), Vocabulary.byte_level())


def engine_accepts(text: str, sample: str, start: str | None = None) -> bool:
    m = Matcher(_compiled(text, start))
    return m.accept_bytes(sample.encode("utf-8")) and m.is_accepting()


def lark_accepts(text: str, sample: str, start: str = "start") -> bool:
    try:
        lark.Lark(text, start=start).parse(sample)
    except lark.exceptions.LarkError:
        return False
    return True


# (grammar, accepted, rejected): Lark's Earley parser agrees with every verdict.
CASES = {
    "rules_strings_ignore": (
        'start: "a" b\nb: "b" | "c"\n%ignore " "\n',
        ["ab", "a c", " a  b "],
        ["", "a", "abc", "ba", "a\tb"],
    ),
    "optional_star_plus_brackets": (
        'start: "x"? "y"* "z"+ ["w"]\n',
        ["z", "xz", "yyyzz", "xyzw", "zzzw"],
        ["", "x", "zx", "zww", "xxz", "w"],
    ),
    "tilde_repetition": (
        'start: "a" ~ 2..3 B\nB: "b" ~ 2\n',
        ["aabb", "aaabb"],
        ["abb", "aaaabb", "aab", "aabbb", "bb"],
    ),
    "regex_literals_and_flags": (
        'start: WORD "=" NUM ANGLE?\nWORD: /[a-z]+/i\nNUM: /[0-9] +/x\nANGLE: /<.+>/s\n',
        ["Hello=42", "x=1", "x=1<a\nb>", "ABC=007<>>"],
        ["x=", "=1", "x=4 2", "x=1<>", "h3=1"],
    ),
    "case_insensitive_string": (
        'start: "select"i NAME\nNAME: /[a-z]+/\n%ignore " "\n',
        ["SELECT x", "SeLeCt abc", "select y"],
        ["selec x", "SELECT", "SELECT X"],
    ),
    "import_common_number": (
        'start: SIGNED_NUMBER ("," SIGNED_NUMBER)*\n%import common.SIGNED_NUMBER\n%import common.WS\n%ignore WS\n',
        ["1", "1, 2.5, 3e4", "-1,+2", ".5", "1."],
        ["", "1,,2", "1,", "e5", "--1"],
    ),
    "import_list_and_alias": (
        "start: WORD (_SEP WORD)*\n%import common (WORD, WS_INLINE)\n%import common.NEWLINE -> _SEP\n%ignore WS_INLINE\n",
        ["abc", "abc\ndef", "a  \r\n  b\n\nc"],
        ["", "abc\n", "a1", "\nabc"],
    ),
    "escaped_string": (
        "start: ESCAPED_STRING+\n%import common.ESCAPED_STRING\n%import common.WS_INLINE\n%ignore WS_INLINE\n",
        ['"a"', '"a\\"b"', '"a" "b"', '"\\\\"', '""', '"tab\\there"', '"x\\\\" "y"'],
        ['"a', '"a\\"', '"a"b"', '"line\nbreak"', '"\\\\\\"', "'a'", '"a\\\nb"'],
    ),
    "c_comment": (
        'start: "x" "x"\n%import common.C_COMMENT\n%ignore C_COMMENT\n',
        ["xx", "x/* a */x", "x/** b **/x", "x/* * / */x", "x/**/x", "x/* a\n b */x", "/**/x/***/x/* */"],
        ["x/* a */ */x", "x/* a x", "x/*/x", "x/* */*/x"],
    ),
    "aliases_and_inlining": (
        'start: pair+ -> pairs\n?pair: _open NAME _close | NAME\n_open: "("\n_close: ")"\nNAME: /[a-z]+/\n%ignore " "\n',
        ["a", "(a)", "(a) b (c)", "a b"],
        ["()", "(a", "a)", "((a))"],
    ),
    "templates": (
        'start: _separated{NUM, ","}\n_separated{x, sep}: x (sep x)*\nNUM: /[0-9]+/\n',
        ["1", "1,2,3", "10,200"],
        ["", "1,,2", ",1", "1,"],
    ),
    "extend_and_override": (
        'start: a b\na: "x"\nb: "p"\n%extend a: "y"\n%override b: "q"\n',
        ["xq", "yq"],
        ["xp", "yp", "x", "zq"],
    ),
    "anonymous_regex_in_rule": (
        'start: /[0-9]+/ "+" /[0-9]+/\n',
        ["1+2", "10+200"],
        ["1+", "+2", "1+2+3", "a+b"],
    ),
    "terminal_references": (
        'start: FLOAT\nFLOAT: INT "." INT\nINT: DIGIT+\nDIGIT: "0".."9"\n',
        ["1.5", "10.25"],
        ["1.", ".5", "1", "a.b"],
    ),
    "left_and_right_recursion": (
        'start: l r\nl: l "a" | "b"\nr: "c" r | "d"\n',
        ["bd", "baacd", "bccd"],
        ["d", "bca", "ab"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_table_matches_lark(name):
    text, accepted, rejected = CASES[name]
    assert_language(lambda sample: lark_accepts(text, sample), accepted, rejected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_accepts_and_rejects(name):
    text, accepted, rejected = CASES[name]
    assert_language(lambda sample: engine_accepts(text, sample), accepted, rejected)


# Terminals that match "": Lark's dynamic Earley refuses them ("zero-width regexps"); here
# they become optional uses of their non-empty part.
NULLABLE_TERMINALS = {
    "nullable_terminal": (
        'start: "a" OPT "b"\nOPT: /c*/\n',
        ["ab", "acb", "accb"],
        ["a b", "acbc", "cab"],
    ),
    "nullable_ignore": (
        'start: "a" "b"\n%ignore /[ ]*/\n',
        ["ab", "a b", " a   b "],
        ["a\tb", "a"],
    ),
}


@pytest.mark.parametrize("name", sorted(NULLABLE_TERMINALS))
def test_nullable_terminals_become_optional(name):
    text, accepted, rejected = NULLABLE_TERMINALS[name]
    assert not lark_accepts(text, accepted[0])  # Lark: GrammarError, zero-width terminal
    assert_language(lambda sample: engine_accepts(text, sample), accepted, rejected)


def test_grammar_shape():
    g = grammar_from_lark('start: "(" NAME ")"\nNAME: /[a-z]+/\n%import common.WS\n%ignore WS\n')
    assert g.kind == "lark"
    assert g.start == "start"
    assert g.ignore == ("WS",)
    assert {t.name for t in g.terminals} == {"LPAR", "RPAR", "NAME", "WS"}
    assert all(type(r.name) is str for r in g.rules)
    assert g == Grammar.from_lark('start: "(" NAME ")"\nNAME: /[a-z]+/\n%import common.WS\n%ignore WS\n')


def test_start_argument():
    text = 'start: "a"\nother: "b" "c"\n'
    assert grammar_from_lark(text, start="other").start == "other"
    assert engine_accepts(text, "bc", start="other")
    assert not engine_accepts(text, "a", start="other")


def test_rule_priority_is_dropped_with_a_warning():
    text = 'start: a | b\na.2: "x"\nb: "x" "y"\n'
    g = grammar_from_lark(text)
    assert any("rule priority a.2" in w and "line 2" in w for w in g.warnings)
    assert engine_accepts(text, "x") and engine_accepts(text, "xy")


def test_relative_import_from_a_file(tmp_path):
    (tmp_path / "base.lark").write_text("NUMBER: /[0-9]+/\n")
    main = tmp_path / "main.lark"
    main.write_text('start: NUMBER "+" NUMBER\n%import .base.NUMBER\n')
    g = grammar_from_lark(main.read_text(), path=str(main))
    assert {t.name for t in g.terminals} >= {"NUMBER"}
    with pytest.raises(InvalidGrammarError, match="import"):
        grammar_from_lark("start: X\n%import .missing.X\n", path=str(main))


def test_terminal_matching_nothing_drops_its_alternatives():
    text = 'start: A | B | "b"\nA: /[^\\x00-\\U0010FFFF]/\nB: /a[^\\x00-\\U0010FFFF]/\n'
    g = grammar_from_lark(text)
    assert not {"A", "B"} & g.terminal_names
    assert engine_accepts(text, "b")


# --- errors --------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ('start: ("a"\n', "line"),
    ("start: a\n", "'a'"),  # undefined rule
    ('a: "x"\n', "start rule 'start' is not defined"),
    ('start: "a"\nstart: "b"\n', "more than once"),
    ('start: "a" ->\n', "line"),
    ("start: A\nA: /a[/\n", "terminal A"),
    ('start: ""\n', "mpty"),
]


@pytest.mark.parametrize("text, fragment", SYNTAX_ERRORS)
def test_invalid_grammars(text, fragment):
    with pytest.raises(InvalidGrammarError) as info:
        grammar_from_lark(text)
    assert fragment in str(info.value)


UNSUPPORTED = [
    ('start: A\nA.2: "a"\n', "terminal priority A.2", "line 2"),
    ("start: A\n%declare A\n", "%declare A", "line 2"),
    ("start: A\nA: /a(?=b)/\n", "lookahead in terminal A", "line 2"),
    ('start: "x" /(?<!y)z/\n', "negative lookbehind", "line 1, column 12"),
    ("start: A\nA: /^a/\n", "anchor ^ in terminal A", "line 2"),
    ("start: A\nA: /\\bword/\n", "word boundary", "line 2"),
    ("start: A\nA: /(a)\\1/\n", "backreference", "line 2"),
    ("start: A\nA: /a+?/\n", "lazy quantifier", "line 2"),
    ("start: A\nA: /[^\\s]+/\n", "Unicode class [^\\s]", "line 2"),
    ("start: A\nA: /\\S+/\n", "Unicode class \\S", "line 2"),
    ("start: A\nA: /a/u\n", "flag (?u)", "line 2"),
    ("start: COMMENT\n%import common (CPP_COMMENT, COMMENT)\nCOMMENT: /#.*?$/\n", "lazy quantifier", "line 3"),
]


@pytest.mark.parametrize("text, name, location", UNSUPPORTED)
def test_unsupported_features_name_construct_and_line(text, name, location):
    with pytest.raises(UnsupportedFeatureError) as info:
        grammar_from_lark(text)
    features = info.value.features
    assert all(f.source == "lark" for f in features)
    assert any(name in f.name and location in f.location for f in features), features


def test_all_unsupported_features_reported_together():
    text = 'start: A B C\nA.3: "a"\nB: /b(?!c)/\nC: /c*?/\n'
    with pytest.raises(UnsupportedFeatureError) as info:
        grammar_from_lark(text)
    names = " ".join(f.name for f in info.value.features)
    assert "terminal priority A.3" in names and "negative lookahead" in names and "lazy quantifier" in names


def test_non_string_input():
    with pytest.raises(InvalidGrammarError):
        grammar_from_lark(b'start: "a"')  # type: ignore[arg-type]


# --- the engine's lexing rule, where it departs from Lark's dynamic lexer ---------------------


@pytest.mark.parametrize(
    "text, sample",
    [
        # A lexeme grows while any live terminal can grow: "ab" is X, never A then "bc".
        ('start: A Z | X\nX: "ab"\nA: "a"\nZ: "bc"\n', "abc"),
        # re.match takes the first alternative that fits; the engine takes the longest lexeme.
        ('start: A "b"\nA: /a|ab/\n', "abb"),
    ],
)
def test_greedy_lexing_departs_from_lark(text, sample):
    assert lark_accepts(text, sample) != engine_accepts(text, sample)


# --- helpers ---------------------------------------------------------------------------------

A, B = chars("a"), chars("b")

NULLABLE = [
    (A, False),
    (EMPTY, True),
    (Repeat(A, 0, None), True),
    (Repeat(A, 1, None), False),
    (Seq((Repeat(A, 0, 1), Repeat(B, 0, None))), True),
    (Seq((Repeat(A, 0, 1), B)), False),
    (Repeat(Repeat(A, 0, 1), 2, 3), True),
]


@pytest.mark.parametrize("regex, expected", NULLABLE)
def test_nullable(regex, expected):
    assert nullable(regex) is expected


@pytest.mark.parametrize(
    "regex",
    [Repeat(A, 0, None), Seq((Repeat(A, 0, 1), Repeat(B, 0, None))), Repeat(Repeat(A, 0, 1), 2, 3), literal("")],
)
def test_non_empty_removes_exactly_the_empty_string(regex):
    from constrain.grammar.ecma_regex import ir_fullmatch

    result = non_empty(regex)
    assert not nullable(result)
    for sample in ["a", "b", "ab", "aa", "aab", "abb", "ba", "aaaa", "bbb"]:
        assert ir_fullmatch(result, sample) == ir_fullmatch(regex, sample), sample


@pytest.mark.parametrize(
    "regex, expected",
    [
        (Chars(()), True),
        (Seq((A, Chars(()))), True),
        (Repeat(Chars(()), 0, None), False),
        (literal(""), False),
        (A, False),
    ],
)
def test_matches_nothing(regex, expected):
    from constrain.grammar.lark import matches_nothing

    assert matches_nothing(regex) is expected


# --- optional items folded back into one alternative ---------------------------------------

FOLDED = [
    # (rule alternatives as Lark writes them out, the folded alternatives)
    (
        [("L", "A", "B", "R"), ("L", "B", "R"), ("L", "A", "R"), ("L", "R")],
        [("L", "A?", "B?", "R")],
    ),
    ([("L", "A", "R"), ("L", "R"), ("L", "D", "R")], [("L", "A?", "R"), ("L", "D", "R")]),
    ([("A", "B", "C"), ("A", "C"), ("A", "B")], [("A", "B", "C"), ("A", "C"), ("A", "B")]),  # no A alone
    ([("A", "A"), ("A",), ()], [("A?", "A?")]),  # repeated symbols: the set of subsequences
    ([("x",), ()], [("x",), ()]),  # r: x? stays: a helper would only add a level
    ([("r", "x"), ("x",)], [("r?", "x")]),  # the left-recursive rule of x+
    ([("L", "OPT?", "R"), ("L", "R")], [("L", "OPT?", "R")]),  # an optional terminal's helper
]


@pytest.mark.parametrize("alts, folded", FOLDED)
def test_optional_items_are_folded(alts, folded):
    from constrain.grammar.lark import _factor_optionals

    alternatives = {"r": list(alts), "OPT?": [(), ("OPT",)]}
    _factor_optionals(alternatives)
    assert alternatives["r"] == folded
    for name, alts_of in alternatives.items():
        if name.endswith("?") and name != "OPT?":
            assert alts_of == [(), (name[:-1],)]


def test_bracket_atom_is_one_alternative():
    grammar = grammar_from_lark('start: "[" A? B? C? D? E? "]"\nA: "a"\nB: "b"\nC: "c"\nD: "d"\nE: "e"\n')
    (start,) = [r for r in grammar.rules if r.name == "start"]
    assert start.alternatives == (("LSQB", "A?", "B?", "C?", "D?", "E?", "RSQB"),)  # not 32


def _derivable(grammar: Grammar, length: int) -> set:
    """The terminal sequences of at most ``length`` symbols the rules derive from the start
    (a fixpoint over bounded languages; no engine involved)."""
    names = {t.name for t in grammar.terminals}
    lang = {r.name: set() for r in grammar.rules}
    changed = True
    while changed:
        changed = False
        for rule in grammar.rules:
            for alternative in rule.alternatives:
                seqs = {()}
                for symbol in alternative:
                    parts = {(symbol,)} if symbol in names else lang[symbol]
                    seqs = {a + b for a in seqs for b in parts if len(a) + len(b) <= length}
                if not seqs <= lang[rule.name]:
                    lang[rule.name] |= seqs
                    changed = True
    return lang[grammar.start]


@pytest.mark.parametrize("seed", range(30))
def test_folding_keeps_the_language(seed, monkeypatch):
    import random

    from constrain.grammar import lark as lark_front_end

    rng = random.Random(seed)

    def item(depth: int) -> str:
        kind = rng.random()
        if depth > 1 or kind < 0.4:
            return rng.choice(["A", "B", "C", '"x"'])
        inner = " ".join(item(depth + 1) for _ in range(rng.randint(1, 3)))
        return rng.choice([f"({inner})?", f"[{inner}]", f"({inner})*", f"({inner})+", f"({inner} | B)"])

    while True:  # Lark refuses some (alternatives colliding once optionals are written out)
        body = " | ".join(" ".join(item(0) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 3)))
        text = f'start: {body} | start C\nA: "a"\nB: "b"\nC: "c"\n'
        try:
            folded = grammar_from_lark(text)
            break
        except InvalidGrammarError:
            continue
    monkeypatch.setattr(lark_front_end, "_factor_optionals", lambda alternatives: None)
    written_out = grammar_from_lark(text)
    assert _derivable(folded, 6) == _derivable(written_out, 6), text
    assert sum(len(r.alternatives) for r in folded.rules) <= sum(len(r.alternatives) for r in written_out.rules) + 8


def test_folding_stops_at_its_budget(monkeypatch):
    # Each group of 2**k candidates costs 2**k of the budget; past it, the groups already
    # found are folded and the rest of the grammar stays as Lark wrote it.
    from constrain.grammar import lark as lark_front_end

    def alternatives():
        return {
            "a": [("L", "X", "R"), ("L", "R")],  # 2 candidates
            "b": [("L", "X", "Y", "R"), ("L", "Y", "R"), ("L", "X", "R"), ("L", "R")],  # 4
            "c": [("L", "X", "R"), ("L", "R")],
        }

    for budget, folded in [(1 << 10, "abc"), (6, "ab"), (5, "a"), (1, "")]:
        monkeypatch.setattr(lark_front_end, "_FOLDING_BUDGET", budget)
        rules = alternatives()
        lark_front_end._factor_optionals(rules)
        assert {name for name in "abc" if len(rules[name]) == 1} == set(folded), budget

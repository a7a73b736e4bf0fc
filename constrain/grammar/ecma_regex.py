"""ECMAScript regular expressions (the dialect of JSON Schema's ``pattern``) to IR regexes.

JSON Schema patterns are ECMA-262 regexes and are *not* anchored: ``"abc"`` matches any
string containing ``abc``. :func:`ecma_search_regex` returns the IR regex of the strings (of
decoded characters) in which the pattern finds a match; :func:`parse_ecma` returns the
pattern's own language.

Semantics follow ECMA-262 with the ``u`` flag, as JSON Schema 2019-09 and later recommend:
characters are code points, ``.`` is any code point but a line terminator (``\\n``, ``\\r``,
U+2028, U+2029), ``\\d`` is ``[0-9]``, ``\\w`` is ``[A-Za-z0-9_]``, ``\\s`` is ECMAScript's
white space and line terminators. Annex B leniencies that do not change meaning are accepted
(a ``{`` that does not start a quantifier, a lone ``]`` or ``}`` are literals; ``\\-`` and
other identity escapes). ``^`` and ``$`` (no multiline flag) are supported where they sit at
the ends of the pattern, possibly inside groups at those ends. Lookaheads (``(?=...)``,
``(?!...)``) outside repetitions are exact: they intersect the rest of the string with (the
complement of) ``X.*``. Anchors elsewhere, lookbehinds, word boundaries, backreferences and Unicode property escapes cannot be lowered exactly and raise
:class:`~constrain.errors.UnsupportedFeatureError`. Syntax errors raise
:class:`~constrain.errors.InvalidGrammarError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from ..cache import memoize
from ..config import MAX_NESTING
from ..errors import Feature, InvalidGrammarError, ResourceLimitError, UnsupportedFeatureError
from .ir import (
    EMPTY,
    MAX_CODE_POINT,
    NOTHING,
    Alt,
    And,
    Chars,
    Not,
    Regex,
    Repeat,
    Seq,
    alt,
    chars,
    negate,
    normalize_ranges,
    nullable,
    repeat,
    seq,
    subtract_ranges,
)

DIGIT = chars("09")
WORD = chars("az", "AZ", "09", "_")
SPACE = Chars(
    normalize_ranges(
        [
            (0x09, 0x0D),
            (0x20, 0x20),
            (0xA0, 0xA0),
            (0x1680, 0x1680),
            (0x2000, 0x200A),
            (0x2028, 0x2029),
            (0x202F, 0x202F),
            (0x205F, 0x205F),
            (0x3000, 0x3000),
            (0xFEFF, 0xFEFF),
        ]
    )
)
LINE_TERMINATORS = Chars(((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)))
ANY_CHAR = Chars(((0, MAX_CODE_POINT),))
DOT = negate(LINE_TERMINATORS)

_SYNTAX = set("^$\\.*+?()[]{}|/")


@dataclass(frozen=True)
class _Anchor:
    """``^`` (start=True) or ``$``: kept apart from IR until the anchors are resolved."""

    start: bool


#: A parse-tree node, a tagged tuple: ``("alt", [nodes])``, ``("seq", [nodes])``,
#: ``("repeat", node, min, max)``, ``("group", node)``, ``("look", positive, node)``,
#: ``("anchor", _Anchor)`` or ``("re", Regex)``.
_Node = Tuple[Any, ...]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.depth = 0  # disjunctions open: the pattern's, then one per group
        self.p = pattern
        self.i = 0
        self.unsupported: List[Feature] = []
        self.groups = 0

    # --- helpers ------------------------------------------------------------------------

    def error(self, message: str) -> InvalidGrammarError:
        return InvalidGrammarError(f"invalid pattern {self.p!r} at position {self.i}: {message}")

    def unsupported_here(self, name: str, at: int) -> None:
        self.unsupported.append(Feature("regex", name, f"position {at}"))

    def peek(self, k: int = 0) -> Optional[str]:
        j = self.i + k
        return self.p[j] if j < len(self.p) else None

    def eat(self, s: str) -> bool:
        if self.p.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    # --- grammar ------------------------------------------------------------------------

    def parse(self) -> _Node:
        node = self.disjunction()
        if self.i < len(self.p):
            raise self.error("unbalanced ')'")
        return node

    def disjunction(self) -> _Node:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING + 1:
                raise ResourceLimitError(
                    f"pattern groups nest deeper than {MAX_NESTING} (constrain.config.MAX_NESTING) at position {self.i}"
                )
            return self._disjunction()
        finally:
            self.depth -= 1

    def _disjunction(self) -> _Node:
        alts = [self.alternative()]
        while self.eat("|"):
            alts.append(self.alternative())
        return ("alt", alts) if len(alts) > 1 else alts[0]

    def alternative(self) -> _Node:
        items: List[_Node] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self.term())
        return ("seq", items)

    def term(self) -> _Node:
        start = self.i
        c = self.p[self.i]
        if c == "^":
            self.i += 1
            return ("anchor", _Anchor(True))
        if c == "$":
            self.i += 1
            return ("anchor", _Anchor(False))
        if self.p.startswith("\\b", self.i) or self.p.startswith("\\B", self.i):
            self.i += 2
            self.unsupported_here("word boundary assertion", start)
            return ("re", EMPTY)
        if self.p.startswith("(?=", self.i) or self.p.startswith("(?!", self.i):
            positive = self.p[self.i + 2] == "="
            self.i += 3
            inner = self.disjunction()
            if not self.eat(")"):
                raise self.error("missing ')'")
            if _has_anchor(inner):
                self.unsupported_here("anchor inside a lookahead", start)
            # Annex B allows a quantifier after a lookahead; it repeats an empty match.
            if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._braces_ahead()):
                self.unsupported_here("quantified lookahead", start)
            return ("look", positive, inner)
        if self.p.startswith("(?<=", self.i) or self.p.startswith("(?<!", self.i):
            self.i += 4
            self.disjunction()
            if not self.eat(")"):
                raise self.error("missing ')'")
            self.unsupported_here("lookbehind assertion", start)
            return ("re", EMPTY)
        atom = self.atom()
        return self.quantifier(atom)

    def quantifier(self, atom: _Node) -> _Node:
        c = self.peek()
        lo: int
        hi: Optional[int]
        if c == "*":
            lo, hi = 0, None
            self.i += 1
        elif c == "+":
            lo, hi = 1, None
            self.i += 1
        elif c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "{":
            parsed = self.braces()
            if parsed is None:
                return atom
            lo, hi = parsed
        else:
            return atom
        self.eat("?")  # lazy: same language
        if atom[0] == "anchor":
            raise self.error("nothing to repeat")
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._braces_ahead()):
            raise self.error("nothing to repeat")
        return ("repeat", atom, lo, hi)

    def _braces_ahead(self) -> bool:
        save = self.i
        try:
            return self.braces() is not None
        finally:
            self.i = save

    def braces(self) -> Optional[Tuple[int, Optional[int]]]:
        """``{n}``, ``{n,}``, ``{n,m}``; None (position unchanged) if this ``{`` is a literal."""
        j = self.i + 1
        k = j
        while k < len(self.p) and self.p[k].isdigit():
            k += 1
        if k == j:
            return None
        lo = int(self.p[j:k])
        hi: Optional[int] = lo
        if k < len(self.p) and self.p[k] == ",":
            k += 1
            m = k
            while k < len(self.p) and self.p[k].isdigit():
                k += 1
            hi = int(self.p[m:k]) if k > m else None
        if k >= len(self.p) or self.p[k] != "}":
            return None
        if hi is not None and hi < lo:
            raise self.error("numbers out of order in {} quantifier")
        self.i = k + 1
        return lo, hi

    def atom(self) -> _Node:
        c = self.p[self.i]
        if c == ".":
            self.i += 1
            return ("re", DOT)
        if c == "(":
            self.i += 1
            if self.eat("?:"):
                pass
            elif self.eat("?<"):
                end = self.p.find(">", self.i)
                if end < 0:
                    raise self.error("unterminated group name")
                self.i = end + 1
                self.groups += 1
            elif self.peek() == "?":
                raise self.error("invalid group")
            else:
                self.groups += 1
            node = self.disjunction()
            if not self.eat(")"):
                raise self.error("missing ')'")
            return ("group", node)
        if c == ")":
            raise self.error("unbalanced ')'")
        if c == "[":
            return ("re", self.char_class())
        if c == "\\":
            return self.atom_escape()
        if c in "*+?":
            raise self.error("nothing to repeat")
        if c == "{" and self._braces_ahead():
            raise self.error("nothing to repeat")
        self.i += 1
        cp = ord(c)
        # A surrogate pair in the pattern string is one character.
        if 0xD800 <= cp <= 0xDBFF and self.i < len(self.p) and 0xDC00 <= ord(self.p[self.i]) <= 0xDFFF:
            cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(self.p[self.i]) - 0xDC00)
            self.i += 1
        return ("re", Chars(((cp, cp),)))

    def atom_escape(self) -> _Node:
        start = self.i
        self.i += 1
        c = self.peek()
        if c is None:
            raise self.error("\\ at end of pattern")
        if c.isdigit() and c != "0":
            # Backreference (or, in Annex B without enough groups, an octal escape).
            j = self.i
            while j < len(self.p) and self.p[j].isdigit():
                j += 1
            self.i = j
            self.unsupported_here("backreference", start)
            return ("re", EMPTY)
        if c == "k" and self.peek(1) == "<":
            end = self.p.find(">", self.i)
            self.i = end + 1 if end > 0 else len(self.p)
            self.unsupported_here("named backreference", start)
            return ("re", EMPTY)
        return ("re", self.class_escape(in_class=False))

    def class_escape(self, in_class: bool) -> Chars:
        """After a backslash: returns the character set the escape denotes."""
        start = self.i - 1
        c = self.p[self.i]
        self.i += 1
        simple = {"d": DIGIT, "D": negate(DIGIT), "w": WORD, "W": negate(WORD), "s": SPACE, "S": negate(SPACE)}
        if c in simple:
            return simple[c]
        controls = {"n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B, "f": 0x0C}
        if c in controls:
            return _one(controls[c])
        if c == "b" and in_class:
            return _one(0x08)
        if c == "0" and not (self.peek() or "").isdigit():
            return _one(0)
        if c == "0":
            # Annex B legacy octal escape, e.g. \012.
            j = self.i
            while j < len(self.p) and j < self.i + 2 and self.p[j] in "01234567":
                j += 1
            value = int(self.p[self.i - 1 : j], 8)
            self.i = j
            return _one(value)
        if c == "c":
            letter = self.peek()
            if letter is not None and letter.isascii() and letter.isalpha():
                self.i += 1
                return _one(ord(letter) % 32)
            self.i -= 1  # Annex B: "\c" is a literal backslash followed by c
            return _one(ord("\\"))
        if c == "x":
            h = self.p[self.i : self.i + 2]
            if len(h) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in h):
                self.i += 2
                return _one(int(h, 16))
            return _one(ord("x"))
        if c == "u":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                h = self.p[self.i + 1 : end] if end > 0 else ""
                if h and all(ch in "0123456789abcdefABCDEF" for ch in h) and int(h, 16) <= MAX_CODE_POINT:
                    self.i = end + 1
                    return _one(int(h, 16))
                raise self.error("invalid \\u{...} escape")
            h = self.p[self.i : self.i + 4]
            if len(h) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in h):
                self.i += 4
                cp = int(h, 16)
                if 0xD800 <= cp <= 0xDBFF and self.p.startswith("\\u", self.i):
                    lo_h = self.p[self.i + 2 : self.i + 6]
                    if len(lo_h) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in lo_h):
                        lo = int(lo_h, 16)
                        if 0xDC00 <= lo <= 0xDFFF:
                            self.i += 6
                            return _one(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00))
                return _one(cp)
            return _one(ord("u"))
        if c in "pP" and self.peek() == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                raise self.error("unterminated \\p{...}")
            name = self.p[self.i + 1 : end]
            self.i = end + 1
            found = _property_class(name)
            if found is None:
                self.unsupported_here(f"unicode property escape \\{c}{{{name}}}", start)
                return Chars(())
            if c == "P":
                # Complement within the assigned characters only: code points unassigned in
                # this Python's Unicode version are left out of both, never wrongly added.
                assigned = _property_class("Assigned")
                assert assigned is not None  # a name _property_class always knows
                return Chars(normalize_ranges(subtract_ranges(assigned.ranges, found.ranges)))
            return found
        # Identity escape (syntax characters, '/', '-', and Annex B's anything-else).
        cp = ord(c)
        if 0xD800 <= cp <= 0xDBFF and self.i < len(self.p) and 0xDC00 <= ord(self.p[self.i]) <= 0xDFFF:
            cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(self.p[self.i]) - 0xDC00)
            self.i += 1
        return _one(cp)

    def char_class(self) -> Chars:
        self.i += 1  # [
        negated = self.eat("^")
        ranges: List[Tuple[int, int]] = []
        while True:
            c = self.peek()
            if c is None:
                raise self.error("unterminated character class")
            if c == "]":
                self.i += 1
                break
            lo_set = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in (None, "]"):
                self.i += 1
                hi_set = self.class_atom()
                lo, hi = _single(lo_set), _single(hi_set)
                if lo is None or hi is None:
                    # Annex B: a class escape in a range makes '-' a literal.
                    ranges.extend(lo_set.ranges)
                    ranges.append((ord("-"), ord("-")))
                    ranges.extend(hi_set.ranges)
                    continue
                if lo > hi:
                    raise self.error("range out of order in character class")
                ranges.append((lo, hi))
            else:
                ranges.extend(lo_set.ranges)
        result = Chars(normalize_ranges(ranges))
        return negate(result) if negated else result

    def class_atom(self) -> Chars:
        c = self.p[self.i]
        if c == "\\":
            self.i += 1
            if self.peek() is None:
                raise self.error("\\ at end of pattern")
            if self.peek() == "-":
                self.i += 1
                return _one(ord("-"))
            return self.class_escape(in_class=True)
        self.i += 1
        cp = ord(c)
        if 0xD800 <= cp <= 0xDBFF and self.i < len(self.p) and 0xDC00 <= ord(self.p[self.i]) <= 0xDFFF:
            cp = 0x10000 + ((cp - 0xD800) << 10) + (ord(self.p[self.i]) - 0xDC00)
            self.i += 1
        return _one(cp)


_GC_LONG = {
    "Letter": "L",
    "Cased_Letter": "LC",
    "Uppercase_Letter": "Lu",
    "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt",
    "Modifier_Letter": "Lm",
    "Other_Letter": "Lo",
    "Mark": "M",
    "Combining_Mark": "M",
    "Nonspacing_Mark": "Mn",
    "Spacing_Mark": "Mc",
    "Enclosing_Mark": "Me",
    "Number": "N",
    "Decimal_Number": "Nd",
    "digit": "Nd",
    "Letter_Number": "Nl",
    "Other_Number": "No",
    "Punctuation": "P",
    "punct": "P",
    "Connector_Punctuation": "Pc",
    "Dash_Punctuation": "Pd",
    "Open_Punctuation": "Ps",
    "Close_Punctuation": "Pe",
    "Initial_Punctuation": "Pi",
    "Final_Punctuation": "Pf",
    "Other_Punctuation": "Po",
    "Symbol": "S",
    "Math_Symbol": "Sm",
    "Currency_Symbol": "Sc",
    "Modifier_Symbol": "Sk",
    "Other_Symbol": "So",
    "Separator": "Z",
    "Space_Separator": "Zs",
    "Line_Separator": "Zl",
    "Paragraph_Separator": "Zp",
    "Other": "C",
    "Control": "Cc",
    "cntrl": "Cc",
    "Format": "Cf",
    "Private_Use": "Co",
}


@lru_cache(maxsize=1)  # no arguments: one fixed table
def _categories() -> Dict[str, List[Tuple[int, int]]]:
    import unicodedata

    ranges: Dict[str, List[Tuple[int, int]]] = {}
    prev, start = None, 0
    for cp in range(MAX_CODE_POINT + 2):
        cat = unicodedata.category(chr(cp)) if cp <= MAX_CODE_POINT else None
        if cat != prev:
            if prev is not None:
                ranges.setdefault(prev, []).append((start, cp - 1))
            prev, start = cat, cp
    return ranges


# Bound: property names come from patterns (open-ended); about 70 are known.
@memoize("grammar.ecma_property_classes", maxsize=256)
def _property_class(name: str) -> Optional[Chars]:
    r"""``\p{name}`` for General_Category values (Python's Unicode data); None if unknown."""
    for prefix in ("General_Category=", "gc="):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    cats = _categories()
    if name in ("Any",):
        return Chars(((0, MAX_CODE_POINT),))
    if name == "ASCII":
        return Chars(((0, 0x7F),))
    if name == "Assigned":
        return Chars(normalize_ranges(r for cat, rs in cats.items() if cat not in ("Cn", "Cs") for r in rs))
    code = _GC_LONG.get(name, name)
    if code == "LC":
        wanted = {"Lu", "Ll", "Lt"}
    elif len(code) == 1 and code in "LMNPSZC":
        wanted = {c for c in cats if c[0] == code and c not in ("Cn", "Cs")}
    elif code in cats and code not in ("Cn", "Cs"):
        wanted = {code}
    else:
        return None
    return Chars(normalize_ranges(r for c in wanted for r in cats[c]))


def _one(cp: int) -> Chars:
    return Chars(((cp, cp),))


def _single(c: Chars) -> Optional[int]:
    if len(c.ranges) == 1 and c.ranges[0][0] == c.ranges[0][1]:
        return c.ranges[0][0]
    return None


# --- from the AST to IR, resolving the anchors ---------------------------------------------


class _MidAnchor(Exception):
    pass


_ANY_STRING = Repeat(ANY_CHAR, 0, None)


def _to_ir_cont(node: _Node, cont: Regex) -> Regex:
    """IR of ``node`` followed by ``cont`` (what the rest of the string must match); a
    lookahead intersects its continuation with ``X.*`` (or the complement of it)."""
    kind = node[0]
    if kind == "look":
        ahead = seq(_to_ir_cont(node[2], EMPTY), _ANY_STRING)
        return And((cont, ahead)) if node[1] else And((cont, Not(ahead)))
    if not _has_look(node):
        body = _to_ir(node)
        return body if cont == EMPTY else seq(body, cont)
    if kind == "group":
        return _to_ir_cont(node[1], cont)
    if kind == "alt":
        return alt(*(_to_ir_cont(n, cont) for n in node[1]))
    if kind == "seq":
        for item in reversed(node[1]):
            cont = _to_ir_cont(item, cont)
        return cont
    raise _LookInRepeat()


class _LookInRepeat(Exception):
    pass


def _has_look(node: _Node) -> bool:
    kind = node[0]
    if kind == "look":
        return True
    if kind == "group":
        return _has_look(node[1])
    if kind in ("alt", "seq"):
        return any(_has_look(n) for n in node[1])
    if kind == "repeat":
        return _has_look(node[1])
    return False


def _to_ir(node: _Node) -> Regex:
    """IR of an AST with no anchors or lookaheads left in it."""
    kind = node[0]
    if kind == "re":
        regex: Regex = node[1]
        return regex
    if kind == "group":
        return _to_ir(node[1])
    if kind == "alt":
        return alt(*(_to_ir(n) for n in node[1]))
    if kind == "seq":
        return seq(*(_to_ir(n) for n in node[1])) if node[1] else EMPTY
    if kind == "repeat":
        return repeat(_to_ir(node[1]), node[2], node[3])
    raise _MidAnchor()


def _variants(node: _Node) -> List[Tuple[bool, bool, _Node]]:
    """Split ``node`` into (anchored at start, anchored at end, anchor-free AST) variants."""
    kind = node[0]
    if kind == "anchor":
        return [(node[1].start, not node[1].start, ("seq", []))]
    if kind == "group":
        return _variants(node[1])
    if kind == "alt":
        out = []
        for n in node[1]:
            out.extend(_variants(n))
        return out
    if kind == "seq":
        items = node[1]
        if not items:
            return [(False, False, node)]
        if len(items) == 1:
            return _variants(items[0])
        first = _variants(items[0]) if _has_anchor(items[0]) else [(False, False, items[0])]
        last = _variants(items[-1]) if _has_anchor(items[-1]) else [(False, False, items[-1])]
        middle = items[1:-1]
        if any(_has_anchor(m) for m in middle):
            raise _MidAnchor()
        out = []
        for s1, e1, a1 in first:
            if e1:  # "$" followed by more pattern
                raise _MidAnchor()
            for s2, e2, a2 in last:
                if s2:  # "^" after some pattern
                    raise _MidAnchor()
                out.append((s1, e2, ("seq", [a1, *middle, a2])))
        return out
    if kind == "repeat":
        if _has_anchor(node[1]):
            raise _MidAnchor()
        return [(False, False, node)]
    return [(False, False, node)]


def _has_anchor(node: _Node) -> bool:
    kind = node[0]
    if kind == "anchor":
        return True
    if kind in ("group",):
        return _has_anchor(node[1])
    if kind in ("alt", "seq"):
        return any(_has_anchor(n) for n in node[1])
    if kind == "repeat":
        return _has_anchor(node[1])
    return False


def _parse(pattern: str) -> _Node:
    if not isinstance(pattern, str):
        raise InvalidGrammarError(f"a pattern must be a string, got {type(pattern).__name__}")
    parser = _Parser(pattern)
    ast = parser.parse()
    if parser.unsupported:
        raise UnsupportedFeatureError(parser.unsupported, hint=f"in pattern {pattern!r}")
    return ast


# Bound: the distinct patterns of the schemas compiled lately.
@memoize("grammar.ecma_patterns", maxsize=4096)
def parse_ecma(pattern: str) -> Regex:
    """The language of an ECMAScript pattern as a whole-string match (anchors must be absent).

    Raises:
        InvalidGrammarError: the pattern is not a valid ECMAScript regex.
        UnsupportedFeatureError: it uses anchors, lookarounds, backreferences, word
            boundaries or Unicode property escapes.
    """
    ast = _parse(pattern)
    try:
        return _to_ir_cont(ast, EMPTY)
    except _LookInRepeat:
        raise UnsupportedFeatureError(
            [Feature("regex", "lookahead inside a repetition", "pattern")], hint=f"in pattern {pattern!r}"
        ) from None
    except _MidAnchor:
        raise UnsupportedFeatureError([Feature("regex", "anchor", "pattern")], hint=f"in pattern {pattern!r}") from None


# Bound: the distinct patterns of the schemas compiled lately.
@memoize("grammar.ecma_search_regexes", maxsize=4096)
def ecma_search_regex(pattern: str, alphabet: Chars = ANY_CHAR) -> Regex:
    """The strings over ``alphabet`` in which ``pattern`` finds a match (JSON Schema semantics).

    Args:
        pattern: an ECMAScript regex, unanchored unless it uses ``^``/``$``.
        alphabet: the characters the padding around an unanchored match may use.

    Returns:
        An IR regex over code points.

    Raises:
        InvalidGrammarError: the pattern is not a valid ECMAScript regex.
        UnsupportedFeatureError: it needs lookarounds, backreferences, word boundaries,
            Unicode property escapes, or anchors that are not at its ends.
    """
    ast = _parse(pattern)
    pad = Repeat(alphabet, 0, None)
    try:
        variants = _variants(ast)
        parts = []
        for start, end, core in variants:
            body = _to_ir_cont(core, EMPTY if end else pad)
            parts.append(seq(pad, body) if not start else body)
    except _LookInRepeat:
        raise UnsupportedFeatureError(
            [Feature("regex", "lookahead inside a repetition", "pattern")], hint=f"in pattern {pattern!r}"
        ) from None
    except _MidAnchor:
        raise UnsupportedFeatureError(
            [Feature("regex", "anchor not at an end of the pattern", "pattern")], hint=f"in pattern {pattern!r}"
        ) from None
    return alt(*parts) if parts else NOTHING


# --- a small matcher over IR (Brzozowski derivatives), for checks at compile time ------------


def _in(c: Chars, cp: int) -> bool:
    for lo, hi in c.ranges:
        if lo <= cp <= hi:
            return True
        if cp < lo:
            return False
    return False


# Bound: a compile-time check takes the derivatives of one pattern by a few hundred code
# points; 65536 keeps those of the patterns checked lately.
@memoize("grammar.regex_derivatives", maxsize=65536)
def derivative(r: Regex, cp: int) -> Regex:
    """The Brzozowski derivative of ``r`` by the code point ``cp``."""
    if isinstance(r, Chars):
        return EMPTY if _in(r, cp) and not 0xD800 <= cp <= 0xDFFF else NOTHING
    if isinstance(r, Seq):
        if not r.items:
            return NOTHING
        head, rest = r.items[0], r.items[1:]
        tail = Seq(rest) if len(rest) != 1 else rest[0]
        d = derivative(head, cp)
        first = NOTHING if d == NOTHING else seq(d, tail) if rest else d
        if nullable(head):
            return alt(first, derivative(tail, cp)) if first != NOTHING else derivative(tail, cp)
        return first
    if isinstance(r, Alt):
        ds = [d for d in (derivative(x, cp) for x in r.items) if d != NOTHING]
        return alt(*ds) if ds else NOTHING
    if isinstance(r, Repeat):
        if r.max == 0:
            return NOTHING
        d = derivative(r.item, cp)
        if d == NOTHING:
            return NOTHING
        remaining = Repeat(r.item, max(r.min - 1, 0), None if r.max is None else r.max - 1)
        return seq(d, remaining)
    if isinstance(r, And):
        ds = [derivative(x, cp) for x in r.items]
        if any(d == NOTHING for d in ds):
            return NOTHING
        return And(tuple(ds))
    if isinstance(r, Not):
        return Not(derivative(r.item, cp))
    raise TypeError(f"not a regex: {r!r}")


def ir_fullmatch(r: Regex, text: str) -> bool:
    """Whether ``r`` matches all of ``text`` (code points); slow, for short strings."""
    for ch in text:
        r = derivative(r, ord(ch))
        if r == NOTHING:
            return False
    return nullable(r)


__all__ = ("ANY_CHAR", "DOT", "ecma_search_regex", "ir_fullmatch", "parse_ecma")

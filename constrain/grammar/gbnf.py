"""llama.cpp GBNF grammars, lowered to :class:`~constrain.grammar.ir.Grammar`.

The syntax follows llama.cpp's ``grammar-parser``: rules ``name ::= alternatives``; string
literals ``"..."`` and character classes ``[...]`` / ``[^...]`` with the escapes ``\\x..``,
``\\u....``, ``\\U........``, ``\\t \\n \\r \\\\ \\" \\[ \\]``; ``.`` (any character); groups;
``|``; the postfix operators ``* + ?`` and ``{m}``, ``{m,}``, ``{m,n}``; ``#`` comments. A
rule ends at a newline, except inside parentheses and right after ``::=`` or ``|``.

GBNF is character-level, while the engine lexes greedily (see :mod:`constrain.grammar.ir`).
The lowering keeps the character-level language exactly: every maximal regular part of a rule
(no reference to a recursive rule) starts as one terminal, and a terminal is split into its
parts, down to one-code-point terminals, while the greedy lexer could read past its end: while
some string ``w`` of a terminal and some character ``c`` that can follow it make ``w c`` a
prefix of a string of a terminal that can be live at the same point (an abstract Earley run
over-approximates which terminals can be live together). One-code-point terminals never
grow, so the split always ends. Fully regular grammars become a single terminal; few parser steps make masks fast.
Identical classes and parts share one terminal.

Departures from llama.cpp, none of which widens a language: left recursion is allowed (the
engine parses with Earley); a rule defined twice, a reversed range such as ``[z-a]`` and a
repetition bound ``{m,n}`` with ``n < m`` are errors; rule names may also contain ``_``.
Token references (``<[id]>``, ``<|token|>``, ``!<...>``) are reported as unsupported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple, Union

from ..config import DEFAULT_LIMITS, MAX_NESTING, Limits
from ..errors import (
    Feature,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from .ir import (
    EMPTY,
    MAX_CODE_POINT,
    Alt,
    Chars,
    Grammar,
    Regex,
    Repeat,
    Rule,
    Seq,
    Terminal,
    alt,
    normalize_ranges,
    nullable,
    repeat,
    seq,
)
from .lark import matches_nothing, non_empty

_SURROGATES = (0xD800, 0xDFFF)
#: Largest count in ``{m,n}``: each repetition is a copy in the grammar or the automaton, so
#: bigger counts could never fit ``Limits`` anyway.
MAX_REPEAT = 1_000_000
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}

# --- the syntax tree -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Chars:
    """One code point from ``ranges`` (already normalised, surrogates removed)."""

    ranges: Tuple[Tuple[int, int], ...]


@dataclass(frozen=True)
class _Ref:
    name: str
    line: int
    column: int


@dataclass(frozen=True)
class _Seq:
    items: Tuple["_Node", ...]


@dataclass(frozen=True)
class _Alt:
    items: Tuple["_Node", ...]


@dataclass(frozen=True)
class _Repeat:
    item: "_Node"
    min: int
    max: Optional[int]


_Node = Union[_Chars, _Ref, _Seq, _Alt, _Repeat]


def _without_surrogates(ranges: Iterable[Tuple[int, int]]) -> Tuple[Tuple[int, int], ...]:
    out = []
    for lo, hi in normalize_ranges(ranges):
        if hi < _SURROGATES[0] or lo > _SURROGATES[1]:
            out.append((lo, hi))
            continue
        if lo < _SURROGATES[0]:
            out.append((lo, _SURROGATES[0] - 1))
        if hi > _SURROGATES[1]:
            out.append((_SURROGATES[1] + 1, hi))
    return tuple(out)


def _complement(ranges: Iterable[Tuple[int, int]]) -> Tuple[Tuple[int, int], ...]:
    out = []
    prev = 0
    for lo, hi in normalize_ranges(ranges):
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAX_CODE_POINT:
        out.append((prev, MAX_CODE_POINT))
    return _without_surrogates(out)


# --- the parser ----------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the text, with llama.cpp's rules for where newlines may go."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.rules: Dict[str, _Node] = {}
        self.rule_lines: Dict[str, int] = {}
        self.depth = 0  # open parentheses
        self.tick: Callable[[], None] = lambda: None  # the deadline's check, from grammar_from_gbnf

    # positions and errors

    def where(self, pos: Optional[int] = None) -> Tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def location(self, pos: Optional[int] = None) -> str:
        line, column = self.where(pos)
        return f"line {line}, column {column}"

    def error(self, message: str, pos: Optional[int] = None) -> InvalidGrammarError:
        return InvalidGrammarError(f"GBNF: {message} at {self.location(pos)}")

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def skip_space(self, newline_ok: bool) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "#":
                while self.pos < len(text) and text[self.pos] not in "\r\n":
                    self.pos += 1
            elif ch in " \t" or (newline_ok and ch in "\r\n"):
                self.pos += 1
            else:
                break

    @staticmethod
    def is_word_char(ch: str) -> bool:
        return ch != "" and (ch.isascii() and (ch.isalnum() or ch in "-_"))

    def parse_name(self) -> str:
        start = self.pos
        while self.is_word_char(self.peek()):
            self.pos += 1
        if self.pos == start:
            raise self.error("expecting a rule name")
        return self.text[start : self.pos]

    # the grammar

    def parse(self) -> None:
        self.skip_space(True)
        while self.pos < len(self.text):
            self.parse_rule()

    def parse_rule(self) -> None:
        name_pos = self.pos
        name = self.parse_name()
        self.skip_space(False)
        if not self.text.startswith("::=", self.pos):
            raise self.error("expecting '::='")
        self.pos += 3
        self.skip_space(True)
        body = self.parse_alternates(nested=False)
        ch = self.peek()
        if ch == "\r":
            self.pos += 2 if self.peek(1) == "\n" else 1
        elif ch == "\n":
            self.pos += 1
        elif ch:
            raise self.error(f"expecting newline or end of input, found {ch!r}")
        if name in self.rules:
            raise self.error(f"rule {name!r} is defined twice (first at line {self.rule_lines[name]})", name_pos)
        self.rules[name] = body
        self.rule_lines[name] = self.where(name_pos)[0]
        self.skip_space(True)

    def parse_alternates(self, nested: bool) -> _Node:
        options = [self.parse_sequence(nested)]
        while self.peek() == "|":
            if len(options) % 1024 == 0:
                self.tick()
            self.pos += 1
            self.skip_space(True)
            options.append(self.parse_sequence(nested))
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def parse_sequence(self, nested: bool) -> _Node:
        items: List[_Node] = []
        while self.pos < len(self.text):
            ch = self.peek()
            start = self.pos
            if ch == '"':
                self.pos += 1
                chars = []
                while self.peek() != '"':
                    if self.pos >= len(self.text):
                        raise self.error("unterminated string literal", start)
                    chars.append(self.parse_char())
                self.pos += 1
                items.append(_Seq(tuple(_Chars(((c, c),)) for c in chars)))
            elif ch == "[":
                self.pos += 1
                negated = self.peek() == "^"
                if negated:
                    self.pos += 1
                ranges: List[Tuple[int, int]] = []
                while self.peek() != "]":
                    if self.pos >= len(self.text):
                        raise self.error("unterminated character class", start)
                    first = self.parse_char()
                    last = first
                    if self.peek() == "-" and self.peek(1) not in ("]", ""):
                        self.pos += 1
                        range_pos = self.pos
                        last = self.parse_char()
                        if last < first:
                            raise self.error(
                                f"reversed range {chr(first)!r}-{chr(last)!r} in character class", range_pos
                            )
                    ranges.append((first, last))
                self.pos += 1
                items.append(_Chars(_complement(ranges) if negated else _without_surrogates(ranges)))
            elif self.is_word_char(ch):
                line, column = self.where()
                items.append(_Ref(self.parse_name(), line, column))
            elif ch == "(":
                if self.depth >= MAX_NESTING:
                    raise ResourceLimitError(
                        f"GBNF: groups nest deeper than {MAX_NESTING} (constrain.config.MAX_NESTING) "
                        f"at {self.location()}"
                    )
                self.pos += 1
                self.depth += 1
                self.skip_space(True)
                inner = self.parse_alternates(nested=True)
                if self.peek() != ")":
                    raise self.error("expecting ')'")
                self.pos += 1
                self.depth -= 1
                items.append(inner)
            elif ch == ".":
                self.pos += 1
                items.append(_Chars(_complement(())))
            elif ch in "*+?":
                if not items:
                    raise self.error(f"expecting an item before {ch!r}")
                self.pos += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
                items[-1] = _Repeat(items[-1], lo, hi)
            elif ch == "{":
                if not items:
                    raise self.error("expecting an item before '{'")
                self.pos += 1
                self.skip_space(nested)
                lo = self.parse_int()
                self.skip_space(nested)
                if self.peek() == "}":
                    hi = lo
                elif self.peek() == ",":
                    self.pos += 1
                    self.skip_space(nested)
                    hi = self.parse_int() if self.peek().isdigit() else None
                    self.skip_space(nested)
                    if self.peek() != "}":
                        raise self.error("expecting '}'")
                else:
                    raise self.error("expecting ',' or '}'")
                self.pos += 1
                if hi is not None and hi < lo:
                    raise self.error(f"repetition {{{lo},{hi}}} has max < min", start)
                items[-1] = _Repeat(items[-1], lo, hi)
            elif ch == "<" or (ch == "!" and self.peek(1) == "<"):
                line, column = self.where()
                end = self.text.find(">", self.pos)
                shown = self.text[self.pos : end + 1] if end >= 0 else self.text[self.pos : self.pos + 10]
                raise UnsupportedFeatureError(
                    [Feature("gbnf", f"token reference {shown}", f"line {line}, column {column}")],
                    hint="GBNF token references name tokenizer ids; write the text as a string literal",
                )
            else:
                break
            self.skip_space(nested)
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def parse_int(self) -> int:
        start = self.pos
        while self.peek().isdigit() and self.peek().isascii():
            self.pos += 1
        if self.pos == start:
            raise self.error("expecting an integer")
        if self.pos - start > len(str(MAX_REPEAT)):
            raise ResourceLimitError(
                f"GBNF: repetition count {self.text[start : self.pos]} at {self.location(start)} is over {MAX_REPEAT}"
            )
        value = int(self.text[start : self.pos])
        if value > MAX_REPEAT:
            raise ResourceLimitError(f"GBNF: repetition count {value} at {self.location(start)} is over {MAX_REPEAT}")
        return value

    def parse_char(self) -> int:
        ch = self.peek()
        if ch != "\\":
            self.pos += 1
            return ord(ch)
        start = self.pos
        esc = self.peek(1)
        if esc in _SIMPLE_ESCAPES:
            self.pos += 2
            return ord(_SIMPLE_ESCAPES[esc])
        if esc in _HEX_ESCAPES:
            n = _HEX_ESCAPES[esc]
            digits = self.text[self.pos + 2 : self.pos + 2 + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.error(f"expecting {n} hex digits after \\{esc}", start)
            value = int(digits, 16)
            if value > MAX_CODE_POINT:
                raise self.error(f"code point \\{esc}{digits} is beyond U+10FFFF", start)
            self.pos += 2 + n
            return value
        if esc == "":
            raise self.error("unexpected end of input after '\\'", start)
        raise self.error(f"unknown escape \\{esc}", start)


# --- lowering ------------------------------------------------------------------------------


def _class_name(ranges: Tuple[Tuple[int, int], ...]) -> str:
    """A readable, unique terminal name; GBNF rule names cannot contain ``"`` or ``[``."""
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return '"' + _show(ranges[0][0]) + '"'
    if ranges == _complement(()):
        return "[.]"
    return "[" + "".join(_show(lo) if lo == hi else f"{_show(lo)}-{_show(hi)}" for lo, hi in ranges) + "]"


def _show(cp: int) -> str:
    ch = chr(cp)
    if ch in '\\"[]-^':
        return "\\" + ch
    if ch.isprintable() and not ch.isspace():
        return ch
    return f"\\x{cp:02X}" if cp < 0x100 else (f"\\u{cp:04X}" if cp < 0x10000 else f"\\U{cp:08X}")


def _children(node: _Node) -> Tuple[_Node, ...]:
    if isinstance(node, (_Seq, _Alt)):
        return node.items
    if isinstance(node, _Repeat):
        return (node.item,)
    return ()


def _mentions(nodes: Iterable[_Node], name: str) -> bool:
    """Whether ``nodes`` reference rule ``name`` anywhere inside (not following references)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, _Ref) and node.name == name:
            return True
        stack.extend(_children(node))
    return False


def _right_recursion_as_repetition(rules: Dict[str, _Node]) -> Dict[str, _Node]:
    """Rewrite each rule that references itself only at the end of top-level alternatives,
    ``s ::= A1 s | ... | Ak s | B1 | ... | Bm``, as ``s ::= (A1 | ... | Ak)* (B1 | ... | Bm)``.

    The language of a rule is the least solution of its equation, and the least solution of
    ``s = A s | B`` is ``A* B`` (Arden's rule), so the language is the same. The rewritten rule
    no longer references itself; when nothing else it uses is recursive it is regular and
    becomes one terminal, as its iterative form would. (XGrammar's JSON grammar writes strings
    this way, ``basic_string_1 ::= "" | [^"\\] basic_string_1 | ...``; kept as a rule over
    one-character terminals, every mask stepped the parser at each byte of the vocabulary's
    trie, 10 ms a mask on Qwen2's vocabulary where the terminal's masks take 0.2 ms.)
    """
    out: Dict[str, _Node] = {}
    for name, body in rules.items():
        heads: List[_Node] = []
        bases: List[_Node] = []
        for alternative in body.items if isinstance(body, _Alt) else (body,):
            items = alternative.items if isinstance(alternative, _Seq) else (alternative,)
            if items and isinstance(items[-1], _Ref) and items[-1].name == name and not _mentions(items[:-1], name):
                heads.append(items[0] if len(items) == 2 else _Seq(items[:-1]))
            elif not _mentions(items, name):
                bases.append(alternative)
            else:
                heads = []  # recursion elsewhere: keep the rule as written
                break
        if heads and bases:
            repeated = heads[0] if len(heads) == 1 else _Alt(tuple(heads))
            base = bases[0] if len(bases) == 1 else _Alt(tuple(bases))
            out[name] = _Seq((_Repeat(repeated, 0, None), base))
        else:
            out[name] = body
    return out


class _TooBig(Exception):
    pass


class _Alphabet:
    """The code points split into the intervals that no character class of the grammar
    cuts; a set of characters is an ``int`` bitmask over the intervals."""

    def __init__(self, classes: Iterable[Tuple[Tuple[int, int], ...]]) -> None:
        bounds = {0, MAX_CODE_POINT + 1}
        for ranges in classes:
            for lo, hi in ranges:
                bounds.add(lo)
                bounds.add(hi + 1)
        self.starts = sorted(bounds)[:-1]
        self.index = {b: i for i, b in enumerate(self.starts)}

    def mask(self, ranges: Tuple[Tuple[int, int], ...]) -> int:
        m = 0
        for lo, hi in ranges:
            i = self.index[lo]
            j = self.index[hi + 1] if hi < MAX_CODE_POINT else len(self.starts)
            m |= ((1 << (j - i)) - 1) << i
        return m


def _bits(m: int) -> Iterable[int]:
    while m:
        low = m & -m
        yield low.bit_length() - 1
        m ^= low


class _DFA:
    """A DFA over the alphabet's intervals, trimmed to states that can still accept."""

    def __init__(self, regex: Regex, alphabet: _Alphabet, max_states: int) -> None:
        eps: List[List[int]] = []
        edges: List[List[Tuple[int, int]]] = []

        def new() -> int:
            if len(eps) > 8 * max_states:
                raise _TooBig
            eps.append([])
            edges.append([])
            return len(eps) - 1

        def build(r: Regex, s: int) -> int:  # Thompson: returns the end state
            if isinstance(r, Chars):
                e = new()
                edges[s].append((alphabet.mask(r.ranges), e))
                return e
            if isinstance(r, Seq):
                for item in r.items:
                    s = build(item, s)
                return s
            if isinstance(r, Alt):
                e = new()
                for item in r.items:
                    b = new()
                    eps[s].append(b)
                    eps[build(item, b)].append(e)
                return e
            assert isinstance(r, Repeat), r
            for _ in range(r.min):
                s = build(r.item, s)
            if r.max is None:
                loop = new()
                eps[s].append(loop)
                eps[build(r.item, loop)].append(loop)
                return loop
            e = new()
            for _ in range(r.max - r.min):
                eps[s].append(e)
                s = build(r.item, s)
            eps[s].append(e)
            return e

        start = new()
        final = build(regex, start)

        def closure(states: Iterable[int]) -> FrozenSet[int]:
            out, stack = set(states), list(states)
            while stack:
                for t in eps[stack.pop()]:
                    if t not in out:
                        out.add(t)
                        stack.append(t)
            return frozenset(out)

        ids = {closure([start]): 0}
        order = list(ids)
        trans: List[Dict[int, int]] = []
        i = 0
        while i < len(order):
            moves: Dict[int, Set[int]] = {}
            for q in order[i]:
                for m, t in edges[q]:
                    for b in _bits(m):
                        moves.setdefault(b, set()).add(t)
            row: Dict[int, int] = {}
            for b, targets in moves.items():
                key = closure(targets)
                if key not in ids:
                    if len(order) >= max_states:
                        raise _TooBig
                    ids[key] = len(order)
                    order.append(key)
                row[b] = ids[key]
            trans.append(row)
            i += 1
        self.accepting = [final in q for q in order]
        live = {n for n, acc in enumerate(self.accepting) if acc}
        changed = True
        while changed:
            changed = False
            for n, row in enumerate(trans):
                if n not in live and any(t in live for t in row.values()):
                    live.add(n)
                    changed = True
        self.trans = [{b: t for b, t in row.items() if t in live} for row in trans]
        self.out = [sum(1 << b for b in row) for row in self.trans]

    @property
    def first(self) -> int:
        return self.out[0]

    def intersects(self, other: "_DFA") -> bool:
        """Whether some string is in both languages."""
        return self._product_reaches(other, lambda a, b: self.accepting[a] and other.accepting[b])

    def overgrows(self, other: "_DFA", follow: int) -> bool:
        """Whether some ``w`` in this language and ``c`` in ``follow`` make ``w c`` a prefix
        of a string of ``other``: then the greedy lexer, with ``other`` live, reads past ``w``."""
        if not follow:
            return False
        return self._product_reaches(other, lambda a, b: self.accepting[a] and bool(follow & other.out[b]))

    def _product_reaches(self, other: "_DFA", goal: Callable[[int, int], bool]) -> bool:
        """Whether some pair of states that one string leads both automata to has ``goal``."""
        seen = {(0, 0)}
        stack = [(0, 0)]
        while stack:
            a, b = stack.pop()
            if goal(a, b):
                return True
            for bit in _bits(self.out[a] & other.out[b]):
                pair = (self.trans[a][bit], other.trans[b][bit])
                if pair not in seen:
                    seen.add(pair)
                    stack.append(pair)
        return False


def _check_deadline(deadline: float, limits: Limits) -> None:
    if time.monotonic() > deadline:
        raise ResourceLimitError(
            f"GBNF: reading and lowering took longer than {limits.max_compile_seconds}s "
            "(Limits.max_compile_seconds); a grammar with thousands of alternatives that "
            "the greedy lexer cannot take as one terminal is checked pair by pair"
        )


class _Lowerer:
    """Lowers the syntax tree, turning maximal regular parts into terminals where the greedy
    lexer provably splits the text where the character-level grammar does, and into rules
    over one-character terminals elsewhere."""

    MAX_UNIT_DFA_STATES = 2000

    def __init__(self, rules: Dict[str, _Node], limits: Limits, deadline: Optional[float] = None) -> None:
        self.source = rules
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_compile_seconds if deadline is None else deadline
        self.nodes: Dict[int, _Node] = {}
        classes = []
        stack = list(rules.values())
        while stack:
            node = stack.pop()
            self.nodes[id(node)] = node
            if isinstance(node, _Chars):
                classes.append(node.ranges)
            stack.extend(_children(node))
        self.alphabet = _Alphabet(classes)
        self.regular_rules = self._regular_rules()
        self._regular: Dict[int, bool] = {}
        self._ir: Dict[int, Regex] = {}
        self.atomic: Set[int] = set()  # ids of nodes
        for body in rules.values():
            self._mark(body)
        self.colive_gave_up = False

    def tick(self) -> None:
        """The safety checks compare terminals pairwise: a grammar of many alternatives
        must meet ``Limits.max_compile_seconds`` here too."""
        _check_deadline(self.deadline, self.limits)

    # which parts are regular

    def _regular_rules(self) -> Set[str]:
        """Rules that reference (transitively) no recursive rule and no undefined one, and
        whose regex, with the rules they reference inlined, nests at most MAX_NESTING * 2
        nodes deep (deeper ones stay rules). A least fixed point, computed without recursion:
        a rule becomes regular once every rule it references is."""
        refs: Dict[str, Set[str]] = {}
        height: Dict[str, int] = {}  # node depth of the body, references counting as leaves
        for name, body in self.source.items():
            names: Set[str] = set()
            deepest = 0
            stack = [(body, 1)]
            while stack:
                node, depth = stack.pop()
                deepest = max(deepest, depth)
                if isinstance(node, _Ref):
                    names.add(node.name)
                stack.extend((child, depth + 1) for child in _children(node))
            refs[name] = names
            height[name] = deepest
        users: Dict[str, List[str]] = {}
        waiting: Dict[str, int] = {}
        for name, names in refs.items():
            waiting[name] = len(names)
            for used in names:
                users.setdefault(used, []).append(name)
        nesting: Dict[str, int] = {}
        ready = [name for name, count in waiting.items() if count == 0]
        regular: Set[str] = set()
        while ready:
            name = ready.pop()
            nesting[name] = height[name] + max((nesting[r] for r in refs[name]), default=0)
            if nesting[name] > 2 * MAX_NESTING:
                continue  # stays a rule, and so do the rules that use it
            regular.add(name)
            for user in users.get(name, ()):
                if user in self.source:
                    waiting[user] -= 1
                    if waiting[user] == 0:
                        ready.append(user)
        return regular

    def is_regular(self, node: _Node) -> bool:
        key = id(node)
        if key not in self._regular:
            if isinstance(node, _Ref):
                self._regular[key] = node.name in self.regular_rules
            else:
                self._regular[key] = all(self.is_regular(c) for c in _children(node))
        return self._regular[key]

    def _mark(self, node: _Node) -> None:
        if isinstance(node, _Chars):
            return
        if self.is_regular(node):
            self.atomic.add(id(node))
        else:
            for child in _children(node):
                self._mark(child)

    def demote(self, key: int) -> None:
        self.atomic.discard(key)
        for child in _children(self.nodes[key]):
            if not isinstance(child, _Chars):
                self.atomic.add(id(child))

    def to_ir(self, node: _Node) -> Regex:
        """The IR regex of a regular node, built children first without recursion (a chain
        of regular rules inlines one into the next)."""
        stack = [(node, False)]
        steps = 0
        while stack:
            steps += 1
            if steps % 4096 == 0:
                self.tick()
            current, ready = stack.pop()
            key = id(current)
            if key in self._ir:
                continue
            if isinstance(current, _Chars):
                self._ir[key] = Chars(current.ranges)
                continue
            kids = (self.source[current.name],) if isinstance(current, _Ref) else _children(current)
            if not ready:
                stack.append((current, True))
                stack.extend((kid, False) for kid in kids if id(kid) not in self._ir)
                continue
            parts = [self._ir[id(kid)] for kid in kids]
            if isinstance(current, _Ref):
                r: Regex = parts[0]
            elif isinstance(current, _Seq):
                r = seq(*parts) if parts else EMPTY
            elif isinstance(current, _Alt):
                r = alt(*parts)
            else:
                r = repeat(parts[0], current.min, current.max)
            self._ir[key] = r
        return self._ir[id(node)]

    # one lowering pass

    def _reset(self) -> None:
        self.char_terminals: Dict[Tuple[Tuple[int, int], ...], str] = {}
        self.unit_terminals: Dict[Regex, str] = {}
        self.unit_nodes: Dict[str, List[int]] = {}
        self.rules: Dict[str, List[Tuple[str, ...]]] = {}
        self.counter: Dict[str, int] = {}
        self.symbols = 0

    def fresh(self, base: str) -> str:
        n = self.counter.get(base, 0) + 1
        self.counter[base] = n
        return f"{base}#{n}"

    def add_rule(self, name: str, alternatives: List[Tuple[str, ...]]) -> str:
        self.symbols += sum(len(a) for a in alternatives) + 1
        if self.symbols > self.limits.max_grammar_symbols:
            raise ResourceLimitError(
                f"GBNF grammar expands to more than {self.limits.max_grammar_symbols} symbols "
                "(max_grammar_symbols); large {m,n} repetitions multiply the grammar"
            )
        self.rules[name] = alternatives
        return name

    def char_terminal(self, ranges: Tuple[Tuple[int, int], ...]) -> str:
        if not ranges:
            return "#void"
        name = self.char_terminals.get(ranges)
        if name is None:
            name = self.char_terminals[ranges] = _class_name(ranges)
        return name

    def unit(self, node: _Node, owner: str) -> str:
        regex = self.to_ir(node)
        if matches_nothing(regex):
            return "#void"
        optional = nullable(regex)
        if optional:
            regex = non_empty(regex)
            if matches_nothing(regex):
                return self.rules.get("#empty") and "#empty" or self.add_rule("#empty", [()])
        if isinstance(regex, Chars):
            name = self.char_terminal(regex.ranges)
        else:
            found = self.unit_terminals.get(regex)
            if found is None:
                n = self.counter.get(f"<{owner}>", 0) + 1
                self.counter[f"<{owner}>"] = n
                found = self.unit_terminals[regex] = f"<{owner}>" if n == 1 else f"<{owner}:{n}>"
            name = found
            self.unit_nodes.setdefault(name, []).append(id(node))
        if not optional:
            return name
        opt = f"{name}?"
        return opt if opt in self.rules else self.add_rule(opt, [(), (name,)])

    def alternatives(self, node: _Node, owner: str) -> List[Tuple[str, ...]]:
        if isinstance(node, _Alt) and id(node) not in self.atomic:
            out: List[Tuple[str, ...]] = []
            for item in node.items:
                out.extend(self.alternatives(item, owner))
            return out
        return [self.sequence(node, owner)]

    def sequence(self, node: _Node, owner: str) -> Tuple[str, ...]:
        if isinstance(node, _Seq) and id(node) not in self.atomic:
            out: List[str] = []
            for item in node.items:
                out.extend(self.sequence(item, owner))
            return tuple(out)
        return (self.symbol(node, owner),)

    def symbol(self, node: _Node, owner: str) -> str:
        if isinstance(node, _Chars):
            return self.char_terminal(node.ranges)
        if id(node) in self.atomic:
            return self.unit(node, owner)
        if isinstance(node, _Ref):
            if node.name not in self.source:
                raise InvalidGrammarError(
                    f"GBNF: undefined rule {node.name!r} at line {node.line}, column {node.column}"
                )
            return node.name
        if isinstance(node, (_Seq, _Alt)):
            if isinstance(node, _Seq) and len(node.items) == 1:
                return self.symbol(node.items[0], owner)
            return self.add_rule(self.fresh(owner), self.alternatives(node, owner))
        assert isinstance(node, _Repeat)
        copies = node.min if node.max is None else node.max
        if self.symbols + copies > self.limits.max_grammar_symbols:  # before making the copies
            raise ResourceLimitError(
                f"GBNF grammar expands to more than {self.limits.max_grammar_symbols} symbols "
                f"(max_grammar_symbols): a repetition makes {copies} copies"
            )
        item = self.symbol(node.item, owner)
        if node.max is None:
            # R -> R item | <empty>, then item{min} R
            star = self.fresh(owner)
            self.add_rule(star, [(), (star, item)])
            if node.min == 0:
                return star
            return self.add_rule(self.fresh(owner), [(item,) * node.min + (star,)])
        # item{min} O_k where O_j -> <empty> | item O_{j-1}: one parse per string
        tail: Tuple[str, ...] = ()
        for _ in range(node.max - node.min):
            opt = self.add_rule(self.fresh(owner), [(), (item,) + tail])
            tail = (opt,)
        if node.min == 0 and len(tail) == 1:
            return tail[0]
        return self.add_rule(self.fresh(owner), [(item,) * node.min + tail])

    def _pass(self, start: str) -> None:
        self._reset()
        for name, body in self.source.items():
            if id(body) in self.atomic:
                self.add_rule(name, [(self.unit(body, name),)])
            else:
                self.add_rule(name, self.alternatives(body, name))
        # Undefined references are errors even in unreachable rules; check them all.
        for node in self.nodes.values():
            if isinstance(node, _Ref) and node.name not in self.source:
                raise InvalidGrammarError(
                    f"GBNF: undefined rule {node.name!r} at line {node.line}, column {node.column}"
                )
        # Drop alternatives that match nothing (an empty class), to a fixpoint.
        void = {"#void"}
        changed = True
        while changed:
            changed = False
            for name, alts in self.rules.items():
                if name in void:
                    continue
                kept = [a for a in alts if not void.intersection(a)]
                if len(kept) != len(alts):
                    self.rules[name] = kept
                    changed = True
                if not kept:
                    void.add(name)
        if start in void:
            raise UnsatisfiableGrammarError(f"GBNF: rule {start!r} matches nothing (an empty class [] in every path)")
        reached = {start}
        stack = [start]
        while stack:
            for alt_ in self.rules[stack.pop()]:
                for sym in alt_:
                    if sym in self.rules and sym not in reached:
                        reached.add(sym)
                        stack.append(sym)
        self.rules = {n: a for n, a in self.rules.items() if n in reached}

    # safety of the unit terminals

    def _unsafe_units(self, start: str) -> List[str]:
        regex_of: Dict[str, Regex] = {name: Chars(r) for r, name in self.char_terminals.items()}
        regex_of.update({name: r for r, name in self.unit_terminals.items()})
        used = {s for alts in self.rules.values() for a in alts for s in a if s not in self.rules}
        dfas: Dict[str, _DFA] = {}
        too_big = []
        for name in used:
            self.tick()
            try:
                dfas[name] = _DFA(regex_of[name], self.alphabet, self.MAX_UNIT_DFA_STATES)
            except _TooBig:
                too_big.append(name)
        if too_big:
            return too_big
        follow = self._follow(dfas, start)
        multi = [n for n in used if n in self.unit_nodes]
        colive = self._colive(start, dfas)
        unsafe = []
        for e2 in multi:
            self.tick()
            rivals = used if colive is None else colive.get(e2, ())
            if any(follow[e1] and dfas[e1].overgrows(dfas[e2], follow[e1]) for e1 in rivals):
                unsafe.append(e2)
        return unsafe

    MAX_COLIVE_STATES = 20_000
    #: Items all closures of the exploration may add together; past it the exploration
    #: gives up (sound: every pair of terminals then counts as live together). About a
    #: second of Python: explorations that finish need far less (the library grammars and
    #: the tests' a few thousand), and one that gives up has spent this much for nothing.
    MAX_COLIVE_WORK = 300_000

    def _colive(self, start: str, dfas: Dict[str, _DFA]) -> Optional[Dict[str, Set[str]]]:
        """For each terminal, the terminals that can be live at the same point, from an
        abstract Earley run: items are (rule position, position of the item that predicted
        the rule), and sets of them are explored for every terminal that can be read. Sound:
        every real Earley set maps into an explored set. None when the exploration is too big
        (then every pair of terminals counts as live together). Once an exploration gives
        up, later passes (whose grammars only grow as units are demoted) do not try again."""
        if self.colive_gave_up:
            return None
        rules = self.rules
        cores: List[Tuple[str, Tuple[str, ...], int]] = []
        first_core: Dict[str, List[int]] = {}
        for name, alts in rules.items():
            first_core[name] = []
            for a in alts:
                first_core[name].append(len(cores))
                cores.extend((name, a, dot) for dot in range(len(a) + 1))
        nxt = [a[dot] if dot < len(a) else None for _, a, dot in cores]
        lhs = [name for name, _, _ in cores]
        # All reachable (core, parent core) pairs, parent -1 for the start.
        parents: Dict[int, Set[int]] = {}
        work = [(c, -1) for c in first_core[start]]
        for c, p in work:
            parents.setdefault(c, set()).add(p)
        done_by: Dict[str, Set[int]] = {}  # rule -> parents of its completed items
        while work:
            if len(work) % 4096 == 0:
                self.tick()
            c, p = work.pop()
            new: List[Tuple[int, int]] = []
            sym = nxt[c]
            if sym is None:
                if p >= 0:
                    done_by.setdefault(lhs[c], set()).add(p)
                    new.extend((p + 1, q) for q in list(parents.get(p, ())))
            elif sym in rules:
                new.extend((fc, c) for fc in first_core[sym])
                if c in done_by.get(sym, ()):  # sym already completed under this parent
                    new.extend((c + 1, q) for q in list(parents.get(c, ())))
                new.append((c, p))  # re-examined below only if new
            else:
                new.append((c + 1, p))
            for item in new:
                if item[1] not in parents.setdefault(item[0], set()):
                    parents[item[0]].add(item[1])
                    work.append(item)
                    # a new parent of a waiting core can take completions already seen
                    ic, ip = item
                    waiting_on = nxt[ic]
                    if waiting_on in rules and ic in done_by.get(waiting_on, ()):
                        work.append((ic, ip))

        def closure(items: Iterable[Tuple[int, int, bool]]) -> FrozenSet[Tuple[int, int, bool]]:
            # Items are (core, parent core, local): local items were predicted in this set, so
            # their parent item is here too and completes exactly; the others complete through
            # every parent the global relation allows.
            out: Set[Tuple[int, int, bool]] = set()
            here: Dict[int, List[Tuple[int, bool]]] = {}
            completed_here: Set[int] = set()  # parent cores whose local child rule completed
            stack: List[Tuple[int, int, bool]] = []

            def add(item: Tuple[int, int, bool]) -> None:
                if item not in out:
                    out.add(item)
                    here.setdefault(item[0], []).append((item[1], item[2]))
                    stack.append(item)

            for item in items:
                add(item)
            while stack:
                c, p, local = stack.pop()
                sym = nxt[c]
                if sym is None:
                    if p < 0:
                        continue
                    if local:
                        completed_here.add(p)
                        for q, l2 in list(here.get(p, ())):
                            add((p + 1, q, l2))
                    else:
                        for q in parents.get(p, ()):
                            add((p + 1, q, False))
                elif sym in rules:
                    for fc in first_core[sym]:
                        add((fc, c, True))
                    if c in completed_here:
                        add((c + 1, p, local))
            work_done[0] += len(out)
            return frozenset(out)

        work_done = [0]
        overlap: Dict[str, Set[str]] = {}
        terms = sorted(dfas)
        for i, t in enumerate(terms):
            self.tick()
            overlap.setdefault(t, {t})
            for u in terms[i + 1 :]:
                if dfas[t].first & dfas[u].first and dfas[t].intersects(dfas[u]):
                    overlap[t].add(u)
                    overlap.setdefault(u, {u}).add(t)
        colive: Dict[str, Set[str]] = {}
        initial = closure([(c, -1, False) for c in first_core[start]])
        seen = {initial}
        stack = [initial]
        while stack:
            self.tick()
            state = stack.pop()
            live = {term for c, _, _ in state if (term := nxt[c]) is not None and term not in rules}
            for t in live:
                colive.setdefault(t, set()).update(live)
            for t in live:
                scanned = overlap[t] & live
                target = closure([(c + 1, p, False) for c, p, _ in state if nxt[c] in scanned])
                if target not in seen:
                    if len(seen) >= self.MAX_COLIVE_STATES or work_done[0] > self.MAX_COLIVE_WORK:
                        self.colive_gave_up = True
                        return None
                    seen.add(target)
                    stack.append(target)
        return colive

    def _follow(self, dfas: Dict[str, _DFA], start: str) -> Dict[str, int]:
        rules = self.rules
        nullable_ = {n for n, alts in rules.items() if () in alts}
        changed = True
        while changed:
            changed = False
            for n, alts in rules.items():
                if n not in nullable_ and any(all(s in nullable_ for s in a) for a in alts):
                    nullable_.add(n)
                    changed = True
        first: Dict[str, int] = {t: d.first for t, d in dfas.items()}
        first.update({n: 0 for n in rules})
        changed = True
        while changed:
            changed = False
            for n, alts in rules.items():
                m = first[n]
                for a in alts:
                    for s in a:
                        m |= first[s]
                        if s not in nullable_:
                            break
                if m != first[n]:
                    first[n] = m
                    changed = True
        follow: Dict[str, int] = {s: 0 for s in first}
        changed = True
        while changed:
            changed = False
            for n, alts in rules.items():
                for a in alts:
                    trailer = follow[n]
                    for s in reversed(a):
                        if trailer & ~follow[s]:
                            follow[s] |= trailer
                            changed = True
                        trailer = (trailer | first[s]) if s in nullable_ else first[s]
        return follow

    def lower(self, start: str) -> Grammar:
        while True:
            self._pass(start)
            unsafe = self._unsafe_units(start)
            if not unsafe:
                break
            for name in unsafe:
                for key in self.unit_nodes[name]:
                    self.demote(key)
        used_terms = {s for alts in self.rules.values() for a in alts for s in a if s not in self.rules}
        rules = tuple(Rule(n, tuple(a)) for n, a in self.rules.items())
        terminals = tuple(
            Terminal(name, Chars(ranges)) for ranges, name in self.char_terminals.items() if name in used_terms
        ) + tuple(Terminal(name, r) for r, name in self.unit_terminals.items() if name in used_terms)
        return Grammar(start=start, rules=rules, terminals=terminals, kind="gbnf")


def grammar_from_gbnf(text: str, start: str = "root", *, limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """Parse a llama.cpp GBNF grammar.

    Args:
        text: the grammar source.
        start: the start rule (llama.cpp uses ``root``).
        limits: bounds on the size of the expanded grammar and the time to lower it.

    Returns:
        A :class:`Grammar` with ``kind="gbnf"``: one terminal per distinct character class.

    Raises:
        InvalidGrammarError: a syntax error, an undefined rule, or no rule named ``start``;
            the message gives the line and column.
        UnsupportedFeatureError: a token reference (``<...>``).
        UnsatisfiableGrammarError: the start rule can match nothing because of empty classes.
        ResourceLimitError: repetitions expand past ``limits.max_grammar_symbols``, groups nest
            deeper than ``constrain.config.MAX_NESTING``, or lowering takes longer than
            ``limits.max_compile_seconds``.
    """
    if not isinstance(text, str):
        raise InvalidGrammarError(f"GBNF grammar must be a str, got {type(text).__name__}")
    parser = _Parser(text)
    deadline = time.monotonic() + limits.max_compile_seconds
    parser.tick = lambda: _check_deadline(deadline, limits)
    parser.parse()
    if start not in parser.rules:
        defined = ", ".join(sorted(parser.rules)) or "none"
        raise InvalidGrammarError(f"GBNF: start rule {start!r} is not defined (rules: {defined})")
    return _Lowerer(_right_recursion_as_repetition(parser.rules), limits, deadline).lower(start)

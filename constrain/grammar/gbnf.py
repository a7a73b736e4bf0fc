"""llama.cpp GBNF grammars, lowered to :class:`~constrain.grammar.ir.Grammar`.

The syntax follows llama.cpp's ``grammar-parser``: rules ``name ::= alternatives``; string
literals ``"..."`` and character classes ``[...]`` / ``[^...]`` with the escapes ``\\x..``,
``\\u....``, ``\\U........``, ``\\t \\n \\r \\\\ \\" \\[ \\]``; ``.`` (any character); groups;
``|``; the postfix operators ``* + ?`` and ``{m}``, ``{m,}``, ``{m,n}``; ``#`` comments. A
rule ends at a newline, except inside parentheses and right after ``::=`` or ``|``.

GBNF is character-level, so every character class, every character of a literal and every
``.`` becomes a terminal matching one code point, and rules carry all structure. This is
exact under the engine's greedy lexing rule: a one-code-point terminal can never grow, so
a lexeme is always exactly one character. Identical classes share one terminal.

Departures from llama.cpp, none of which widens a language: left recursion is allowed (the
engine parses with Earley); a rule defined twice, a reversed range such as ``[z-a]`` and a
repetition bound ``{m,n}`` with ``n < m`` are errors; rule names may also contain ``_``.
Token references (``<[id]>``, ``<|token|>``, ``!<...>``) are reported as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from ..config import DEFAULT_LIMITS, Limits
from ..errors import (
    Feature,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from .ir import MAX_CODE_POINT, Chars, Grammar, Rule, Terminal, normalize_ranges

_SURROGATES = (0xD800, 0xDFFF)
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


def _without_surrogates(ranges) -> Tuple[Tuple[int, int], ...]:
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


def _complement(ranges: Tuple[Tuple[int, int], ...]) -> Tuple[Tuple[int, int], ...]:
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
                ranges = []
                while self.peek() != "]":
                    if self.pos >= len(self.text):
                        raise self.error("unterminated character class", start)
                    lo = self.parse_char()
                    hi = lo
                    if self.peek() == "-" and self.peek(1) not in ("]", ""):
                        self.pos += 1
                        range_pos = self.pos
                        hi = self.parse_char()
                        if hi < lo:
                            raise self.error(f"reversed range {chr(lo)!r}-{chr(hi)!r} in character class", range_pos)
                    ranges.append((lo, hi))
                self.pos += 1
                ranges = _complement(ranges) if negated else _without_surrogates(ranges)
                items.append(_Chars(ranges))
            elif self.is_word_char(ch):
                line, column = self.where()
                items.append(_Ref(self.parse_name(), line, column))
            elif ch == "(":
                self.pos += 1
                self.skip_space(True)
                inner = self.parse_alternates(nested=True)
                if self.peek() != ")":
                    raise self.error("expecting ')'")
                self.pos += 1
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
                    hi: Optional[int] = lo
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
        return int(self.text[start : self.pos])

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


class _Lowerer:
    def __init__(self, rules: Dict[str, _Node], rule_lines: Dict[str, int], limits: Limits) -> None:
        self.source = rules
        self.rule_lines = rule_lines
        self.limits = limits
        self.terminals: Dict[Tuple[Tuple[int, int], ...], str] = {}
        self.rules: Dict[str, List[Tuple[str, ...]]] = {}
        self.counter: Dict[str, int] = {}
        self.symbols = 0
        self.void: set = set()  # rules that derive nothing (an empty class: ``[]``)

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

    def terminal(self, ranges: Tuple[Tuple[int, int], ...]) -> str:
        if not ranges:
            return "#void"
        name = self.terminals.get(ranges)
        if name is None:
            name = self.terminals[ranges] = _class_name(ranges)
        return name

    def alternatives(self, node: _Node, owner: str) -> List[Tuple[str, ...]]:
        if isinstance(node, _Alt):
            out: List[Tuple[str, ...]] = []
            for item in node.items:
                out.extend(self.alternatives(item, owner))
            return out
        return [self.sequence(node, owner)]

    def sequence(self, node: _Node, owner: str) -> Tuple[str, ...]:
        if isinstance(node, _Seq):
            out: List[str] = []
            for item in node.items:
                out.extend(self.sequence(item, owner))
            return tuple(out)
        return (self.symbol(node, owner),)

    def symbol(self, node: _Node, owner: str) -> str:
        if isinstance(node, _Chars):
            return self.terminal(node.ranges)
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

    def lower(self, start: str) -> Grammar:
        for name, body in self.source.items():
            self.add_rule(name, self.alternatives(body, name))
        # Drop alternatives that use an empty class, to a fixpoint.
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
        # Keep what the start rule reaches.
        reached = {start}
        stack = [start]
        while stack:
            for alt in self.rules[stack.pop()]:
                for sym in alt:
                    if sym in self.rules and sym not in reached:
                        reached.add(sym)
                        stack.append(sym)
        used_terms = {s for n in reached for a in self.rules[n] for s in a if s not in self.rules}
        rules = tuple(Rule(n, tuple(a)) for n, a in self.rules.items() if n in reached)
        terminals = tuple(
            Terminal(name, Chars(ranges)) for ranges, name in self.terminals.items() if name in used_terms
        )
        return Grammar(start=start, rules=rules, terminals=terminals, kind="gbnf")


def grammar_from_gbnf(text: str, start: str = "root", *, limits: Limits = DEFAULT_LIMITS) -> Grammar:
    """Parse a llama.cpp GBNF grammar.

    Args:
        text: the grammar source.
        start: the start rule (llama.cpp uses ``root``).
        limits: bounds on the size of the expanded grammar.

    Returns:
        A :class:`Grammar` with ``kind="gbnf"``: one terminal per distinct character class.

    Raises:
        InvalidGrammarError: a syntax error, an undefined rule, or no rule named ``start``;
            the message gives the line and column.
        UnsupportedFeatureError: a token reference (``<...>``).
        UnsatisfiableGrammarError: the start rule can match nothing because of empty classes.
        ResourceLimitError: repetitions expand past ``limits.max_grammar_symbols``.
    """
    if not isinstance(text, str):
        raise InvalidGrammarError(f"GBNF grammar must be a str, got {type(text).__name__}")
    parser = _Parser(text)
    parser.parse()
    if start not in parser.rules:
        defined = ", ".join(sorted(parser.rules)) or "none"
        raise InvalidGrammarError(f"GBNF: start rule {start!r} is not defined (rules: {defined})")
    return _Lowerer(parser.rules, parser.rule_lines, limits).lower(start)

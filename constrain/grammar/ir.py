"""The one grammar form that regexes, Lark and GBNF grammars and JSON Schemas lower to.

A :class:`Grammar` is a context-free grammar over *terminals*; each terminal is a regular
expression over Unicode code points (:class:`Regex`). Nothing here knows about tokenizers:
``constrain.automata`` turns terminals into byte-level DFAs and rules into parser tables.

Lexing rule (the same in masks and in acceptance): at each point only the terminals the
parser can take next are live; a lexeme grows while the next byte keeps some live terminal
alive, and ends (greedily) only when it cannot grow. A finished lexeme is the set of live
terminals that accept it. Terminals named in ``ignore`` may occur between any two lexemes
and are used only when no grammar terminal accepts the lexeme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple, Type, Union

from ..cache import memoize

MAX_CODE_POINT = 0x10FFFF


class Regex:
    """Base class of the regex nodes; every node is a frozen, hashable dataclass with slots
    (one object per node, no ``__dict__``: compiles make and cache many nodes, and each
    object more is work for the garbage collector)."""

    __slots__ = ()


#: The memoized hash of a node (see ``_cache_hash``): not an argument, not compared.
_HASH_SLOT: Any = field(default=None, init=False, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Chars(Regex):
    """One code point from ``ranges``: sorted, disjoint, non-adjacent, inclusive ranges.

    ``Chars(())`` matches nothing. Surrogates (U+D800..U+DFFF) are never matched: they
    have no UTF-8 encoding.
    """

    ranges: Tuple[Tuple[int, int], ...]
    _hash: Optional[int] = _HASH_SLOT


@dataclass(frozen=True, slots=True)
class Seq(Regex):
    """Concatenation; ``Seq(())`` matches the empty string."""

    items: Tuple[Regex, ...]
    _hash: Optional[int] = _HASH_SLOT


@dataclass(frozen=True, slots=True)
class Alt(Regex):
    """Alternation; ``Alt(())`` matches nothing."""

    items: Tuple[Regex, ...]
    _hash: Optional[int] = _HASH_SLOT


@dataclass(frozen=True, slots=True)
class Repeat(Regex):
    """``item`` repeated between ``min`` and ``max`` times (``max=None``: unbounded)."""

    item: Regex
    min: int
    max: Optional[int]
    _hash: Optional[int] = _HASH_SLOT


@dataclass(frozen=True, slots=True)
class And(Regex):
    """Intersection: strings matched by every item."""

    items: Tuple[Regex, ...]
    _hash: Optional[int] = _HASH_SLOT


@dataclass(frozen=True, slots=True)
class Not(Regex):
    """Complement within all valid UTF-8 strings."""

    item: Regex
    _hash: Optional[int] = _HASH_SLOT


def _cache_hash(cls: Type[Regex]) -> None:
    """Memoize the dataclass hash of a node (deep trees are hashed as cache keys again and
    again; nodes are immutable). The hash formula is the dataclass one."""
    compute = cls.__hash__

    def __hash__(self: Regex) -> int:
        h: Optional[int] = self._hash  # type: ignore[attr-defined]
        if h is None:
            h = compute(self)
            object.__setattr__(self, "_hash", h)
        return h

    setattr(cls, "__hash__", __hash__)


for _cls in (Chars, Seq, Alt, Repeat, And, Not):
    _cache_hash(_cls)
del _cls


EMPTY = Seq(())  # the empty string
NOTHING = Alt(())  # the empty language


def normalize_ranges(ranges: Iterable[Tuple[int, int]]) -> Tuple[Tuple[int, int], ...]:
    """Sort and merge code point ranges; drop empty ones."""
    merged: list[list[int]] = []
    for lo, hi in sorted((lo, hi) for lo, hi in ranges if lo <= hi):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def subtract_ranges(ranges: Iterable[Tuple[int, int]], minus: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """The code points of ``ranges`` outside ``minus`` (inclusive ranges in, ranges out;
    normalize with :func:`normalize_ranges`)."""
    minus = list(minus)
    out = []
    for lo, hi in ranges:
        pieces = [(lo, hi)]
        for mlo, mhi in minus:
            nxt = []
            for a, b in pieces:
                if mhi < a or mlo > b:
                    nxt.append((a, b))
                    continue
                if a < mlo:
                    nxt.append((a, mlo - 1))
                if b > mhi:
                    nxt.append((mhi + 1, b))
            pieces = nxt
        out.extend(pieces)
    return out


def chars(*ranges: Union[str, Tuple[int, int]]) -> Chars:
    """``chars("az", "09", (0x80, 0x10FFFF))``: two-letter strings are inclusive ranges."""
    out = []
    for r in ranges:
        if isinstance(r, str):
            if len(r) == 1:
                out.append((ord(r), ord(r)))
            elif len(r) == 2:
                out.append((ord(r[0]), ord(r[1])))
            else:
                raise ValueError(f"a range is one or two characters, got {r!r}")
        else:
            out.append((int(r[0]), int(r[1])))
    return Chars(normalize_ranges(out))


def negate(c: Chars) -> Chars:
    """All code points not in ``c``."""
    out = []
    prev = 0
    for lo, hi in c.ranges:
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAX_CODE_POINT:
        out.append((prev, MAX_CODE_POINT))
    return Chars(tuple(out))


@memoize("grammar.shared_chars", maxsize=4096)
def shared_chars(ranges: Tuple[Tuple[int, int], ...]) -> Chars:
    """``Chars(ranges)``, one object per distinct ``ranges`` (up to a bounded cache): a long
    literal or alternation then holds a few dozen class objects instead of one per character,
    each hashed once, and leaves the garbage collector little to walk."""
    return Chars(ranges)


#: The class of each ASCII character, shared (see :func:`shared_chars`).
_ASCII_CHARS = tuple(Chars(((cp, cp),)) for cp in range(128))


def literal(text: str) -> Regex:
    """The regex matching exactly ``text``."""
    if text.isascii():
        ascii_chars = _ASCII_CHARS
        return Seq(tuple([ascii_chars[b] for b in text.encode()]))
    return Seq(tuple(shared_chars(((cp, cp),)) for cp in map(ord, text)))


def seq(*items: Regex) -> Regex:
    """Concatenation, flattening nested sequences."""
    flat: list[Regex] = []
    for item in items:
        if isinstance(item, Seq):
            flat.extend(item.items)
        else:
            flat.append(item)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def alt(*items: Regex) -> Regex:
    """Alternation, flattening nested alternations and dropping duplicates (by hash: a
    list search made an alternation of n literals cost n**2 comparisons)."""
    flat = dict.fromkeys(sub for item in items for sub in (item.items if isinstance(item, Alt) else (item,)))
    return next(iter(flat)) if len(flat) == 1 else Alt(tuple(flat))


# Bound: the regex nodes of the grammars compiled lately.
@memoize("grammar.nullable", maxsize=65536)
def nullable(r: Regex) -> bool:
    """Whether ``r`` matches the empty string."""
    if isinstance(r, Chars):
        return False
    if isinstance(r, Seq):
        return all(nullable(x) for x in r.items)
    if isinstance(r, Alt):
        return any(nullable(x) for x in r.items)
    if isinstance(r, Repeat):
        return r.min == 0 or nullable(r.item)
    if isinstance(r, And):
        return all(nullable(x) for x in r.items)
    if isinstance(r, Not):
        return not nullable(r.item)
    raise TypeError(f"not a regex: {r!r}")


def repeat(item: Regex, min: int = 0, max: Optional[int] = None) -> Regex:
    """``item{min,max}``."""
    if min < 0 or (max is not None and max < min):
        raise ValueError(f"invalid repetition bounds {{{min},{max}}}")
    if max == 1 and min == 1:
        return item
    return Repeat(item, min, max)


# --- the grammar ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Terminal:
    """A named lexeme class: a regex over code points.

    A terminal whose regex matches the empty string is rejected by the compiler; express
    optional material with rules instead.
    """

    name: str
    regex: Regex
    #: What in the source the terminal enforces (a front end's words, such as "the string at
    #: #/properties/email (format 'email', maxLength 40)"), named in errors about its size.
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class Rule:
    """A nonterminal with its alternatives; each alternative is a sequence of symbol names
    (names of rules or of terminals; an empty tuple derives the empty string)."""

    name: str
    alternatives: Tuple[Tuple[str, ...], ...]


@dataclass(frozen=True)
class Grammar:
    """A context-free grammar over regex terminals.

    Attributes:
        start: name of the start rule.
        rules: the rules, each name once.
        terminals: the terminals, each name once; rule and terminal names are disjoint.
        ignore: terminals that may appear between any two lexemes and are then dropped.
        kind: which front end made it ("regex", "lark", "gbnf", "json_schema", ...).
        warnings: what a lenient front end dropped or approximated.
    """

    start: str
    rules: Tuple[Rule, ...]
    terminals: Tuple[Terminal, ...]
    ignore: Tuple[str, ...] = ()
    kind: str = "cfg"
    warnings: Tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        rule_names = [r.name for r in self.rules]
        term_names = [t.name for t in self.terminals]
        names = set(rule_names)
        if len(names) != len(rule_names):
            raise ValueError("duplicate rule names")
        if len(set(term_names)) != len(term_names):
            raise ValueError("duplicate terminal names")
        if names & set(term_names):
            raise ValueError(f"names used for both rules and terminals: {sorted(names & set(term_names))}")
        if self.start not in names:
            raise ValueError(f"start rule {self.start!r} is not defined")
        known = names | set(term_names)
        for r in self.rules:
            for a in r.alternatives:
                for s in a:
                    if s not in known:
                        raise ValueError(f"rule {r.name!r} uses undefined symbol {s!r}")
        for name in self.ignore:
            if name not in term_names:
                raise ValueError(f"ignored terminal {name!r} is not defined")

    @property
    def terminal_names(self) -> FrozenSet[str]:
        return frozenset(t.name for t in self.terminals)

    # The front ends build this module's IR, so it never imports them (not even inside a
    # function): they are reached through FRONT_ENDS, which ``constrain.grammar`` fills.

    @classmethod
    def from_regex(cls, pattern: str) -> "Grammar":
        """A grammar for the strings that fully match ``pattern`` (Python ``re`` syntax, ASCII classes)."""
        return _front_end("regex")(pattern)

    @classmethod
    def from_lark(cls, text: str, start: Optional[str] = None) -> "Grammar":
        """A grammar from Lark EBNF text."""
        return _front_end("lark")(text, start=start)

    @classmethod
    def from_gbnf(cls, text: str, start: str = "root") -> "Grammar":
        """A grammar from llama.cpp GBNF text."""
        return _front_end("gbnf")(text, start=start)

    @classmethod
    def from_json_schema(cls, schema: Any, **options: Any) -> "Grammar":
        """A grammar for the JSON documents that ``schema`` accepts (a dict, a JSON string or
        a pydantic model class); see :func:`constrain.grammar.json_schema.grammar_from_json_schema`."""
        return _front_end("json_schema")(schema, **options)


#: The front ends behind ``Grammar.from_regex``, ``from_lark``, ``from_gbnf`` and
#: ``from_json_schema``, by name: each a function that imports its front end when first
#: called (so ``import constrain`` loads none of them), registered by the package's
#: ``__init__`` with :func:`register_front_end`.
FRONT_ENDS: Dict[str, Callable[..., Grammar]] = {}


def register_front_end(name: str, build: Callable[..., Grammar]) -> None:
    """Make ``build`` the front end ``Grammar.from_<name>`` calls."""
    FRONT_ENDS[name] = build


def _front_end(name: str) -> Callable[..., Grammar]:
    build = FRONT_ENDS.get(name)
    if build is None:  # only if constrain.grammar failed to import: then nothing works
        raise RuntimeError(f"the {name!r} front end is not registered (constrain.grammar registers it)")
    return build

"""Regular expressions (Python ``re`` syntax) lowered to the grammar IR.

The accepted syntax is Python's ``re`` syntax for ``str`` patterns (a superset of what
``interegular`` parses), read with :data:`re.ASCII` semantics: ``\\d``, ``\\w`` and ``\\s``
are the ASCII classes ``[0-9]``, ``[0-9A-Za-z_]`` and ``[ \\t\\n\\r\\f\\v]``, and ``(?i)``
folds ASCII letters only. A pattern describes whole strings (``re.fullmatch``). ``.``
matches any code point except ``\\n`` (any code point under ``(?s)``). Surrogates
(U+D800..U+DFFF) are never matched. Beyond Python, ``(?<name>...)`` (ECMAScript's named
group) is accepted, and lookbehinds need not have a fixed width.

Constructs enforced exactly:

* ``^``/``\\A`` where the match must be at the start of the string, ``$``/``\\Z`` where it
  must be at the end (both are no-ops there under full-match semantics);
* lookaheads whose scope is the rest of the whole match (``^(?=.*\\d)(?!.*\\s).{8,}$``):
  ``(?=X)R`` becomes ``And(X.*, R)`` and ``(?!X)R`` becomes ``And(Not(X.*), R)``;
* lookbehinds preceded by the whole match so far: ``P(?<=X)`` becomes ``And(P, .*X)``.

Anything else that cannot be enforced exactly -- anchors or lookarounds in other places,
backreferences, word boundaries, possessive quantifiers, atomic groups, conditionals, the
``(?u)`` flag -- raises :class:`~constrain.errors.UnsupportedFeatureError` naming every such
construct and its position. Malformed patterns raise
:class:`~constrain.errors.InvalidGrammarError` with the position and a caret excerpt.
"""

from __future__ import annotations

import unicodedata
from typing import Any, List, Optional, Set, Tuple

from ..config import MAX_NESTING
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
    And,
    Alt,
    Chars,
    Grammar,
    Not,
    Regex,
    Repeat,
    Rule,
    Seq,
    Terminal,
    normalize_ranges,
    repeat,
    seq,
    shared_chars,
)

__all__ = ("grammar_from_regex", "parse_regex", "regex_language_kind")

Ranges = Tuple[Tuple[int, int], ...]

_SURROGATES = (0xD800, 0xDFFF)
_ALL_RANGES: Ranges = ((0, _SURROGATES[0] - 1), (_SURROGATES[1] + 1, MAX_CODE_POINT))
ANY_STRING: Regex = Repeat(Chars(_ALL_RANGES), 0, None)  # every string, newlines included

_DIGIT: Ranges = ((0x30, 0x39),)
_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE: Ranges = ((0x09, 0x0D), (0x20, 0x20))
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 0x5C}
_CATEGORIES = {
    "d": (_DIGIT, False),
    "D": (_DIGIT, True),
    "w": (_WORD, False),
    "W": (_WORD, True),
    "s": (_SPACE, False),
    "S": (_SPACE, True),
}
_FLAG_CHARS = "aiLmsux"
_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"
_MAX_REPEAT = 4294967295  # Python's MAXREPEAT

# Flags we track (the rest are no-ops for us or rejected).
_I, _S, _X = 1, 2, 4


def _negate(ranges: Ranges) -> Ranges:
    out = []
    prev = 0
    for lo, hi in ranges:
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAX_CODE_POINT:
        out.append((prev, MAX_CODE_POINT))
    return _strip_surrogates(tuple(out))


def _strip_surrogates(ranges: Ranges) -> Ranges:
    out = []
    for lo, hi in ranges:
        if hi < _SURROGATES[0] or lo > _SURROGATES[1]:
            out.append((lo, hi))
            continue
        if lo < _SURROGATES[0]:
            out.append((lo, _SURROGATES[0] - 1))
        if hi > _SURROGATES[1]:
            out.append((_SURROGATES[1] + 1, hi))
    return tuple(out)


def _fold_ascii(ranges: Ranges) -> Ranges:
    extra = []
    for lo, hi in ranges:
        for a, b, shift in ((0x41, 0x5A, 32), (0x61, 0x7A, -32)):
            l, h = max(lo, a), min(hi, b)
            if l <= h:
                extra.append((l + shift, h + shift))
    return normalize_ranges(list(ranges) + extra) if extra else ranges


# --- the parser: a close transcription of CPython's re._parser, keeping positions -----------
#
# Intermediate nodes are tuples:
#   ("c", ranges)                     one code point
#   ("seq", [nodes]) / ("alt", [nodes])
#   ("rep", node, min, max, pos)      max None = unbounded
#   ("at", "start" | "end" | "word", pos, text)
#   ("look", behind, negate, node, pos)


#: A parse-tree node: one of the tagged tuples above.
_Node = Tuple[Any, ...]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.flags = 0
        self.features: List[Feature] = []
        self.groups = 0
        self.group_names: Set[str] = set()

    # -- errors ------------------------------------------------------------------------
    def error(self, message: str, pos: Optional[int] = None) -> InvalidGrammarError:
        pos = self.i if pos is None else pos
        return InvalidGrammarError(f"invalid regex: {message} at position {pos}\n{_caret(self.p, pos)}")

    def unsupported(self, name: str, pos: int) -> None:
        self.features.append(Feature("regex", name, f"position {pos}"))

    # -- tokens ------------------------------------------------------------------------
    def peek(self) -> Optional[str]:
        return self.p[self.i] if self.i < len(self.p) else None

    def get(self) -> Optional[str]:
        if self.i >= len(self.p):
            return None
        c = self.p[self.i]
        self.i += 1
        return c

    def match(self, c: str) -> bool:
        if self.peek() == c:
            self.i += 1
            return True
        return False

    def getwhile(self, n: int, allowed: str) -> str:
        out = ""
        c = self.peek()
        while len(out) < n and c is not None and c in allowed:
            out += c
            self.i += 1
            c = self.peek()
        return out

    def getuntil(self, end: str, what: str) -> str:
        start = self.i
        while True:
            c = self.get()
            if c is None:
                raise self.error(f"missing {end}, unterminated name", start)
            if c == end:
                name = self.p[start : self.i - 1]
                if not name:
                    raise self.error(f"missing {what}", start)
                return name

    # -- grammar -----------------------------------------------------------------------
    def parse(self) -> _Node:
        node = self.parse_sub(verbose=False, nested=0)
        if self.peek() is not None:
            raise self.error("unbalanced parenthesis")
        return node

    def parse_sub(self, verbose: bool, nested: int) -> _Node:
        if nested > 2 * MAX_NESTING:  # two levels per group: parse_sub, then parse_seq
            raise ResourceLimitError(
                f"regex groups nest deeper than {MAX_NESTING} (constrain.config.MAX_NESTING) at position {self.i}"
            )
        items: List[_Node] = []
        while True:
            items.append(self.parse_seq(verbose, nested + 1, first=not nested and not items))
            if not self.match("|"):
                break
            if not nested:
                verbose = bool(self.flags & _X)
        return items[0] if len(items) == 1 else ("alt", items)

    def parse_seq(self, verbose: bool, nested: int, first: bool = False) -> _Node:
        items: List[_Node] = []
        # kinds parallel to items: "at", "rep" or "" -- for "nothing to repeat"/"multiple repeat"
        kinds: List[str] = []
        while True:
            this = self.peek()
            if this is None or this in "|)":
                break
            start = self.i
            self.i += 1
            if verbose:
                if this in " \t\n\r\v\f":
                    continue
                if this == "#":
                    while True:
                        c = self.get()
                        if c is None or c == "\n":
                            break
                    continue
            if this == "\\":
                node = self.escape(start)
                items.append(node)
                kinds.append("at" if node[0] == "at" else "")
            elif this not in ".^$*+?{[(":
                items.append(self.char(ord(this)))
                kinds.append("")
            elif this == "[":
                items.append(self.char_class(start))
                kinds.append("")
            elif this in "*+?{":
                if this == "?":
                    lo, hi = 0, 1
                elif this == "*":
                    lo, hi = 0, None
                elif this == "+":
                    lo, hi = 1, None
                else:
                    if self.peek() == "}":
                        items.append(self.char(ord("{")))
                        kinds.append("")
                        continue
                    here = self.i
                    a = self.getwhile(len(self.p), "0123456789")
                    if self.match(","):
                        b = self.getwhile(len(self.p), "0123456789")
                    else:
                        b = a
                    if not self.match("}"):
                        items.append(self.char(ord("{")))
                        kinds.append("")
                        self.i = here
                        continue
                    lo = int(a) if a else 0
                    hi = int(b) if b else None
                    if lo >= _MAX_REPEAT or (hi is not None and hi >= _MAX_REPEAT):
                        raise self.error("the repetition number is too large", start)
                    if hi is not None and hi < lo:
                        raise self.error("min repeat greater than max repeat", start)
                if not items or kinds[-1] == "at":
                    raise self.error("nothing to repeat", start)
                if kinds[-1] == "rep":
                    raise self.error("multiple repeat", start)
                if self.match("?"):
                    pass  # lazy: the same language under full-match semantics
                elif self.match("+"):
                    self.unsupported(f"possessive quantifier {self.p[start : self.i]}", start)
                items[-1] = ("rep", items[-1], lo, hi, start)
                kinds[-1] = "rep"
            elif this == ".":
                ranges = _ALL_RANGES if self.flags & _S else _negate(((10, 10),))
                items.append(("c", ranges))
                kinds.append("")
            elif this == "(":
                group = self.group(start, verbose, nested, first and not items)
                if group is not None:
                    items.append(group)
                    kinds.append("")
                else:
                    verbose = verbose or bool(self.flags & _X)
            elif this == "^":
                items.append(("at", "start", start, "^"))
                kinds.append("at")
            elif this == "$":
                items.append(("at", "end", start, "$"))
                kinds.append("at")
        return items[0] if len(items) == 1 else ("seq", items)

    def char(self, cp: int) -> _Node:
        if _SURROGATES[0] <= cp <= _SURROGATES[1]:
            return ("c", ())
        if self.flags & _I and (0x41 <= cp <= 0x5A or 0x61 <= cp <= 0x7A):
            return ("c", _fold_ascii(((cp, cp),)))
        return ("c", ((cp, cp),))

    def group(self, start: int, verbose: bool, nested: int, first: bool) -> Optional[_Node]:
        saved_flags = self.flags
        sub_verbose = verbose
        capture = True
        if self.match("?"):
            c = self.get()
            if c is None:
                raise self.error("unexpected end of pattern")
            if c == "P" or (c == "<" and self.peek() not in ("=", "!")):
                if c == "<" or self.match("<"):
                    name = self.getuntil(">", "group name")
                    if not name.isidentifier():
                        raise self.error(f"bad character in group name {name!r}", self.i - len(name) - 1)
                    if name in self.group_names:
                        raise self.error(f"redefinition of group name {name!r}", self.i - len(name) - 1)
                    self.group_names.add(name)
                elif self.match("="):
                    name = self.getuntil(")", "group name")
                    if name not in self.group_names:
                        raise self.error(f"unknown group name {name!r}", self.i - len(name) - 1)
                    self.unsupported(f"backreference (?P={name})", start)
                    return ("c", ())
                else:
                    c2 = self.get()
                    if c2 is None:
                        raise self.error("unexpected end of pattern")
                    raise self.error(f"unknown extension ?P{c2}", start + 1)
            elif c == ":":
                capture = False
            elif c == "#":
                while True:
                    if self.peek() is None:
                        raise self.error("missing ), unterminated comment", start)
                    if self.get() == ")":
                        return None
            elif c in "=!<":
                behind = False
                if c == "<":
                    c = self.get()
                    if c is None:
                        raise self.error("unexpected end of pattern")
                    if c not in "=!":
                        raise self.error(f"unknown extension ?<{c}", start + 1)
                    behind = True
                inner = self.parse_sub(verbose, nested + 1)
                if not self.match(")"):
                    raise self.error("missing ), unterminated subpattern", start)
                return ("look", behind, c == "!", inner, start)
            elif c == "(":
                name = self.getuntil(")", "group name")
                self.unsupported(f"conditional (?({name})...)", start)
                self.parse_seq(verbose, nested + 1)
                if self.match("|"):
                    self.parse_seq(verbose, nested + 1)
                if not self.match(")"):
                    raise self.error("missing ), unterminated subpattern", start)
                return ("c", ())
            elif c == ">":
                self.unsupported("atomic group (?>...)", start)
                capture = False
            elif c in _FLAG_CHARS or c == "-":
                result = self.inline_flags(c, start)
                if result is None:  # global flags
                    if not first:
                        raise self.error("global flags not at the start of the expression", start)
                    return None
                add, remove = result
                self.flags = (self.flags | add) & ~remove
                sub_verbose = bool(self.flags & _X)
                capture = False
            else:
                raise self.error(f"unknown extension ?{c}", start + 1)
        if capture:
            self.groups += 1
        inner = self.parse_sub(sub_verbose, nested + 1)
        if not self.match(")"):
            raise self.error("missing ), unterminated subpattern", start)
        self.flags = saved_flags
        return inner

    def inline_flags(self, flag: str, start: int) -> Optional[Tuple[int, int]]:
        letters = {"i": _I, "s": _S, "x": _X, "m": 0, "a": 0}
        c: Optional[str]
        c = flag
        add = remove = 0
        if c != "-":
            while True:
                if c == "L":
                    raise self.error("bad inline flags: cannot use 'L' flag with a str pattern")
                if c == "u":
                    self.unsupported("flag (?u): Unicode classes (patterns use ASCII \\d, \\w, \\s)", start)
                else:
                    add |= letters[c]
                c = self.get()
                if c is None:
                    raise self.error("missing -, : or )")
                if c in ")-:":
                    break
                if c not in _FLAG_CHARS:
                    raise self.error("unknown flag" if c.isalpha() else "missing -, : or )", self.i - 1)
        if c == ")":
            self.flags |= add
            return None
        if c == "-":
            c = self.get()
            if c is None:
                raise self.error("missing flag")
            if c not in _FLAG_CHARS:
                raise self.error("unknown flag" if c.isalpha() else "missing flag", self.i - 1)
            while True:
                if c in "aLu":
                    raise self.error("bad inline flags: cannot turn off flags 'a', 'u' and 'L'", self.i - 1)
                remove |= letters[c]
                c = self.get()
                if c is None:
                    raise self.error("missing :")
                if c == ":":
                    break
                if c not in _FLAG_CHARS:
                    raise self.error("unknown flag" if c.isalpha() else "missing :", self.i - 1)
        if add & remove:
            raise self.error("bad inline flags: flag turned on and off", start)
        return add, remove

    def escape(self, start: int) -> _Node:
        c = self.get()
        if c is None:
            raise self.error("bad escape (end of pattern)", start)
        if c in _CATEGORIES:
            ranges, negated = _CATEGORIES[c]
            return ("c", _negate(ranges) if negated else ranges)
        if c in "AZ":
            return ("at", "start" if c == "A" else "end", start, "\\" + c)
        if c in "bB":
            return ("at", "word", start, "\\" + c)
        if c in _SIMPLE_ESCAPES and c != "b":
            return self.char(_SIMPLE_ESCAPES[c])
        if c in "xuUN":
            return self.char(self.code_escape(c, start))
        if c == "0":
            return self.char(int("0" + self.getwhile(2, _OCT), 8))
        if c in "123456789":
            digits = c
            second = self.peek()
            if second is not None and second in "0123456789":
                self.i += 1
                digits += second
                third = self.peek()
                if digits[0] in _OCT and digits[1] in _OCT and third is not None and third in _OCT:
                    self.i += 1
                    digits += third
                    value = int(digits, 8)
                    if value > 0o377:
                        raise self.error(f"octal escape value \\{digits} outside of range 0-0o377", start)
                    return self.char(value)
            group = int(digits)
            if group > self.groups:
                raise self.error(f"invalid group reference {group}", start + 1)
            self.unsupported(f"backreference \\{digits}", start)
            return ("c", ())
        if c.isascii() and c.isalpha():
            raise self.error(f"bad escape \\{c}", start)
        return self.char(ord(c))

    def code_escape(self, c: str, start: int) -> int:
        if c == "N":
            if not self.match("{"):
                raise self.error("missing {")
            name = self.getuntil("}", "character name")
            try:
                return ord(unicodedata.lookup(name))
            except KeyError:
                raise self.error(f"undefined character name {name!r}", start) from None
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = self.getwhile(n, _HEX)
        if len(digits) != n:
            raise self.error(f"incomplete escape \\{c}{digits}", start)
        value = int(digits, 16)
        if value > MAX_CODE_POINT:
            raise self.error(f"bad escape \\{c}{digits}", start)
        return value

    def class_escape(self, start: int) -> Tuple[str, Ranges]:
        """One escape inside ``[...]``: ("lit", ((c, c),)) or ("set", ranges)."""
        c = self.get()
        if c is None:
            raise self.error("unterminated character set", start)
        if c in _CATEGORIES:
            ranges, negated = _CATEGORIES[c]
            return "set", (_negate(ranges) if negated else ranges)
        if c in _SIMPLE_ESCAPES:
            v = _SIMPLE_ESCAPES[c]
        elif c in "xuUN":
            v = self.code_escape(c, start)
        elif c in _OCT:
            digits = c + self.getwhile(2, _OCT)
            v = int(digits, 8)
            if v > 0o377:
                raise self.error(f"octal escape value \\{digits} outside of range 0-0o377", start)
        elif c in "89" or (c.isascii() and c.isalpha()):
            raise self.error(f"bad escape \\{c}", start)
        else:
            v = ord(c)
        return "lit", ((v, v),)

    def char_class(self, start: int) -> _Node:
        negate = self.match("^")
        ranges: List[Tuple[int, int]] = []
        first = True
        while True:
            here = self.i
            this = self.get()
            if this is None:
                raise self.error("unterminated character set", start)
            if this == "]" and not first:
                break
            first = False
            if this == "\\":
                kind1, r1 = self.class_escape(here)
            else:
                kind1, r1 = "lit", ((ord(this), ord(this)),)
            if self.match("-"):
                that_pos = self.i
                that = self.get()
                if that is None:
                    raise self.error("unterminated character set", start)
                if that == "]":
                    ranges.extend(r1)
                    ranges.append((0x2D, 0x2D))
                    break
                if that == "\\":
                    kind2, r2 = self.class_escape(that_pos)
                else:
                    kind2, r2 = "lit", ((ord(that), ord(that)),)
                if kind1 != "lit" or kind2 != "lit" or r2[0][0] < r1[0][0]:
                    raise self.error(f"bad character range {self.p[here : self.i]}", here)
                ranges.append((r1[0][0], r2[0][0]))
            else:
                ranges.extend(r1)
        result = _strip_surrogates(normalize_ranges(ranges))
        if self.flags & _I:
            result = _fold_ascii(result)
        if negate:
            result = _negate(result)
        return ("c", result)


def _alt(items: List[Regex]) -> Regex:
    """:func:`~constrain.grammar.ir.alt` in linear time (it de-duplicates by list search)."""
    flat: List[Regex] = []
    seen: Set[Regex] = set()
    for item in items:
        for sub in item.items if isinstance(item, Alt) else (item,):
            if sub not in seen:
                seen.add(sub)
                flat.append(sub)
    return flat[0] if len(flat) == 1 else Alt(tuple(flat))


def _caret(pattern: str, pos: int, width: int = 60) -> str:
    lo = max(0, min(pos - width // 2, len(pattern) - width))
    hi = min(len(pattern), lo + width)
    excerpt = pattern[lo:hi]
    shown = repr(excerpt)[1:-1]
    offset = len(repr(pattern[lo:pos])[1:-1]) if pos >= lo else 0
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(pattern) else ""
    return f"  {prefix}{shown}{suffix}\n  {' ' * (len(prefix) + offset)}^"


# --- lowering to the IR ---------------------------------------------------------------------


class _Lowerer:
    def __init__(self, features: List[Feature]) -> None:
        self.features = features

    def unsupported(self, name: str, pos: int) -> Regex:
        self.features.append(Feature("regex", name, f"position {pos}"))
        return Chars(())

    def lower(self, node: _Node, at_start: bool, at_end: bool) -> Regex:
        kind = node[0]
        if kind == "c":
            return shared_chars(node[1])
        if kind == "alt":
            return _alt([self.lower(x, at_start, at_end) for x in node[1]])
        if kind == "rep":
            _, item, lo, hi, _pos = node
            if hi == 0:
                return EMPTY
            if hi == 1:
                inner = self.lower(item, at_start, at_end)
            else:
                inner = self.lower(item, False, False)
            return repeat(inner, lo, hi)
        if kind in ("at", "look"):
            return self.lower_seq([node], at_start, at_end)
        return self.lower_seq(node[1], at_start, at_end)

    def lower_seq(self, items: List[_Node], at_start: bool, at_end: bool) -> Regex:
        zero = [x[0] in ("at", "look") for x in items]
        n = len(items)
        suffix_zero = [True] * (n + 1)
        for i in range(n - 1, -1, -1):
            suffix_zero[i] = suffix_zero[i + 1] and zero[i]
        out: List[Regex] = []
        prefix_zero = True
        for i, item in enumerate(items):
            starts = at_start and prefix_zero
            ends = at_end and suffix_zero[i + 1]
            if item[0] == "at":
                _, which, pos, text = item
                if which == "word":
                    out.append(self.unsupported(f"word boundary {text}", pos))
                elif which == "start" and not starts:
                    out.append(self.unsupported(f"anchor {text} not at the start of the match", pos))
                elif which == "end" and not ends:
                    out.append(self.unsupported(f"anchor {text} not at the end of the match", pos))
            elif item[0] == "look":
                _, behind, negate, inner, pos = item
                name = ("negative " if negate else "") + ("lookbehind" if behind else "lookahead")
                if behind:
                    if not at_start:
                        out.append(self.unsupported(f"{name} not preceded by the whole match", pos))
                        continue
                    lang = seq(ANY_STRING, self.lower(inner, False, False))
                    prefix = seq(*out) if out else EMPTY
                    out = [And((prefix, Not(lang) if negate else lang))]
                else:
                    if not at_end:
                        out.append(self.unsupported(f"{name} whose scope is not the rest of the match", pos))
                        continue
                    lang = seq(self.lower(inner, starts, False), ANY_STRING)
                    rest = self.lower_seq(items[i + 1 :], starts, True) if i + 1 < n else EMPTY
                    out.append(And((Not(lang) if negate else lang, rest)))
                    break
            else:
                out.append(self.lower(item, starts, ends))
            prefix_zero = prefix_zero and zero[i]
        return seq(*out) if out else EMPTY


def parse_regex(pattern: str) -> Regex:
    """Parse a regular expression into the grammar IR (full-match semantics).

    Args:
        pattern: a Python ``re`` pattern (ASCII semantics for ``\\d``, ``\\w``, ``\\s`` and
            ``(?i)``); see the module docstring for what is supported.

    Returns:
        The IR regex matching exactly the strings ``re.fullmatch(pattern, s, re.ASCII)``
        accepts, minus strings containing surrogates.

    Raises:
        InvalidGrammarError: the pattern is malformed (message has position and caret).
        UnsupportedFeatureError: the pattern uses constructs that cannot be enforced exactly.
        ResourceLimitError: groups nest deeper than ``constrain.config.MAX_NESTING``.
    """
    if not isinstance(pattern, str):
        raise InvalidGrammarError(f"a regex pattern must be a str, got {type(pattern).__name__}")
    parser = _Parser(pattern)
    tree = parser.parse()
    lowerer = _Lowerer(parser.features)
    regex = lowerer.lower(tree, True, True)
    if lowerer.features:
        raise UnsupportedFeatureError(lowerer.features)
    return regex


def regex_language_kind(regex: Regex) -> Tuple[bool, Optional[bool]]:
    """Whether ``regex`` matches the empty string, and whether it matches a non-empty one.

    The first answer is exact. The second is ``None`` when it depends on an ``And``/``Not``
    (deciding it needs automata, which this package does not see).
    """
    if isinstance(regex, Chars):
        return False, bool(regex.ranges)
    if isinstance(regex, Seq):
        kinds = [regex_language_kind(x) for x in regex.items]
        nullable = all(n for n, _ in kinds)
        if any(not n and p is False for n, p in kinds):
            return nullable, False
        if any(p is None for _, p in kinds):
            return nullable, None
        return nullable, any(p for _, p in kinds)
    if isinstance(regex, Alt):
        kinds = [regex_language_kind(x) for x in regex.items]
        nullable = any(n for n, _ in kinds)
        if any(p for _, p in kinds):
            return nullable, True
        return nullable, None if any(p is None for _, p in kinds) else False
    if isinstance(regex, Repeat):
        n, p = regex_language_kind(regex.item)
        if regex.max == 0:
            return True, False
        nullable = regex.min == 0 or n
        return nullable, p
    if isinstance(regex, And):
        return all(regex_language_kind(x)[0] for x in regex.items), None
    if isinstance(regex, Not):
        return not regex_language_kind(regex.item)[0], None
    raise TypeError(f"not a regex node: {regex!r}")


def grammar_from_regex(pattern: str) -> Grammar:
    """A grammar for the strings that fully match ``pattern``.

    The single terminal ``REGEX`` never matches the empty string (the engine has no empty
    terminals): a pattern that also matches ``""`` becomes ``start: REGEX | ()``.

    Raises:
        InvalidGrammarError, UnsupportedFeatureError: see :func:`parse_regex`.
        UnsatisfiableGrammarError: no string matches the pattern (found structurally; an
            empty language hidden behind lookarounds is found when the terminal is compiled).
    """
    regex = parse_regex(pattern)
    nullable, nonempty = regex_language_kind(regex)
    if nonempty is False:
        if not nullable:
            raise UnsatisfiableGrammarError(f"no string matches the regex {pattern!r}")
        return Grammar(start="start", rules=(Rule("start", ((),)),), terminals=(), kind="regex")
    if nullable:
        return Grammar(
            start="start",
            rules=(Rule("start", (("REGEX",), ())),),
            terminals=(Terminal("REGEX", And((regex, Not(EMPTY)))),),
            kind="regex",
        )
    return Grammar(
        start="start",
        rules=(Rule("start", (("REGEX",),)),),
        terminals=(Terminal("REGEX", regex),),
        kind="regex",
    )

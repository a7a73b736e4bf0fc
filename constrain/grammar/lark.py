"""Lark EBNF grammars, lowered to :class:`~constrain.grammar.ir.Grammar`.

Lark's own loader reads the text (so ``%import``, ``%ignore``, ``%override``, ``%extend``,
templates, ``?``/``_`` inlining, aliases, ``[]``, ``*``, ``+`` and ``~n..m`` all mean what
they mean in Lark); its EBNF-to-BNF pass gives the rules, and every terminal comes out as one
Python regex, which :func:`constrain.grammar.regex.parse_regex` turns into an IR regex.
Anonymous literals in rules (``"("``, ``/[0-9]+/``) become terminals, as in Lark.

What a terminal means. Lark's Earley parser with its dynamic lexer matches a terminal with
Python's backtracking ``re.match`` at a position in the whole text; the engine lexes greedily
(see :mod:`constrain.grammar.ir`) and a terminal is the full-match language of its regex. The
two agree on a terminal written so that ``re.match`` takes the longest match; they can differ
when an earlier alternative is a prefix of a later one (``/a|ab/``). Regex classes follow
:mod:`constrain.grammar.regex`: ``\\d \\w \\s`` and ``i`` are ASCII where Lark's are Unicode,
which narrows a terminal; ``\\D \\W \\S`` and ``[^\\s...]`` would widen it and are rejected.

Fails closed: terminal priorities (``TERM.2``); ``%declare`` (terminals a postlexer would
make); in terminal regexes, lookarounds and anchors (in Lark they look at the text around
the lexeme), backreferences, conditionals, atomic groups, possessive and lazy quantifiers
(``*?`` makes ``re.match`` stop early), negated Unicode classes. Each raises
:class:`~constrain.errors.UnsupportedFeatureError` naming the construct and its line; all of
a grammar's problems are reported at once. The lazy ``common.lark`` terminals
``ESCAPED_STRING`` and ``C_COMMENT`` are replaced by exact greedy equivalents. Lark syntax
and semantic errors raise :class:`~constrain.errors.InvalidGrammarError`. Rule priorities
only choose between parses in Lark's Earley parser and do not change the language: they are
dropped with a note in ``Grammar.warnings``. A terminal that matches the empty string becomes
an optional use of its non-empty part, and a terminal that matches nothing removes the
alternatives that use it.
"""

from __future__ import annotations

import os
import re
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ..config import MAX_NESTING
from ..errors import (
    Feature,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from .ir import EMPTY, NOTHING, Alt, And, Chars, Grammar, Not, Regex, Repeat, Rule, Seq, Terminal, alt, nullable, seq

if TYPE_CHECKING:
    from lark import Token, Tree

if sys.version_info >= (3, 11):
    import re._parser as _sre_parse
else:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

#: common.lark terminals whose lazy regexes are replaced by exact greedy equivalents: the
#: language ``re.match`` carves out of the text, not the full-match language of the pattern.
_COMMON_REPLACEMENTS = {
    # ESCAPED_STRING: '"' then the shortest run up to a quote preceded by an even number of
    # backslashes; i.e. '"', then non-newline characters where each backslash escapes the next.
    r'".*?(?<!\\)(\\\\)*?"': r'"(?:[^"\\\n]|\\[^\n])*"',
    # C_COMMENT: '/*' then the shortest run up to the first '*/'.
    "/\\*(.|\n)*?\\*/": r"/\*(?:[^*]|\*+[^*/])*\*+/",
}


def _lark() -> Tuple[ModuleType, ModuleType]:
    try:
        import lark  # noqa: F401
        from lark import exceptions, load_grammar
    except ImportError as exc:  # pragma: no cover - lark is a dependency
        raise ImportError("Lark grammars need the 'lark' package: pip install lark") from exc
    return load_grammar, exceptions


# --- locating things in the source ---------------------------------------------------------


class _Locations:
    """Lines of definitions, literals and directives, read from Lark's parse of the text.
    Only messages need them, so the text is parsed (a second time) on first use."""

    def __init__(self, parse: Callable[[], Any], text: str) -> None:
        self._parse, self._text = parse, text
        self._read = False

    def _read_tree(self) -> None:
        if self._read:
            return
        self._read = True
        tree, text = self._parse(), self._text
        self.definitions: Dict[str, int] = {}  # rule/terminal name -> line
        self.imports: Dict[str, Optional[int]] = {}  # imported (possibly aliased) name -> line
        self.literals: Dict[str, Tuple[Optional[int], Optional[int]]] = {}  # raw literal text -> (line, column)
        self.declares: Dict[str, int] = {}
        for stmt in tree.children:
            node = stmt.children[0] if stmt.data in ("override", "extend") else stmt
            if node.data in ("rule", "term"):
                name = next(c for c in node.children if getattr(c, "type", None) in ("RULE", "TERMINAL"))
                self.definitions.setdefault(str(name), name.line)
            elif node.data == "import":
                for tok in _tokens(node):
                    if tok.type in ("RULE", "TERMINAL"):
                        self.imports.setdefault(str(tok), tok.line)
            for tok in _tokens(node):
                if tok.type in ("STRING", "REGEXP"):
                    self.literals.setdefault(str(tok), (tok.line, tok.column))
        for lineno, line in enumerate(text.splitlines(), start=1):
            m = re.match(r"\s*%declare\s+(.*)", line)
            if m:
                for name in m.group(1).split():
                    self.declares.setdefault(name, lineno)

    def line_of_declare(self, name: str) -> Optional[int]:
        self._read_tree()
        return self.declares.get(name)

    def of_terminal(self, name: str, raw: Optional[str]) -> str:
        self._read_tree()
        if raw is not None and raw in self.literals:
            line, column = self.literals[raw]
            return f"line {line}, column {column}"
        if name in self.definitions:
            return f"line {self.definitions[name]} (terminal {name})"
        if name in self.imports:
            return f"line {self.imports[name]} (terminal {name}, imported)"
        return f"terminal {name}"

    def of_rule(self, name: str) -> str:
        self._read_tree()
        if name in self.definitions:
            return f"line {self.definitions[name]} (rule {name})"
        return f"rule {name}"


def _tokens(tree: "Tree[Token]") -> Iterator["Token"]:
    from lark import Token, Tree

    stack: List[Union[Token, Tree[Token]]] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            yield node
        elif isinstance(node, Tree):
            stack.extend(reversed(node.children))


# --- regexes -------------------------------------------------------------------------------


_AT_NAMES = {
    "AT_BEGINNING": "anchor ^",
    "AT_BEGINNING_STRING": "anchor \\A",
    "AT_END": "anchor $",
    "AT_END_STRING": "anchor \\Z",
    "AT_BOUNDARY": "word boundary \\b",
    "AT_NON_BOUNDARY": "non-boundary \\B",
}


def _match_only_features(pattern: str) -> List[str]:
    """Constructs of ``pattern`` whose meaning inside a Lark terminal depends on the text
    around the lexeme or on ``re.match`` stopping early, so no regular language replaces
    them: lookarounds and anchors (they see past the lexeme), backreferences, conditionals,
    lazy quantifiers, atomic groups and possessive quantifiers."""
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:  # parse_regex reports the syntax error
        return []
    found: List[str] = []
    ascii_only = bool(parsed.state.flags & re.ASCII)
    stack = [parsed]
    while stack:
        node = stack.pop()
        codes: List[Tuple[Any, Any]] = node.data  # (opcode, argument); the argument's shape varies
        for op, av in codes:
            name = str(op)
            if name in ("ASSERT", "ASSERT_NOT"):
                kind = "lookahead" if av[0] == 1 else "lookbehind"
                found.append(f"{'negative ' if name == 'ASSERT_NOT' else ''}{kind}")
            elif name == "AT":
                found.append(_AT_NAMES.get(str(av), f"anchor {av}"))
            elif name == "GROUPREF":
                found.append("backreference")
            elif name == "GROUPREF_EXISTS":
                found.append("conditional group")
            elif name == "MIN_REPEAT" and av[0] != av[1]:
                found.append("lazy quantifier")
            elif name == "ATOMIC_GROUP":
                found.append("atomic group")
            elif name == "POSSESSIVE_REPEAT":
                found.append("possessive quantifier")
            elif name == "IN" and not ascii_only:
                # Lark reads \d \w \s as Unicode classes, parse_regex as ASCII ones: fine
                # where that narrows the class, unsupported where it widens it.
                negated = any(str(o) == "NEGATE" for o, _ in av)
                for o, a in av:
                    if str(o) == "CATEGORY" and negated != str(a).startswith("CATEGORY_NOT_"):
                        letter = {"DIGIT": "d", "WORD": "w", "SPACE": "s"}[str(a).rsplit("_", 1)[-1]]
                        shown = f"[^\\{letter}]" if negated else f"\\{letter.upper()}"
                        found.append(f"Unicode class {shown} (write the excluded characters out)")
            stack.extend(_subpatterns(av))
    return sorted(set(found))


def _subpatterns(av: object) -> Iterator[_sre_parse.SubPattern]:
    if isinstance(av, _sre_parse.SubPattern):
        yield av
    elif isinstance(av, (tuple, list)):
        for item in av:
            yield from _subpatterns(item)


def non_empty(r: Regex) -> Regex:
    """A regex for the non-empty strings ``r`` matches."""
    if not nullable(r):
        return r
    if isinstance(r, Seq):
        # ab - e = (a - e) b | (b - e)   when a is nullable (it is: the whole is)
        if not r.items:
            return NOTHING
        head, rest = r.items[0], Seq(r.items[1:])
        return alt(seq(non_empty(head), rest) if rest.items else non_empty(head), non_empty(rest))
    if isinstance(r, Alt):
        return alt(*(non_empty(i) for i in r.items)) if r.items else NOTHING
    if isinstance(r, Repeat):
        if r.max == 0:
            return NOTHING
        if not nullable(r.item):  # min == 0
            return Repeat(r.item, 1, r.max)
        # x nullable: x{m,n} = x{0,n}, and a non-empty match starts with a non-empty x.
        rest_max = None if r.max is None else r.max - 1
        tail = Repeat(r.item, 0, rest_max) if rest_max != 0 else EMPTY
        return seq(non_empty(r.item), tail) if tail != EMPTY else non_empty(r.item)
    return And((r, Not(EMPTY)))


def matches_nothing(r: Regex) -> bool:
    """Whether ``r`` provably matches no string (``And``/``Not`` are left to the compiler)."""
    if isinstance(r, Chars):
        return not r.ranges
    if isinstance(r, Seq):
        return any(matches_nothing(i) for i in r.items)
    if isinstance(r, Alt):
        return all(matches_nothing(i) for i in r.items)
    if isinstance(r, Repeat):
        return r.min > 0 and matches_nothing(r.item)
    return False


# --- the front end -------------------------------------------------------------------------


def _check_nesting(text: str, where: str) -> None:
    """Refuse groups (``(``, ``[``) nested deeper than MAX_NESTING before Lark's loader,
    which recurses along them, sees the text. Strings, regexes and comments are skipped."""
    depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c in '"/':  # a string or regex literal: up to the next unescaped quote/slash
            i += 1
            while i < n and text[i] != c and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif c in "([":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, i) + 1
                raise ResourceLimitError(
                    f"Lark grammar{where}: groups nest deeper than {MAX_NESTING} "
                    f"(constrain.config.MAX_NESTING) at line {line}"
                )
        elif c in ")]":
            depth = max(depth - 1, 0)
        i += 1


def grammar_from_lark(
    text: str,
    start: Optional[str] = None,
    *,
    path: Optional[str] = None,
    import_paths: Sequence[str] = (),
) -> Grammar:
    """Read a Lark grammar.

    Args:
        text: the grammar source.
        start: the start rule; ``"start"`` when None.
        path: the file the text came from: relative ``%import`` statements resolve against
            its directory, and error messages name it.
        import_paths: more directories for ``%import``, searched before Lark's own library.

    Returns:
        A :class:`Grammar` with ``kind="lark"``.

    Raises:
        InvalidGrammarError: a Lark syntax or semantic error (with its line where Lark gives
            one), an import that cannot be found, or an undefined start rule.
        UnsupportedFeatureError: every construct that cannot be enforced exactly, each with
            its line.
    """
    load_grammar, lark_exceptions = _lark()
    from .regex import parse_regex

    if not isinstance(text, str):
        raise InvalidGrammarError(f"a Lark grammar must be a str, got {type(text).__name__}")
    start = start or "start"
    source = os.path.abspath(path) if path is not None else "<string>"
    where = f" in {path}" if path is not None else ""

    _check_nesting(text, where)
    try:
        builder = load_grammar.GrammarBuilder(False, [os.fspath(p) for p in import_paths])
        builder.load_grammar(text, source)
        lark_grammar = builder.build()
        rule_names = {name for name, *_ in lark_grammar.rule_defs}
        if start not in rule_names:
            defined = ", ".join(sorted(n for n in rule_names if not n.startswith("_"))) or "none"
            raise InvalidGrammarError(f"Lark grammar{where}: start rule {start!r} is not defined (rules: {defined})")
        terminal_defs, lark_rules, ignore_names = lark_grammar.compile([start], ())
    except lark_exceptions.UnexpectedInput as exc:
        raise InvalidGrammarError(
            f"Lark grammar syntax error{where} at line {exc.line}, column {exc.column}: {exc}"
        ) from None
    except lark_exceptions.LarkError as exc:
        raise InvalidGrammarError(f"Lark grammar{where}: {exc}") from None
    except OSError as exc:  # an %import that was not found
        raise InvalidGrammarError(f"Lark grammar{where}: cannot import {exc.filename or exc}") from None
    except RecursionError:  # Lark's loader recurses along chains of terminals inlined into terminals
        raise ResourceLimitError(
            f"Lark grammar{where}: terminals or rules nest too deeply for Lark's grammar loader"
        ) from None

    locations = _Locations(lambda: load_grammar._parse_grammar(text, source), text)
    features: List[Feature] = []
    warnings: List[str] = []

    defined_terms = {td.name for td in terminal_defs}
    for r in lark_rules:
        for sym in r.expansion:
            if sym.is_term and sym.name not in defined_terms:
                line = locations.line_of_declare(sym.name)
                features.append(
                    Feature("lark", f"%declare {sym.name}", f"line {line}" if line else f"terminal {sym.name}")
                )
        if r.options and r.options.priority not in (None, 0):
            msg = f"rule priority {r.origin.name}.{r.options.priority} dropped ({locations.of_rule(r.origin.name)})"
            if msg not in warnings:
                warnings.append(msg)

    # Terminals: Python regex -> IR.
    regexes: Dict[str, Regex] = {}
    for td in terminal_defs:

        def location(td: Any = td) -> str:
            return locations.of_terminal(td.name, td.pattern.raw)

        if td.priority not in (None, 0):
            features.append(Feature("lark", f"terminal priority {td.name}.{td.priority}", location()))
        pattern = td.pattern.to_regexp()
        pattern = _COMMON_REPLACEMENTS.get(pattern, pattern)
        unsupported = _match_only_features(pattern)
        if unsupported:
            features.extend(Feature("lark", f"{f} in terminal {td.name}", location()) for f in unsupported)
            continue
        try:
            regexes[str(td.name)] = parse_regex(pattern)
        except UnsupportedFeatureError as exc:
            for f in exc.features:
                features.append(Feature("lark", f"{f.name} in terminal {td.name}", location()))
        except InvalidGrammarError as exc:
            raise InvalidGrammarError(
                f"Lark grammar{where}: bad regex in terminal {td.name} at {location()}: {exc}"
            ) from None
    if features:
        raise UnsupportedFeatureError(features, hint="rewrite these terminals without them (see docs/grammars.md)")

    # Terminals that match "" become optional uses of their non-empty part.
    optional: Dict[str, Optional[str]] = {}  # terminal -> its non-empty terminal, or None
    terminals: List[Terminal] = []
    for name, regex in regexes.items():
        if matches_nothing(regex):
            continue  # matches nothing: alternatives using it are dropped below
        if nullable(regex):
            rest = non_empty(regex)
            if matches_nothing(rest):
                optional[name] = None
                continue
            optional[name] = name
            regex = rest
        terminals.append(Terminal(name, regex))
    kept_terms = {t.name for t in terminals}

    alternatives: Dict[str, List[Tuple[str, ...]]] = {}
    for r in lark_rules:
        alts = alternatives.setdefault(str(r.origin.name), [])
        expansion = tuple(f"{s.name}?" if s.is_term and s.name in optional else str(s.name) for s in r.expansion)
        if expansion not in alts:
            alts.append(expansion)
    for name, nonempty in optional.items():
        alternatives[f"{name}?"] = [(), (nonempty,)] if nonempty else [()]
    # Alternatives that use a terminal matching nothing are dropped, to a fixpoint.
    void = set(regexes) - kept_terms - set(optional)
    while void:
        emptied = set()
        for name, alts in alternatives.items():
            kept = [a for a in alts if not void.intersection(a)]
            if len(kept) != len(alts):
                alternatives[name] = kept
                if not kept:
                    emptied.add(name)
        for name in emptied:
            del alternatives[name]
        void = emptied
    if start not in alternatives:
        raise UnsatisfiableGrammarError(f"Lark grammar{where}: rule {start!r} matches nothing")
    _factor_optionals(alternatives)
    rules = [Rule(name, tuple(alts)) for name, alts in alternatives.items()]

    ignore = tuple(n for n in dict.fromkeys(ignore_names) if n in kept_terms)
    try:
        return Grammar(
            start=start,
            rules=tuple(rules),
            terminals=tuple(terminals),
            ignore=ignore,
            kind="lark",
            warnings=tuple(warnings),
        )
    except ValueError as exc:  # pragma: no cover - Lark validated the names already
        raise InvalidGrammarError(f"Lark grammar{where}: {exc}") from None


#: Most optional positions folded back into one alternative (2**12 alternatives checked).
_MAX_FOLDED_OPTIONALS = 12
#: Most candidate alternatives spelled out while folding one grammar: folding only makes the
#: grammar smaller, so past this a huge grammar keeps the rest of its alternatives as Lark
#: wrote them (bounded time whatever the input).
_FOLDING_BUDGET = 1 << 18


def _factor_optionals(alternatives: Dict[str, List[Tuple[str, ...]]]) -> None:
    """Fold the alternatives Lark's EBNF-to-BNF pass writes out for optional items back into
    one alternative with nullable helpers, in place.

    Lark expands ``x?`` (and ``[x]``, and the optional repetitions behind ``x*``) into every
    combination: a rule with five optional items becomes 32 alternatives, all predicted
    wherever the rule is, which makes every Earley set that large. A group of alternatives
    that are exactly the subsequences of the longest one keeping some of its positions
    optional becomes that alternative with ``s?`` (``s?: | s``) at those positions. The group
    is checked to be exactly what the folded alternative derives, so the language is the
    same; alternatives outside any such group are kept as they are.
    """
    budget = _FOLDING_BUDGET
    for name in list(alternatives):
        alts = alternatives[name]
        if budget < 0:
            return
        if len(alts) < 2 or name.endswith("?"):  # a helper is already folded
            continue
        present = set(alts)
        used: Set[Tuple[str, ...]] = set()
        folded: Dict[Tuple[str, ...], Tuple[str, ...]] = {}
        for longest in sorted(alts, key=len, reverse=True):
            if longest in used:
                continue
            optional = [
                i
                for i in range(len(longest))
                if (shorter := longest[:i] + longest[i + 1 :]) in present and shorter not in used
            ]
            if not optional or len(optional) > _MAX_FOLDED_OPTIONALS or len(longest) == 1:
                continue  # (``r: x?`` stays ``r: | x``: a helper would only add a level)
            budget -= 1 << len(optional)
            if budget < 0:
                break  # the groups found so far are folded below
            group: Set[Tuple[str, ...]] = set()
            for bits in range(1 << len(optional)):
                dropped = {optional[j] for j in range(len(optional)) if bits >> j & 1}
                group.add(tuple(s for i, s in enumerate(longest) if i not in dropped))
            if not group <= present or group & used:
                continue
            used |= group
            folded[longest] = tuple(
                _optional_symbol(s, alternatives) if i in optional else s for i, s in enumerate(longest)
            )
        if folded:
            alternatives[name] = [folded.get(a, a) for a in alts if a in folded or a not in used]


def _optional_symbol(symbol: str, alternatives: Dict[str, List[Tuple[str, ...]]]) -> str:
    """The nullable helper ``symbol?`` (``symbol?: | symbol``); a helper already nullable
    (an optional terminal's) is its own optional."""
    if symbol.endswith("?"):
        return symbol
    helper = f"{symbol}?"
    alternatives.setdefault(helper, [(), (symbol,)])
    return helper

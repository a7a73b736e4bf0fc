"""Lowering a grammar for the engine: terminal DFAs, terminals that match the empty string,
and ignored material absorbed into the terminals that follow it."""

from __future__ import annotations

import threading
import time
from typing import AbstractSet, Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple, overload

import numpy as np

from ..config import Limits
from ..errors import ResourceLimitError
from ..grammar.ir import EMPTY, Alt, And, Chars, Grammar, Not, Regex, Repeat, Rule, Seq, Terminal, alt, seq
from .fsm import ByteDFA, cofinite_parts, regex_to_dfa


def _first_bytes(dfa: ByteDFA) -> Set[int]:
    return set(np.flatnonzero(dfa.transitions[0] >= 0).tolist()) if dfa.num_states else set()


def _continuing_bytes(dfa: ByteDFA) -> Set[int]:
    """Bytes that extend some accepted string (where a greedy lexeme does not end)."""
    if not dfa.num_states:
        return set()
    return set(np.flatnonzero((dfa.transitions[dfa.accepting] >= 0).any(axis=0)).tolist())


def _absorb_ignored(
    terminals: List[Terminal], dfas: List[ByteDFA], ignore: AbstractSet[str], limits: Limits
) -> Tuple[List[Terminal], List[ByteDFA]]:
    """Let terminals start with ignored material: ``T`` becomes ``A* T``, where ``A`` is the
    union of the *absorbable* ignored terminals: those that no other terminal can start with
    a byte they start with, or with a byte that would extend them where they could end.

    Greedy lexing then splits such material from the next lexeme exactly where ``A* T`` can
    (a split inside it could only be followed by a lexeme starting with a byte no other
    terminal starts with), so the language is unchanged; but a token such as `` foo`` (a space and a name, most
    of a BPE vocabulary) now stays within one lexeme, whose mask part is memoized, instead of
    crossing a lexeme boundary that sends the mask walk to the parser. Ignored terminals that
    are not absorbable (a ``/* comment */`` where ``/`` is also an operator) get the prefix too
    and stay lexemes of their own.
    """
    if not ignore:
        return terminals, dfas
    firsts = [_first_bytes(d) for d in dfas]
    absorbable: List[int] = []
    for i, t in enumerate(terminals):
        if t.name in ignore and firsts[i]:
            own = firsts[i] | _continuing_bytes(dfas[i])
            if not any(own & firsts[j] for j in range(len(terminals)) if j != i):
                absorbable.append(i)
    if not absorbable:
        return terminals, dfas
    prefix = Repeat(alt(*(terminals[i].regex for i in absorbable)), 0, None)
    out_terminals: List[Terminal] = []
    out_dfas: List[ByteDFA] = []
    for i, (terminal, dfa) in enumerate(zip(terminals, dfas)):
        if i not in absorbable and dfa.num_states:
            terminal = Terminal(terminal.name, seq(prefix, terminal.regex))
            dfa = regex_to_dfa(terminal.regex, max_states=limits.max_dfa_states, max_bytes=limits.max_automaton_bytes)
        out_terminals.append(terminal)
        out_dfas.append(dfa)
    return out_terminals, out_dfas


def _literal_length(regex: Regex) -> Optional[int]:
    """The UTF-8 length of the one string a sequence of single code points matches, or None."""
    items = regex.items if isinstance(regex, Seq) else (regex,)
    length = 0
    for item in items:
        if not (isinstance(item, Chars) and len(item.ranges) == 1 and item.ranges[0][0] == item.ranges[0][1]):
            return None
        cp = item.ranges[0][0]
        if 0xD800 <= cp <= 0xDFFF:
            return None
        length += 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return length


def _finite_length(regex: Regex) -> Optional[int]:
    """The summed UTF-8 lengths of a literal or an alternation of literals, or None."""
    if isinstance(regex, Alt):
        lengths = [_literal_length(x) for x in regex.items]
        return None if any(n is None for n in lengths) else sum(n for n in lengths if n is not None)
    return _literal_length(regex)


def lazy_state_bound(regex: Regex, max_states: int) -> Optional[int]:
    """A bound on the states of the DFA of a terminal whose language is surely not empty and
    without the empty string, so that building the DFA can wait until a lexer needs it;
    None for any other terminal (built at compile time, where its size and emptiness are
    checked). Vouched for: literal texts, alternations of them (enum values), and sequences
    of single code points around at most one co-finite item (a JSON object's other keys,
    ``"`` then anything but the declared names then ``"``)."""
    finite = _finite_length(regex)
    if finite is not None:
        if finite == 0 or (isinstance(regex, Alt) and any(_literal_length(x) == 0 for x in regex.items)):
            return None  # the empty string is in the language
        return finite + 1 if finite + 1 <= max_states else None
    parts = cofinite_parts(regex) if isinstance(regex, Seq) else None
    if parts is None:
        return None
    prefix, star, removed, suffix = parts
    removed_bytes = sum(len(r) for r in removed)
    if not prefix + suffix or removed_bytes + 1 > max_states:
        return None  # without a literal around it the body could match ""
    # P* is infinite (its DFA is built, and cached, to know its size) and the removed set
    # finite, so the language is not empty; the product walks each removed string's trie
    # path in one state and leaves it for one of P*'s states.
    star_dfa = regex_to_dfa(star, max_states=max_states)
    if star_dfa.num_states == 0 or star_dfa.transitions[0].max() < 0:  # P* = {""}: P is empty
        return None
    bound = 1 + len(prefix) + len(suffix) + star_dfa.num_states + removed_bytes + 1
    return bound if bound <= max_states else None


class TerminalDFAs(Sequence[ByteDFA]):
    """The terminals' byte DFAs, by terminal id. Those that :func:`lazy_state_bound` vouches
    for are built on first access (by the lexer that first needs them: a schema's property
    names and enum values are many small DFAs, most of which a short document never
    reaches); the others are built by :func:`terminal_dfas`. Thread-safe; picklable."""

    def __init__(self, regexes: Sequence[Regex], built: List[Optional[ByteDFA]], limits: Limits) -> None:
        self._regexes = tuple(regexes)
        self._built = built
        self._max_states = limits.max_dfa_states
        self._max_bytes = limits.max_automaton_bytes
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._built)

    @overload
    def __getitem__(self, index: int) -> ByteDFA: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ByteDFA]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        dfa = self._built[index]
        if dfa is None:
            with self._lock:
                dfa = self._built[index]
                if dfa is None:
                    dfa = regex_to_dfa(self._regexes[index], max_states=self._max_states, max_bytes=self._max_bytes)
                    self._built[index] = dfa
        return dfa

    def __iter__(self) -> Iterator[ByteDFA]:
        return (self[i] for i in range(len(self)))

    def is_built(self, index: int) -> bool:
        """Whether terminal ``index``'s DFA exists yet."""
        return self._built[index] is not None

    def nonempty(self, index: int) -> bool:
        """Whether terminal ``index`` matches some string (without building its DFA)."""
        dfa = self._built[index]
        return dfa is None or dfa.num_states > 0

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def terminal_dfas(grammar: Grammar, limits: Limits, deadline: float) -> Tuple[Grammar, TerminalDFAs]:
    """Byte DFAs of the terminals (some left to be built when first needed: see
    :class:`TerminalDFAs`). A terminal that matches the empty string is split: the terminal
    keeps its non-empty strings and each use becomes an optional rule."""
    dfas: list[Optional[ByteDFA]] = []
    terminals: list[Terminal] = []
    optional: Dict[str, str] = {}
    # Ignored material is absorbed into the terminals by their first bytes: all built then.
    lazy_ok = not grammar.ignore
    for terminal in grammar.terminals:
        if time.monotonic() > deadline:
            raise ResourceLimitError(f"compiling took longer than max_compile_seconds={limits.max_compile_seconds}")
        if lazy_ok and lazy_state_bound(terminal.regex, limits.max_dfa_states) is not None:
            terminals.append(terminal)
            dfas.append(None)
            continue
        try:
            dfa = regex_to_dfa(terminal.regex, max_states=limits.max_dfa_states, max_bytes=limits.max_automaton_bytes)
        except ResourceLimitError as exc:
            if not terminal.origin:
                raise
            raise ResourceLimitError(f"{terminal.origin}: {exc}; raise Limits.max_dfa_states to compile it") from None
        if dfa.num_states and dfa.accepting[0]:
            nonempty = Terminal(terminal.name, And((terminal.regex, Not(EMPTY))), origin=terminal.origin)
            dfa = regex_to_dfa(nonempty.regex, max_states=limits.max_dfa_states, max_bytes=limits.max_automaton_bytes)
            optional[terminal.name] = f"{terminal.name}?"
            terminals.append(nonempty)
        else:
            terminals.append(terminal)
        dfas.append(dfa)
    if grammar.ignore:
        built = [d for d in dfas if d is not None]
        terminals, built = _absorb_ignored(terminals, built, set(grammar.ignore), limits)
        dfas = list(built)
    lazy = TerminalDFAs([t.regex for t in terminals], dfas, limits)
    if not optional and all(a is b for a, b in zip(terminals, grammar.terminals)):
        return grammar, lazy
    rules = [
        Rule(r.name, tuple(tuple(optional.get(s, s) for s in alt) for alt in r.alternatives)) for r in grammar.rules
    ]
    rules += [Rule(opt, ((name,), ())) for name, opt in optional.items()]
    rewritten = Grammar(
        start=grammar.start,
        rules=tuple(rules),
        terminals=tuple(terminals),
        ignore=grammar.ignore,
        kind=grammar.kind,
        warnings=grammar.warnings,
    )
    return rewritten, lazy

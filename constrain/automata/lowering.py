"""Lowering a grammar for the engine: terminal DFAs, terminals that match the empty string,
and ignored material absorbed into the terminals that follow it."""

from __future__ import annotations

import time
from typing import AbstractSet, Dict, List, Set, Tuple

import numpy as np

from ..config import Limits
from ..errors import ResourceLimitError
from ..grammar.ir import EMPTY, And, Grammar, Not, Repeat, Rule, Terminal, alt, seq
from .fsm import ByteDFA, regex_to_dfa


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


def terminal_dfas(grammar: Grammar, limits: Limits, deadline: float) -> Tuple[Grammar, List[ByteDFA]]:
    """Byte DFAs of the terminals. A terminal that matches the empty string is split: the
    terminal keeps its non-empty strings and each use becomes an optional rule."""
    dfas: list[ByteDFA] = []
    terminals: list[Terminal] = []
    optional: Dict[str, str] = {}
    for terminal in grammar.terminals:
        if time.monotonic() > deadline:
            raise ResourceLimitError(f"compiling took longer than max_compile_seconds={limits.max_compile_seconds}")
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
    terminals, dfas = _absorb_ignored(terminals, dfas, set(grammar.ignore), limits)
    if not optional and all(a is b for a, b in zip(terminals, grammar.terminals)):
        return grammar, dfas
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
    return rewritten, dfas

"""Flat parser tables for the Earley kernels, built from a :class:`~constrain.grammar.ir.Grammar`.

Symbols are numbered terminals first (``0 .. num_terminals-1``), then nonterminals. The rules'
right-hand sides are laid end to end in ``dot_symbol``, each followed by a ``-1`` end marker, so an
Earley item's dotted position is a single index ``p`` into that array: ``dot_symbol[p]`` is the
symbol after the dot (``-1`` when the item is complete), ``p + 1`` advances the dot and
``dot_rule[p]`` names the rule. Rule 0 is the augmented rule ``$start -> start``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

from ..errors import ResourceLimitError, UnsatisfiableGrammarError
from ..grammar.ir import Grammar, Rule
from ..kernels.tables import CLOSURES_OVER_BUDGET, prediction_closures_kernel

AUGMENTED_START = "$start"


@dataclass(frozen=True, eq=False)
class ParserTables:
    """The grammar as arrays (all int32 unless noted).

    Attributes:
        terminal_names: name of each terminal id.
        nonterminal_names: name of each nonterminal (id = num_terminals + index).
        dot_symbol: ``[num_positions]`` symbol after each dotted position, -1 at rule ends.
        dot_rule: ``[num_positions]`` the rule each position belongs to.
        rule_lhs: ``[num_rules]`` the nonterminal id each rule defines.
        rule_first_dot: ``[num_rules]`` position of the rule's first symbol.
        nt_rule_start, nt_rule_end: ``[num_nonterminals]`` rules of nonterminal n are
            ``nt_rules[nt_rule_start[n]:nt_rule_end[n]]``.
        nt_rules: rule ids grouped by left-hand side.
        nullable: ``bool[num_nonterminals]``.
        ignore_mask: ``uint64[num_words]`` bitset of ignored terminals.
        accept_dot: the position of ``$start -> start .``.
        pred_offsets, pred_positions: the prediction closure of nonterminal ``n``: every
            dotted position predicting ``n`` adds (with the current set as origin), nullable
            prefixes skipped as Aycock & Horspool do; ``pred_positions[pred_offsets[n]:
            pred_offsets[n+1]]``. Empty tables (``pred_offsets`` of length 0) when the
            closures would be too large; the kernels then predict item by item.
        pred_nt_offsets, pred_nonterminals: the nonterminals whose rules that closure holds.
    """

    terminal_names: Tuple[str, ...]
    nonterminal_names: Tuple[str, ...]
    dot_symbol: np.ndarray
    dot_rule: np.ndarray
    rule_lhs: np.ndarray
    rule_first_dot: np.ndarray
    nt_rule_start: np.ndarray
    nt_rule_end: np.ndarray
    nt_rules: np.ndarray
    nullable: np.ndarray
    ignore_mask: np.ndarray
    accept_dot: int
    pred_offsets: np.ndarray
    pred_positions: np.ndarray
    pred_nt_offsets: np.ndarray
    pred_nonterminals: np.ndarray

    @property
    def num_terminals(self) -> int:
        return len(self.terminal_names)

    @property
    def num_words(self) -> int:
        """uint64 words in a terminal bitset."""
        return max(1, (self.num_terminals + 63) // 64)


def terminal_bitset(ids: Iterable[int], num_words: int) -> NDArray[np.uint64]:
    """A uint64 bitset with the given terminal ids set."""
    words = np.zeros(num_words, dtype=np.uint64)
    for t in ids:
        words[t >> 6] |= np.uint64(1) << np.uint64(t & 63)
    return words


def bitset_members(words: NDArray[np.uint64]) -> List[int]:
    """The ids set in a uint64 bitset."""
    out: List[int] = []
    for w, word in enumerate(words.tolist()):
        while word:
            low = word & -word
            out.append(w * 64 + low.bit_length() - 1)
            word ^= low
    return out


def build_parser_tables(
    grammar: Grammar, max_symbols: int, dead_terminals: AbstractSet[str] = frozenset()
) -> ParserTables:
    """Number the grammar's symbols and lay its rules out flat.

    Args:
        grammar: the grammar.
        max_symbols: bound on the rules' total size.
        dead_terminals: names of terminals whose language is empty.

    Raises:
        UnsatisfiableGrammarError: the start rule derives no string of terminals.
        ResourceLimitError: the rules have more than ``max_symbols`` symbols in all.
    """
    terminal_names = tuple(t.name for t in grammar.terminals)
    rules: list[Rule] = [Rule(AUGMENTED_START, ((grammar.start,),)), *grammar.rules]
    nonterminal_names = tuple(r.name for r in rules)
    num_t = len(terminal_names)
    ids = {name: i for i, name in enumerate(terminal_names)}
    ids.update({name: num_t + i for i, name in enumerate(nonterminal_names)})

    total = sum(len(a) + 1 for r in rules for a in r.alternatives)
    if total > max_symbols:
        raise ResourceLimitError(f"grammar has {total} rule symbols, over the limit max_grammar_symbols={max_symbols}")

    # Each alternative as symbol ids, once (the passes below read them, not the names).
    alternatives = [[tuple(map(ids.__getitem__, a)) for a in rule.alternatives] for rule in rules]

    # Alternatives that use an unproductive nonterminal (``r1 ::= r1 "c"``) or a dead
    # terminal derive nothing: dropped, so that no mask lets a token into a path that can
    # never finish.
    dead = {ids[n] for n in dead_terminals}
    productive = _derives(alternatives, num_t, dead)
    if not productive[ids[grammar.start] - num_t]:
        raise UnsatisfiableGrammarError(f"the grammar derives no string: start rule {grammar.start!r} never finishes")
    if dead or not all(productive):
        unusable = dead | {num_t + n for n, ok in enumerate(productive) if not ok}
        alternatives = [[a for a in alts if unusable.isdisjoint(a)] for alts in alternatives]

    dot_symbol: List[int] = []
    dot_rule: List[int] = []
    rule_lhs: List[int] = []
    rule_first_dot: List[int] = []
    rules_of: list[list[int]] = [[] for _ in rules]
    for n, alts in enumerate(alternatives):
        for alternative in alts:
            r = len(rule_lhs)
            rule_lhs.append(num_t + n)
            rule_first_dot.append(len(dot_symbol))
            rules_of[n].append(r)
            dot_symbol.extend(alternative)
            dot_symbol.append(-1)
            dot_rule.extend([r] * (len(alternative) + 1))

    nt_rule_start: List[int] = []
    nt_rule_end: List[int] = []
    nt_rules: List[int] = []
    for group in rules_of:
        nt_rule_start.append(len(nt_rules))
        nt_rules.extend(group)
        nt_rule_end.append(len(nt_rules))

    nullable = _derives(alternatives, num_t, None)

    num_words = max(1, (num_t + 63) // 64)

    def i32(xs: Sequence[int]) -> NDArray[np.int32]:
        return np.asarray(xs, dtype=np.int32)

    closures = _prediction_closures(dot_symbol, rule_first_dot, rules_of, nullable, num_t, max_symbols)
    return ParserTables(
        terminal_names=terminal_names,
        nonterminal_names=nonterminal_names,
        dot_symbol=i32(dot_symbol),
        dot_rule=i32(dot_rule),
        rule_lhs=i32(rule_lhs),
        rule_first_dot=i32(rule_first_dot),
        nt_rule_start=i32(nt_rule_start),
        nt_rule_end=i32(nt_rule_end),
        nt_rules=i32(nt_rules),
        nullable=np.asarray(nullable, dtype=np.bool_),
        ignore_mask=terminal_bitset([ids[name] for name in grammar.ignore], num_words),
        accept_dot=rule_first_dot[0] + 1,
        pred_offsets=closures[0],
        pred_positions=closures[1],
        pred_nt_offsets=closures[2],
        pred_nonterminals=closures[3],
    )


def _prediction_closures(
    dot_symbol: Sequence[int],
    rule_first_dot: Sequence[int],
    rules_of: Sequence[Sequence[int]],
    nullable: Sequence[bool],
    num_t: int,
    budget: int,
) -> Tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]]:
    """Per nonterminal: the positions and nonterminals its prediction closes over (see
    :class:`ParserTables`). Empty arrays when they would hold more than ``budget`` entries."""
    empty = (
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
    )
    # What predicting one nonterminal adds by itself, in the order of its rules: the
    # positions from each rule's first dot through nullable nonterminals, and the
    # nonterminals at those positions. A position belongs to one rule, so a closure is the
    # concatenation of these over the nonterminals it reaches (no position is met twice).
    chain_positions: List[int] = []
    chain_offsets = [0]
    predicted: List[int] = []
    predicted_offsets = [0]
    for rules in rules_of:
        for r in rules:
            p = rule_first_dot[r]
            while True:
                chain_positions.append(p)
                s = dot_symbol[p]
                if s < num_t:  # a terminal or the rule's end
                    break
                predicted.append(s - num_t)
                if not nullable[s - num_t]:
                    break
                p += 1
        chain_offsets.append(len(chain_positions))
        predicted_offsets.append(len(predicted))
    n = len(rules_of)
    offsets = np.zeros(n + 1, dtype=np.int64)
    nt_offsets = np.zeros(n + 1, dtype=np.int64)
    # Room for every chain four times over (at most the budget), doubled while a closure
    # does not fit.
    positions = np.empty(max(64, min(budget, 4 * len(chain_positions))), dtype=np.int32)
    nonterminals = np.empty(max(64, min(budget, 4 * n)), dtype=np.int32)
    chains = (
        np.asarray(chain_offsets, dtype=np.int64),
        np.asarray(chain_positions, dtype=np.int32),
        np.asarray(predicted_offsets, dtype=np.int64),
        np.asarray(predicted, dtype=np.int32),
    )
    stack = np.empty(len(predicted) + 1, dtype=np.int32)
    done = 0
    while True:
        visited = np.zeros(n, dtype=np.int64)
        done = prediction_closures_kernel(
            *chains, done, budget, offsets, positions, nt_offsets, nonterminals, visited, stack
        )
        if done == CLOSURES_OVER_BUDGET:
            return empty
        if done == n:
            break
        positions = _grown(positions, int(offsets[done]))
        nonterminals = _grown(nonterminals, int(nt_offsets[done]))
    return offsets, positions[: offsets[n]].copy(), nt_offsets, nonterminals[: nt_offsets[n]].copy()


def _grown(array: NDArray[np.int32], used: int) -> NDArray[np.int32]:
    """``array`` at twice its size, its first ``used`` entries kept."""
    out = np.empty(2 * array.shape[0], dtype=array.dtype)
    out[:used] = array[:used]
    return out


def _derives(
    alternatives: Sequence[Sequence[Tuple[int, ...]]], num_t: int, dead: Optional[AbstractSet[int]]
) -> List[bool]:
    """For each nonterminal (its alternatives as symbol ids, terminals below ``num_t``),
    whether some alternative derives a string of terminals outside ``dead``; with ``dead``
    ``None``, whether it derives the empty string. A worklist over alternatives counting
    their nonterminals still to be settled: linear in the grammar's size."""
    derives = [False] * len(alternatives)
    waiting: List[List[int]] = [[] for _ in alternatives]  # nonterminal -> alternatives it occurs in
    missing: List[int] = []  # per alternative: nonterminal occurrences not yet known to derive
    owner: List[int] = []
    ready: List[int] = []
    for n, alts in enumerate(alternatives):
        for alternative in alts:
            a = len(missing)
            owner.append(n)
            if dead is None:
                possible = not alternative or min(alternative) >= num_t  # no terminal at all
            else:
                possible = dead.isdisjoint(alternative)
            if not possible:
                missing.append(-1)
                continue
            nonterminals = [i - num_t for i in alternative if i >= num_t]
            for m in nonterminals:
                waiting[m].append(a)
            missing.append(len(nonterminals))
            if not nonterminals:
                ready.append(a)
    while ready:
        n = owner[ready.pop()]
        if derives[n]:
            continue
        derives[n] = True
        for a in waiting[n]:
            if missing[a] > 0:
                missing[a] -= 1
                if missing[a] == 0:
                    ready.append(a)
    return derives

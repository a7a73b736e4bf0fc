"""Plain-Python twins of the engine's kernels, written straight from the definitions.

``NaiveMatcher`` implements the lexing rule of ``constrain.grammar.ir`` and a textbook Earley
recognizer over lexemes with sets of Python tuples; ``naive_mask`` tries every token one by one.
They share only the terminal byte DFAs with the engine (those have their own twin, Python's
``re``, in ``tests/automata/test_fsm.py``).
"""

from __future__ import annotations

import numpy as np

from constrain.automata.compiled import CompiledGrammar
from constrain.automata.fsm import regex_to_dfa
from constrain.grammar.ir import EMPTY, And, Not

START = "$start"


class NaiveMatcher:
    """Earley sets as frozensets of (lhs, alternative index, dot, origin)."""

    def __init__(self, compiled: CompiledGrammar) -> None:
        # The grammar as written, not compile's lowering: terminals that match "" become
        # optional here by their own rule, and ignored material is a lexeme of its own.
        grammar = compiled.grammar
        self.rules = {r.name: r.alternatives for r in grammar.rules}
        self.rules[START] = ((grammar.start,),)
        self.dfas = {}
        for t in grammar.terminals:
            dfa = regex_to_dfa(t.regex)
            if dfa.num_states and dfa.accepting[0]:
                dfa = regex_to_dfa(And((t.regex, Not(EMPTY))))
                self.rules = {
                    name: tuple(tuple(s + "?" if s == t.name else s for s in alt) for alt in alts)
                    for name, alts in self.rules.items()
                }
                self.rules[t.name + "?"] = ((t.name,), ())
            self.dfas[t.name] = dfa
        self.ignore = frozenset(grammar.ignore)
        self.sets = [self._close({(START, 0, 0, 0)}, 0)]
        self.lexeme_states: dict = {}  # live terminal -> DFA state of the current lexeme
        self.lexeme_empty = True

    def copy(self) -> "NaiveMatcher":
        twin = object.__new__(NaiveMatcher)
        twin.__dict__.update(self.__dict__)
        twin.sets = list(self.sets)
        twin.lexeme_states = dict(self.lexeme_states)
        return twin

    def _close(self, items: set, k: int) -> frozenset:
        items = set(items)
        while True:
            new = set()
            for lhs, a, dot, origin in items:
                alt = self.rules[lhs][a]
                if dot == len(alt):
                    source = items if origin == k else self.sets[origin]
                    for lhs2, a2, dot2, origin2 in source:
                        alt2 = self.rules[lhs2][a2]
                        if dot2 < len(alt2) and alt2[dot2] == lhs:
                            new.add((lhs2, a2, dot2 + 1, origin2))
                elif alt[dot] in self.rules:
                    for a2 in range(len(self.rules[alt[dot]])):
                        new.add((alt[dot], a2, 0, k))
            if new <= items:
                return frozenset(items)
            items |= new

    def expected(self) -> set:
        out = set(self.ignore)
        for lhs, a, dot, _ in self.sets[-1]:
            alt = self.rules[lhs][a]
            if dot < len(alt) and alt[dot] in self.dfas:
                out.add(alt[dot])
        return out

    def _start_lexeme(self, b: int) -> bool:
        states = {}
        for t in self.expected():
            dfa = self.dfas[t]
            if dfa.num_states and dfa.transitions[0, b] >= 0:
                states[t] = int(dfa.transitions[0, b])
        if not states:
            return False
        self.lexeme_states, self.lexeme_empty = states, False
        return True

    def _accepting_terminals(self) -> set:
        return {t for t, s in self.lexeme_states.items() if self.dfas[t].accepting[s]}

    def _scan(self, terminals: set) -> bool:
        k = len(self.sets)
        moved = set()
        for lhs, a, dot, origin in self.sets[-1]:
            alt = self.rules[lhs][a]
            if dot < len(alt) and alt[dot] in terminals:
                moved.add((lhs, a, dot + 1, origin))
        if not moved:
            return False
        self.sets.append(self._close(moved, k))
        return True

    def _end_lexeme(self) -> bool:
        accepted = self._accepting_terminals()
        real = accepted - self.ignore
        if real:
            return self._scan(real)
        return bool(accepted)

    def step(self, b: int) -> bool:
        if self.lexeme_empty:
            return self._start_lexeme(b)
        grown = {}
        for t, s in self.lexeme_states.items():
            nxt = int(self.dfas[t].transitions[s, b])
            if nxt >= 0:
                grown[t] = nxt
        if grown:
            self.lexeme_states = grown
            return True
        if not self._end_lexeme():
            return False
        return self._start_lexeme(b)

    def advance(self, data: bytes) -> bool:
        return all(self.step(b) for b in data)

    def is_accepting(self) -> bool:
        probe = self.copy()
        if not probe.lexeme_empty and not probe._end_lexeme():
            return False
        return (START, 0, 1, 0) in probe.sets[-1]


def naive_mask(matcher: NaiveMatcher, compiled: CompiledGrammar) -> np.ndarray:
    """Bool mask over the vocabulary: each token tried alone, EOS when accepting."""
    vocab = compiled.vocab
    mask = np.zeros(vocab.size, dtype=bool)
    for token_id, data in enumerate(vocab.token_bytes):
        if data and token_id not in vocab.special_token_ids and token_id not in vocab.eos_token_ids:
            mask[token_id] = matcher.copy().advance(data)
    if matcher.is_accepting():
        for t in vocab.eos_token_ids:
            mask[t] = True
    return mask


def naive_accept_count(matcher: NaiveMatcher, compiled: CompiledGrammar, ids) -> int:
    """How many of ``ids`` are accepted in order from ``matcher`` (a copy is advanced): a text
    token when its bytes advance, EOS when the text is complete (and nothing after it)."""
    vocab = compiled.vocab
    twin = matcher.copy()
    for count, t in enumerate(ids):
        if t in vocab.eos_token_ids:
            return count + 1 if twin.is_accepting() else count
        data = vocab.token_bytes[t]
        if not data or not twin.advance(data):
            return count
    return len(ids)


def naive_forced_bytes(matcher: NaiveMatcher, limit: int = 64) -> bytes:
    """The jump-forward bytes by their definition on the twin: while the text is not complete
    and exactly one of the 256 bytes keeps it alive, take that byte."""
    twin = matcher.copy()
    out = b""
    while len(out) < limit and not twin.is_accepting():
        alive = [b for b in range(256) if twin.copy().step(b)]
        if len(alive) != 1:
            break
        twin.step(alive[0])
        out += bytes(alive)
    return out


def naive_completions(matcher: NaiveMatcher, max_length: int) -> list:
    """Every byte string of at most ``max_length`` bytes that completes the text (the twin
    accepts it and is then complete), by a breadth-first search over all 256 bytes."""
    out = []
    layer = [(b"", matcher.copy())]
    for _ in range(max_length + 1):
        grown = []
        for text, twin in layer:
            if twin.is_accepting():
                out.append(text)
            if len(text) < max_length:
                for b in range(256):
                    child = twin.copy()
                    if child.step(b):
                        grown.append((text + bytes([b]), child))
        layer = grown
    return out


def common_prefix(strings) -> bytes:
    """The longest common prefix of byte strings (``b""`` for none)."""
    strings = list(strings)
    if not strings:
        return b""
    first, last = min(strings), max(strings)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def unpack_bitmask(row: np.ndarray, vocab_size: int) -> np.ndarray:
    """Bool mask from one int32 bitmask row."""
    bits = np.unpackbits(row.view(np.uint8), bitorder="little")
    return bits[:vocab_size].astype(bool)


def naive_safe_successor(trans: np.ndarray, final: np.ndarray, state: int, reps) -> int:
    """Twin of ``constrain.kernels.slices.safe_successor_kernel``: the one state every safe
    character (every representative byte of ``reps``, from ``byte_representatives``) leads
    ``state`` to; -1 when several, or a dead or final state on the way; -2 when every safe
    character is dead."""
    from constrain.automata.slices import _MULTIBYTE

    if (trans[state, reps["ascii"]] < 0).all() and all((trans[state, reps[lead]] < 0).all() for lead, *_ in _MULTIBYTE):
        return -2
    if final[state]:
        return -1
    targets = set(trans[state, reps["ascii"]].tolist())
    for ranges in _MULTIBYTE:
        current = {state}
        for depth, r in enumerate(ranges):
            reached = set()
            for s in current:
                seen = trans[s, reps[r]]
                if (seen < 0).any():
                    return -1
                reached.update(seen.tolist())
            if depth < len(ranges) - 1 and any(final[s] for s in reached):
                return -1
            current = reached
        targets |= current
    if len(targets) != 1:
        return -1
    (target,) = targets
    return -1 if target < 0 or final[target] else target


def naive_safe_live_states(trans: np.ndarray, final: np.ndarray, reps) -> np.ndarray:
    """Twin of ``constrain.kernels.slices.safe_closed_kernel`` for every state at once:
    ``bool[num_states]``, the states from which no string of safe characters leads to a dead
    or final state. The greatest fixed point over (state, reached state) pairs, in numpy."""
    from constrain.automata.slices import _MULTIBYTE

    n = trans.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)

    def bad(targets):
        return (targets < 0) | final[np.maximum(targets, 0)]

    ascii_targets = trans[:, reps["ascii"]]
    ok = ~bad(ascii_targets).any(axis=1)
    edges_from = [np.repeat(np.arange(n), ascii_targets.shape[1])]
    edges_to = [ascii_targets.ravel()]
    for ranges in _MULTIBYTE:
        origin = np.arange(n)
        current = np.arange(n)
        for r in ranges:
            nxt = trans[current][:, reps[r]]
            ok[origin[bad(nxt).any(axis=1)]] = False
            keep = nxt >= 0
            pairs = np.unique(np.repeat(origin, nxt.shape[1])[keep.ravel()] * n + nxt[keep])
            origin, current = pairs // n, pairs % n
        edges_from.append(origin)
        edges_to.append(current)
    sources = np.concatenate(edges_from)
    targets = np.maximum(np.concatenate(edges_to), 0)
    live = ok
    while True:
        refined = live.copy()
        refined[sources[~live[targets]]] = False
        if (refined == live).all():
            return live
        live = refined

"""The grammar being built: terminals deduplicated by regex, rules, and the final pruning into
a :class:`~constrain.grammar.ir.Grammar`."""

from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

from ...config import Limits
from ...errors import ResourceLimitError, UnsatisfiableGrammarError
from ..ir import Grammar, Regex, Rule, Terminal


class Builder:
    """Terminals (deduplicated by regex) and rules of the grammar being built."""

    def __init__(self, limits: Limits) -> None:
        self.terminals: Dict[Regex, str] = {}
        self.origins: Dict[str, str] = {}  # terminal name -> the schema location it enforces
        self.rules: Dict[str, List[Tuple[str, ...]]] = {}
        self.counter = 0
        self.symbols = 0
        self.limits = limits

    def terminal(self, regex: Regex, hint: str = "T", origin: str = "") -> str:
        name = self.terminals.get(regex)
        if name is None:
            name = f"{hint}_{len(self.terminals)}"
            self.terminals[regex] = name
        if origin and name not in self.origins:
            self.origins[name] = origin
        return name

    def new_rule(self, hint: str = "r") -> str:
        self.counter += 1
        name = f"{hint}_{self.counter}"
        self.rules[name] = []
        return name

    def set_rule(self, name: str, alternatives: Iterable[Tuple[str, ...]]) -> None:
        alts = list(dict.fromkeys(tuple(a) for a in alternatives))  # de-duplicated, in order
        self.rules[name] = alts
        self.symbols += sum(len(a) + 1 for a in alts)
        if self.symbols > self.limits.max_grammar_symbols:
            raise ResourceLimitError(
                f"the grammar for this schema exceeds {self.limits.max_grammar_symbols} symbols "
                "(Limits.max_grammar_symbols)"
            )

    def rule(self, alternatives: Iterable[Tuple[str, ...]], hint: str = "r") -> str:
        name = self.new_rule(hint)
        self.set_rule(name, alternatives)
        return name


def finish_grammar(b: Builder, top: str, warnings: Tuple[str, ...]) -> Grammar:
    rules = dict(b.rules)
    rules["start"] = [(top,)]
    terminals = set(b.terminals.values())
    # Productive rules, in linear time: each alternative counts its symbols not yet known
    # productive; a rule becomes productive when one of its counts reaches zero.
    productive = set(terminals)
    missing: Dict[Tuple[str, int], int] = {}
    uses: Dict[str, List[Tuple[str, int]]] = {}
    queue: List[str] = []
    for name, alts in rules.items():
        for k, a in enumerate(alts):
            pending = [sym for sym in set(a) if sym not in productive]
            missing[(name, k)] = len(pending)
            for sym in pending:
                uses.setdefault(sym, []).append((name, k))
            if not pending and name not in productive:
                productive.add(name)
                queue.append(name)
    while queue:
        sym = queue.pop()
        for name, k in uses.get(sym, ()):
            missing[(name, k)] -= 1
            if missing[(name, k)] == 0 and name not in productive:
                productive.add(name)
                queue.append(name)
    if "start" not in productive:
        raise UnsatisfiableGrammarError("no JSON value satisfies this schema")
    rules = {n: [a for a in alts if all(s in productive for s in a)] for n, alts in rules.items() if n in productive}
    # unit rules (one alternative, one symbol) are replaced by their symbol
    alias: Dict[str, str] = {}
    for name, alts in rules.items():
        if name != "start" and len(alts) == 1 and len(alts[0]) == 1 and alts[0][0] != name:
            alias[name] = alts[0][0]

    def real(s: str) -> str:
        seen = set()
        while s in alias and s not in seen:
            seen.add(s)
            s = alias[s]
        return s

    rules = {
        n: [tuple(real(s) for s in a) for a in alts]
        for n, alts in rules.items()
        if n == "start" or n not in alias or real(n) == n
    }
    reachable = {"start"}
    stack = ["start"]
    while stack:
        for a in rules[stack.pop()]:
            for s in a:
                if s in rules and s not in reachable:
                    reachable.add(s)
                    stack.append(s)
                elif s not in rules:
                    reachable.add(s)
    out_rules = []
    for n, alts in rules.items():
        if n in reachable:
            out_rules.append(Rule(n, tuple(dict.fromkeys(alts))))
    out_terms = tuple(
        Terminal(name, regex, origin=b.origins.get(name, ""))
        for regex, name in b.terminals.items()
        if name in reachable
    )
    return Grammar(start="start", rules=tuple(out_rules), terminals=out_terms, kind="json_schema", warnings=warnings)

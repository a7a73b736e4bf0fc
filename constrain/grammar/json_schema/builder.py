"""The grammar being built: terminals deduplicated by regex, rules, and the final pruning into
a :class:`~constrain.grammar.ir.Grammar`."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Set, Tuple

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


def _productive(rules: Dict[str, List[Tuple[str, ...]]], terminals: Set[str]) -> Set[str]:
    """The symbols that derive some string, in linear time: each alternative counts its
    symbols not yet known productive; a rule becomes productive when a count reaches zero."""
    productive = set(terminals)
    waiting: Dict[str, List[List[Any]]] = {}  # symbol -> [count, rule] cells of alternatives using it
    queue: List[str] = []
    for name, alts in rules.items():
        for a in alts:
            pending = set(a).difference(productive)
            if not pending:
                if name not in productive:
                    productive.add(name)
                    queue.append(name)
                break  # the rule is productive; its other alternatives cannot change that
            cell: List[Any] = [len(pending), name]
            for sym in pending:
                waiting.setdefault(sym, []).append(cell)
    while queue:
        for count_and_rule in waiting.pop(queue.pop(), ()):
            count_and_rule[0] -= 1
            rule: str = count_and_rule[1]
            if count_and_rule[0] == 0 and rule not in productive:
                productive.add(rule)
                queue.append(rule)
    return productive


def finish_grammar(b: Builder, top: str, warnings: Tuple[str, ...]) -> Grammar:
    rules = dict(b.rules)
    rules["start"] = [(top,)]
    productive = _productive(rules, set(b.terminals.values()))
    if "start" not in productive:
        raise UnsatisfiableGrammarError("no JSON value satisfies this schema")
    kept = {n: [a for a in alts if productive.issuperset(a)] for n, alts in rules.items() if n in productive}
    # unit rules (one alternative, one symbol) are replaced by their symbol
    alias: Dict[str, str] = {}
    for name, alts in kept.items():
        if name != "start" and len(alts) == 1 and len(alts[0]) == 1 and alts[0][0] != name:
            alias[name] = alts[0][0]
    if alias:
        final: Dict[str, str] = {}
        for name in alias:
            seen = set()
            s = name
            while s in alias and s not in seen:
                seen.add(s)
                s = alias[s]
            final[name] = s  # a cycle of unit rules ends where it started
        kept = {
            n: [tuple([final.get(s, s) for s in a]) for a in alts]
            for n, alts in kept.items()
            if n == "start" or final.get(n, n) == n
        }
    reachable = {"start"}
    stack = ["start"]
    while stack:
        for a in kept[stack.pop()]:
            for s in a:
                if s not in reachable:
                    reachable.add(s)
                    if s in kept:
                        stack.append(s)
    out_rules = tuple(Rule(n, tuple(dict.fromkeys(alts))) for n, alts in kept.items() if n in reachable)
    out_terms = tuple(
        Terminal(name, regex, origin=b.origins.get(name, ""))
        for regex, name in b.terminals.items()
        if name in reachable
    )
    return Grammar(start="start", rules=out_rules, terminals=out_terms, kind="json_schema", warnings=warnings)

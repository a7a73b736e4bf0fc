"""Applicators: expanding a conjunction through ``$ref``/``allOf``/``not``, and branching it on
``anyOf``, ``oneOf``, ``if``/``then``/``else`` and dependencies; cheap proofs that a
conjunction is contradictory."""

from __future__ import annotations

import math
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from ...errors import InvalidGrammarError
from .negation import Expansion, Negation
from .state import Unsupported
from .values import ALL_TYPES, Json, common_values, json_key, type_set


#: Longest key list for which property presence is expanded (dependentRequired etc.).
_MAX_DEPENDENCIES = 6
#: Most alternatives one oneOf branch may split into when the other branches are negated.
_MAX_ONEOF_SPLITS = 256


class Applicators(Negation):
    """Conjunctions through the applicators: expansion and branching."""

    def _expand(self, key: FrozenSet[str]) -> Optional[Expansion]:
        """(flat node ids, first pending branching applicator) or None if ``false`` is in key."""
        # Each entry carries the nodes that pulled it in: a node among its own ancestors is
        # a cycle of in-place applicators ($ref, allOf, not) that never reaches the instance's
        # children, which no validator can evaluate (``a: {not: {$ref: a}}`` is a paradox).
        work: List[Tuple[str, FrozenSet[str]]] = [(ident, frozenset()) for ident in sorted(key, key=self.position)]
        seen: Set[str] = set()
        flat: List[str] = []
        pending = None
        while work:
            ident, ancestors = work.pop(0)
            if ident in ancestors:
                raise InvalidGrammarError(
                    f"the schema at {self.node(ident).where} applies itself to the same instance "
                    "through a cycle of $ref/allOf/not; no validator can evaluate it"
                )
            if ident in seen:
                continue
            seen.add(ident)
            node = self.node(ident)
            if node.schema is True:
                continue
            if node.schema is False:
                return None
            if not isinstance(node.schema, dict):
                raise InvalidGrammarError(f"a schema must be an object or a boolean (at {node.where})")
            kws = self.kw(ident)
            # Depth first, in document order: merged properties then keep the schema's order.
            children: List[str] = []
            try:
                if "$ref" in kws:
                    target = self.resolve(ident, kws["$ref"], "$ref")
                    children.append(target)
                    if self.draft <= 7 and not ident.startswith("~"):
                        work[0:0] = [(c, ancestors | {ident}) for c in children]
                        continue
                for dyn in ("$dynamicRef", "$recursiveRef"):
                    if dyn in kws:
                        children.append(self._dynamic(ident, kws[dyn], dyn))
            except Unsupported as e:
                self.feature(e.name, node.where)
            for i, _ in enumerate(kws.get("allOf", ())):
                children.append(self.child(ident, "allOf", i))
            if "x-ref" in kws:
                children.extend(kws["x-ref"])
            if "not" in kws:
                try:
                    children.append(self.negate(self.child(ident, "not")))
                except Unsupported as e:
                    self.feature(f"not ({e.name})", node.where + "/not")
            if pending is None:
                for kw in ("anyOf", "oneOf", "if", "dependentRequired", "dependentSchemas", "dependencies"):
                    if kw in kws and kws[kw] not in ({}, None):
                        if kw in ("dependentRequired", "dependentSchemas", "dependencies"):
                            if not isinstance(kws[kw], dict):
                                continue
                            origin = node.origin if node.origin is not None else ident
                            if len(self.node(origin).schema.get(kw, {})) > _MAX_DEPENDENCIES:
                                self.feature(f"{kw} (more than {_MAX_DEPENDENCIES} entries)", f"{node.where}/{kw}")
                                continue
                        pending = (kw, ident)
                        break
            flat.append(ident)
            work[0:0] = [(c, ancestors | {ident}) for c in children]
        return flat, pending

    _EXPANDED = ("allOf", "$ref", "not", "x-ref", "$dynamicRef", "$recursiveRef")

    def _strip(self, ident: str) -> str:
        schema = self.node(ident).schema
        if not any(k in schema for k in self._EXPANDED):
            return ident
        return self.derive(ident, {k: v for k, v in schema.items() if k not in self._EXPANDED}, "-app")

    def _contradiction(self, flat: List[str]) -> bool:
        """A cheap proof that no value satisfies all of ``flat`` (prunes branch combinations,
        e.g. ``allOf`` of many ``if``/``then`` on one discriminator, before they multiply)."""
        types = set(ALL_TYPES)
        values = None
        required: Set[str] = set()
        allowed: Dict[str, List[Json]] = {}
        excluded: Dict[str, List[Json]] = {}
        forbidden: Set[str] = set()
        for ident in flat:
            kws = self.kw(ident)
            if "type" in kws:
                types &= type_set(kws["type"])
            vals = [kws["const"]] if "const" in kws else kws.get("enum")
            if isinstance(vals, list):
                values = common_values(values, vals)
            if isinstance(kws.get("required"), list):
                required.update(kws["required"])
            for name in kws.get("properties") or {}:
                sub = self.node(self.child(ident, "properties", name)).schema
                if sub is False:
                    forbidden.add(name)
                if not isinstance(sub, dict):
                    continue
                svals = [sub["const"]] if "const" in sub else sub.get("enum")
                if isinstance(svals, list):
                    allowed[name] = common_values(allowed.get(name), svals)
                for target in sub.get("x-ref", ()):
                    tsub = self.node(target).schema
                    if isinstance(tsub, dict) and "x-notin" in tsub and len(tsub) == 1:
                        excluded.setdefault(name, []).extend(tsub["x-notin"])
        if not types or values == []:
            return True
        if types <= {"object"}:
            if required & forbidden:
                return True
            for name in required:
                if name in allowed:
                    out = {json_key(x) for x in excluded.get(name, ())}
                    if all(json_key(v) in out for v in allowed[name]):
                        return True
        return False

    def _branches(self, key: FrozenSet[str], kw: str, ident: str) -> List[FrozenSet[str]]:
        node = self.node(ident)
        schema = dict(node.schema)
        rest = key - {ident}
        if kw in ("anyOf", "oneOf"):
            del schema[kw]
            base = rest | {self.derive(ident, schema, "-" + kw)}
            branches = [self.child(ident, kw, i) for i in range(len(node.schema[kw]))]
            if kw == "oneOf" and len(branches) > 1:
                context = set(ALL_TYPES)  # types the rest of the conjunction allows
                for other in base:
                    other_kws = self.kw(other) if isinstance(self.node(other).schema, dict) else {}
                    if "type" in other_kws:
                        context &= type_set(other_kws["type"])
                facts = [self._facts(b) for b in branches]
                facts = [(f[0] & context, *f[1:]) for f in facts]
                overlaps = [
                    [j for j in range(len(branches)) if j != i and not self._pair_disjoint(facts[i], facts[j])]
                    for i in range(len(branches))
                ]
                if any(overlaps):
                    # Exactly one holds: branch i and the negation of every branch that may
                    # overlap it (the disjoint ones are excluded by branch i itself).
                    try:
                        negs = {j: self.negate(branches[j]) for o in overlaps for j in o}
                    except Unsupported as e:
                        self.feature(f"oneOf (branches may overlap; {e.name})", node.where + "/oneOf")
                        return [base | {b} for b in branches]
                    width = {
                        j: len(self.node(n).schema.get("anyOf", [0])) if isinstance(self.node(n).schema, dict) else 1
                        for j, n in negs.items()
                    }
                    if any(math.prod(width[j] for j in o) > _MAX_ONEOF_SPLITS for o in overlaps):
                        self.feature("oneOf (too many overlapping branches)", node.where + "/oneOf")
                        return [base | {b} for b in branches]
                    return [base | {b} | {negs[j] for j in overlaps[i]} for i, b in enumerate(branches)]
            return [base | {b} for b in branches]
        if kw == "if":
            for k in ("if", "then", "else"):
                schema.pop(k, None)
            base = rest | {self.derive(ident, schema, "-if")}
            cond = self.child(ident, "if")
            then = {self.child(ident, "then")} if "then" in node.schema and "then" in self.kw(ident) else set()
            otherwise = {self.child(ident, "else")} if "else" in node.schema and "else" in self.kw(ident) else set()
            if not then and not otherwise:
                return [base]
            try:
                negated = self.negate(cond)
            except Unsupported as e:
                self.feature(f"if ({e.name})", node.where + "/if")
                return [base]
            return [base | {cond} | then, base | {negated} | otherwise]
        # dependencies: split on the first entry
        deps = dict(schema[kw])
        name = next(iter(deps))
        dep = deps.pop(name)
        schema[kw] = deps
        if not deps:
            del schema[kw]
        base = rest | {self.derive(ident, schema, f"-{kw}-{len(deps)}")}
        absent = self.synth({"properties": {name: False}}, {"properties": {name: False}}, node.where, ident)
        present = {self.synth({"required": [name]}, {"required": [name]}, node.where, ident)}
        if isinstance(dep, list):
            present.add(self.synth({"required": list(dep)}, {"required": list(dep)}, node.where, ident))
        elif dep is not True:
            present.add(self.child(ident, kw, name))
        return [base | {absent}, base | present]

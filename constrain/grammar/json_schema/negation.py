"""Negation: a node for the instances a schema rejects, built keyword by keyword where that is
exact; and the facts about a ``oneOf`` branch that prove two branches disjoint."""

from __future__ import annotations

from abc import abstractmethod
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from .documents import Documents
from .state import Unsupported
from .values import ALL_TYPES, Json, common_values, json_type, type_set

#: A conjunction expanded: its flat node ids, and the first applicator left to branch on
#: (keyword, node id), if any.
Expansion = Tuple[List[str], Optional[Tuple[str, str]]]
#: What a oneOf branch allows, for disjointness proofs: (possible types, finite values or None,
#: {property: finite values}, required properties, the only keys allowed or None).
Facts = Tuple[Set[str], Optional[List[Json]], Dict[str, List[Json]], Set[str], Optional[Set[str]]]


class Negation(Documents):
    """Negated schemas, and disjointness of ``oneOf`` branches."""

    @abstractmethod
    def _expand(self, key: FrozenSet[str]) -> Optional[Expansion]:
        """(flat node ids, first pending branching applicator) or None if ``false`` is in key."""

    def _facts(self, ident: str) -> Facts:
        """(possible types, finite values or None, {property: finite values}, required) of one
        branch, from its own keywords and those it pulls in by $ref/allOf (no deeper)."""
        types = set(ALL_TYPES)
        values = None
        props: Dict[str, List[Json]] = {}
        required: Set[str] = set()
        closed: Optional[Set[str]] = None  # the only keys allowed, if known
        expanded = self._expand(frozenset({ident}))
        if expanded is None:
            return set(), [], {}, set(), set()
        flat, pending = expanded
        for fid in flat:
            kws = self.kw(fid)
            if "additionalProperties" in kws and not kws.get("patternProperties"):
                if self.node(self.child(fid, "additionalProperties")).schema is False:
                    names = set(kws.get("properties") or {})
                    closed = names if closed is None else closed & names
            if "type" in kws:
                types &= type_set(kws["type"])
            vals = [kws["const"]] if "const" in kws else kws.get("enum")
            if isinstance(vals, list):
                values = common_values(values, vals)
            if isinstance(kws.get("required"), list):
                required.update(kws["required"])
            for pname, _ in (kws.get("properties") or {}).items():
                sub = self.node(self.child(fid, "properties", pname)).schema
                if isinstance(sub, dict):
                    sv = [sub["const"]] if "const" in sub else sub.get("enum")
                    if isinstance(sv, list):
                        props[pname] = sv
                if sub is False:
                    props[pname] = []
        if values is not None:
            types &= {json_type(v) for v in values} | (
                {"number"} if any(json_type(v) == "integer" for v in values) else set()
            )
        return types, values, props, required, closed

    @staticmethod
    def _pair_disjoint(a: Facts, b: Facts) -> bool:
        ta, va, pa, ra, ca = a
        tb, vb, pb, rb, cb = b
        common = ta & tb
        if "number" in ta and "integer" in tb or "number" in tb and "integer" in ta:
            common |= {"integer"}
        if not common:
            return True
        if va is not None and vb is not None and not common_values(va, vb):
            return True
        if common <= {"object"}:
            for name in set(pa) & set(pb):
                if (name in ra or pa[name] == []) and (name in rb or pb[name] == []):
                    if name in ra and name in rb and not common_values(pa[name], pb[name]):
                        return True
            for name in ra:
                if pb.get(name) == [] or (cb is not None and name not in cb):
                    return True
            for name in rb:
                if pa.get(name) == [] or (ca is not None and name not in ca):
                    return True
        return False

    # --- negation ----------------------------------------------------------------------------

    def negate(self, ident: str) -> str:
        """A node for the instances ``ident`` rejects (a subset where bounds are inexact)."""
        if ident in self.neg_memo:
            return self.neg_memo[ident]
        node = self.node(ident)
        where = node.where
        validation = {"not": node.validation}
        schema = node.schema
        if schema is True or schema is False:
            result = self.synth(not schema, validation, where, ident)
            self.neg_memo[ident] = result
            return result
        kws = dict(self.kw(ident))
        if "$ref" in kws:
            target = self.resolve(ident, kws.pop("$ref"), "$ref")
            if self.draft <= 7 and not ident.startswith("~"):
                kws = {}
            kws.setdefault("allOf", [])
            extra_all = [target]
        else:
            extra_all = []
        disjuncts: List[Dict[str, Json]] = []
        everything = [t for t in ALL_TYPES if t != "integer"]
        for k, v in kws.items():
            if k == "type":
                ts = type_set(v)
                rest = [t for t in everything if t not in ts and not (t == "number" and "integer" in ts)]
                if rest:
                    disjuncts.append({"type": rest})
                if "integer" in ts and "number" not in ts:
                    disjuncts.append({"type": "number", "x-fraction": True})
            elif k == "const":
                disjuncts.append({"x-notin": [v]})
            elif k == "enum":
                disjuncts.append({"x-notin": list(v)})
            elif k == "required":
                # ``required`` holds vacuously for non-objects: its negation is an object.
                for name in v:
                    disjuncts.append({"type": "object", "properties": {name: False}})
            elif k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(v, bool):
                    continue
                excl = k.startswith("exclusive") or (
                    self.draft == 4 and kws.get("exclusive" + k[0].upper() + k[1:]) is True
                )
                if k.endswith("inimum"):
                    disjuncts.append({"type": "number", ("maximum" if excl else "exclusiveMaximum"): v})
                else:
                    disjuncts.append({"type": "number", ("minimum" if excl else "exclusiveMinimum"): v})
            elif k == "minLength":
                if v > 0:
                    disjuncts.append({"type": "string", "maxLength": v - 1})
            elif k == "maxLength":
                disjuncts.append({"type": "string", "minLength": v + 1})
            elif k == "pattern":
                disjuncts.append({"type": "string", "x-notpattern": v})
            elif k == "minItems":
                if v > 0:
                    disjuncts.append({"type": "array", "maxItems": v - 1})
            elif k == "maxItems":
                disjuncts.append({"type": "array", "minItems": v + 1})
            elif k == "minProperties":
                if v > 0:
                    disjuncts.append({"type": "object", "maxProperties": v - 1})
            elif k == "maxProperties":
                disjuncts.append({"type": "object", "minProperties": v + 1})
            elif k == "properties":
                for name in v:
                    sub = self.negate(self.child(ident, "properties", name))
                    disjuncts.append({"type": "object", "required": [name], "properties": {name: {"x-ref": [sub]}}})
            elif k == "allOf":
                for i in range(len(v)):
                    disjuncts.append({"x-ref": [self.negate(self.child(ident, "allOf", i))]})
                for t in extra_all:
                    disjuncts.append({"x-ref": [self.negate(t)]})
            elif k == "anyOf":
                disjuncts.append({"x-ref": [self.negate(self.child(ident, "anyOf", i)) for i in range(len(v))]})
            elif k == "oneOf":
                # Not exactly one: none, or several. With disjoint branches, only "none".
                branches = [self.child(ident, "oneOf", i) for i in range(len(v))]
                facts = [self._facts(b) for b in branches]
                if any(
                    not self._pair_disjoint(facts[i], facts[j])
                    for i in range(len(facts))
                    for j in range(i + 1, len(facts))
                ):
                    raise Unsupported("not oneOf (overlapping branches)")
                disjuncts.append({"x-ref": [self.negate(b) for b in branches]})
            elif k == "items" and isinstance(v, (dict, bool)) and "prefixItems" not in kws:
                # Some item fails the items schema.
                disjuncts.append({"type": "array", "contains": {"x-ref": [self.negate(self.child(ident, "items"))]}})
            elif k == "not":
                disjuncts.append({"x-ref": [self.child(ident, "not")]})
            elif k == "format":
                raise Unsupported("not format")
            else:
                raise Unsupported(f"not {k}")
        if not disjuncts:
            result = self.synth(False, validation, where, ident)
        elif len(disjuncts) == 1:
            result = self.synth(disjuncts[0], validation, where, ident)
        else:
            result = self.synth({"anyOf": disjuncts}, validation, where, ident)
        self.neg_memo[ident] = result
        return result

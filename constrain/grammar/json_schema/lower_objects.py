"""Lowering object shapes: declared properties in order (or any order), other keys split into
regions by the patterns they match, ``propertyNames``, and property counts."""

from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Optional, Set, Tuple

from ..ecma_regex import ir_fullmatch
from ..ir import NOTHING, Alt, And, Not, Regex, Repeat, Seq, alt, literal, nullable
from .applicators import Applicators
from .lower_strings import StringLowering
from .shapes import Shape, ShapeMerging
from .strings import ANY, string_literal_regex, string_terminal_regex

#: With property_order="any", objects with more declared properties than this keep the
#: schema's order (the rules track which properties were written: 2**n states).
MAX_ANY_ORDER_PROPERTIES = 8
#: Most patternProperties (over all merged schemas) whose overlaps are enumerated.
_MAX_PATTERNS = 4

_PAD = Repeat(ANY, 0, None)


def _universal(r: Regex) -> bool:
    """Whether a pattern's search regex certainly matches every string (e.g. ``.*``, ``^a*``)."""
    for item in r.items if isinstance(r, Alt) else (r,):
        if item == _PAD:
            return True
        if (
            isinstance(item, Seq)
            and item.items
            and (item.items[0] == _PAD or item.items[-1] == _PAD)
            and nullable(item)
        ):
            return True
    return False


class ObjectLowering(Applicators, ShapeMerging, StringLowering):
    """Object shapes to rules."""

    def _key_matches(self, pattern: str, name: str, where: str) -> bool:
        r = self._pattern(pattern, where)
        return r is not None and ir_fullmatch(r, name)

    def _names_regex(self, ids: List[str]) -> Optional[Regex]:
        """Decoded regex of the keys that every propertyNames schema in ``ids`` allows."""
        if not ids:
            return None
        expanded = self._expand(frozenset(ids))
        if expanded is None:
            return NOTHING
        flat, pending = expanded
        if pending is not None:
            self.feature(f"propertyNames ({pending[0]})", self.node(pending[1]).where)
            return None
        sub = self._merge(flat)
        if "string" not in sub.types:
            return NOTHING
        if sub.values is not None:
            ok = [
                v for v in sub.values if isinstance(v, str) and all(self.validates(i, v) for i in set(ids) | set(flat))
            ]
            return alt(*(literal(v) for v in ok)) if ok else NOTHING
        return self._string_decoded(sub) or NOTHING

    def _object(self, shape: Shape, depth: int) -> List[Tuple[str, ...]]:
        lay, b = self.layout, self.b
        inner = self._deeper(depth)
        lo, hi = shape.min_properties, shape.max_properties
        if hi is not None and lo > hi:
            return []
        declared: List[str] = []
        for props, _, _ in shape.objects:
            for name in props:
                if name not in declared:
                    declared.append(name)
        for name in shape.required:
            if name not in declared:
                declared.append(name)
        required = set(shape.required)
        names_checks = shape.property_names
        members = []
        for name in declared:
            conj: Set[str] = set()
            for props, patterns, additional in shape.objects:
                matched = [pid for p, pid, w in patterns if self._key_matches(p, name, w)]
                conj.update(matched)
                if name in props:
                    conj.add(props[name])
                elif not matched and additional is not None:
                    conj.add(additional)
            forbidden = any(self.node(i).schema is False for i in conj)
            if not forbidden and names_checks and not all(self._name_ok(pn, name) for pn in names_checks):
                forbidden = True
            if forbidden:
                if name in required:
                    return []
                continue
            key_sym = b.terminal(string_literal_regex(name, self.escapes), "KEY")
            members.append((key_sym, frozenset(conj), name in required))
        if self.property_order == "required_first":
            members.sort(key=lambda m: not m[2])
        # keys not declared: regions by the set of patterns they match
        all_patterns: List[Tuple[str, str]] = []
        for _, patterns, _ in shape.objects:
            for p, _, w in patterns:
                if p not in [q for q, _ in all_patterns]:
                    all_patterns.append((p, w))
        regions = []
        if len(all_patterns) > _MAX_PATTERNS:
            self.feature("patternProperties (too many patterns to merge)", all_patterns[0][1])
            all_patterns = []
        names_re = self._names_regex(names_checks)
        # Names are distinct, so their literals are: build the Alt directly (ir.alt dedupes
        # in quadratic time).
        not_declared = (
            Not(Alt(tuple(literal(n) for n in declared)) if len(declared) > 1 else literal(declared[0]))
            if declared
            else None
        )
        for bits in itertools.product((False, True), repeat=len(all_patterns)):
            chosen = {p for (p, _), on in zip(all_patterns, bits) if on}
            conj = set()
            closed = False
            for props, patterns, additional in shape.objects:
                pids = [pid for p, pid, _ in patterns if p in chosen]
                if pids:
                    conj.update(pids)
                elif additional is not None:
                    if self.node(additional).schema is False:
                        closed = True
                    conj.add(additional)
            if closed:
                continue
            parts: List[Regex] = [Repeat(ANY, 0, None)]
            empty = False
            for (p, w), on in zip(all_patterns, bits):
                r = self._pattern(p, w)
                if r is not None:
                    if _universal(r):
                        empty = empty or not on
                    else:
                        parts.append(r if on else Not(r))
            if empty:
                continue
            if not_declared is not None:
                parts.append(not_declared)
            if names_re is not None:
                if names_re == NOTHING:
                    continue
                parts.append(names_re)
            key_re = And(tuple(parts)) if len(parts) > 1 else parts[0]
            regions.append((b.terminal(string_terminal_regex(key_re, self.escapes), "KEY"), frozenset(conj)))
        n = len(members)
        n_req = sum(1 for m in members if m[2])
        if lo > n + (1 if regions else 0):
            if regions:
                self.feature("minProperties (needs distinct additional properties)", shape.min_properties_where)
                lo = n + 1
            else:
                return []
        if hi is not None and n_req > hi:
            return []
        count_min = lo > n_req
        count_max = hi is not None and (regions or hi < n)
        comma, colon = lay.punct("comma", depth), lay.punct("colon", depth)
        rules: Dict[Tuple[object, ...], str] = {}

        def state(i: int, c: int, extra: int, t: int, first: bool) -> str:
            key = (i, c if count_min else 0, extra if count_min else 0, t if count_max else 0, first)
            name = rules.get(key)
            if name is not None:
                return name
            name = b.new_rule("o")
            rules[key] = name
            sep = () if first else (comma,)
            alts: List[Tuple[str, ...]] = []
            room = not count_max or (hi is not None and t < hi)  # count_max: hi is set
            if i < n:
                key_sym, conj, req = members[i]
                if room:
                    val = self.value(conj, inner)
                    alts.append(sep + (key_sym, colon, val, state(i + 1, min(c + 1, lo), extra, t + 1, False)))
                if not req:
                    alts.append((state(i + 1, c, extra, t, first),))
            else:
                if not first and (not count_min or c + extra >= lo):
                    alts.append(())
                if room:
                    for key_sym, conj in regions:
                        val = self.value(conj, inner)
                        alts.append(sep + (key_sym, colon, val, state(n, c, 1, t + 1, False)))
            b.set_rule(name, alts)
            return name

        required_mask = sum(1 << i for i, m in enumerate(members) if m[2])

        def any_state(mask: int, c: int, extra: int, t: int, first: bool) -> str:
            """Members in any order: ``mask`` holds the declared members emitted so far."""
            key = ("any", mask, c if count_min else 0, extra if count_min else 0, t if count_max else 0, first)
            name = rules.get(key)
            if name is not None:
                return name
            name = b.new_rule("o")
            rules[key] = name
            sep = () if first else (comma,)
            alts: List[Tuple[str, ...]] = []
            if not first and mask & required_mask == required_mask and (not count_min or c + extra >= lo):
                alts.append(())
            if not count_max or (hi is not None and t < hi):
                for i, (key_sym, conj, _) in enumerate(members):
                    if not mask >> i & 1:
                        val = self.value(conj, inner)
                        alts.append(
                            sep + (key_sym, colon, val, any_state(mask | 1 << i, min(c + 1, lo), extra, t + 1, False))
                        )
                for key_sym, conj in regions:
                    val = self.value(conj, inner)
                    alts.append(sep + (key_sym, colon, val, any_state(mask, c, 1, t + 1, False)))
            b.set_rule(name, alts)
            return name

        start: Callable[[int, int, int, int, bool], str] = state
        if self.property_order == "any":
            if n <= MAX_ANY_ORDER_PROPERTIES:
                start = any_state
            else:
                msg = (
                    f"objects with more than {MAX_ANY_ORDER_PROPERTIES} declared properties keep the "
                    "schema's order (property_order='any')"
                )
                if msg not in self.warnings:
                    self.warnings.append(msg)
        out: List[Tuple[str, ...]] = []
        if lo == 0 and n_req == 0:
            out.append((lay.punct("empty_obj", depth),))
        if hi is None or hi > 0:
            out.append((lay.punct("open_obj", depth), start(0, 0, 0, 0, True), lay.punct("close_obj", depth)))
        return out

    def _name_ok(self, ident: str, name: str) -> bool:
        return self.validates(ident, name)

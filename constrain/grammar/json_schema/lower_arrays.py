"""Lowering array shapes: items by position, ``minItems``/``maxItems``, ``contains`` counted by
the rules, ``uniqueItems`` over a small finite set of values."""

from __future__ import annotations

import itertools
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from ...errors import ResourceLimitError
from .applicators import Applicators
from .lower_literals import LiteralLowering
from .shapes import Shape, ShapeMerging
from .state import Unsupported
from .values import Json, json_equal


#: Largest finite value set for which uniqueItems is enumerated, and longest such array.
_MAX_UNIQUE_VALUES = 5


class ArrayLowering(Applicators, ShapeMerging, LiteralLowering):
    """Array shapes to rules."""

    def _array(self, shape: Shape, depth: int) -> List[Tuple[str, ...]]:
        lay = self.layout
        inner = self._deeper(depth)
        lo, hi = shape.min_items, shape.max_items
        if hi is not None and lo > hi:
            return []
        n_prefix = max((len(p) for p, _ in shape.item_lists), default=0)

        def conj_at(i: int) -> FrozenSet[str]:
            out = set()
            for prefix, rest in shape.item_lists:
                if i < len(prefix):
                    out.add(prefix[i])
                elif rest is not None:
                    out.add(rest)
            return frozenset(out)

        if shape.unique and not (hi is not None and hi <= 1):
            listed = self._unique_values(shape, conj_at, n_prefix)
            if listed is None:
                self.feature("uniqueItems", shape.unique)
            else:
                return [self._literal(list(vs), depth) for vs in listed]
        contains = [c for c in shape.contains if not (c[1] == 0 and c[2] is None)]
        if len(contains) > 1:
            for c in contains[1:]:
                self.feature("contains (more than one)", c[3])
            contains = contains[:1]
        c_id, c_min, c_max = contains[0][:3] if contains else (None, 0, None)
        if c_max is not None and c_min > c_max:
            return []
        neg_c = None
        if c_id is not None and c_max is not None:
            try:
                neg_c = self.negate(c_id)
            except Unsupported as e:
                self.feature(f"maxContains ({e.name})", contains[0][3])
                c_max = None
        k_pos = max(n_prefix, lo)  # positions with their own state
        cap = c_min if c_max is None else c_max + 1
        rules: Dict[Tuple[int, int], str] = {}
        comma = lay.punct("comma", depth)

        def item_options(i: int, c: int) -> List[Tuple[str, int]]:
            """(value symbol, next count) for the item at position i."""
            conj = conj_at(i)
            if c_id is None:
                return [(self.value(conj, inner), c)]
            opts = []
            if c_max is None:
                opts.append((self.value(conj, inner), c))
            else:
                assert neg_c is not None  # c_max is dropped where the negation is not built
                opts.append((self.value(conj | {neg_c}, inner), c))
            nc = min(c + 1, cap)
            if c_max is None or nc <= c_max:
                opts.append((self.value(conj | {c_id}, inner), nc))
            return opts

        def tail(i: int, c: int) -> str:
            """After i items (i >= 1) with c matches of contains so far."""
            state = (min(i, k_pos) if hi is None else i, c)
            name = rules.get(state)
            if name is not None:
                return name
            name = self.b.new_rule("a")
            rules[state] = name
            alts: List[Tuple[str, ...]] = []
            if i >= lo and c >= c_min:
                alts.append(())
            if hi is None or i < hi:
                for sym, nc in item_options(i, c):
                    alts.append((comma, sym, tail(i + 1, nc)))
            self.b.set_rule(name, alts)
            return name

        if hi is not None and hi - k_pos > 10_000:
            raise ResourceLimitError(f"maxItems {hi} needs too many grammar states")
        out: List[Tuple[str, ...]] = []
        if lo == 0 and c_min == 0:
            out.append((lay.punct("empty_arr", depth),))
        if hi is None or hi > 0:
            for sym, nc in item_options(0, 0):
                out.append((lay.punct("open_arr", depth), sym, tail(1, nc), lay.punct("close_arr", depth)))
        return out

    def _unique_values(
        self, shape: Shape, conj_at: Callable[[int], FrozenSet[str]], n_prefix: int
    ) -> Optional[List[Tuple[Json, ...]]]:
        """All arrays of distinct values when items come from a small finite set, else None."""
        if n_prefix or shape.contains:
            return None
        conj = conj_at(0)
        expanded = self._expand(conj)
        if expanded is None:
            values: List[Json] = []
        else:
            flat, pending = expanded
            if pending is not None:
                return None
            sub = self._merge(flat)
            if sub.values is not None:
                values = [v for v in sub.values if all(self.validates(i, v) for i in set(conj) | set(flat))]
            elif sub.types <= {"boolean", "null"}:
                values = ([None] if "null" in sub.types else []) + ([True, False] if "boolean" in sub.types else [])
                values = [v for v in values if all(self.validates(i, v) for i in set(conj) | set(flat))]
            else:
                return None
        distinct: List[Json] = []
        for v in values:
            if not any(json_equal(v, w) for w in distinct):
                distinct.append(v)
        if len(distinct) > _MAX_UNIQUE_VALUES:
            return None
        top = len(distinct) if shape.max_items is None else min(shape.max_items, len(distinct))
        out: List[Tuple[Json, ...]] = []
        for n in range(shape.min_items, top + 1):
            out.extend(itertools.permutations(distinct, n))
        return out

"""Lowering a JSON value known in advance (an ``enum`` or ``const`` member) to its spelling
in the layout."""

from __future__ import annotations

from typing import List, Tuple

from ..ir import literal
from .numbers import number_literal
from .state import CompilerState
from .strings import string_literal_regex
from .values import Json, to_decimal


class LiteralLowering(CompilerState):
    """Values known in advance, spelled in the layout."""

    def _literal(self, v: Json, depth: int) -> Tuple[str, ...]:
        b, lay = self.b, self.layout
        if v is None:
            return (b.terminal(literal("null"), "NULL"),)
        if isinstance(v, bool):
            return (b.terminal(literal("true" if v else "false"), "BOOL"),)
        if isinstance(v, (int, float)):
            return (b.terminal(number_literal(to_decimal(v)), "NUM"),)
        if isinstance(v, str):
            return (b.terminal(string_literal_regex(v, self.escapes), "STR"),)
        inner = self._deeper(depth)
        if isinstance(v, list):
            if not v:
                return (lay.punct("empty_arr", depth),)
            out: List[str] = [lay.punct("open_arr", depth)]
            for i, x in enumerate(v):
                if i:
                    out.append(lay.punct("comma", depth))
                out.extend(self._literal(x, inner))
            out.append(lay.punct("close_arr", depth))
            return tuple(out)
        if not v:
            return (lay.punct("empty_obj", depth),)
        out = [lay.punct("open_obj", depth)]
        for i, (k, x) in enumerate(v.items()):
            if i:
                out.append(lay.punct("comma", depth))
            out.append(b.terminal(string_literal_regex(k, self.escapes), "KEY"))
            out.append(lay.punct("colon", depth))
            out.extend(self._literal(x, inner))
        out.append(lay.punct("close_obj", depth))
        return tuple(out)

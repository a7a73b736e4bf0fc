"""Layout: the punctuation terminals of one whitespace mode (compact, flexible, indent)."""

from __future__ import annotations

from typing import Optional

from ..ir import Repeat, chars, literal, seq
from .builder import Builder

#: Deepest nesting of objects and arrays laid out when ``indent`` is set.
MAX_INDENT_DEPTH = 32


class Layout:
    """Punctuation terminals for one whitespace mode."""

    def __init__(self, builder: Builder, whitespace: str, max_whitespace: int, indent: Optional[int]) -> None:
        self.b = builder
        self.mode = whitespace
        self.indent = indent
        ws = Repeat(chars(" ", "\t", "\n", "\r"), 0, max_whitespace)
        self.ws = ws

    def _t(self, text: str, before: bool = False, after: bool = False) -> str:
        if self.mode == "flexible":
            parts = ([self.ws] if before else []) + [literal(text)] + ([self.ws] if after else [])
            return self.b.terminal(seq(*parts), "P")
        return self.b.terminal(literal(text), "P")

    def punct(self, which: str, depth: int) -> str:
        """``which`` in open_obj, close_obj, empty_obj, open_arr, close_arr, empty_arr, comma, colon."""
        if self.mode == "indent":
            n = self.indent or 0
            inner = "\n" + " " * (n * (depth + 1))
            outer = "\n" + " " * (n * depth)
            text = {
                "open_obj": "{" + inner,
                "close_obj": outer + "}",
                "empty_obj": "{}",
                "open_arr": "[" + inner,
                "close_arr": outer + "]",
                "empty_arr": "[]",
                "comma": "," + inner,
                "colon": ": ",
            }[which]
            return self.b.terminal(literal(text), "P")
        if which == "open_obj":
            return self._t("{", after=True)
        if which == "close_obj":
            return self._t("}", before=True)
        if which == "open_arr":
            return self._t("[", after=True)
        if which == "close_arr":
            return self._t("]", before=True)
        if which == "comma":
            return self._t(",", before=True, after=True)
        if which == "colon":
            return self._t(":", before=True, after=True)
        if which in ("empty_obj", "empty_arr"):
            o, c = ("{", "}") if which == "empty_obj" else ("[", "]")
            if self.mode == "flexible":
                return self.b.terminal(seq(literal(o), self.ws, literal(c)), "P")
            return self.b.terminal(literal(o + c), "P")
        raise KeyError(which)

"""The state every part of the compiler shares (options, the grammar being built, the layout,
what was dropped and warned about), and the rule for a conjunction of schemas
(:meth:`CompilerState.value`), which the lowering of arrays and objects reaches up to."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Dict, FrozenSet, List, Set, Tuple

from ...config import Limits
from ...errors import ResourceLimitError
from .builder import Builder
from .layout import Layout
from .values import Json


class Unsupported(Exception):
    """One keyword that cannot be enforced exactly, raised inside the compiler."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CompilerState(ABC):
    """Options, the grammar being built and its layout, and what the compile dropped or warns
    about. The parts of the compiler are mixins over this state (see the package docstring)."""

    def __init__(
        self,
        root: Json,
        draft: int,
        lenient: bool,
        layout: Dict[str, Any],
        property_order: str,
        limits: Limits,
        string_escapes: str = "minimal",
    ) -> None:
        self.root = root
        self.escapes = string_escapes
        self.draft = draft
        self.lenient = lenient
        self.property_order = property_order
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_compile_seconds
        self.b = Builder(limits)
        self.layout = Layout(self.b, **layout)
        self.indent = layout["whitespace"] == "indent"
        self.features: Set[Tuple[str, str]] = set()
        self.warnings: List[str] = []
        self.memo: Dict[Tuple[FrozenSet[str], int], str] = {}
        #: ``value``'s rules by what their keys expand to (see ``Compiler.value``).
        self.shared: Dict[Tuple[FrozenSet[str], Any, int], str] = {}
        #: Rules counting a long string's chunks (see ``StringLowering._chunked_string``).
        self.chunk_rules: Dict[Tuple[str, str, int], str] = {}
        self.neg_memo: Dict[str, str] = {}
        self.nesting = 0

    @abstractmethod
    def value(self, key: FrozenSet[str], depth: int) -> str:
        """A rule deriving the JSON texts valid for every schema in ``key``."""

    def feature(self, name: str, where: str) -> None:
        self.features.add((name, where))

    def _tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise ResourceLimitError(
                f"compiling this schema took longer than {self.limits.max_compile_seconds}s "
                "(Limits.max_compile_seconds)"
            )

    def _deeper(self, depth: int) -> int:
        return depth + 1 if self.indent else 0

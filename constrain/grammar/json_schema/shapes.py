"""Shapes: the keywords of a conjunction without applicators left, merged into one set of
constraints per JSON type."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

from ...errors import ResourceLimitError
from ..formats import INTEGER_FORMATS, KNOWN_FORMATS, SPEC_FORMATS
from .documents import Documents
from .keywords import APPLICATORS
from .values import ALL_TYPES, Json, common_values, to_decimal, type_set


#: Most significant digits of a numeric bound (a float has at most 17; 2**128 has 39).
_MAX_BOUND_DIGITS = 40


class Bound(NamedTuple):
    value: Decimal
    exclusive: bool


@dataclass
class Shape:
    """The merged constraints of a conjunction of schemas without applicators left."""

    types: Set[str]
    values: Optional[List[Json]] = None  # const/enum: the only candidates
    excluded: List[Tuple[Json, str]] = field(default_factory=list)  # (value, where)
    # strings
    min_length: int = 0
    max_length: Optional[int] = None
    patterns: List[Tuple[str, str]] = field(default_factory=list)  # (pattern, where)
    not_patterns: List[Tuple[str, str]] = field(default_factory=list)
    formats: List[Tuple[str, str]] = field(default_factory=list)  # (format, where)
    # numbers
    lower: Optional[Bound] = None
    upper: Optional[Bound] = None
    multiples: List[Tuple[Decimal, str]] = field(default_factory=list)  # (Decimal, where)
    fraction: bool = False  # only numbers that are not integers
    # arrays
    # (prefix ids, rest id or None) per schema
    item_lists: List[Tuple[List[str], Optional[str]]] = field(default_factory=list)
    min_items: int = 0
    max_items: Optional[int] = None
    contains: List[Tuple[str, int, Optional[int], str]] = field(default_factory=list)  # (id, min, max, where)
    unique: Optional[str] = None  # where uniqueItems: true
    # objects
    # (properties dict name->id, patterns [(p, id, where)], additional id/None)
    objects: List[Tuple[Dict[str, str], List[Tuple[str, str, str]], Optional[str]]] = field(default_factory=list)
    required: List[str] = field(default_factory=list)
    property_names: List[str] = field(default_factory=list)  # ids
    min_properties: int = 0
    min_properties_where: str = ""
    max_properties: Optional[int] = None

    def tighten_lower(self, b: Bound) -> None:
        if self.lower is None or b.value > self.lower.value or (b.value == self.lower.value and b.exclusive):
            self.lower = b

    def tighten_upper(self, b: Bound) -> None:
        if self.upper is None or b.value < self.upper.value or (b.value == self.upper.value and b.exclusive):
            self.upper = b


class ShapeMerging(Documents):
    """The keywords of a flat conjunction merged into one :class:`Shape`."""

    def _merge(self, flat: List[str]) -> Shape:
        shape = Shape(types=set(ALL_TYPES))
        for ident in flat:
            node = self.node(ident)
            kws = self.kw(ident)
            where = node.where
            synthetic = ident.startswith("~")
            draft = 2020 if synthetic else self.draft
            if "type" in kws:
                shape.types &= type_set(kws["type"])
            vals = [kws["const"]] if "const" in kws else None
            if "enum" in kws:
                vals = common_values(vals, list(kws["enum"]))
            if vals is not None:
                shape.values = common_values(shape.values, vals)
            shape.excluded.extend((v, where) for v in kws.get("x-notin", ()))
            # strings
            if "minLength" in kws:
                shape.min_length = max(shape.min_length, int(kws["minLength"]))
            if "maxLength" in kws:
                m = int(kws["maxLength"])
                shape.max_length = m if shape.max_length is None else min(shape.max_length, m)
            if "pattern" in kws:
                shape.patterns.append((kws["pattern"], where + "/pattern"))
            if "x-notpattern" in kws:
                shape.not_patterns.append((kws["x-notpattern"], where))
            if "format" in kws and isinstance(kws["format"], str):
                fmt = kws["format"]
                if fmt in INTEGER_FORMATS:
                    lo, hi = INTEGER_FORMATS[fmt]
                    shape.tighten_lower(Bound(Decimal(lo), False))
                    shape.tighten_upper(Bound(Decimal(hi), False))
                elif fmt not in KNOWN_FORMATS and fmt in SPEC_FORMATS:
                    self.feature(f"format {fmt!r}", where + "/format")
                elif fmt not in KNOWN_FORMATS:
                    # Not a format JSON Schema defines: an annotation, which validators ignore.
                    msg = f"format {fmt!r} at {where}/format is not a JSON Schema format; it puts no constraint"
                    if msg not in self.warnings:
                        self.warnings.append(msg)
                else:
                    shape.formats.append((fmt, where + "/format"))
            # numbers
            for k, lower in (
                ("minimum", True),
                ("maximum", False),
                ("exclusiveMinimum", True),
                ("exclusiveMaximum", False),
            ):
                v = kws.get(k)
                if v is None or isinstance(v, bool):
                    continue
                excl = k.startswith("exclusive")
                if draft == 4 and not excl:
                    excl = kws.get("exclusiveMinimum" if lower else "exclusiveMaximum") is True
                elif draft == 4:
                    continue
                value = to_decimal(v)
                if len("".join(map(str, value.as_tuple().digits)).strip("0")) > _MAX_BOUND_DIGITS:
                    raise ResourceLimitError(
                        f"{k} at {where} has more than {_MAX_BOUND_DIGITS} significant digits; the "
                        "regex comparing numbers with it would nest one level per digit"
                    )
                bound = Bound(value, excl)
                shape.tighten_lower(bound) if lower else shape.tighten_upper(bound)
            if kws.get("x-fraction") is True:
                shape.fraction = True
            if "multipleOf" in kws:
                shape.multiples.append((to_decimal(kws["multipleOf"]), where + "/multipleOf"))
            # arrays
            self._merge_items(ident, kws, draft, shape, where)
            if "minItems" in kws:
                shape.min_items = max(shape.min_items, int(kws["minItems"]))
            if "maxItems" in kws:
                m = int(kws["maxItems"])
                shape.max_items = m if shape.max_items is None else min(shape.max_items, m)
            if "contains" in kws:
                c_lo = int(kws.get("minContains", 1)) if draft >= 2019 else 1
                c_hi = kws.get("maxContains") if draft >= 2019 else None
                shape.contains.append(
                    (self.child(ident, "contains"), c_lo, None if c_hi is None else int(c_hi), where + "/contains")
                )
            if kws.get("uniqueItems") is True:
                shape.unique = where + "/uniqueItems"
            # objects
            self._merge_object(ident, kws, draft, shape, where)
            if isinstance(kws.get("required"), list):
                for name in kws["required"]:
                    if name not in shape.required:
                        shape.required.append(name)
            if "propertyNames" in kws:
                shape.property_names.append(self.child(ident, "propertyNames"))
            if "minProperties" in kws and int(kws["minProperties"]) > shape.min_properties:
                shape.min_properties = int(kws["minProperties"])
                shape.min_properties_where = where + "/minProperties"
            if "maxProperties" in kws:
                m = int(kws["maxProperties"])
                shape.max_properties = m if shape.max_properties is None else min(shape.max_properties, m)
        return shape

    def _has_applicators(self, ident: str) -> bool:
        """Whether the schema ``ident`` came from has applicators (other schemas can then
        evaluate properties or items, which unevaluated* would have to track)."""
        node = self.node(ident)
        origin = node.origin if node.origin is not None else ident
        schema = self.node(origin).schema
        return any(k in schema and schema[k] not in ([], {}) for k in APPLICATORS + ("then", "else"))

    def _merge_items(self, ident: str, kws: Dict[str, Json], draft: int, shape: Shape, where: str) -> None:
        prefix: List[str] = []
        rest: Optional[str] = None
        has = False
        items = kws.get("items")
        if draft >= 2020 or ident.startswith("~"):
            if "prefixItems" in kws:
                prefix = [self.child(ident, "prefixItems", i) for i in range(len(kws["prefixItems"]))]
                has = True
            if "items" in kws and not isinstance(items, list):
                rest = self.child(ident, "items")
                has = True
        else:
            if isinstance(items, list):
                prefix = [self.child(ident, "items", i) for i in range(len(items))]
                has = True
                if "additionalItems" in kws:
                    rest = self.child(ident, "additionalItems")
            elif "items" in kws:
                rest = self.child(ident, "items")
                has = True
        if "unevaluatedItems" in kws and kws["unevaluatedItems"] is not True and rest is None:
            if self._has_applicators(ident):
                self.feature("unevaluatedItems", where + "/unevaluatedItems")
            else:
                rest = self.child(ident, "unevaluatedItems")
                has = True
        if has:
            shape.item_lists.append((prefix, rest))

    def _merge_object(self, ident: str, kws: Dict[str, Json], draft: int, shape: Shape, where: str) -> None:
        props = {}
        if isinstance(kws.get("properties"), dict):
            props = {name: self.child(ident, "properties", name) for name in kws["properties"]}
        patterns = []
        if isinstance(kws.get("patternProperties"), dict):
            patterns = [
                (p, self.child(ident, "patternProperties", p), where + "/patternProperties")
                for p in kws["patternProperties"]
            ]
        additional = None
        if "additionalProperties" in kws:
            additional = self.child(ident, "additionalProperties")
        elif "unevaluatedProperties" in kws and kws["unevaluatedProperties"] is not True:
            if self._has_applicators(ident):
                self.feature("unevaluatedProperties", where + "/unevaluatedProperties")
            else:
                additional = self.child(ident, "unevaluatedProperties")
        if props or patterns or additional is not None:
            shape.objects.append((props, patterns, additional))

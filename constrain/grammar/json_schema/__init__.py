"""JSON Schema (drafts 4, 6, 7, 2019-09, 2020-12) to :class:`~constrain.grammar.ir.Grammar`.

The grammar accepts exactly the JSON texts (in the chosen layout) that the schema accepts, or a
subset of them; never more. Whatever cannot be enforced that way raises one
:class:`~constrain.errors.UnsupportedFeatureError` listing every such keyword with its JSON
pointer (``lenient=True`` drops them and records warnings on the grammar instead).

How it works: a *conjunction* (a set of subschema ids that must all hold) is the unit of
compilation; each conjunction becomes one rule, memoized, so recursive ``$ref`` becomes
recursive rules. ``allOf`` and ``$ref`` add to the conjunction; ``anyOf``, ``oneOf`` (when its
branches are provably disjoint), ``if``/``then``/``else`` and dependencies branch into
alternatives; ``not`` adds a negated subschema, built where negation is exact. Without
applicators left, the conjunction's keywords merge into one shape per JSON type, lowered to
terminals (one per string, quotes included; one per number; literals and punctuation) and
rules for arrays and objects.

Spelling: strings are spelled as ``json.dumps(v, ensure_ascii=False)`` writes them, one
spelling per string, so declared keys come out literally (``string_escapes="minimal"``); with
``string_escapes="any"`` they accept every JSON spelling of their decoded value (raw
characters, short escapes, ``\\uXXXX`` in either case, surrogate pairs). ``minLength``/``maxLength``,
``pattern`` (ECMAScript, unanchored) and ``format`` apply to decoded code points. Integers
are canonical decimals (``-0`` included; ``1.0`` is not taken as an integer). Numbers take
every JSON spelling; with bounds other than zero, or ``multipleOf``, only plain decimals
(no exponent) are kept, because comparing ``1e3`` or ``0.001e3`` with a bound exactly is not
regular. Objects list declared properties in schema order, then other keys; a duplicated
key never comes from the grammar for declared properties.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Set, Tuple
from urllib.parse import quote, unquote, urldefrag, urljoin

import jsonschema

from ...config import DEFAULT_LIMITS, Limits
from ...errors import (
    ConfigurationError,
    ConstrainWarning,
    Feature,
    InvalidGrammarError,
    ResourceLimitError,
    UnsatisfiableGrammarError,
    UnsupportedFeatureError,
)
from ..ecma_regex import ecma_search_regex, ir_fullmatch
from ..formats import INTEGER_FORMATS, KNOWN_FORMATS, SPEC_FORMATS, format_regex
from ..ir import (
    MAX_CODE_POINT,
    NOTHING,
    Alt,
    And,
    Chars,
    Grammar,
    Not,
    Regex,
    Repeat,
    Rule,
    Seq,
    Terminal,
    alt,
    chars,
    literal,
    normalize_ranges,
    nullable,
    repeat,
    seq,
    subtract_ranges,
)
from .keywords import APPLICATORS, IGNORED_KEYWORDS, KEYWORDS, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_ONE, draft_of, misspelled_keyword
from .measures import max_len, min_len, regex_size
from .numbers import (
    FRACTIONAL,
    INTEGER,
    NUMBER,
    PLAIN_NUMBER,
    int_multiple,
    int_range,
    number_bound,
    number_literal,
    number_multiple,
)
from .strings import ANY, STRING_ESCAPES, encode, encode_chars, string_literal_regex, string_terminal_regex
from .values import ALL_TYPES, common_values, json_equal, json_key, json_type, ptr_escape, ptr_tokens, to_decimal, type_set

#: Integers in a schema have at most 1000 digits (a float's plain form has at most 309).
_MAX_INT_BITS = 3320
#: Most significant digits of a numeric bound (a float has at most 17; 2**128 has 39).
_MAX_BOUND_DIGITS = 40
#: Longest key list for which property presence is expanded (dependentRequired etc.).
_MAX_DEPENDENCIES = 6
#: Most alternatives one oneOf branch may split into when the other branches are negated.
_MAX_ONEOF_SPLITS = 256
#: Most patternProperties (over all merged schemas) whose overlaps are enumerated.
_MAX_PATTERNS = 4
#: Largest finite value set for which uniqueItems is enumerated, and longest such array.
_MAX_UNIQUE_VALUES = 5
#: Strings whose only bounds are lengths above this are built from chunks (see _chunked_string).
_LONG_STRING = 128
_CHUNK = 32
#: With a pattern or format, a maxLength above this is lowered to it (a narrower language)
#: unless the pattern bounds the length itself; the DFA would need a state per position.
_MAX_BOUNDED_LENGTH = 256
#: With property_order="any", objects with more declared properties than this keep the
#: schema's order (the rules track which properties were written: 2**n states).
MAX_ANY_ORDER_PROPERTIES = 8
#: Deepest nesting of objects and arrays laid out when ``indent`` is set.
MAX_INDENT_DEPTH = 32


class Unsupported(Exception):
    """One keyword that cannot be enforced exactly, raised inside the compiler."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_HASHED_ENUM_VALIDATORS: Dict[type, type] = {}


def _hashed_enum_validator(cls: type) -> type:
    """``cls`` with ``enum`` checked by hashing. The compiler checks every value of an enum
    against the schemas it meets (to drop values they exclude); jsonschema's own ``enum``
    compares a value with each member in turn, which made a long enum quadratic."""
    extended = _HASHED_ENUM_VALIDATORS.get(cls)
    if extended is None:
        members: Dict[int, tuple] = {}

        def enum(validator, enums, instance, schema):
            found = members.get(id(enums))
            if found is None or found[0] is not enums:
                if len(members) > 4096:
                    members.clear()  # each entry keeps its enum alive
                keys = {json_key(v) for v in enums} if isinstance(enums, list) else None
                found = members[id(enums)] = (enums, keys)
            keys = found[1]
            if keys is None or json_key(instance) not in keys:
                yield jsonschema.ValidationError(f"{instance!r} is not one of {enums!r}")

        extended = jsonschema.validators.extend(cls, validators={"enum": enum})
        _HASHED_ENUM_VALIDATORS[cls] = extended
    return extended


@dataclass
class Node:
    schema: object  # dict or bool
    base: str  # base URI for $ref
    where: str  # JSON pointer for messages ("#/properties/a"), or a description of a derived schema
    validation: object  # a JSON Schema, resolvable against the root, that this node means
    origin: Optional[str] = None  # for a derived node: the node whose children it shares


class Bound(NamedTuple):
    value: Decimal
    exclusive: bool


@dataclass
class Shape:
    """The merged constraints of a conjunction of schemas without applicators left."""

    types: Set[str]
    values: Optional[list] = None  # const/enum: the only candidates
    excluded: list = field(default_factory=list)
    # strings
    min_length: int = 0
    max_length: Optional[int] = None
    patterns: list = field(default_factory=list)  # (pattern, where)
    not_patterns: list = field(default_factory=list)
    formats: list = field(default_factory=list)  # (format, where)
    # numbers
    lower: Optional[Bound] = None
    upper: Optional[Bound] = None
    multiples: list = field(default_factory=list)  # (Decimal, where)
    fraction: bool = False  # only numbers that are not integers
    # arrays
    item_lists: list = field(default_factory=list)  # (prefix ids, rest id or None) per schema
    min_items: int = 0
    max_items: Optional[int] = None
    contains: list = field(default_factory=list)  # (id, min, max, where)
    unique: Optional[str] = None  # where uniqueItems: true
    # objects
    objects: list = field(default_factory=list)  # (properties dict name->id, patterns [(p, id)], additional id/None)
    required: list = field(default_factory=list)
    property_names: list = field(default_factory=list)  # ids
    min_properties: int = 0
    min_properties_where: str = ""
    max_properties: Optional[int] = None

    def tighten_lower(self, b: Bound) -> None:
        if self.lower is None or b.value > self.lower.value or (b.value == self.lower.value and b.exclusive):
            self.lower = b

    def tighten_upper(self, b: Bound) -> None:
        if self.upper is None or b.value < self.upper.value or (b.value == self.upper.value and b.exclusive):
            self.upper = b


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
            text = {"open_obj": "{" + inner, "close_obj": outer + "}", "empty_obj": "{}", "open_arr": "[" + inner,
                    "close_arr": outer + "]", "empty_arr": "[]", "comma": "," + inner, "colon": ": "}[which]
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


class _Compiler:
    def __init__(self, root, draft: int, lenient: bool, layout: dict, property_order: str, limits: Limits,
                 string_escapes: str = "minimal") -> None:
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
        self.docs: Dict[str, object] = {}
        self.nodes: Dict[str, Node] = {}
        self.synthetic: Dict[str, str] = {}
        self.synth_order: Dict[str, int] = {}
        self.features: Set[Tuple[str, str]] = set()
        self.warnings: List[str] = []
        self.memo: Dict[tuple, str] = {}
        self.neg_memo: Dict[str, str] = {}
        self.nesting = 0
        self.resources: Dict[str, str] = {}
        self.anchors: Dict[Tuple[str, str], str] = {}
        self.dynamic_anchors: Dict[str, List[str]] = {}
        self.recursive_anchors: List[str] = []
        self.bases: Dict[str, str] = {}
        self.order: Dict[str, int] = {}  # document (preorder) position: properties merge in this order
        self.root_base = ""
        self._index(root, "", "")
        cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
        self.validator = _hashed_enum_validator(cls)(root, format_checker=cls.FORMAT_CHECKER)

    # --- the document --------------------------------------------------------------------

    def _index(self, node, pointer: str, base: str) -> None:
        if not isinstance(node, dict):
            return
        id_kw = "id" if self.draft == 4 else "$id"
        ident = node.get(id_kw)
        if self.draft <= 7 and "$ref" in node:
            ident = None  # $ref siblings are ignored, $id included
        if isinstance(ident, str):
            if self.draft <= 7 and ident.startswith("#"):
                self.anchors[(base, ident[1:])] = pointer
            else:
                url, frag = urldefrag(urljoin(base, ident))
                base = url
                self.resources.setdefault(url, pointer)
                if pointer == "":
                    self.root_base = url
                if frag and self.draft <= 7:
                    self.anchors[(url, frag)] = pointer
        for kw in ("$anchor", "$dynamicAnchor"):
            name = node.get(kw)
            if isinstance(name, str):
                self.anchors[(base, name)] = pointer
                if kw == "$dynamicAnchor":
                    self.dynamic_anchors.setdefault(name, []).append(pointer)
        if node.get("$recursiveAnchor") is True:
            self.recursive_anchors.append(pointer)
        self.bases[pointer] = base
        self.order[pointer] = len(self.order)
        for key in node:
            meant = misspelled_keyword(key) if isinstance(key, str) else None
            if meant is not None:
                self.warnings.append(
                    f"unknown keyword {key!r} at #{pointer} is ignored; did you mean {meant!r}?"
                )
        for kw in SCHEMA_ONE:
            if isinstance(node.get(kw), (dict, bool)):
                self._index(node[kw], f"{pointer}/{ptr_escape(kw)}", base)
        for kw in SCHEMA_LISTS:
            if isinstance(node.get(kw), list):
                for i, sub in enumerate(node[kw]):
                    self._index(sub, f"{pointer}/{kw}/{i}", base)
        for kw in SCHEMA_MAPS:
            if isinstance(node.get(kw), dict):
                for name, sub in node[kw].items():
                    self._index(sub, f"{pointer}/{ptr_escape(kw)}/{ptr_escape(name)}", base)

    def _base_of(self, pointer: str) -> str:
        if pointer in self.bases:
            return self.bases[pointer]
        parent = pointer.rsplit("/", 1)[0] if pointer else ""
        base = self._base_of(parent) if pointer else self.root_base
        node = self._walk(self.root, pointer, pointer)
        if isinstance(node, dict) and not (self.draft <= 7 and "$ref" in node):
            ident = node.get("id" if self.draft == 4 else "$id")
            if isinstance(ident, str) and not ident.startswith("#"):
                base = urldefrag(urljoin(base, ident))[0]
        self.bases[pointer] = base
        return base

    def _walk(self, doc, pointer: str, where: str):
        node = doc
        for token in ptr_tokens(pointer):
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise InvalidGrammarError(f"JSON pointer {where!r} does not resolve in the schema")
        return node

    def node(self, ident: str) -> Node:
        found = self.nodes.get(ident)
        if found is not None:
            return found
        if ident.startswith("~"):
            doc_id, _, rest = ident.partition("/")
            rest = "/" + rest if rest else ""
            schema = self._walk(self.docs[doc_id], rest, ident)
            found = Node(schema, self.root_base, self.nodes[doc_id].where, schema)
        else:
            schema = self._walk(self.root, ident, "#" + ident)
            base = self._base_of(ident)
            # Values are checked against the subschema itself, resolving its $refs from the
            # root; below an embedded $id, through a $ref to its pointer instead.
            validation = schema if base == self.root_base else {"$ref": "#" + quote(ident, safe="/~!$&'()*+,;=:@")}
            found = Node(schema, base, "#" + ident, validation)
        self.nodes[ident] = found
        return found

    def position(self, ident: str) -> Tuple[int, str]:
        """Sort key: where the schema (or the one it was made from) sits in the document."""
        node = self.nodes.get(ident)
        source = ident
        if node is not None and node.origin is not None:
            source = node.origin
        if source.startswith("~"):
            return self.synth_order.get(source.partition("/")[0], len(self.order)), ident
        return self.order.get(source, len(self.order)), ident

    def child(self, ident: str, *path: str) -> str:
        node = self.nodes.get(ident)
        origin = node.origin if node is not None and node.origin is not None else ident
        return origin + "".join("/" + ptr_escape(str(p)) for p in path)

    def derive(self, ident: str, schema: dict, tag: str) -> str:
        """A node equal to ``ident`` with some keywords rewritten (children keep their ids)."""
        node = self.node(ident)
        origin = node.origin if node.origin is not None else ident
        new_id = f"{ident}!{tag}"
        if new_id not in self.nodes:
            self.nodes[new_id] = Node(schema, node.base, node.where, node.validation, origin)
        return new_id

    def synth(self, schema, validation, where: str, source: str = "") -> str:
        """A node for a schema made by the compiler (2020-12 semantics plus x-ref/x-notin);
        ``source`` is the node it was made from (for ordering properties)."""
        key = json.dumps([schema, validation], sort_keys=True, default=str)
        ident = self.synthetic.get(key)
        if ident is None:
            ident = f"~{len(self.synthetic)}"
            self.synthetic[key] = ident
            self.docs[ident] = schema
            self.nodes[ident] = Node(schema, self.root_base, where, validation)
            self.synth_order[ident] = self.position(source)[0]
        return ident

    def resolve(self, ident: str, ref: str, keyword: str) -> str:
        node = self.node(ident)
        where = f"{node.where}/{keyword}"
        if not isinstance(ref, str):
            raise InvalidGrammarError(f"{keyword} must be a string (at {where})")
        url, frag = urldefrag(urljoin(node.base, ref))
        frag = unquote(frag)
        if url in self.resources:
            res = self.resources[url]
        elif url in ("", self.root_base):
            res = ""
        else:
            raise Unsupported(f"{keyword} to a remote schema ({ref})")
        if frag == "" or frag.startswith("/"):
            target = res + frag
            self.node(target)
            return target
        key = (url if url in self.resources else self.root_base if url == "" else url, frag)
        if key not in self.anchors and (self.root_base, frag) in self.anchors and url == "":
            key = (self.root_base, frag)
        if key not in self.anchors:
            raise InvalidGrammarError(f"{keyword} {ref!r} at {where} names no anchor in the schema")
        return self.anchors[key]

    def validates(self, ident: str, value) -> bool:
        try:
            return bool(self.validator.evolve(schema=self.node(ident).validation).is_valid(value))
        except Exception:  # an unresolvable reference while checking: count the value out
            return False

    def feature(self, name: str, where: str) -> None:
        self.features.add((name, where))

    def _tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise ResourceLimitError(
                f"compiling this schema took longer than {self.limits.max_compile_seconds}s "
                "(Limits.max_compile_seconds)"
            )

    def kw(self, ident: str):
        """The keywords of a node that constrain instances under its draft."""
        node = self.node(ident)
        schema = node.schema
        if ident.startswith("~"):
            return schema
        allowed = KEYWORDS[self.draft]
        return {k: v for k, v in schema.items() if k in allowed}

    # --- values --------------------------------------------------------------------------

    def value(self, key: FrozenSet[str], depth: int) -> str:
        """A rule deriving the JSON texts valid for every schema in ``key``."""
        memo_key = (key, depth)
        name = self.memo.get(memo_key)
        if name is not None:
            return name
        self._tick()
        self.nesting += 1
        if self.nesting > self.limits.max_schema_depth:
            raise ResourceLimitError(
                f"the schema nests deeper than {self.limits.max_schema_depth} (Limits.max_schema_depth)"
            )
        try:
            name = self.b.new_rule("v")
            self.memo[memo_key] = name
            self.b.set_rule(name, self._alternatives(key, depth))
        finally:
            self.nesting -= 1
        return name

    def _expand(self, key: FrozenSet[str]):
        """(flat node ids, first pending branching applicator) or None if ``false`` is in key."""
        # Each entry carries the nodes that pulled it in: a node among its own ancestors is
        # a cycle of in-place applicators ($ref, allOf, not) that never reaches the instance's
        # children, which no validator can evaluate (``a: {not: {$ref: a}}`` is a paradox).
        work = [(ident, frozenset()) for ident in sorted(key, key=self.position)]
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

    def _dynamic(self, ident: str, ref: str, keyword: str) -> str:
        target = self.resolve(ident, ref, keyword)
        schema = self.node(target).schema
        if keyword == "$recursiveRef":
            if isinstance(schema, dict) and schema.get("$recursiveAnchor") is True and len(self.recursive_anchors) > 1:
                raise Unsupported("$recursiveRef (several $recursiveAnchor resources)")
            return target
        anchor = urldefrag(ref)[1]
        if isinstance(schema, dict) and schema.get("$dynamicAnchor") == anchor:
            if len(self.dynamic_anchors.get(anchor, ())) > 1:
                raise Unsupported("$dynamicRef (several matching $dynamicAnchor)")
        return target

    def _alternatives(self, key: FrozenSet[str], depth: int) -> List[Tuple[str, ...]]:
        expanded = self._expand(key)
        if expanded is None:
            return []
        flat, pending = expanded
        if self._contradiction(flat):
            return []
        if pending is not None:
            # Branch on the expanded, applicator-free nodes, so that no parent re-adds the
            # applicator being split and the new keys stay within a finite set.
            stripped = {f: self._strip(f) for f in flat}
            kw, ident = pending
            branches = self._branches(frozenset(stripped.values()), kw, stripped[ident])
            return [(self.value(branch, depth),) for branch in branches]
        shape = self._merge(flat)
        return self._lower(shape, key, flat, depth)

    def _contradiction(self, flat: List[str]) -> bool:
        """A cheap proof that no value satisfies all of ``flat`` (prunes branch combinations,
        e.g. ``allOf`` of many ``if``/``then`` on one discriminator, before they multiply)."""
        types = set(ALL_TYPES)
        values = None
        required: Set[str] = set()
        allowed: Dict[str, list] = {}
        excluded: Dict[str, list] = {}
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
                if name in allowed and not [v for v in allowed[name]
                                            if not any(json_equal(v, x) for x in excluded.get(name, ()))]:
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
                overlaps = [[j for j in range(len(branches)) if j != i and not self._pair_disjoint(facts[i], facts[j])]
                            for i in range(len(branches))]
                if any(overlaps):
                    # Exactly one holds: branch i and the negation of every branch that may
                    # overlap it (the disjoint ones are excluded by branch i itself).
                    try:
                        negs = {j: self.negate(branches[j]) for o in overlaps for j in o}
                    except Unsupported as e:
                        self.feature(f"oneOf (branches may overlap; {e.name})", node.where + "/oneOf")
                        return [base | {b} for b in branches]
                    width = {j: len(self.node(n).schema.get("anyOf", [0])) if isinstance(self.node(n).schema, dict) else 1
                             for j, n in negs.items()}
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
            other = {self.child(ident, "else")} if "else" in node.schema and "else" in self.kw(ident) else set()
            if not then and not other:
                return [base]
            try:
                negated = self.negate(cond)
            except Unsupported as e:
                self.feature(f"if ({e.name})", node.where + "/if")
                return [base]
            return [base | {cond} | then, base | {negated} | other]
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

    # --- oneOf -----------------------------------------------------------------------------

    def _facts(self, ident: str):
        """(possible types, finite values or None, {property: finite values}, required) of one
        branch, from its own keywords and those it pulls in by $ref/allOf (no deeper)."""
        types = set(ALL_TYPES)
        values = None
        props: Dict[str, list] = {}
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
            types &= {json_type(v) for v in values} | ({"number"} if any(json_type(v) == "integer" for v in values) else set())
        return types, values, props, required, closed

    @staticmethod
    def _pair_disjoint(a, b) -> bool:
        ta, va, pa, ra, ca = a
        tb, vb, pb, rb, cb = b
        common = ta & tb
        if "number" in ta and "integer" in tb or "number" in tb and "integer" in ta:
            common |= {"integer"}
        if not common:
            return True
        if va is not None and vb is not None and not any(json_equal(x, y) for x in va for y in vb):
            return True
        if common <= {"object"}:
            for name in set(pa) & set(pb):
                if (name in ra or pa[name] == []) and (name in rb or pb[name] == []):
                    if name in ra and name in rb and not any(json_equal(x, y) for x in pa[name] for y in pb[name]):
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
        disjuncts: List[dict] = []
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
                excl = k.startswith("exclusive") or (self.draft == 4 and kws.get("exclusive" + k[0].upper() + k[1:]) is True)
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
                if any(not self._pair_disjoint(facts[i], facts[j])
                       for i in range(len(facts)) for j in range(i + 1, len(facts))):
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

    # --- merging ----------------------------------------------------------------------------

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
            for k, lower in (("minimum", True), ("maximum", False), ("exclusiveMinimum", True), ("exclusiveMaximum", False)):
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
                lo = int(kws.get("minContains", 1)) if draft >= 2019 else 1
                hi = kws.get("maxContains") if draft >= 2019 else None
                shape.contains.append((self.child(ident, "contains"), lo, None if hi is None else int(hi), where + "/contains"))
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

    def _merge_items(self, ident, kws, draft, shape: Shape, where) -> None:
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

    def _merge_object(self, ident, kws, draft, shape: Shape, where) -> None:
        props = {}
        if isinstance(kws.get("properties"), dict):
            props = {name: self.child(ident, "properties", name) for name in kws["properties"]}
        patterns = []
        if isinstance(kws.get("patternProperties"), dict):
            patterns = [(p, self.child(ident, "patternProperties", p), where + "/patternProperties")
                        for p in kws["patternProperties"]]
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

    # --- lowering ---------------------------------------------------------------------------

    def _lower(self, shape: Shape, key: FrozenSet[str], flat: List[str], depth: int) -> List[Tuple[str, ...]]:
        types = shape.types
        if "number" in types:
            types = types | {"integer"}
        containers = not (self.indent and depth >= MAX_INDENT_DEPTH)
        if not containers and ({"object", "array"} & types):
            msg = f"objects and arrays nested deeper than {MAX_INDENT_DEPTH} are not laid out with indent"
            if msg not in self.warnings:
                self.warnings.append(msg)
        if shape.values is not None:
            out = []
            string_re = None
            if any(isinstance(v, str) for v in shape.values):
                # jsonschema checks patterns with Python's re and some formats loosely or not
                # at all; the values must also pass this compiler's own string checks.
                string_re = self._string_decoded(shape)
            excluded_keys = {json_key(x) for x, _ in shape.excluded}
            for i, v in enumerate(shape.values):
                if i % 256 == 255:
                    self._tick()
                if isinstance(v, str) and (string_re is None or not ir_fullmatch(string_re, v)):
                    continue
                t = json_type(v)
                if t not in types or (t == "number" and "number" not in types):
                    continue
                if t in ("object", "array") and not containers:
                    continue
                if json_key(v) in excluded_keys:
                    continue
                if all(self.validates(i, v) for i in set(key) | set(flat)):
                    if t == "integer" and "number" not in shape.types and self.draft == 4:
                        # draft 4: 1.0 is not an integer, so only integer spellings.
                        out.append((self.b.terminal(And((number_literal(to_decimal(v)), INTEGER)), "NUM"),))
                    else:
                        out.append(self._literal(v, depth))
            return out
        excluded = shape.excluded
        out: List[Tuple[str, ...]] = []
        if "null" in types and not any(v is None for v, _ in excluded):
            out.append((self.b.terminal(literal("null"), "NULL"),))
        if "boolean" in types:
            for b in (True, False):
                if not any(json_equal(v, b) for v, _ in excluded):
                    out.append((self.b.terminal(literal("true" if b else "false"), "BOOL"),))
        if shape.fraction:
            types = types - {"integer"} if "number" not in types else types
        if "integer" in types:
            regex = self._number(shape, integer_only="number" not in types)
            if regex is not None:
                out.append((self.b.terminal(regex, "NUM"),))
        if "string" in types:
            out.extend(self._string(shape))
        for v, where in excluded:
            if isinstance(v, (list, dict)) and json_type(v) in types:
                self.feature("not (an array or object value)", where)
        if "array" in types and containers:
            out.extend(self._array(shape, depth))
        if "object" in types and containers:
            out.extend(self._object(shape, depth))
        return out

    def _literal(self, v, depth: int) -> Tuple[str, ...]:
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

    def _deeper(self, depth: int) -> int:
        return depth + 1 if self.indent else 0

    # strings

    def _string(self, shape: Shape) -> List[Tuple[str, ...]]:
        lo, hi = shape.min_length, shape.max_length
        if hi is not None and lo > hi:
            return []
        plain = not (shape.patterns or shape.not_patterns or shape.formats
                     or any(isinstance(v, str) for v, _ in shape.excluded))
        if plain and (lo > _LONG_STRING or (hi is not None and hi > _LONG_STRING)):
            return [self._chunked_string(lo, hi)]
        counted = self._counted_pattern_string(shape)
        if counted is not None:
            return [counted]
        regex = self._string_decoded(shape)
        if regex is None:
            return []
        return [(self.b.terminal(string_terminal_regex(regex, self.escapes), "STR", _string_origin(shape)),)]

    def _chunked_string(self, lo: int, hi: Optional[int]) -> Tuple[str, ...]:
        """A long string with only length bounds, as chunks of _CHUNK characters.

        Greedy lexing splits the body into full chunks and one last, shorter chunk that ends
        with the closing quote, so the rules can count chunks; one terminal per string would
        need a DFA state per character position.
        """
        b, c = self.b, _CHUNK
        enc = encode_chars(ANY, self.escapes)
        q = literal('"')
        alts: List[Tuple[str, ...]] = []
        if lo < c:
            alts.append((b.terminal(seq(q, Repeat(enc, lo, min(c - 1, hi if hi is not None else c - 1)), q), "STR"),))
        if hi is not None and hi < c:
            return (b.rule(alts, "s"),)
        start = b.terminal(seq(q, Repeat(enc, c, c)), "STR")
        full = b.terminal(Repeat(enc, c, c), "STR")
        loop_from = -(-lo // c)  # from here on, the minimum is met by any ending
        # One rule per count j of full chunks so far (c * j characters), 1 <= j <= last;
        # without a maximum, the count stops at loop_from, whose rule loops on itself.
        last = loop_from if hi is None else hi // c
        if b.symbols + 5 * last > b.limits.max_grammar_symbols:
            raise ResourceLimitError(
                f"a string of {lo} to {'any number of' if hi is None else hi} characters needs a rule per "
                f"{c} characters ({last} rules), past Limits.max_grammar_symbols={b.limits.max_grammar_symbols}"
            )
        names = {j: b.new_rule("s") for j in range(1, last + 1)}
        for j in range(1, last + 1):
            if j % 4096 == 0:
                self._tick()
            used = c * j
            e_lo = max(0, lo - used)
            e_hi = c - 1 if hi is None else min(c - 1, hi - used)
            options: List[Tuple[str, ...]] = []
            if e_lo <= e_hi:
                options.append((b.terminal(seq(Repeat(enc, e_lo, e_hi), q), "STR"),))
            if hi is None or used + c <= hi:
                options.append((full, names[min(j + 1, last)]))
            b.set_rule(names[j], options)
        alts.append((start, names[1]))
        return (b.rule(alts, "s"),)

    def _counted_pattern_string(self, shape: Shape) -> Optional[Tuple[str, ...]]:
        """A string with one pattern or format and length bounds it does not imply, with the
        length counted by the rules rather than in the pattern's DFA; None where that
        construction does not apply (the caller then builds one terminal).

        One terminal for ``pattern AND length <= n`` is the product of the pattern's DFA with
        a counter: about ``n`` times the pattern's states (an e-mail address of at most 254
        characters: 25,000 byte states). Here the pattern is taken apart into its Glushkov
        positions: a single character each, or a whole ``And`` (a piece such as a host-name
        label, with a terminal per length). Each position becomes its own lexeme, and a rule
        per (position, characters so far) counts the decoded length exactly, so the sizes
        add instead of multiplying. Lexemes are split exactly where the grammar says only if
        no byte that may start the next position can continue a piece of several characters
        (``pieces_split_exactly``); otherwise, or when the positions or rules would be too
        many, None.
        """
        if shape.not_patterns or any(isinstance(v, str) for v, _ in shape.excluded):
            return None
        parts: List[Tuple[Regex, str]] = []
        for pattern, where in shape.patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append((r, where))
        for fmt, where in shape.formats:
            r = format_regex(fmt)
            if r is not None:
                parts.append((r, where))
        if len(parts) != 1:
            return None
        (regex, where), = parts
        lo, hi = shape.min_length, shape.max_length
        own_hi = max_len(regex)
        if hi is None or (own_hi is not None and own_hi <= hi):
            return None  # no upper bound to count (a lower bound alone keeps one terminal)
        if min_len(regex) >= lo:
            lo = 0
        if regex_size(regex) * (hi + 1) <= _SMALL_PRODUCT:
            return None  # the product is small: one terminal is simpler and lexes faster
        positions = Glushkov(_MAX_POSITIONS, hi)
        try:
            nullable_all, first, last = positions.build(regex)
        except TooBig:
            return None
        b, esc = self.b, self.escapes
        q = literal('"')
        close = b.terminal(q, "STR")
        lengths = []
        for piece in positions.pieces:
            if isinstance(piece, Chars):
                lengths.append((1, 1))
            else:
                top = max_len(piece)
                lengths.append((max(1, min_len(piece)), hi if top is None else min(top, hi)))

        terms: Dict[Tuple[int, int, bool], str] = {}

        def term(p: int, k: int, opening: bool) -> str:
            name = terms.get((p, k, opening))
            if name is None:
                piece = positions.pieces[p]
                body = encode(piece if isinstance(piece, Chars) else And((piece, Repeat(ANY, k, k))), esc)
                name = terms[(p, k, opening)] = b.terminal(seq(q, body) if opening else body, "STR")
            return name

        # What may come after a position is all a rule needs to know of it: positions with the
        # same follow set and the same "may end here" share their rules.
        state_of: Dict[Tuple[FrozenSet[int], bool], int] = {}
        follows: List[FrozenSet[int]] = [frozenset(first)]
        ends: List[bool] = [False]
        state = [0] * len(positions.pieces)
        for p, nxt in enumerate(positions.follow):
            key = (frozenset(nxt), p in last)
            if key not in state_of:
                state_of[key] = len(follows)
                follows.append(key[0])
                ends.append(key[1])
            state[p] = state_of[key]
        if len(follows) * (hi + 1) > _MAX_COUNTED_RULES:
            return None  # e.g. a URI (hundreds of states, from IPv6 literals): one terminal
        if not pieces_split_exactly(positions, first, self.escapes):
            return None
        rules: Dict[Tuple[int, int], str] = {}
        todo: List[Tuple[int, int]] = []

        def rule(st: int, used: int) -> str:  # state 0: before the first character
            name = rules.get((st, used))
            if name is None:
                name = rules[(st, used)] = b.new_rule("s")
                todo.append((st, used))
            return name

        top_rule = rule(0, 0)
        while todo:
            st, used = todo.pop()
            self._tick()
            alts: List[Tuple[str, ...]] = []
            for nxt in sorted(follows[st]):
                k_lo, k_hi = lengths[nxt]
                for k in range(k_lo, min(k_hi, hi - used) + 1):
                    alts.append((term(nxt, k, st == 0), rule(state[nxt], used + k)))
            if ends[st] and used >= lo:
                alts.append((close,))
            if st == 0 and nullable_all and lo == 0:
                alts.append((b.terminal(literal('""'), "STR"),))
            b.set_rule(rules[(st, used)], alts)
        return (top_rule,)

    def _string_decoded(self, shape: Shape) -> Optional[Regex]:
        if shape.max_length is not None and shape.min_length > shape.max_length:
            return None
        parts: List[Regex] = []
        lo, hi = shape.min_length, shape.max_length
        for pattern, where in shape.patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append(r)
        for fmt, where in shape.formats:
            r = format_regex(fmt)
            if r is not None:
                parts.append(r)
        if parts:
            # Length bounds implied by the pattern/format need no counting states.
            own_lo = max(min_len(p) for p in parts)
            own_hi = min((m for m in (max_len(p) for p in parts) if m is not None), default=None)
            if own_lo >= lo:
                lo = 0
            if hi is not None and own_hi is not None and own_hi <= hi:
                hi = None
            if hi is not None and hi > _MAX_BOUNDED_LENGTH:
                hi = _MAX_BOUNDED_LENGTH
                msg = f"maxLength above {_MAX_BOUNDED_LENGTH} with a pattern or format is enforced as {_MAX_BOUNDED_LENGTH}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
            if lo > _MAX_BOUNDED_LENGTH:
                self.feature(f"minLength {lo} with a pattern or format", shape.patterns[0][1] if shape.patterns else shape.formats[0][1])
                lo = 0
        if lo or hi is not None:
            parts.insert(0, Repeat(ANY, lo, hi))
        for pattern, where in shape.not_patterns:
            r = self._pattern(pattern, where)
            if r is not None:
                parts.append(Not(r))
        for v, _ in shape.excluded:
            if isinstance(v, str):
                parts.append(Not(literal(v)))
        if not parts:
            return Repeat(ANY, 0, None)
        if len(parts) == 1 and not isinstance(parts[0], Not):
            return parts[0]
        return And((Repeat(ANY, 0, None), *parts))

    def _pattern(self, pattern, where: str) -> Optional[Regex]:
        try:
            return ecma_search_regex(pattern)
        except UnsupportedFeatureError as e:
            self.feature(f"pattern ({', '.join(f.name for f in e.features)})", where)
            return None
        except InvalidGrammarError as e:
            raise InvalidGrammarError(f"{e} (at {where})") from None

    # numbers

    def _number(self, shape: Shape, integer_only: bool) -> Optional[Regex]:
        lo, hi = shape.lower, shape.upper
        if lo is not None and hi is not None and (lo.value > hi.value or (lo.value == hi.value and (lo.exclusive or hi.exclusive))):
            return None
        parts: List[Regex] = []
        if integer_only:
            ilo = None if lo is None else (math.floor(lo.value) + 1 if lo.exclusive else math.ceil(lo.value))
            ihi = None if hi is None else (math.ceil(hi.value) - 1 if hi.exclusive else math.floor(hi.value))
            if ilo is not None and ihi is not None and ilo > ihi:
                return None
            parts.append(int_range(ilo, ihi))
            for k, where in shape.multiples:
                p = Fraction(k).numerator
                r = int_multiple(p, ilo, ihi)
                if r is None:
                    self.feature(f"multipleOf {k}", where)
                elif r is not True:
                    parts.append(r)
            for v, _ in shape.excluded:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    parts.append(Not(number_literal(to_decimal(v))))
        else:
            if lo is not None:
                parts.append(number_bound(">" if lo.exclusive else ">=", lo.value))
            if hi is not None:
                parts.append(number_bound("<" if hi.exclusive else "<=", hi.value))
            for k, where in shape.multiples:
                r = number_multiple(k)
                if r is None:
                    self.feature(f"multipleOf {k}", where)
                else:
                    parts.append(r)
            if shape.fraction:  # plain decimals with a non-zero fraction digit
                parts.append(FRACTIONAL)
            excluded = [v for v, _ in shape.excluded if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if excluded:
                parts.append(PLAIN_NUMBER)
                parts.extend(Not(number_literal(to_decimal(v))) for v in excluded)
            if not parts:
                return NUMBER
        if len(parts) == 1 and not isinstance(parts[0], Not):
            regex = parts[0]
        else:
            regex = And((NUMBER if not integer_only else INTEGER, *parts))
        if integer_only and self.draft >= 6:
            # From draft 6 on, 1.0 is an integer.
            regex = seq(regex, repeat(seq(literal("."), Repeat(literal("0"), 1, None)), 0, 1))
        return regex


    # arrays

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
        c_id, c_min, c_max = (contains[0][:3] if contains else (None, 0, None))
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

    def _unique_values(self, shape: Shape, conj_at, n_prefix: int):
        """All arrays of distinct values when items come from a small finite set, else None."""
        if n_prefix or shape.contains:
            return None
        conj = conj_at(0)
        expanded = self._expand(conj)
        if expanded is None:
            values: list = []
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
        distinct: list = []
        for v in values:
            if not any(json_equal(v, w) for w in distinct):
                distinct.append(v)
        if len(distinct) > _MAX_UNIQUE_VALUES:
            return None
        top = len(distinct) if shape.max_items is None else min(shape.max_items, len(distinct))
        out = []
        for n in range(shape.min_items, top + 1):
            out.extend(itertools.permutations(distinct, n))
        return out

    # objects

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
            ok = [v for v in sub.values if isinstance(v, str) and all(self.validates(i, v) for i in set(ids) | set(flat))]
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
        not_declared = Not(Alt(tuple(literal(n) for n in declared)) if len(declared) > 1 else literal(declared[0])) if declared else None
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
        rules: Dict[tuple, str] = {}

        def state(i: int, c: int, extra: int, t: int, first: bool) -> str:
            key = (i, c if count_min else 0, extra if count_min else 0, t if count_max else 0, first)
            name = rules.get(key)
            if name is not None:
                return name
            name = b.new_rule("o")
            rules[key] = name
            sep = () if first else (comma,)
            alts: List[Tuple[str, ...]] = []
            room = not count_max or t < hi
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
            if not count_max or t < hi:
                for i, (key_sym, conj, _) in enumerate(members):
                    if not mask >> i & 1:
                        val = self.value(conj, inner)
                        alts.append(sep + (key_sym, colon, val, any_state(mask | 1 << i, min(c + 1, lo), extra, t + 1, False)))
                for key_sym, conj in regions:
                    val = self.value(conj, inner)
                    alts.append(sep + (key_sym, colon, val, any_state(mask, c, 1, t + 1, False)))
            b.set_rule(name, alts)
            return name

        start = state
        if self.property_order == "any":
            if n <= MAX_ANY_ORDER_PROPERTIES:
                start = any_state
            else:
                msg = (f"objects with more than {MAX_ANY_ORDER_PROPERTIES} declared properties keep the "
                       "schema's order (property_order='any')")
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

    # --- the grammar --------------------------------------------------------------------------

    def grammar(self) -> Grammar:
        top = self.value(frozenset({""}), 0)
        if self.features and not self.lenient:
            raise UnsupportedFeatureError(
                [Feature("json_schema", name, where) for name, where in self.features],
                hint="pass lenient=True to drop them (the grammar then accepts more than the schema)",
            )
        warnings = list(self.warnings)
        for name, where in sorted(self.features):
            warnings.append(f"dropped {name!r} at {where}: it cannot be enforced exactly")
        return finish_grammar(self.b, top, tuple(warnings))


_PAD = Repeat(ANY, 0, None)


#: Strings with one pattern or format whose size (regex nodes) times (maxLength + 1) is at
#: most this keep one terminal (the product DFA is small); above it, the length is counted by
#: rules over the pattern's positions (_counted_pattern_string).
_SMALL_PRODUCT = 1000
#: Most Glushkov positions, and rules, of a string counted that way (more rules compile slower
#: than the product DFA they replace: a URI of at most 100 characters needs 49,000 rules,
#: 8 s, and its product DFA 0.5 s).
_MAX_POSITIONS = 4000
_MAX_COUNTED_RULES = 20_000
#: Most sets of positions explored when checking that a counted string lexes exactly.
_MAX_POSITION_SETS = 5000


class TooBig(Exception):
    pass


class Glushkov:
    """Glushkov positions of a regex over characters: ``pieces[p]`` is a ``Chars`` (one
    character) or an ``And``/``Not`` taken whole (a piece of several characters);
    ``follow[p]`` the positions that may come next. Bounded repeats are unrolled, so
    ``x{2,4}`` has four copies of the positions of ``x``."""

    def __init__(self, max_positions: int, max_length: int) -> None:
        self.pieces: List[Regex] = []
        self.follow: List[Set[int]] = []
        self.max_positions = max_positions
        self.max_length = max_length  # of the whole string: a bound on every part of it

    def _new(self, piece: Regex) -> int:
        if len(self.pieces) >= self.max_positions:
            raise TooBig()
        self.pieces.append(piece)
        self.follow.append(set())
        return len(self.pieces) - 1

    def build(self, r: Regex) -> Tuple[bool, Set[int], Set[int]]:
        """(nullable, first positions, last positions) of ``r``, adding its positions."""
        if isinstance(r, Chars):
            if not r.ranges:
                return False, set(), set()
            p = self._new(r)
            return False, {p}, {p}
        if isinstance(r, And):
            # A length bound no tighter than the whole string's (an e-mail local part of at
            # most 64 characters, in a string of at most 40) holds anyway: drop it, and the
            # rest need not be one piece.
            rest = tuple(x for x in r.items if not _implied_length(x, r.items, self.max_length))
            if len(rest) == 1:
                return self.build(rest[0])
            if len(rest) < len(r.items):
                r = And(rest)
        if isinstance(r, (And, Not)):
            if nullable(r):
                raise TooBig()  # an empty piece would be an empty lexeme
            p = self._new(r)
            return False, {p}, {p}
        if isinstance(r, Seq):
            return self._seq([lambda x=x: self.build(x) for x in r.items])
        if isinstance(r, Alt):
            n, f, l = False, set(), set()
            for x in r.items:
                xn, xf, xl = self.build(x)
                n, f, l = n or xn, f | xf, l | xl
            return n, f, l
        if isinstance(r, Repeat):
            builders = [lambda: self.build(r.item)] * r.min
            if r.max is None:
                builders.append(lambda: self._star(r.item))
            else:
                builders.extend([lambda: self._optional(r.item)] * (r.max - r.min))
            return self._seq(builders)
        raise TypeError(f"not a regex: {r!r}")

    def _star(self, item: Regex) -> Tuple[bool, Set[int], Set[int]]:
        _, f, l = self.build(item)
        for p in l:
            self.follow[p] |= f
        return True, f, l

    def _optional(self, item: Regex) -> Tuple[bool, Set[int], Set[int]]:
        _, f, l = self.build(item)
        return True, f, l

    def _seq(self, builders) -> Tuple[bool, Set[int], Set[int]]:
        n, f, l = True, set(), set()
        for make in builders:
            xn, xf, xl = make()
            for p in l:
                self.follow[p] |= xf
            f = f | xf if n else f
            l = xl | l if xn else xl
            n = n and xn
        return n, f, l


def _implied_length(x: Regex, items: Tuple[Regex, ...], max_length: int) -> bool:
    """Whether ``x``, an item of the And ``items``, is a length bound ``.{a,b}`` that a part of
    a string of at most ``max_length`` characters meets whenever the other items hold."""
    if not (isinstance(x, Repeat) and x.item == ANY):
        return False
    if x.max is not None and x.max < max_length:
        return False
    return x.min <= max((min_len(y) for y in items if y is not x), default=0)


def _chars_of(r: Regex) -> List[Tuple[int, int]]:
    """Code points that may occur in a string of ``r`` (a superset)."""
    if isinstance(r, Chars):
        return list(r.ranges)
    if isinstance(r, Not):
        return [(0, MAX_CODE_POINT)]
    if isinstance(r, And):
        sets = [normalize_ranges(_chars_of(x)) for x in r.items]
        out = sets[0]
        for other in sets[1:]:
            out = subtract_ranges(out, subtract_ranges([(0, MAX_CODE_POINT)], other))
        return out
    if isinstance(r, Repeat):
        return _chars_of(r.item)
    return [rng for x in r.items for rng in _chars_of(x)]


def _first_bytes(ranges, escapes: str) -> Set[int]:
    """The bytes a JSON spelling of a character of ``ranges`` may start with."""
    out: Set[int] = set()
    for lo, hi in normalize_ranges(ranges):
        for a, b in ((lo, min(hi, 0x7F)), (max(lo, 0x80), min(hi, 0x7FF)), (max(lo, 0x800), min(hi, 0xFFFF)),
                     (max(lo, 0x10000), hi)):
            if a <= b:
                first, last = chr(a).encode("utf-8", "surrogatepass")[0], chr(b).encode("utf-8", "surrogatepass")[0]
                out.update(range(first, last + 1))
        if escapes == "any" or lo <= 0x1F or lo <= 0x22 <= hi or lo <= 0x5C <= hi:
            out.add(0x5C)  # an escape
    return out


def pieces_split_exactly(positions: Glushkov, first: Set[int], escapes: str) -> bool:
    """Whether greedy lexing ends every piece's lexeme exactly where the positions say.

    A lexeme grows while the next byte keeps a live terminal alive. The live terminals are
    those of every position that may come next from any position the text so far may have
    reached (the pattern may be ambiguous), so the sets of positions reachable together are
    explored (a subset construction over character classes, over-approximated where a piece
    of several characters ends). Wherever a piece of several characters is live, no byte
    that may start a position following a live one may continue that piece. The closing
    quote never continues a string's body: it is always escaped there. False also when the
    exploration passes ``_MAX_POSITION_SETS`` sets.
    """
    pieces, follow = positions.pieces, positions.follow
    chars = [normalize_ranges(_chars_of(x)) for x in pieces]
    lead = [_first_bytes(c, escapes) for c in chars]
    start: FrozenSet[int] = frozenset({-1})
    seen = {start}
    todo = [start]
    while todo:
        here = todo.pop()
        live: Set[int] = set()
        for p in here:
            live |= first if p < 0 else follow[p]
        multi = [p for p in live if not isinstance(pieces[p], Chars)]
        if multi:
            continuing: Set[int] = set()
            for p in multi:
                continuing |= lead[p]
            if any(lead[nxt] & continuing for p in live for nxt in follow[p]):
                return False
        # Next sets: one per class of characters the single-character positions tell apart,
        # and one for a lexeme of a longer piece (every piece, and every character that
        # could be a one-character string of one, counted in: a superset is safe).
        singles = [p for p in live if isinstance(pieces[p], Chars)]
        multi_chars = normalize_ranges([r for p in multi for r in chars[p]])
        cuts = sorted({lo for p in singles for lo, _ in chars[p]} | {hi + 1 for p in singles for _, hi in chars[p]})
        successors = []
        for lo, end in zip(cuts, [c - 1 for c in cuts[1:]] + [MAX_CODE_POINT]):
            # [lo, end] is one class for the single characters; a longer piece with a
            # character in it may have matched a one-character lexeme there too.
            after = frozenset([p for p in singles if any(a <= lo <= b for a, b in chars[p])]
                              + [p for p in multi if any(a <= end and lo <= b for a, b in chars[p])])
            if after:
                successors.append(after)
        if multi:
            successors.append(frozenset(multi + [p for p in singles
                                                 if subtract_ranges(chars[p], subtract_ranges([(0, MAX_CODE_POINT)], multi_chars))]))
        for nxt_set in successors:
            if nxt_set not in seen:
                if len(seen) >= _MAX_POSITION_SETS:
                    return False
                seen.add(nxt_set)
                todo.append(nxt_set)
    return True


def _universal(r: Regex) -> bool:
    """Whether a pattern's search regex certainly matches every string (e.g. ``.*``, ``^a*``)."""
    for item in r.items if isinstance(r, Alt) else (r,):
        if item == _PAD:
            return True
        if isinstance(item, Seq) and item.items and (item.items[0] == _PAD or item.items[-1] == _PAD) and nullable(item):
            return True
    return False


def _string_origin(shape: Shape) -> str:
    """Where a patterned string's terminal comes from, for errors about its size."""
    located = shape.patterns or shape.formats
    if not located:
        return ""
    what = [f"pattern {p!r}" for p, _ in shape.patterns] + [f"format {f!r}" for f, _ in shape.formats]
    if shape.min_length:
        what.append(f"minLength {shape.min_length}")
    if shape.max_length is not None:
        what.append(f"maxLength {shape.max_length}")
    where = located[0][1].rsplit("/", 1)[0] or "#"
    return f"the string at {where} ({', '.join(what)})"


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

    rules = {n: [tuple(real(s) for s in a) for a in alts] for n, alts in rules.items()
             if n == "start" or n not in alias or real(n) == n}
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
    out_terms = tuple(Terminal(name, regex, origin=b.origins.get(name, ""))
                      for regex, name in b.terminals.items() if name in reachable)
    return Grammar(start="start", rules=tuple(out_rules), terminals=out_terms, kind="json_schema", warnings=warnings)


def _reject_constant(name: str):
    raise InvalidGrammarError(f"the schema is not valid JSON: {name} is not a JSON number")


def _too_deep(max_depth: int) -> ResourceLimitError:
    return ResourceLimitError(
        f"the schema document nests deeper than {max_depth} objects and arrays "
        "(2 * Limits.max_schema_depth)"
    )


def load_schema(schema, max_depth: int):
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        schema = schema.model_json_schema()
    elif isinstance(schema, (str, bytes)):
        try:
            schema = json.loads(schema, parse_constant=_reject_constant)
        except RecursionError:  # the decoder's own guard, far deeper than max_depth
            raise _too_deep(max_depth) from None
        except ValueError as e:
            raise InvalidGrammarError(f"the schema is not valid JSON: {e}") from None
    elif not isinstance(schema, (dict, bool)):
        raise InvalidGrammarError(
            f"a schema is a dict, a bool, a JSON string or a pydantic model class, not {type(schema).__name__}"
        )
    _check_document(schema, max_depth)
    return schema


def _check_document(doc, max_depth: int) -> None:
    """Refuse what is not JSON (NaN, infinities, keys that are not strings, other Python
    objects) and documents nesting deeper than ``max_depth``, iteratively: everything after
    this (the meta-schema check, the compiler, the validator) recurses along the document."""
    if not isinstance(doc, (dict, list)):
        return
    stack = [(doc, 1, "#")]
    while stack:
        value, depth, where = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        is_object = isinstance(value, dict)
        for key, item in value.items() if is_object else enumerate(value):
            if is_object and not isinstance(key, str):
                raise InvalidGrammarError(f"the schema has a key {key!r} at {where}; JSON object keys are strings")
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1, f"{where}/{ptr_escape(str(key))}"))
            elif isinstance(item, float):
                if not math.isfinite(item):
                    raise InvalidGrammarError(
                        f"the schema has {item!r} at {where}/{ptr_escape(str(key))}; JSON numbers are finite"
                    )
            elif isinstance(item, int) and item.bit_length() > _MAX_INT_BITS:
                raise ResourceLimitError(
                    f"the schema has an integer of more than 1000 digits at {where}/{ptr_escape(str(key))}"
                )
            elif not (item is None or isinstance(item, (str, int))):  # bool is an int
                raise InvalidGrammarError(
                    f"the schema has a {type(item).__name__} at {where}/{ptr_escape(str(key))}; "
                    "a schema holds JSON values only"
                )


def grammar_from_json_schema(
    schema,
    *,
    lenient: bool = False,
    whitespace: str = "compact",
    max_whitespace: int = 4,
    indent: Optional[int] = None,
    property_order: str = "schema",
    string_escapes: str = "minimal",
    limits: Limits = DEFAULT_LIMITS,
) -> Grammar:
    """Compile a JSON Schema to a grammar of exactly the JSON texts it accepts.

    Args:
        schema: a dict (or bool), a JSON string, or a pydantic model class.
        lenient: drop keywords that cannot be enforced exactly (recording a warning on the
            grammar, whose language is then wider than the schema) instead of raising.
        whitespace: ``"compact"`` (no whitespace, like ``json.dumps(separators=(",", ":"))``),
            ``"flexible"`` (runs of at most ``max_whitespace`` blanks around punctuation) or
            ``"indent"`` (exactly ``json.dumps(indent=indent)``).
        max_whitespace: the longest whitespace run in flexible mode.
        indent: spaces per level; setting it implies ``whitespace="indent"`` (default 2).
        property_order: ``"schema"`` (declared properties in schema order, then others),
            ``"required_first"`` (required declared properties first), or ``"any"`` (any order,
            for objects with at most ``MAX_ANY_ORDER_PROPERTIES`` declared properties; larger
            objects keep the schema's order and the grammar records a warning).
        string_escapes: how strings (property names, values, enum and const literals) may be
            spelled: ``"minimal"`` (the default) exactly as ``json.dumps(v, ensure_ascii=False)``
            writes them, one spelling per string, so declared keys come out literally;
            ``"any"`` every spelling JSON allows (``\\u0061`` for ``a``, ``\\/``, surrogate
            pairs). Under ``"minimal"`` a valid document spelled otherwise is not accepted: a
            choice of output form, never a wider language.
        limits: compile time, grammar size and schema depth bounds.

    Returns:
        A :class:`Grammar` with ``kind="json_schema"``.

    Raises:
        ConfigurationError: bad options.
        InvalidGrammarError: the schema is malformed (not JSON, fails its meta-schema, a
            ``$ref`` or pointer that does not resolve, an invalid pattern).
        UnsupportedFeatureError: keywords that cannot be enforced exactly, all listed with
            their JSON pointers (unless ``lenient``).
        UnsatisfiableGrammarError: no JSON value satisfies the schema.
        ResourceLimitError: the compile ran past ``limits``.
    """
    if indent is not None:
        if whitespace not in ("compact", "indent"):
            raise ConfigurationError(f"indent={indent!r} needs whitespace='indent', not {whitespace!r}")
        whitespace = "indent"
    if whitespace == "indent" and indent is None:
        indent = 2
    if whitespace not in ("compact", "flexible", "indent"):
        raise ConfigurationError(f"whitespace must be 'compact', 'flexible' or 'indent', not {whitespace!r}")
    if indent is not None and (not isinstance(indent, int) or isinstance(indent, bool) or indent < 0):
        raise ConfigurationError(f"indent must be a non-negative int, not {indent!r}")
    if not isinstance(max_whitespace, int) or max_whitespace < 0:
        raise ConfigurationError(f"max_whitespace must be a non-negative int, not {max_whitespace!r}")
    if string_escapes not in STRING_ESCAPES:
        raise ConfigurationError(f"string_escapes must be 'minimal' or 'any', not {string_escapes!r}")
    if property_order not in ("schema", "required_first", "any"):
        raise ConfigurationError(f"property_order must be 'schema', 'required_first' or 'any', not {property_order!r}")
    root = load_schema(schema, 2 * limits.max_schema_depth)
    draft = draft_of(root)
    cls = jsonschema.validators.validator_for(root, default=jsonschema.Draft202012Validator)
    try:
        # No format checker: "format": "regex" would check patterns with Python's re, while
        # patterns are ECMAScript and get their own parser.
        error = jsonschema.exceptions.best_match(cls(cls.META_SCHEMA).iter_errors(root))
    except RecursionError:  # only from a caller already deep in its own stack
        raise ResourceLimitError("the schema nests too deeply to check against its meta-schema") from None
    except Exception as e:  # e.g. a $ref inside the meta-schema check that cannot resolve
        raise InvalidGrammarError(f"invalid schema: {e}") from None
    if error is not None:
        where = "#" + "".join("/" + ptr_escape(str(p)) for p in error.path)
        raise InvalidGrammarError(f"invalid schema at {where}: {error.message}")
    try:
        compiler = _Compiler(
            root, draft, lenient,
            {"whitespace": whitespace, "max_whitespace": max_whitespace, "indent": indent},
            property_order, limits, string_escapes,
        )
        for message in compiler.warnings:  # so far only misspelled keywords, found while indexing
            warnings.warn(message, ConstrainWarning, stacklevel=2)
        return compiler.grammar()
    except RecursionError:  # a backstop: Limits.max_schema_depth is meant to come first
        raise ResourceLimitError(
            "the schema nests too deeply to compile from this call's stack depth (Limits.max_schema_depth)"
        ) from None


__all__ = ("IGNORED_KEYWORDS", "KEYWORDS", "MAX_ANY_ORDER_PROPERTIES", "MAX_INDENT_DEPTH", "STRING_ESCAPES",
           "grammar_from_json_schema")

"""Schema documents: loading and checking the JSON, indexing subschemas (``$id``, anchors,
document order), resolving references, and checking values with ``jsonschema``.

Subschemas are named by *ids*: a JSON pointer into the root (``""`` is the root,
``"/properties/a"``), ``"~n/..."`` for a schema the compiler made (a negation, a dependency
split), and ``"<id>!<tag>"`` for a node derived from another with some keywords rewritten.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, Union
from urllib.parse import quote, unquote, urldefrag, urljoin

import jsonschema

from ...config import Limits
from ...errors import InvalidGrammarError, ResourceLimitError
from .keywords import KEYWORDS, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_ONE, misspelled_keyword
from .state import CompilerState, Unsupported
from .values import Json, json_key, ptr_escape, ptr_tokens


#: Integers in a schema have at most 1000 digits (a float's plain form has at most 309).
_MAX_INT_BITS = 3320


def _reject_constant(name: str) -> Json:
    raise InvalidGrammarError(f"the schema is not valid JSON: {name} is not a JSON number")


def _too_deep(max_depth: int) -> ResourceLimitError:
    return ResourceLimitError(
        f"the schema document nests deeper than {max_depth} objects and arrays (2 * Limits.max_schema_depth)"
    )


def load_schema(schema: Any, max_depth: int) -> Json:
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


def _check_document(doc: Json, max_depth: int) -> None:
    """Refuse what is not JSON (NaN, infinities, keys that are not strings, other Python
    objects) and documents nesting deeper than ``max_depth``, iteratively: everything after
    this (the meta-schema check, the compiler, the validator) recurses along the document."""
    if not isinstance(doc, (dict, list)):
        return
    stack: List[Tuple[Json, int, str]] = [(doc, 1, "#")]
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


_HASHED_ENUM_VALIDATORS: Dict[type, type] = {}


def _hashed_enum_validator(cls: type) -> type:
    """``cls`` with ``enum`` checked by hashing. The compiler checks every value of an enum
    against the schemas it meets (to drop values they exclude); jsonschema's own ``enum``
    compares a value with each member in turn, which made a long enum quadratic."""
    extended = _HASHED_ENUM_VALIDATORS.get(cls)
    if extended is None:
        members: Dict[int, Tuple[Json, Optional[Set[Tuple[Any, ...]]]]] = {}

        def enum(validator: Any, enums: Json, instance: Json, schema: Json) -> Iterator[jsonschema.ValidationError]:
            found = members.get(id(enums))
            if found is None or found[0] is not enums:
                if len(members) > 4096:
                    members.clear()  # each entry keeps its enum alive
                keys = {json_key(v) for v in enums} if isinstance(enums, list) else None
                found = members[id(enums)] = (enums, keys)
            keys = found[1]
            if keys is None or json_key(instance) not in keys:
                # A short message: the compiler asks only whether a value is valid, and
                # spelling out a long enum for every value it rejects was most of the check.
                yield jsonschema.ValidationError(f"{instance!r} is not one of the enum's values")

        extended = jsonschema.validators.extend(cls, validators={"enum": enum})
        _HASHED_ENUM_VALIDATORS[cls] = extended
    return extended


@dataclass
class Node:
    schema: Json  # dict or bool
    base: str  # base URI for $ref
    where: str  # JSON pointer for messages ("#/properties/a"), or a description of a derived schema
    validation: Json  # a JSON Schema, resolvable against the root, that this node means
    origin: Optional[str] = None  # for a derived node: the node whose children it shares


class Documents(CompilerState):
    """The root document and the schemas the compiler makes, by id: indexing, references,
    derived and synthetic nodes, keywords by draft, and validation of values."""

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
        super().__init__(root, draft, lenient, layout, property_order, limits, string_escapes)
        self.docs: Dict[str, Json] = {}
        self.nodes: Dict[str, Node] = {}
        #: kw() by node: a node's schema never changes once made (read-only dicts).
        self._keywords: Dict[str, Dict[str, Json]] = {}
        self.synthetic: Dict[str, str] = {}
        self.synth_order: Dict[str, int] = {}
        self.resources: Dict[str, str] = {}
        self.anchors: Dict[Tuple[str, str], str] = {}
        self.dynamic_anchors: Dict[str, List[str]] = {}
        self.recursive_anchors: List[str] = []
        self.bases: Dict[str, str] = {}
        self.order: Dict[str, int] = {}  # document (preorder) position: properties merge in this order
        self.root_base = ""
        self._index(root, "", "")
        self._validator: Optional[Any] = None  # made when a value is first checked (enum, const)
        self._node_validators: Dict[str, Any] = {}  # node id -> the root validator evolved to it

    def _index(self, node: Json, pointer: str, base: str) -> None:
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
                self.warnings.append(f"unknown keyword {key!r} at #{pointer} is ignored; did you mean {meant!r}?")
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

    def _walk(self, doc: Json, pointer: str, where: str) -> Json:
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

    def child(self, ident: str, *path: Union[str, int]) -> str:
        node = self.nodes.get(ident)
        origin = node.origin if node is not None and node.origin is not None else ident
        return origin + "".join("/" + ptr_escape(str(p)) for p in path)

    def derive(self, ident: str, schema: Dict[str, Json], tag: str) -> str:
        """A node equal to ``ident`` with some keywords rewritten (children keep their ids)."""
        node = self.node(ident)
        origin = node.origin if node.origin is not None else ident
        new_id = f"{ident}!{tag}"
        if new_id not in self.nodes:
            self.nodes[new_id] = Node(schema, node.base, node.where, node.validation, origin)
        return new_id

    def synth(self, schema: Json, validation: Json, where: str, source: str = "") -> str:
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

    def validator(self) -> Any:
        """jsonschema's validator of the root document (made on first use)."""
        if self._validator is None:
            cls = jsonschema.validators.validator_for(self.root, default=jsonschema.Draft202012Validator)
            self._validator = _hashed_enum_validator(cls)(self.root, format_checker=cls.FORMAT_CHECKER)
        return self._validator

    def validates(self, ident: str, value: Json) -> bool:
        # One evolved validator a node: an enum's values are checked one by one against the
        # same nodes, and evolving a validator costs as much as a small check.
        try:
            node_validator = self._node_validators.get(ident)
            if node_validator is None:
                node_validator = self.validator().evolve(schema=self.node(ident).validation)
                self._node_validators[ident] = node_validator
            return bool(node_validator.is_valid(value))
        except Exception:  # an unresolvable reference while checking: count the value out
            return False

    def kw(self, ident: str) -> Dict[str, Json]:
        """The keywords of a node that constrain instances under its draft (the same dict at
        every call: callers do not change it)."""
        found = self._keywords.get(ident)
        if found is None:
            schema: Dict[str, Json] = self.node(ident).schema
            if ident.startswith("~"):
                found = schema
            else:
                allowed = KEYWORDS[self.draft]
                found = {k: v for k, v in schema.items() if k in allowed}
            self._keywords[ident] = found
        return found

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

"""The keywords of each draft, which draft a schema is, and misspelled keywords."""

from __future__ import annotations

import difflib
from typing import Dict, FrozenSet, Optional

from ...errors import Feature, InvalidGrammarError, UnsupportedFeatureError
from .values import Json

_BASE_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "format",
        "items",
        "additionalItems",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "dependencies",
        "$ref",
    }
)
#: The validation and applicator keywords of each draft; any other key is an annotation.
KEYWORDS: Dict[int, FrozenSet[str]] = {
    4: _BASE_KEYWORDS,
    6: _BASE_KEYWORDS | {"const", "contains", "propertyNames"},
    7: _BASE_KEYWORDS | {"const", "contains", "propertyNames", "if", "then", "else"},
    2019: (_BASE_KEYWORDS - {"dependencies"})
    | {
        "const",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "maxContains",
        "minContains",
        "unevaluatedItems",
        "unevaluatedProperties",
        "$recursiveRef",
    },
    2020: (_BASE_KEYWORDS - {"dependencies", "additionalItems"})
    | {
        "const",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "maxContains",
        "minContains",
        "unevaluatedItems",
        "unevaluatedProperties",
        "prefixItems",
        "$dynamicRef",
    },
}
#: Keywords that never constrain an instance (listed for documentation; unknown keys are ignored too).
IGNORED_KEYWORDS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "$schema",
        "$id",
        "id",
        "$anchor",
        "$dynamicAnchor",
        "$recursiveAnchor",
        "$vocabulary",
        "$defs",
        "definitions",
    }
)

#: The keywords that constrain an instance in some draft: an unknown key close to one of these
#: is likely a misspelling that silently drops a constraint.
_CONSTRAINING_KEYWORDS = frozenset().union(*KEYWORDS.values()) | {"format"}
_ALL_KEYWORDS = _CONSTRAINING_KEYWORDS | IGNORED_KEYWORDS
#: Keys that are not JSON Schema keywords but are common annotations (OpenAPI and editors):
#: no misspelling warning for them, although some are close to a keyword ("note", "form").
_KNOWN_ANNOTATIONS = frozenset(
    {
        "example",
        "nullable",
        "discriminator",
        "externalDocs",
        "xml",
        "markdownDescription",
        "errorMessage",
        "enumNames",
        "defaultSnippets",
        "deprecationMessage",
        "note",
        "form",
    }
)
#: difflib ratio from which an unknown key is reported as a likely misspelling ("items" for
#: "item" is 0.89; "propertiesOrder" against "properties" is 0.8 and is not reported).
_TYPO_CUTOFF = 0.85


def misspelled_keyword(key: str) -> Optional[str]:
    """The constraining keyword ``key`` probably means, if ``key`` is unknown and close to one.

    Keys starting with ``_``, ``@``, ``//`` or ``x-`` are deliberate (a keyword switched off, JSON-LD,
    an extension) and never reported.
    """
    if key in _ALL_KEYWORDS or key in _KNOWN_ANNOTATIONS or key.startswith(("_", "@", "x-", "//")):
        return None
    # A keyword in the wrong case ("maxlength", "anyof") is a misspelling however short it is.
    same = [k for k in _CONSTRAINING_KEYWORDS if k.lower() == key.lower()]
    if same:
        return same[0]
    close = difflib.get_close_matches(key, sorted(_CONSTRAINING_KEYWORDS), n=1, cutoff=_TYPO_CUTOFF)
    return close[0] if close else None


_DRAFTS = {
    "json-schema.org/draft-04/schema": 4,
    "json-schema.org/draft-06/schema": 6,
    "json-schema.org/draft-07/schema": 7,
    "json-schema.org/draft/2019-09/schema": 2019,
    "json-schema.org/draft/2020-12/schema": 2020,
}
#: Where subschemas sit: maps of them, lists of them, and single ones.
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
SCHEMA_ONE = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "items",
    "unevaluatedItems",
    "unevaluatedProperties",
)

#: Keywords that apply other schemas to the same instance.
APPLICATORS = (
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "if",
    "not",
    "dependentSchemas",
    "dependencies",
    "contains",
)


def draft_of(schema: Json) -> int:
    uri = schema.get("$schema") if isinstance(schema, dict) else None
    if uri is None:
        return 2020
    if not isinstance(uri, str):
        raise InvalidGrammarError("'$schema' must be a string (at #/$schema)")
    key = uri.split("://", 1)[-1].rstrip("#")
    if key not in _DRAFTS:
        raise UnsupportedFeatureError(
            [Feature("json_schema", f"$schema {uri!r}", "#/$schema")],
            hint="supported: drafts 4, 6, 7, 2019-09 and 2020-12",
        )
    return _DRAFTS[key]

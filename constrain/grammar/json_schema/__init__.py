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

The package, bottom up (each module imports only those above it):

- ``values``, ``keywords``: JSON values (equality, types, pointers); the keywords of each draft.
- ``digits``, ``measures``, ``strings``, ``numbers``: regexes of JSON text (string spellings,
  number ranges and multiples), and sizes and length bounds of regexes.
- ``builder``, ``layout``, ``positions``: the grammar being built and its final pruning; the
  punctuation of a whitespace mode; Glushkov positions for strings with counted lengths.
- ``state``, ``documents``: the compiler's shared state; schema documents and references.
- ``negation``, ``applicators``, ``shapes``: negated schemas and disjoint ``oneOf`` branches;
  expansion and branching of conjunctions; merging of a flat conjunction into one shape per
  JSON type.
- ``lower_literals``, ``lower_strings``, ``lower_numbers``, ``lower_arrays``,
  ``lower_objects``: a shape to terminals and rules, per JSON type.
- ``compiler``: the rule of a conjunction, and :func:`grammar_from_json_schema`.

The compiler is one object split into mixins, one per part, over :class:`.state.CompilerState`:
its parts call each other at every level (lowering an array builds the rule of each item's
conjunction, which expands applicators, which negate schemas, ...) and share memo tables, so
functions over a context object would pass that object everywhere and reach into it just the
same. Each mixin inherits the mixins it calls, so that the types say which part uses which.
Two calls go up that chain, each abstract where it is first needed: the rule of a conjunction
(``value``, in the state: lowering an array or object asks for its members' rules) and the
expansion of a conjunction (``_expand``, in ``negation``: the facts that prove ``oneOf``
branches disjoint come from expanding each branch, while expanding ``not`` negates).
"""

from __future__ import annotations

from .compiler import grammar_from_json_schema
from .keywords import IGNORED_KEYWORDS, KEYWORDS
from .layout import MAX_INDENT_DEPTH
from .lower_objects import MAX_ANY_ORDER_PROPERTIES
from .numbers import NUMBER, int_range, number_bound, number_literal
from .strings import STRING_ESCAPES, string_literal_regex, string_terminal_regex

__all__ = (
    "IGNORED_KEYWORDS",
    "KEYWORDS",
    "MAX_ANY_ORDER_PROPERTIES",
    "MAX_INDENT_DEPTH",
    "NUMBER",
    "STRING_ESCAPES",
    "grammar_from_json_schema",
    "int_range",
    "number_bound",
    "number_literal",
    "string_literal_regex",
    "string_terminal_regex",
)

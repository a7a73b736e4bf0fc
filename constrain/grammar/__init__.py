"""Grammar front ends: regexes, Lark and GBNF grammars and JSON Schemas, all lowered to
:class:`Grammar`. Nothing in this package sees a tokenizer.

Imports run one way, from the front ends to the IR (``ir``); ``Grammar.from_regex`` and its
siblings reach the front ends through the functions registered below, each of which imports
its front end on first use (a JSON Schema front end costs a third of a second to import).
"""

from typing import Any, Optional

from .ir import Grammar, Rule, Terminal, register_front_end

__all__ = ("Grammar", "Rule", "Terminal")


def _from_regex(pattern: str) -> Grammar:
    from .regex import grammar_from_regex

    return grammar_from_regex(pattern)


def _from_lark(text: str, start: Optional[str] = None) -> Grammar:
    from .lark import grammar_from_lark

    return grammar_from_lark(text, start=start)


def _from_gbnf(text: str, start: str = "root") -> Grammar:
    from .gbnf import grammar_from_gbnf

    return grammar_from_gbnf(text, start=start)


def _from_json_schema(schema: Any, **options: Any) -> Grammar:
    from .json_schema import grammar_from_json_schema

    return grammar_from_json_schema(schema, **options)


register_front_end("regex", _from_regex)
register_front_end("lark", _from_lark)
register_front_end("gbnf", _from_gbnf)
register_front_end("json_schema", _from_json_schema)

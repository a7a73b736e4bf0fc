"""Grammar front ends: regexes, Lark and GBNF grammars and JSON Schemas, all lowered to
:class:`Grammar`. Nothing in this package sees a tokenizer."""

from .ir import Grammar, Rule, Terminal

__all__ = ("Grammar", "Rule", "Terminal")

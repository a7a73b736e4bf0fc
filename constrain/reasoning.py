"""Reasoning first: a free-text ``<think>...</think>`` block, then the constrained output.

:func:`with_reasoning` composes two languages in one grammar::

    <think>THOUGHTS</think>\\n ANSWER

``THOUGHTS`` is any text that does not contain ``</think>`` (at most ``max_chars`` characters
when given); ``ANSWER`` is a string of the inner grammar. The think block is one terminal, so
that it ends exactly at the first ``</think>\\n``; the inner grammar's rules and terminals are
renamed (prefix ``answer.``) so that they cannot clash with the block's names.
"""

from __future__ import annotations

from typing import Optional, Tuple

from .errors import ConfigurationError
from .grammar.ir import MAX_CODE_POINT, And, Grammar, Not, Repeat, Rule, Terminal, chars, literal, seq

__all__ = ("THINK_CLOSE", "THINK_OPEN", "split_reasoning", "with_reasoning")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>\n"
_PREFIX = "answer."


def with_reasoning(inner: Grammar, max_chars: Optional[int] = None) -> Grammar:
    """``inner`` preceded by a ``<think>...</think>`` block and a newline.

    Args:
        inner: the grammar of the constrained answer (any front end).
        max_chars: at most this many characters of thoughts (``None``: unbounded).

    Returns:
        A grammar of kind ``"reasoning+" + inner.kind``.
    """
    if not isinstance(inner, Grammar):
        raise ConfigurationError(f"with_reasoning needs a Grammar, got {type(inner).__name__}")
    if max_chars is not None and (not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 0):
        raise ConfigurationError(f"the thoughts' length bound must be an int >= 0, got {max_chars!r}")
    any_char = chars((0, MAX_CODE_POINT))
    anything = Repeat(any_char, 0, None)
    # thoughts: no "</think>" inside (so the block ends at the first one)
    thoughts = And((Repeat(any_char, 0, max_chars), Not(seq(anything, literal("</think>"), anything))))
    block = Terminal(
        "THINK", seq(literal(THINK_OPEN), thoughts, literal(THINK_CLOSE)), origin="the <think>...</think> block"
    )

    def rename(name: str) -> str:
        return _PREFIX + name

    rules = tuple(
        Rule(rename(r.name), tuple(tuple(rename(s) for s in alt) for alt in r.alternatives)) for r in inner.rules
    )
    terminals = tuple(Terminal(rename(t.name), t.regex, t.origin) for t in inner.terminals)
    start = Rule("reasoning", ((block.name, rename(inner.start)),))
    return Grammar(
        start=start.name,
        rules=(start,) + rules,
        terminals=(block,) + terminals,
        ignore=tuple(rename(n) for n in inner.ignore),
        kind="reasoning+" + inner.kind,
        warnings=inner.warnings,
    )


def split_reasoning(text: str) -> Tuple[Optional[str], str]:
    """``(thoughts, answer)`` of a text that :func:`with_reasoning`'s grammar generated
    (``thoughts`` is ``None`` while the block is not closed; ``answer`` is then empty)."""
    if not text.startswith(THINK_OPEN):
        return None, ""
    end = text.find(THINK_CLOSE, len(THINK_OPEN))
    if end < 0:
        return None, ""
    return text[len(THINK_OPEN) : end], text[end + len(THINK_CLOSE) :]

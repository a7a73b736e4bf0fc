"""A ``transformers`` ``LogitsProcessor`` that applies a constrain grammar in ``model.generate``.

Usage::

    processor = ConstrainedLogitsProcessor.from_regex(r"\\d{4}-\\d{2}-\\d{2}", tokenizer)
    out = model.generate(**inputs, logits_processor=[processor], max_new_tokens=20)

One processor serves one ``generate()`` call (it keeps one matcher per batch row); build a
new one, or call :meth:`ConstrainedLogitsProcessor.reset`, for the next call. Beam search
(which reorders rows) is not supported and is detected.

When a row's matcher has accepted EOS it allows only EOS tokens from then on; ``generate``
stops a row only at its own ``eos_token_id``, so give it the vocabulary's EOS ids (see
:attr:`ConstrainedLogitsProcessor.eos_token_ids`) to stop as soon as the grammar is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, cast

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import LogitsProcessor

from ..errors import ConfigurationError, ConstrainError, VocabularyError
from ..masks.apply import apply_token_bitmask_inplace

if TYPE_CHECKING:
    from ..automata.matcher import Matcher


class ConstrainedLogitsProcessor(LogitsProcessor):
    """Masks the scores of every token the grammar does not allow next.

    Args:
        constraint: a :class:`~constrain.CompiledGrammar`, or a :class:`~constrain.Grammar` to
            compile against ``tokenizer`` (compiled once per vocabulary: the compiled grammar
            and the tokenizer's vocabulary are kept in constrain's shared caches, see
            :func:`constrain.caches`).
        tokenizer: the model's ``transformers`` tokenizer or a :class:`~constrain.Vocabulary`;
            optional with a ``CompiledGrammar`` (its vocabulary is used).
        batch_size: the number of rows ``generate`` will run (prompts x
            ``num_return_sequences``); checked on the first call when given.
        vocab_size: the width of the model's logits, when larger than the tokenizer (padding
            ids); only used when compiling from a tokenizer.

    Raises:
        ConfigurationError: on arguments of the wrong type or inconsistent vocabularies.
    """

    def __init__(
        self,
        constraint: Any,
        tokenizer: Any = None,
        *,
        batch_size: Optional[int] = None,
        vocab_size: Optional[int] = None,
    ) -> None:
        from ..automata.compiled import CompiledGrammar
        from ..automata.compiler import compile_cached, grammar_key
        from ..grammar.ir import Grammar
        from ..vocab import Vocabulary, tokenizer_vocabulary

        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
        ):
            raise ConfigurationError(f"batch_size must be a positive int, got {batch_size!r}")
        vocab = None
        if isinstance(tokenizer, Vocabulary):
            vocab = tokenizer
        elif tokenizer is not None:
            vocab = tokenizer_vocabulary(tokenizer, vocab_size)
        if isinstance(constraint, CompiledGrammar):
            if vocab is not None and constraint.vocab != vocab:
                raise ConfigurationError("the CompiledGrammar was compiled for another vocabulary than the tokenizer's")
            compiled = constraint
        elif isinstance(constraint, Grammar):
            if vocab is None:
                raise ConfigurationError("a Grammar needs tokenizer= (or a Vocabulary) to compile against")
            compiled = compile_cached(grammar_key(constraint), lambda: constraint, vocab)
        else:
            raise ConfigurationError(
                f"constraint must be a CompiledGrammar or a Grammar, got {type(constraint).__name__}"
            )
        self.compiled = compiled
        self.batch_size = batch_size
        self.reset()

    @classmethod
    def from_regex(cls, pattern: str, tokenizer: Any, **kwargs: Any) -> "ConstrainedLogitsProcessor":
        """A processor whose outputs fully match ``pattern``."""
        from ..grammar.ir import Grammar

        return cls(Grammar.from_regex(pattern), tokenizer, **kwargs)

    @classmethod
    def from_json_schema(cls, schema: Any, tokenizer: Any, **kwargs: Any) -> "ConstrainedLogitsProcessor":
        """A processor whose outputs are JSON documents valid against ``schema``."""
        from ..grammar.ir import Grammar

        return cls(Grammar.from_json_schema(schema), tokenizer, **kwargs)

    @classmethod
    def from_grammar(cls, grammar: Any, tokenizer: Any, **kwargs: Any) -> "ConstrainedLogitsProcessor":
        """A processor for ``grammar``: a :class:`~constrain.Grammar`, a ``.lark`` or ``.gbnf``
        file path, or the name of a grammar in ``grammars/``."""
        import os

        from ..grammar.ir import Grammar
        from ..grammar.loader import load_grammar

        if isinstance(grammar, Grammar):
            return cls(grammar, tokenizer, **kwargs)
        if isinstance(grammar, (str, os.PathLike)):
            return cls(load_grammar(grammar), tokenizer, **kwargs)
        raise ConfigurationError(
            f"grammar must be a Grammar, a grammar file path or a grammar name, got {type(grammar).__name__}"
        )

    @classmethod
    def from_lark(
        cls, text: str, tokenizer: Any, *, start: Optional[str] = None, **kwargs: Any
    ) -> "ConstrainedLogitsProcessor":
        """A processor for the Lark grammar ``text`` (its ``start`` rule, default ``start``)."""
        from ..grammar.ir import Grammar

        if not isinstance(text, str):
            raise ConfigurationError(f"from_lark needs the grammar's text (a str), got {type(text).__name__}")
        return cls(Grammar.from_lark(text, start=start), tokenizer, **kwargs)

    @property
    def eos_token_ids(self) -> List[int]:
        """The ids that end a sequence, for ``generate(eos_token_id=...)``."""
        return sorted(int(i) for i in self.compiled.eos_token_ids)

    def reset(self) -> None:
        """Forget the previous ``generate()`` call, to serve a new one."""
        # the three are set together, at the first call of a generate()
        self._matchers: Optional[List[Matcher]] = None
        self._prompt_length = 0
        self._seen: Optional[torch.Tensor] = None
        self._bitmask: Optional[NDArray[np.int32]] = None

    def is_terminated(self, row: int) -> bool:
        """Whether row ``row`` has ended (its matcher accepted EOS)."""
        return self._matchers is not None and self._matchers[row].is_terminated()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Return a copy of ``scores`` with disallowed tokens at ``-inf``.

        Args:
            input_ids: ``(batch, prompt + generated)`` token ids, as ``generate`` passes them.
            scores: ``(batch, V)`` next-token scores.
        """
        from ..automata.matcher import Matcher
        from ..masks.bitmask import allocate_token_bitmask

        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            raise ConfigurationError(
                f"expected input_ids (batch, length) and scores (batch, V), got {tuple(input_ids.shape)} and {tuple(scores.shape)}"
            )
        batch, length = input_ids.shape
        if self._matchers is None:
            if self.batch_size is not None and batch != self.batch_size:
                raise ConfigurationError(
                    f"the processor was built for batch_size={self.batch_size}, generate() runs {batch} rows"
                )
            self._matchers = [Matcher(self.compiled) for _ in range(batch)]
            self._prompt_length = length
            self._seen = torch.empty((batch, 0), dtype=torch.long)
            self._bitmask = allocate_token_bitmask(batch, self.compiled.vocab.size)
        else:
            assert self._seen is not None  # set with self._matchers
            expected = self._prompt_length + self._seen.shape[1] + 1
            if batch != len(self._matchers) or length != expected:
                raise ConfigurationError(
                    f"input_ids has shape {tuple(input_ids.shape)}, expected ({len(self._matchers)}, {expected}): "
                    "use a new ConstrainedLogitsProcessor (or reset()) for each generate() call"
                )
            generated = input_ids[:, self._prompt_length :].to("cpu")
            if not torch.equal(generated[:, :-1], self._seen):
                raise ConstrainError(
                    "the rows of input_ids were reordered between steps (beam search?); "
                    "ConstrainedLogitsProcessor supports greedy decoding and sampling only"
                )
            self._seen = generated
            for row, token in enumerate(generated[:, -1].tolist()):
                matcher = self._matchers[row]
                if matcher.is_terminated():
                    continue  # generate() pads rows that have ended
                if not matcher.accept_token(token):
                    raise ConstrainError(
                        f"row {row}: token {token} is not allowed by the grammar; another logits processor or "
                        "the decoding strategy picked a token this processor had masked"
                    )
        assert self._bitmask is not None  # set with self._matchers
        for row, matcher in enumerate(self._matchers):
            matcher.fill_next_token_bitmask(self._bitmask, row)
        empty = ~self._bitmask.any(axis=1)
        if empty.any():
            row = int(empty.nonzero()[0][0])
            raise VocabularyError(
                f"row {row}: no token can continue the output; the vocabulary cannot spell what the grammar needs"
            )
        out = scores.clone()
        apply_token_bitmask_inplace(out, torch.from_numpy(self._bitmask))
        return cast(torch.FloatTensor, out)  # a clone of scores: the type LogitsProcessor declares


__all__ = ("ConstrainedLogitsProcessor",)

"""Language models behind one small interface, for the decoding driver and the samplers.

A :class:`LanguageModel` turns prompts into a :class:`ModelBatch`: rows of sequences whose
next-token logits are ready, which grow by one token per row per forward pass and whose rows
can be dropped, reordered or duplicated (the KV cache follows). Two implementations:

* :class:`TransformersLM`: any ``transformers`` causal LM (KV cache, left padding, position ids,
  ``logits_to_keep``, device placement);
* :class:`ToyLM`: next-token probabilities given by a Python function of the token prefix, for
  exact tests.
"""

from .base import LanguageModel, ModelBatch
from .toy import ToyLM
from .transformers import TransformersLM

__all__ = ("LanguageModel", "ModelBatch", "ToyLM", "TransformersLM")

"""Samplers: how the next token is chosen under a constraint, on one decoding driver.

=========  ==================================================  ==============================
sampler    what its samples follow                             cost per token
=========  ==================================================  ==============================
``LCD``    ``q_LCD`` (exact per step; biased over outputs;     one full mask
           weighted by ``prod Z_t``: properly weighted)
``ASAp``   converges to ``pi`` over many samples (a trie)      one full mask + trie update
``AWRS``   exact per step without a mask; weighted             a few single-token checks
``SMC``    ``pi`` as particles grow (AWRS or LCD proposal)     particles x the proposal
=========  ==================================================  ==============================

``pi(x) = p(x) 1[x in L] / Z`` is the exact constrained distribution. The driver
(:func:`~constrain.samplers.driver.decode`) owns the model's batch and KV cache, device masks
and the overlap of mask work with the forward pass; a sampler only chooses tokens.
"""

from .asap import ASApSampler, ASApTrie
from .awrs import AWRS
from .base import Choice, Draw, TokenSampler
from .driver import DecodeRun, decode
from .lcd import LCD
from .smc import SMC, Population

__all__ = (
    "ASApSampler",
    "ASApTrie",
    "AWRS",
    "Choice",
    "DecodeRun",
    "Draw",
    "LCD",
    "Population",
    "SMC",
    "TokenSampler",
    "decode",
)

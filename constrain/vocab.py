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
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from constrain.errors import ConfigurationError

__all__ = ("TokenTrie", "Vocabulary", "bytes_to_unicode")


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
    """

    byte: np.ndarray
    depth: np.ndarray
    subtree_end: np.ndarray
    token_offsets: np.ndarray
    token_ids: np.ndarray

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
        skip = set(excluded)
        by_bytes: dict[bytes, list[int]] = {}
        for tid, tb in enumerate(token_bytes):
            if tb and tid not in skip:
                ids = by_bytes.get(tb)
                if ids is None:
                    by_bytes[tb] = [tid]
                else:
                    ids.append(tid)
        keys = sorted(by_bytes)
        n = len(keys)

        # lcp[i]: length of the common prefix of keys[i] and keys[i-1]. Sorted order makes the
        # new nodes of keys[i] exactly its prefixes longer than lcp[i], in preorder.
        lcp = [0] * n
        prev = b""
        for i, key in enumerate(keys):
            limit = min(len(prev), len(key))
            j = 0
            while j < limit and prev[j] == key[j]:
                j += 1
            lcp[i] = j
            prev = key
        lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=n)
        lcp_arr = np.asarray(lcp, dtype=np.int64)
        new_counts = lengths - lcp_arr  # > 0: keys are distinct and sorted
        first_node = np.empty(n + 1, dtype=np.int64)
        first_node[0] = 1
        np.cumsum(new_counts, out=first_node[1:])
        first_node[1:] += 1
        num_nodes = int(first_node[n])

        byte = np.zeros(num_nodes, dtype=np.uint8)
        byte[1:] = np.frombuffer(b"".join(k[l:] for k, l in zip(keys, lcp)), dtype=np.uint8)
        depth = np.zeros(num_nodes, dtype=np.int32)
        if n:
            # depth of the t-th new node of key i is lcp[i] + 1 + t
            starts = np.repeat(first_node[:n], new_counts)
            depth[1:] = np.repeat(lcp_arr + 1, new_counts) + (np.arange(1, num_nodes) - starts)

        subtree_end = _next_not_deeper(depth)

        # the node where key i ends is its last new node
        end_node = first_node[1:] - 1
        counts = np.zeros(num_nodes, dtype=np.int64)
        id_lists = [by_bytes[k] for k in keys]
        counts[end_node] = [len(ids) for ids in id_lists]
        token_offsets = np.zeros(num_nodes + 1, dtype=np.int32)
        np.cumsum(counts, out=token_offsets[1:])
        token_ids = np.fromiter(
            (tid for ids in id_lists for tid in ids), dtype=np.int32, count=int(token_offsets[-1])
        )
        arrays = (byte, depth, subtree_end.astype(np.int32), token_offsets, token_ids)
        for a in arrays:
            a.setflags(write=False)
        return cls(*arrays)


def _next_not_deeper(depth: np.ndarray) -> np.ndarray:
    """For each preorder node ``k``: the first ``m > k`` with ``depth[m] <= depth[k]``, else ``len``.

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
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table

"""Tests of constrain.vocab: the token trie, Vocabulary construction and exact token bytes."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

from constrain.errors import ConfigurationError
from constrain.vocab import TokenTrie, bytes_to_unicode


# --------------------------------------------------------------------------- the trie


def _naive_trie(token_bytes, excluded=()):
    """Dict-of-dicts twin: {byte: child} plus the key None -> sorted ids ending here."""
    root: dict = {}
    for tid, tb in enumerate(token_bytes):
        if not tb or tid in excluded:
            continue
        node = root
        for b in tb:
            node = node.setdefault(b, {})
        node.setdefault(None, []).append(tid)
    return root


def _flatten(trie: TokenTrie):
    """Rebuilds a dict-of-dicts from the flat arrays, checking the preorder invariants."""
    n = trie.num_nodes
    assert trie.byte.shape == trie.depth.shape == trie.subtree_end.shape == (n,)
    assert trie.token_offsets.shape == (n + 1,)
    assert trie.token_offsets[0] == 0 and trie.token_offsets[-1] == trie.num_tokens
    assert np.all(np.diff(trie.token_offsets) >= 0)
    assert trie.depth[0] == 0 and trie.byte[0] == 0 and trie.subtree_end[0] == n
    assert trie.byte.dtype == np.uint8
    for a in (trie.depth, trie.subtree_end, trie.token_offsets, trie.token_ids):
        assert a.dtype == np.int32

    def build(i: int) -> dict:
        node: dict = {}
        ids = trie.token_ids[trie.token_offsets[i] : trie.token_offsets[i + 1]].tolist()
        if ids:
            assert ids == sorted(ids)
            node[None] = ids
        j = i + 1
        last_byte = -1
        while j < trie.subtree_end[i]:
            assert trie.depth[j] == trie.depth[i] + 1
            assert trie.byte[j] > last_byte  # children in increasing byte order
            last_byte = int(trie.byte[j])
            assert i < j < trie.subtree_end[j] <= trie.subtree_end[i]
            node[last_byte] = build(j)
            j = int(trie.subtree_end[j])
        assert j == trie.subtree_end[i]
        return node

    return build(0)


def _random_vocab(seed: int, n: int, alphabet: bytes, max_len: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))  # duplicate bytes under two ids
        elif out and rng.random() < 0.3:
            base = rng.choice(out)  # extend an existing token: shared prefixes
            out.append(base + bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 3))))
        elif rng.random() < 0.05:
            out.append(b"")
        else:
            out.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, max_len))))
    return out


TRIE_CASES = [
    ([], ()),
    ([b""], ()),
    ([b"a"], ()),
    ([b"a", b"a"], ()),
    ([b"ab", b"a", b"b", b"abc", b"ac"], ()),
    ([b"\xff", b"\x00", b"\x00\xff", b"\xff\x00"], ()),
    ([b"a", b"ab", b"abc", b"abcd"], (1,)),
    ([b"x", b"y"], (0, 1)),
    ([bytes([b]) for b in range(256)], ()),
    (_random_vocab(1, 300, b"ab", 6), ()),
    (_random_vocab(2, 2000, b"abc \n\xe2\x80", 9), (3, 7, 11)),
    (_random_vocab(3, 500, bytes(range(256)), 4), ()),
]


@pytest.mark.parametrize("tokens, excluded", TRIE_CASES)
def test_trie_matches_naive_twin(tokens, excluded):
    trie = TokenTrie.build(tokens, excluded)
    assert _flatten(trie) == _naive_trie(tokens, set(excluded))
    expected_ids = sorted(i for i, t in enumerate(tokens) if t and i not in excluded)
    assert sorted(trie.token_ids.tolist()) == expected_ids


@pytest.mark.parametrize("tokens, excluded", TRIE_CASES[4:8])
def test_trie_paths_spell_tokens(tokens, excluded):
    trie = TokenTrie.build(tokens, excluded)
    path: list[int] = []
    for i in range(1, trie.num_nodes):
        del path[trie.depth[i] - 1 :]
        path.append(int(trie.byte[i]))
        for tid in trie.token_ids[trie.token_offsets[i] : trie.token_offsets[i + 1]]:
            assert tokens[tid] == bytes(path)


def test_trie_arrays_are_read_only_and_pickle():
    trie = TokenTrie.build([b"ab", b"a", b"b"])
    with pytest.raises(ValueError):
        trie.depth[0] = 3
    again = pickle.loads(pickle.dumps(trie))
    assert _flatten(again) == _flatten(trie)


def test_bytes_to_unicode_is_a_bijection():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"

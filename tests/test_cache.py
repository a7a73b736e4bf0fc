"""constrain.cache: the bounded, thread-safe LRU, its registry, and that every process-wide
cache of the package is one of its caches (an AST scan finds any other)."""

from __future__ import annotations

import ast
import gc
import importlib
import pathlib
import random
import threading
import time

import numpy as np
import pytest

import constrain
from constrain.cache import LRUCache, caches, clear_caches, memoize, registered

ROOT = pathlib.Path(__file__).resolve().parents[1]


def private(**kwargs) -> LRUCache:
    return LRUCache("test.private", register=False, **kwargs)


# --- the LRU -------------------------------------------------------------------------------


def test_the_least_recently_used_entry_goes_first():
    cache = private(max_entries=3)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # a is now the most recent: b goes next
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"]
    assert cache.get_or_create("c", lambda: pytest.fail("c is cached")) == "C"
    cache.put("e", "E")
    assert cache.keys() == ["d", "c", "e"]  # c was used after d
    assert "a" not in cache and cache.get("a", "gone") == "gone"
    assert len(cache) == cache.size == 3


@pytest.mark.parametrize(
    "sizes, max_bytes, kept",
    [
        ([4, 4, 4], 10, [1, 2]),  # the third pushes the first out
        ([4, 4, 4], 12, [0, 1, 2]),  # exactly at the bound
        ([8, 3, 3], 10, [1, 2]),
        ([11, 2], 10, [1]),  # over the bound alone: returned, not kept
        ([2, 11], 10, [0]),  # ... and it evicts nothing
    ],
)
def test_the_byte_bound(sizes, max_bytes, kept):
    cache = private(max_entries=100, max_bytes=max_bytes, nbytes=len)
    for i, n in enumerate(sizes):
        value = cache.get_or_create(i, lambda n=n: b"x" * n)
        assert len(value) == n
    assert cache.keys() == kept
    assert cache.nbytes == sum(sizes[i] for i in kept) <= max_bytes


def test_max_entry_bytes_keeps_large_values_out():
    cache = private(max_entries=10, max_bytes=100, nbytes=len, max_entry_bytes=10)
    assert not cache.put("big", b"x" * 11) and cache.put("small", b"x" * 10)
    assert cache.keys() == ["small"] and cache.nbytes == 10


def test_replacing_and_popping_keep_the_byte_count():
    cache = private(max_entries=10, max_bytes=100, nbytes=len)
    cache.put("a", b"xxx")
    cache.put("a", b"xxxxx")
    assert cache.nbytes == 5 and len(cache) == 1
    assert cache.pop("a") == b"xxxxx" and cache.nbytes == 0 and cache.pop("a", None) is None


def test_clear_size_and_info():
    cache = LRUCache("test.info", max_entries=4, max_bytes=64, nbytes=len)
    cache.get_or_create("a", lambda: b"abc")
    cache.get_or_create("a", lambda: b"other")
    cache.get("b")
    info = cache.info()
    assert (info.name, info.entries, info.max_entries, info.nbytes, info.max_bytes, info.hits, info.misses) == (
        "test.info",
        1,
        4,
        3,
        64,
        1,
        2,
    )
    assert caches()["test.info"] == info
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get("a") is None
    assert cache.get_or_create("a", lambda: b"new") == b"new"  # refilled on demand


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_entries=0),
        dict(max_entries=1.5),
        dict(max_entries=True),
        dict(max_entries=2, max_bytes=10),
        dict(max_entries=2, nbytes=len),
    ],
)
def test_bad_bounds_are_refused(kwargs):
    with pytest.raises(ValueError):
        private(**kwargs)


def test_a_failing_factory_keeps_nothing():
    cache = private(max_entries=2)

    def fail():
        raise KeyError("no")

    with pytest.raises(KeyError):
        cache.get_or_create("k", fail)
    assert "k" not in cache and cache.get_or_create("k", lambda: 1) == 1


def test_a_failing_size_measure_leaves_nothing_in_flight():
    cache = private(max_entries=2, max_bytes=10, nbytes=len)
    with pytest.raises(TypeError):
        cache.get_or_create("k", lambda: 5)  # len(5) fails
    assert "k" not in cache and cache.get_or_create("k", lambda: b"ok") == b"ok"


def test_a_factory_asking_for_its_own_key_is_an_error_not_a_hang():
    cache = private(max_entries=2)
    with pytest.raises(RuntimeError, match="its own key"):
        cache.get_or_create("k", lambda: cache.get_or_create("k", lambda: 0))
    assert cache.get_or_create("k", lambda: 2) == 2  # nothing left in flight


# --- threads -------------------------------------------------------------------------------


def test_concurrent_askers_of_one_key_call_the_factory_once():
    cache = private(max_entries=4)
    calls = []
    start = threading.Barrier(16)

    def factory():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results = [None] * 16

    def ask(i):
        start.wait()
        results[i] = cache.get_or_create("key", factory)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert all(r is results[0] for r in results) and results[0] is not None


def test_a_slow_factory_blocks_only_its_own_key():
    cache = private(max_entries=4)
    inside, release = threading.Event(), threading.Event()
    got = {}

    def slow():
        inside.set()
        release.wait(10)
        return "slow"

    leader = threading.Thread(target=lambda: got.setdefault("leader", cache.get_or_create("slow", slow)))
    leader.start()
    assert inside.wait(10)
    waiter = threading.Thread(target=lambda: got.setdefault("waiter", cache.get_or_create("slow", lambda: "again")))
    waiter.start()
    started = time.monotonic()
    assert cache.get_or_create("fast", lambda: "fast") == "fast"  # not behind the slow factory
    assert cache.get("slow") is None and len(cache) == 1
    assert time.monotonic() - started < 1.0
    waiter.join(0.2)
    assert waiter.is_alive()  # the waiter for the same key waits for the leader's value
    release.set()
    leader.join(10)
    waiter.join(10)
    assert got == {"leader": "slow", "waiter": "slow"}


def test_a_waiter_computes_the_value_when_the_leader_fails():
    cache = private(max_entries=4)
    inside, release = threading.Event(), threading.Event()
    errors = []

    def failing():
        inside.set()
        release.wait(10)
        raise ValueError("leader failed")

    def lead():
        try:
            cache.get_or_create("k", failing)
        except ValueError as exc:
            errors.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    assert inside.wait(10)
    got = []
    waiter = threading.Thread(target=lambda: got.append(cache.get_or_create("k", lambda: "waiter's")))
    waiter.start()
    time.sleep(0.05)
    release.set()
    leader.join(10)
    waiter.join(10)
    assert len(errors) == 1 and got == ["waiter's"] and cache.get("k") == "waiter's"


def test_the_bounds_hold_under_concurrent_use():
    cache = private(max_entries=20, max_bytes=200, nbytes=len)

    def work(seed):
        rng = random.Random(seed)
        for _ in range(2000):
            key = rng.randrange(60)
            value = cache.get_or_create(key, lambda: b"x" * (key % 17))
            assert len(value) == key % 17
            if rng.random() < 0.01:
                cache.clear()

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    keys = cache.keys()
    assert len(keys) <= 20 and cache.nbytes == sum(k % 17 for k in keys) <= 200


# --- memoize and the registry --------------------------------------------------------------


def test_memoize_is_bounded_registered_and_clearable():
    calls = []

    @memoize("test.squares", maxsize=2)
    def square(x):
        calls.append(x)
        return x * x

    assert [square(2), square(2), square(3), square(4), square(2)] == [4, 4, 9, 16, 4]
    assert calls == [2, 3, 4, 2]  # 2 was evicted by 3 and 4
    info = caches()["test.squares"]
    assert (info.entries, info.max_entries, info.nbytes, info.hits) == (2, 2, None, 1)
    clear_caches()
    assert caches()["test.squares"].entries == 0


@pytest.mark.parametrize("maxsize", [None, 0, True])
def test_memoize_refuses_an_unbounded_or_empty_size(maxsize):
    with pytest.raises(ValueError):
        memoize("test.bad", maxsize)


def test_the_registry_forgets_a_cache_that_is_gone():
    cache = LRUCache("test.transient", max_entries=1)
    assert registered()["test.transient"] is cache
    del cache
    gc.collect()
    assert "test.transient" not in registered()


#: Every process-wide cache of constrain (by the module that owns it).
EXPECTED = {
    "constrain.automata.fsm": [
        "automata.dfas",
        "automata.nfa_fragments",
        "automata.utf8_sequences",
        "automata.nfa_size_bounds",
    ],
    "constrain.automata.lexeme_masks": ["automata.terminal_masks", "automata.successor_memos"],
    "constrain.automata.slices": ["automata.string_slices"],
    "constrain.automata.compiler": ["automata.compiled_grammars"],
    "constrain.grammar.ir": ["grammar.shared_chars", "grammar.nullable"],
    "constrain.grammar.ecma_regex": [
        "grammar.ecma_property_classes",
        "grammar.ecma_patterns",
        "grammar.ecma_search_regexes",
        "grammar.regex_derivatives",
    ],
    "constrain.grammar.formats": ["grammar.format_regexes"],
    "constrain.vocab": ["vocab.tokenizer_vocabularies"],
    "constrain.masks.apply": ["masks.bit_shifts"],
    "constrain.lm": ["lm.models"],
    "constrain.testing": [
        "testing.qwen2_ranks",
        "testing.qwen2_vocabularies",
        "testing.qwen2_hf_tokenizer",
        "testing.smollm2_tokenizer",
    ],
    "constrain.diffusion.tiny": ["diffusion.tiny_model"],
}


def test_every_cache_is_registered_and_clear_caches_empties_them():
    for module in EXPECTED:
        importlib.import_module(module)
    names = [name for group in EXPECTED.values() for name in group]
    listed = constrain.caches()
    assert set(names) <= set(listed), set(names) - set(listed)
    assert all(listed[n].max_entries >= 1 for n in names)  # every one is bounded

    vocab = constrain.Vocabulary.byte_level()
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^[a-c]+$"}, "d": {"type": "string", "format": "date"}},
    }
    from constrain.automata.compiler import compile_constraint

    before = compile_constraint(vocab, schema=schema)
    assert compile_constraint(vocab, schema=schema) is before
    filled = {n for n, info in constrain.caches().items() if info.entries}
    assert {
        "automata.dfas",
        "automata.compiled_grammars",
        "grammar.ecma_search_regexes",
        "grammar.format_regexes",
    } <= filled

    constrain.clear_caches()
    assert {n: i.entries for n, i in constrain.caches().items() if i.entries} == {}
    after = compile_constraint(vocab, schema=schema)  # a compile after clearing works, alike
    assert after is not before
    for text, ok in [
        (b'{"a":"abc","d":"2024-02-29"}', True),
        (b'{"d":"2023-02-29"}', False),
        (b'{"a":"abd"}', False),
        (b"{}", True),
    ]:
        matchers = [constrain.Matcher(c) for c in (before, after)]
        assert [m.accept_bytes(text) and m.is_accepting() for m in matchers] == [ok, ok]
    row_before, row_after = (np.zeros((1, (vocab.size + 31) // 32), dtype=np.int32) for _ in range(2))
    constrain.Matcher(before).fill_next_token_bitmask(row_before)
    constrain.Matcher(after).fill_next_token_bitmask(row_after)
    assert np.array_equal(row_before, row_after)


def test_generate_and_the_logits_processor_share_the_caches():
    from tiny_lm import tiny_model, tiny_tokenizer

    from constrain.generation import model_vocabulary, resolve_constraint
    from constrain.integrations.transformers import ConstrainedLogitsProcessor
    from constrain.vocab import tokenizer_vocabulary

    tokenizer, model = tiny_tokenizer(), tiny_model()
    vocab = model_vocabulary(model, tokenizer)
    assert model_vocabulary(model, tokenizer) is vocab
    grammar = constrain.Grammar.from_regex(r"\d{3}")
    compiled = resolve_constraint(vocab, grammar=grammar)
    # an equal grammar, built again, for the same vocabulary: the same compiled grammar
    assert ConstrainedLogitsProcessor(constrain.Grammar.from_regex(r"\d{3}"), vocab).compiled is compiled
    width = tokenizer_vocabulary(tokenizer, vocab.size)
    assert ConstrainedLogitsProcessor.from_regex(r"\d{3}", tokenizer, vocab_size=vocab.size).compiled.vocab is width


# --- no other process-wide cache -----------------------------------------------------------

#: Module-level mappings filled at run time that are not caches, or not this scan's to move.
ALLOWED_MUTABLE_GLOBALS = {
    # keyed by jsonschema validator class (one per draft: a closed set)
    "_HASHED_ENUM_VALIDATORS",
    # the Grammar.from_* constructors, one per front end, registered at import: a registry
    "FRONT_ENDS",
}
#: ``lru_cache`` functions with open-ended arguments not on ``memoize``: none.
ALLOWED_LRU_FUNCTIONS: set = set()
_MUTABLE_FACTORIES = {"dict", "OrderedDict", "defaultdict", "WeakValueDictionary", "WeakKeyDictionary", "set", "list"}


def _module_level_offenses(path: pathlib.Path) -> list:
    """Module-level names bound to an empty mapping (or set or list: filled at run time, so a
    cache or registry; constant tables are written out), dict-like names that say cache or
    memo, and ``lru_cache`` other than ``maxsize=1`` on a function without arguments (a
    fixed table); everything else memoizes through ``constrain.cache``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if value is not None and names:
            empty = (isinstance(value, ast.Dict) and not value.keys) or (
                isinstance(value, (ast.List, ast.Set)) and not value.elts
            )
            called = (
                isinstance(value, ast.Call)
                and ast.unparse(value.func).split(".")[-1] in _MUTABLE_FACTORIES
                and not value.args
                and not value.keywords
            )
            mapping = empty or called or isinstance(value, (ast.Dict, ast.DictComp))
            for name in names:
                if name in ALLOWED_MUTABLE_GLOBALS:
                    continue
                if empty or called or (mapping and any(w in name.lower() for w in ("cache", "memo"))):
                    found.append(f"{where}:{node.lineno} {name}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in ALLOWED_LRU_FUNCTIONS:
            for deco in node.decorator_list:
                text = ast.unparse(deco)
                base = text.split("(")[0].split(".")[-1]
                if base == "cache":
                    found.append(f"{where}:{node.lineno} {node.name}: functools.cache is unbounded")
                elif base == "lru_cache":
                    fixed = (
                        text.replace(" ", "").endswith("(maxsize=1)")
                        and not node.args.args
                        and not node.args.kwonlyargs
                        and not node.args.vararg
                        and not node.args.kwarg
                    )
                    if not fixed:
                        found.append(f"{where}:{node.lineno} {node.name}: {text} (use constrain.cache.memoize)")
    return found


def test_no_process_wide_cache_outside_constrain_cache():
    offenses = []
    for package in ("constrain", "jsonschemabench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != ROOT / "constrain" / "cache.py":
                offenses += _module_level_offenses(path)
    assert not offenses, offenses


@pytest.mark.parametrize(
    "source, flagged",
    [
        ("_CACHE = {}", True),
        ("_by_key: dict = {}", True),
        ("_SEEN = OrderedDict()", True),
        ("_ITEMS = []", True),
        ("_memo = {1: 2}", True),
        ("_TABLE = {'a': 1}", False),
        ("_CODES = dict(a=1)", False),
        ("_NAMES = {c: ord(c) for c in 'ab'}", False),
        ("@lru_cache(maxsize=None)\ndef f(x): pass", True),
        ("@functools.lru_cache(maxsize=4096)\ndef f(x): pass", True),
        ("@functools.cache\ndef f(x): pass", True),
        ("@lru_cache(maxsize=1)\ndef f(x): pass", True),
        ("@lru_cache(maxsize=1)\ndef f(): pass", False),
        ("@memoize('x', maxsize=10)\ndef f(x): pass", False),
    ],
)
def test_the_scan_tells_caches_from_tables(tmp_path, source, flagged):
    path = tmp_path / "probe.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert bool(_module_level_offenses(path)) == flagged

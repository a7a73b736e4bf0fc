"""The public surface: what `import constrain` offers, and the signatures users call."""

from __future__ import annotations

import inspect

import constrain

PUBLIC = (
    "ASAp",
    "BatchMatcher",
    "CompiledGrammar",
    "ConfigurationError",
    "ConstrainError",
    "ConstrainWarning",
    "ConstrainedLogitsProcessor",
    "GenerationResult",
    "Grammar",
    "GrammarError",
    "InvalidGrammarError",
    "Matcher",
    "ResourceLimitError",
    "UnsatisfiableGrammarError",
    "UnsupportedFeatureError",
    "Vocabulary",
    "VocabularyError",
    "allocate_token_bitmask",
    "apply_token_bitmask_inplace",
    "bitmask_to_bool",
    "caches",
    "clear_caches",
    "compile",
    "fill_next_token_bitmasks",
    "generate",
    "get_bitmask_shape",
    "stream",
    "warm_up",
)


def test_all_names_exist_and_are_documented():
    assert tuple(sorted(constrain.__all__)) == tuple(sorted(PUBLIC))
    for name in constrain.__all__:
        obj = getattr(constrain, name)
        assert inspect.getdoc(obj), f"constrain.{name} has no docstring"


def test_compile_and_torch_free_import():
    """Compiling and matching never needs torch: it is imported only by the lazy names."""
    import subprocess
    import sys

    code = (
        "import sys, constrain\n"
        "g = constrain.Grammar.from_regex('ab+')\n"
        "c = constrain.compile(g, constrain.Vocabulary.byte_level())\n"
        "m = constrain.Matcher(c); assert m.accept_bytes(b'abb') and m.is_accepting()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


signature__params = [
    (constrain.compile, ["grammar", "vocab", "limits"]),
    (constrain.Matcher.accept_token, ["self", "token_id"]),
    (constrain.Matcher.fill_next_token_bitmask, ["self", "bitmask", "index"]),
    (constrain.Matcher.rollback, ["self", "num_tokens"]),
]


def test_signatures():
    for fn, params in signature__params:
        assert list(inspect.signature(fn).parameters) == params, fn.__qualname__
    generate = inspect.signature(constrain.generate).parameters
    for name in (
        "prompt",
        "regex",
        "schema",
        "grammar",
        "model",
        "tokenizer",
        "max_new_tokens",
        "temperature",
        "top_k",
        "top_p",
        "seed",
    ):
        assert name in generate, name

"""``Limits`` refuses values the kernels could not hold, when it is made."""

from __future__ import annotations

import numpy as np
import pytest

from constrain.config import DEFAULT_LIMITS, MAX_LIMIT, Limits
from constrain.errors import ConfigurationError

# (field, value, accepted)
CASES = [
    ("max_earley_work", 0, True),
    ("max_earley_work", MAX_LIMIT, True),
    ("max_earley_work", MAX_LIMIT + 1, False),
    ("max_earley_work", 10**30, False),
    ("max_earley_work", np.int64(1000), True),
    ("max_dfa_states", -1, False),
    ("max_dfa_states", 1.5, False),
    ("max_dfa_states", True, False),
    ("max_dfa_states", "100", False),
    ("max_dfa_states", None, False),
    ("max_compile_seconds", 0.5, True),
    ("max_compile_seconds", 3, True),
    ("max_compile_seconds", float("inf"), True),
    ("max_compile_seconds", 0, False),
    ("max_compile_seconds", -1.0, False),
    ("max_compile_seconds", float("nan"), False),
    ("max_infill_seconds", "1", False),
]


@pytest.mark.parametrize("field, value, accepted", CASES)
def test_limits_check_their_values(field, value, accepted):
    if accepted:
        assert getattr(DEFAULT_LIMITS.replace(**{field: value}), field) == value
        assert getattr(Limits(**{field: value}), field) == value
    else:
        with pytest.raises(ConfigurationError, match=f"Limits.{field}"):
            DEFAULT_LIMITS.replace(**{field: value})


def test_a_huge_budget_reaches_the_kernels():
    import constrain

    limits = DEFAULT_LIMITS.replace(max_earley_work=MAX_LIMIT)
    compiled = constrain.compile(constrain.Grammar.from_regex("a+"), constrain.Vocabulary.byte_level(), limits=limits)
    assert constrain.Matcher(compiled).accept_bytes(b"aaa")

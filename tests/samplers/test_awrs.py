"""AWRS: the accepted token follows p c / Z exactly, and the weight is unbiased (proved by exact
enumeration of every rejection order on small distributions), the full-mask fallback keeps
both, and AWRS inside the driver matches LCD's local distribution (research brief, W1-W4)."""

import itertools
import math

import numpy as np
import pytest

from constrain.samplers.awrs import AWRS, DescendingOrder, weighted_rejection_step
from constrain.samplers.driver import decode
from constrain.testing import empirical, exact_distribution, total_variation
from toys import bit_vocabulary, compile_regex, skewed_model, tv_floor

CASES = [  # (p, c)
    ([0.5, 0.3, 0.2], [1, 0, 1]),
    ([0.7, 0.1, 0.1, 0.1], [0, 0, 1, 0]),
    ([0.05, 0.05, 0.3, 0.3, 0.3], [1, 1, 0, 0, 0]),
    ([0.9, 0.04, 0.03, 0.02, 0.01], [0, 1, 1, 0, 1]),
    ([0.2, 0.2, 0.2, 0.2, 0.1, 0.1], [1, 1, 1, 1, 1, 1]),
    ([0.6, 0.4], [1, 0]),
]


def exact_expectations(p, c, **options):
    """E[w 1[token = v]] for every v, and E[w], over every order (Plackett-Luce probability)."""
    p = np.asarray(p, dtype=np.float64)
    logp = np.log(p)
    per_token = np.zeros(p.size)
    total_checks = 0.0
    for order in itertools.permutations(range(p.size)):
        prob, left = 1.0, 1.0
        for t in order:
            prob *= p[t] / left
            left -= p[t]
        tokens = iter(order)
        token, log_w, checks = weighted_rejection_step(
            lambda: next(tokens, None), logp, lambda t: bool(c[t]), **options
        )
        total_checks += prob * checks
        if token is not None:
            per_token[token] += prob * math.exp(log_w)
    return per_token, total_checks


@pytest.mark.parametrize("p, c", CASES)
def test_weight_is_exactly_unbiased(p, c):
    per_token, checks = exact_expectations(p, c)
    np.testing.assert_allclose(per_token, np.asarray(p) * np.asarray(c), atol=1e-12)
    assert checks <= len(p) + 1


@pytest.mark.parametrize("p, c", CASES)
def test_full_mask_fallback_stays_exact(p, c):
    mask = np.asarray(c, dtype=bool)
    per_token, _ = exact_expectations(p, c, max_rejections=1, allowed_by_mask=lambda: mask, uniform=lambda: 0.5)
    # the fallback's draw is fixed by uniform=0.5 here, so compare the total weight only
    assert per_token.sum() == pytest.approx(float(np.dot(p, c)), abs=1e-12)


@pytest.mark.parametrize("p, c", CASES)
def test_first_accepted_token_is_exact(p, c):
    rng = np.random.default_rng(0)
    p, c = np.asarray(p), np.asarray(c, dtype=bool)
    n = 4000
    counts = np.zeros(p.size)
    for _ in range(n):
        order = DescendingOrder(np.arange(p.size), np.log(p) + rng.gumbel(size=p.size))
        token, _, _ = weighted_rejection_step(order.next, np.log(p), lambda t: bool(c[t]))
        counts[token] += 1
    target = p * c / (p * c).sum()
    assert (
        0.5 * np.abs(counts / n - target).sum()
        < 3 * sum(math.sqrt(2 * q * (1 - q) / (math.pi * n)) for q in target) + 1e-9
    )


def test_nothing_allowed_kills():
    order = iter([0, 1])
    token, log_w, checks = weighted_rejection_step(lambda: next(order, None), np.log([0.5, 0.5]), lambda t: False)
    assert token is None and log_w == -math.inf and checks == 2


def test_awrs_in_the_driver_is_weighted_like_lcd():
    compiled = compile_regex("000|1[01]{2}", bit_vocabulary())
    model = skewed_model(1)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    n = 3000
    sampler = AWRS(seed=0, forces_eos_at_limit=True)
    draws = decode(model, compiled, [[0]] * n, sampler, max_new_tokens=6).draws
    assert all(d.finish_reason == "eos" for d in draws)
    q = exact.q_lcd()
    assert total_variation(empirical([tuple(d.token_ids) for d in draws]), q) < 3 * tv_floor(q.values(), n)
    weights = np.exp([d.log_weight for d in draws])
    se = weights.std() / math.sqrt(n)
    assert abs(weights.mean() - math.exp(exact.log_z)) < 4 * se
    assert sampler.checks <= sampler.steps * (len(bit_vocabulary()) + 1)


def test_awrs_never_fills_a_mask_when_most_tokens_pass():
    compiled = compile_regex("[01]{1,6}", bit_vocabulary())
    sampler = AWRS(seed=1)
    decode(skewed_model(2), compiled, [[0]] * 200, sampler, max_new_tokens=6)
    assert sampler.masks == 0
    assert sampler.checks / sampler.steps < 3


def test_generate_with_awrs_on_a_transformers_model():
    import re

    import constrain
    from tiny_lm import tiny_model, tiny_tokenizer

    results = constrain.generate(
        ["Date:", "x"],
        regex=r"\d{4}-\d{2}-\d{2}",
        sampler="awrs",
        seed=0,
        model=tiny_model(),
        tokenizer=tiny_tokenizer(),
        max_new_tokens=20,
    )
    for r in results:
        assert r.finish_reason == "eos" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", r.text)
        assert math.isfinite(r.log_weight) and r.log_weight <= 1e-9
    with pytest.raises(constrain.ConfigurationError, match="temperature must be 1"):
        constrain.generate(
            "x", regex="a", sampler="awrs", temperature=0.5, model=tiny_model(), tokenizer=tiny_tokenizer()
        )

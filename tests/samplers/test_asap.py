"""ASAp against the exact distribution (research brief, tests S1-S5): theta is an upper bound of
the expected future grammaticality and never rises; a fresh trie's sample is an LCD sample;
the samples converge to pi; a fully explored trie is exact; save/load round-trips."""

import math

import numpy as np
import pytest

from constrain.errors import ConfigurationError, ResourceLimitError
from constrain.samplers.asap import ASApSampler, ASApTrie
from constrain.testing import empirical, exact_distribution, total_variation
from toys import EOS, bit_vocabulary, compile_regex, skewed_model, tv_floor, uniform_bits_model

SKEW3 = "000|1[01]{2}"
SKEW5 = "00000|1[01]{4}"


def check_bounds(trie, exact):
    for node in range(len(trie)):
        prefix = trie.prefix(node)
        if prefix and prefix[-1] == EOS:
            continue
        assert trie.theta[node] >= exact.expected_future_grammaticality(prefix) - 1e-12, prefix


def test_theta_is_an_upper_bound_that_never_rises():
    compiled = compile_regex(SKEW3, bit_vocabulary())
    model = skewed_model(1)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    trie = ASApTrie()
    sampler = ASApSampler(trie, seed=0)
    before = None
    for _ in range(60):
        sampler.sample(model, compiled, [0], 1, max_new_tokens=6)
        check_bounds(trie, exact)
        theta = trie.theta[: len(trie)].copy()
        if before is not None:
            assert np.all(theta[: before.size] <= before + 1e-15)
        before = theta


def test_fresh_trie_samples_are_lcd_samples():
    compiled = compile_regex(SKEW3, bit_vocabulary())
    model = skewed_model(2)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=6)
    n = 1500
    seqs = []
    for seed in range(n):
        draw = ASApSampler(ASApTrie(), seed=seed).sample(model, compiled, [0], 1, max_new_tokens=6)[0]
        seqs.append(tuple(draw.token_ids))
    q = exact.q_lcd()
    assert total_variation(empirical(seqs), q) < 3 * tv_floor(q.values(), n)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_samples_converge_to_pi_where_lcd_stays_biased(batch_size):
    compiled = compile_regex(SKEW5, bit_vocabulary())
    model = uniform_bits_model()
    exact = exact_distribution(compiled, model, [0], max_new_tokens=8)
    pi = exact.strings(exact.pi())
    assert exact.strings(exact.q_lcd())["00000"] > 0.45  # LCD: about 1/2 where pi has 1/17
    draws = ASApSampler(ASApTrie(), seed=5).sample(model, compiled, [0], 1600, max_new_tokens=8, batch_size=batch_size)
    texts = [exact.decode(tuple(d.token_ids)) for d in draws]
    assert total_variation(empirical(texts[-800:]), pi) < 3 * tv_floor(pi.values(), 800)
    assert all(d.finish_reason == "eos" for d in draws)


def test_fully_explored_trie_is_exact():
    compiled = compile_regex(SKEW3, bit_vocabulary())
    model = skewed_model(4)
    exact = exact_distribution(compiled, model, [0], max_new_tokens=4)
    trie = ASApTrie()
    sampler = ASApSampler(trie, seed=1)
    # explore every prefix of the language tree (and its dead ends) with enough samples
    sampler.sample(model, compiled, [0], 3000, max_new_tokens=4, batch_size=16)
    assert all(trie.find(x) is not None for x in exact.logprob)
    check_bounds(trie, exact)
    assert trie.theta[0] == pytest.approx(math.exp(exact.log_z), abs=1e-9)
    draws = sampler.sample(model, compiled, [0], 3000, max_new_tokens=4, batch_size=16)
    pi = exact.pi()
    assert total_variation(empirical([tuple(d.token_ids) for d in draws]), pi) < 3 * tv_floor(pi.values(), 3000)


def test_save_and_load_round_trip(tmp_path):
    compiled = compile_regex(SKEW3, bit_vocabulary())
    model = skewed_model(0)
    trie = ASApTrie("key-a", max_nodes=500)
    ASApSampler(trie, seed=0).sample(model, compiled, [0], 50, max_new_tokens=6)
    path = tmp_path / "trie.npz"
    trie.save(path)
    loaded = ASApTrie.load(path, key="key-a")
    assert len(loaded) == len(trie) and loaded.max_nodes == 500
    for name in ASApTrie.FIELDS:
        np.testing.assert_array_equal(getattr(loaded, name)[: len(trie)], getattr(trie, name)[: len(trie)])
    assert loaded.children == trie.children
    with pytest.raises(ConfigurationError, match="another model, prompt, grammar"):
        ASApTrie.load(path, key="key-b")
    (tmp_path / "junk.npz").write_bytes(b"not a trie")
    with pytest.raises(ConfigurationError, match="not an ASAp trie"):
        ASApTrie.load(tmp_path / "junk.npz")


def test_node_cap_errors_or_freezes():
    compiled = compile_regex("[01]{1,8}", bit_vocabulary())
    model = uniform_bits_model()
    with pytest.raises(ResourceLimitError, match="max_trie_nodes=20"):
        ASApSampler(ASApTrie(max_nodes=20), seed=0).sample(model, compiled, [0], 200, max_new_tokens=8)
    frozen = ASApTrie(max_nodes=20, when_full="freeze")
    draws = ASApSampler(frozen, seed=0).sample(model, compiled, [0], 200, max_new_tokens=8)
    assert len(frozen) == 20 and len(draws) == 200
    assert all(d.finish_reason == "eos" for d in draws)


def test_bad_arguments():
    with pytest.raises(ConfigurationError):
        ASApTrie(when_full="evict")
    with pytest.raises(ConfigurationError):
        ASApTrie(max_nodes=0)
    compiled = compile_regex(SKEW3, bit_vocabulary())
    with pytest.raises(ConfigurationError):
        ASApSampler(ASApTrie()).sample(skewed_model(), compiled, [0], 0, max_new_tokens=4)

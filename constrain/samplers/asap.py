"""ASAp: grammar-aligned decoding by adaptive sampling with approximate expected futures.

Park, Wang, Berg-Kirkpatrick, Polikarpova and D'Antoni, "Grammar-Aligned Decoding", NeurIPS 2024.

The exact constrained distribution ``pi(x) = p(x) 1[x in L] / Z`` is what one gets by sampling
every step from ``p(v | x) EFG(x v)``, where ``EFG(x) = P_p(a completion of x is in L)`` is the
expected future grammaticality. ASAp keeps, across samples, a trie of the token prefixes it has
explored, each node holding an upper bound ``theta >= EFG`` that samples tighten as they
discover dead ends, and samples every step from ``p(v | x) 1[v allowed] theta(x v)``. The first
sample is an LCD sample; as the trie grows the samples' distribution converges to ``pi``.

Bounded memory: a node stores its allowed mass ``A = sum_{v allowed} p(v | x)`` and only its
*explored* children, never a mask's worth of them, and

    theta(x) = (A - sum_{c explored} p_c) + sum_{c explored} p_c theta(c)      (1)

(an unexplored allowed child counts with ``theta = 1``). A node is first visited with
``theta = 1``; its first visit sets ``theta = A``; a change ``delta`` of a child's ``theta``
changes its parent's by ``p_c delta`` and so on up to the root. Every change is a decrease
(masks are exact, so ``A <= 1``, and a child's bound only falls), and each ``theta`` is
clamped to never rise through rounding. Numerics are float64; probabilities are those of the
unwarped model (temperature 1): any warper would change the target.

The length limit is part of the language: a prefix of ``max_new_tokens`` tokens allows only
EOS (if complete). A node whose mask allows nothing gets ``theta = 0``.

Batched sampling: several samples in flight share the trie. Each step of each sample reads the
bounds as they are at that moment; all of them are valid upper bounds at all times (updates only
lower them, to values that are still bounds), so every sample is drawn exactly as a sequential
ASAp sample would be from the same trie; samples of one batch just learn from each other a step
later than they would one after the other.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Literal, Optional, Sequence

import numpy as np
import torch

from ..errors import ConfigurationError, ResourceLimitError
from .base import Choice, Draw, TokenSampler
from .driver import DecodeRun, decode, masked_logprobs

__all__ = ("ASApSampler", "ASApTrie")

_KEY_STRIDE = 1 << 32  # children are keyed by parent * stride + token


class ASApTrie:
    """The explored token prefixes of one (model, prompt, grammar, length limit), with bounds.

    Node 0 is the empty prefix. Per node (struct of arrays): ``parent``, ``token``,
    ``p`` (``p(token | parent prefix)``), ``allowed`` (``A``; NaN before the first visit),
    ``explored_mass`` and ``explored_theta_mass`` (the two sums of (1)) and ``theta``.

    Args:
        key: the identity of what the trie is for (see ``constrain.generation.asap_key``);
            :meth:`load` refuses a file made for another key.
        max_nodes: at most this many nodes.
        when_full: ``"error"``: a sample that would add a node past ``max_nodes`` raises
            :class:`~constrain.errors.ResourceLimitError`; ``"freeze"``: the trie stops growing,
            and below its frontier samples are drawn as LCD draws them (bounds stay valid; the
            distribution stops getting closer to ``pi`` there).
    """

    FIELDS = ("parent", "token", "p", "allowed", "explored_mass", "explored_theta_mass", "theta")

    def __init__(
        self, key: str = "", *, max_nodes: int = 1_000_000, when_full: Literal["error", "freeze"] = "error"
    ) -> None:
        if when_full not in ("error", "freeze"):
            raise ConfigurationError(f"when_full must be 'error' or 'freeze', got {when_full!r}")
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise ConfigurationError(f"max_nodes must be a positive int, got {max_nodes!r}")
        self.key = key
        self.max_nodes = max_nodes
        self.when_full = when_full
        self.size = 0
        capacity = 1024
        self.parent = np.zeros(capacity, dtype=np.int64)
        self.token = np.zeros(capacity, dtype=np.int64)
        self.p = np.zeros(capacity, dtype=np.float64)
        self.allowed = np.zeros(capacity, dtype=np.float64)
        self.explored_mass = np.zeros(capacity, dtype=np.float64)
        self.explored_theta_mass = np.zeros(capacity, dtype=np.float64)
        self.theta = np.zeros(capacity, dtype=np.float64)
        self.children: Dict[int, int] = {}  # parent * stride + token -> child
        self.child_lists: Dict[int, List[int]] = {}  # parent -> [child, ...] (explored children only)
        self._add(-1, -1, 1.0)

    # -- structure -------------------------------------------------------------------

    def __len__(self) -> int:
        return self.size

    def _add(self, parent: int, token: int, p: float) -> int:
        node = self.size
        if node == self.parent.shape[0]:
            for name in self.FIELDS:
                old = getattr(self, name)
                grown = np.zeros(old.shape[0] * 2, dtype=old.dtype)
                grown[: old.shape[0]] = old
                setattr(self, name, grown)
        self.parent[node], self.token[node], self.p[node] = parent, token, p
        self.allowed[node] = math.nan
        self.explored_mass[node] = self.explored_theta_mass[node] = 0.0
        self.theta[node] = 1.0
        self.size += 1
        return node

    def child(self, node: int, token: int) -> Optional[int]:
        """The explored child of ``node`` by ``token``, or ``None``."""
        return self.children.get(node * _KEY_STRIDE + token)

    def add_child(self, node: int, token: int, p: float) -> Optional[int]:
        """Explore ``node``'s child by ``token`` (probability ``p``); ``None`` when the trie is full
        and frozen. An explored child starts at ``theta = 1``, as it counted while unexplored,
        so (1) does not change."""
        if self.size >= self.max_nodes:
            if self.when_full == "freeze":
                return None
            raise ResourceLimitError(
                f"the ASAp trie holds max_trie_nodes={self.max_nodes} nodes; raise max_trie_nodes, "
                "or pass when_full='freeze' to keep sampling with the trie as it is"
            )
        child = self._add(node, token, p)
        self.children[node * _KEY_STRIDE + token] = child
        self.child_lists.setdefault(node, []).append(child)
        self.explored_mass[node] += p
        self.explored_theta_mass[node] += p
        return child

    def prefix(self, node: int) -> List[int]:
        """The token prefix of ``node``."""
        out = []
        while node > 0:
            out.append(int(self.token[node]))
            node = int(self.parent[node])
        return out[::-1]

    def find(self, prefix: Sequence[int]) -> Optional[int]:
        """The node of a token prefix, or ``None`` if it was never explored."""
        node: Optional[int] = 0
        for t in prefix:
            node = self.child(node, int(t)) if node is not None else None
        return node

    # -- bounds ----------------------------------------------------------------------

    def visit(self, node: int, allowed_mass: float) -> None:
        """Record the allowed mass ``A`` of ``node`` on its first visit (``theta`` becomes ``A``)."""
        if not math.isnan(self.allowed[node]):
            return
        self.allowed[node] = min(max(allowed_mass, 0.0), 1.0)
        self._tighten(node)

    def _tighten(self, node: int) -> None:
        """Recompute ``theta`` of ``node`` by (1), then of its ancestors, while it falls."""
        while node >= 0:
            bound = self.allowed[node] - self.explored_mass[node] + self.explored_theta_mass[node]
            old = self.theta[node]
            new = min(old, max(bound, 0.0))
            if new == old:
                return
            self.theta[node] = new
            parent = int(self.parent[node])
            if parent >= 0:
                self.explored_theta_mass[parent] += self.p[node] * (new - old)
            node = parent

    def kill(self, node: int) -> None:
        """A node from which no token is allowed: ``theta = 0``."""
        self.allowed[node] = 0.0
        self._tighten(node)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Write the trie to ``path`` (a ``.npz`` file)."""
        n = self.size
        meta = json.dumps({"key": self.key, "max_nodes": self.max_nodes, "when_full": self.when_full})
        with open(path, "wb") as f:
            np.savez_compressed(f, meta=np.array(meta), **{name: getattr(self, name)[:n] for name in self.FIELDS})

    @classmethod
    def load(cls, path: "str | os.PathLike[str]", key: Optional[str] = None) -> "ASApTrie":
        """Read a trie written by :meth:`save`; with ``key``, refuse a trie made for another one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {name: data[name] for name in cls.FIELDS}
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigurationError(f"{path} is not an ASAp trie file: {exc}") from exc
        if key is not None and meta["key"] != key:
            raise ConfigurationError(
                f"the ASAp trie in {path} was made for another model, prompt, grammar or length limit"
            )
        trie = cls(meta["key"], max_nodes=int(meta["max_nodes"]), when_full=meta["when_full"])
        n = int(arrays["parent"].shape[0])
        for name in cls.FIELDS:
            column = np.zeros(max(1024, n), dtype=getattr(trie, name).dtype)
            column[:n] = arrays[name]
            setattr(trie, name, column)
        trie.size = n
        for node in range(1, n):
            parent, token = int(trie.parent[node]), int(trie.token[node])
            trie.children[parent * _KEY_STRIDE + token] = node
            trie.child_lists.setdefault(parent, []).append(node)
        return trie


class ASApSampler(TokenSampler):
    """The ASAp token sampler: draws ``v ~ p(v | x) 1[v allowed] theta(x v)`` and updates the
    trie after every step.

    Args:
        trie: the shared trie (kept across calls).
        seed: seeds the sampler's random numbers (a ``numpy`` generator on the CPU).
    """

    uses_masks = True
    forces_eos_at_limit = True

    def __init__(
        self, trie: ASApTrie, *, seed: Optional[int] = None, generator: Optional[torch.Generator] = None
    ) -> None:
        self.trie = trie
        if seed is None and generator is not None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        self.rng = np.random.default_rng(seed)

    def choose(
        self, draws: Sequence[Draw], logprobs: torch.Tensor, bitmask: Optional[np.ndarray], at_limit: Sequence[bool]
    ) -> List[Choice]:
        assert bitmask is not None
        trie = self.trie
        masked = masked_logprobs(logprobs, bitmask).double().cpu().numpy()
        choices = []
        for i, draw in enumerate(draws):
            node = draw.state if draw.token_ids or draw.state is not None else 0
            row = masked[i]
            allowed = np.flatnonzero(row > -np.inf)
            if allowed.size == 0:
                if node is not None:
                    trie.kill(node)
                choices.append(Choice(None, -math.inf))
                continue
            step = row[allowed]
            if node is not None:
                trie.visit(node, float(np.exp(step).sum()))
                # log theta(child) for explored children; unexplored allowed children have theta 1.
                for explored in trie.child_lists.get(node, ()):
                    token = int(trie.token[explored])
                    theta = trie.theta[explored]
                    row[token] += math.log(theta) if theta > 0 else -math.inf
            scores = row[allowed]
            top = scores.max()
            if top == -np.inf:  # every allowed child is a known dead end (bounds said 0)
                choices.append(Choice(None, -math.inf))
                continue
            weights = np.exp(scores - top)
            cumulative = np.cumsum(weights)
            pick = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
            token = int(allowed[min(pick, allowed.size - 1)])
            if node is not None:
                child = trie.child(node, token)
                if child is None:
                    child = trie.add_child(node, token, math.exp(float(step[int(np.searchsorted(allowed, token))])))
                draw.state = child
            choices.append(Choice(token, 0.0))
        return choices

    def sample(
        self,
        model: Any,
        compiled: Any,
        prompt_ids: Sequence[int],
        n: int,
        *,
        max_new_tokens: int,
        batch_size: Optional[int] = None,
    ) -> List[Draw]:
        """Draw ``n`` samples, ``batch_size`` at a time; returns the draws in the order drawn,
        each with ``first_token_at`` set."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigurationError(f"num_samples must be a positive int, got {n!r}")
        if batch_size is None:
            batch_size = min(n, 8)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive int, got {batch_size!r}")
        out: List[Draw] = []
        while len(out) < n:
            k = min(batch_size, n - len(out))
            run: DecodeRun = decode(model, compiled, [list(prompt_ids)] * k, self, max_new_tokens=max_new_tokens)
            for draw in run.draws:
                draw.first_token_at = run.first_token_at
                out.append(draw)
        return out

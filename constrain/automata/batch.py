"""Fill many matchers' bitmask rows at once, from a pool of threads.

The mask kernels run without the GIL, so the rows of a batch fill in parallel. Each matcher is
filled by one thread; matchers that share a compiled grammar share its memos (built under
locks, published whole) and each thread has its own kernel scratch
(:meth:`~constrain.automata.compiled.CompiledGrammar.thread_scratch`), so the result is the
same as filling the rows one by one.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigurationError
from .arguments import BitmaskArray, check_int, describe
from .matcher import Matcher

#: Threads a :class:`BatchMatcher` uses when not told: the cores, at most this many.
MAX_DEFAULT_THREADS = 8


def _default_threads() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_DEFAULT_THREADS))


class BatchMatcher:
    """A bounded thread pool that fills the rows of a batch; close it (or use ``with``) when
    done. The threads are started on the first batch that needs more than one.

    Args:
        num_threads: threads in the pool (``None``: the available cores, at most
            ``MAX_DEFAULT_THREADS``). With 1 the rows are filled in the calling thread.
    """

    def __init__(self, num_threads: Optional[int] = None) -> None:
        if num_threads is None:
            num_threads = _default_threads()
        self.num_threads = check_int(num_threads, "num_threads", lo=1)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._closed = False

    def fill_next_token_bitmasks(
        self, matchers: Sequence[Matcher], bitmask: BitmaskArray, indices: Optional[Sequence[int]] = None
    ) -> None:
        """Row ``indices[i]`` of ``bitmask`` gets ``matchers[i].fill_next_token_bitmask``.

        Args:
            matchers: distinct :class:`~constrain.Matcher` objects (a matcher is used by one
                thread at a time, so one listed twice is refused).
            bitmask: ``int32`` bitmask (numpy, or a CPU torch tensor) as
                :meth:`Matcher.fill_next_token_bitmask` takes.
            indices: the row of each matcher (``None``: row ``i`` for ``matchers[i]``); distinct.
        """
        rows = _check_batch(matchers, bitmask, indices)
        if not rows:
            return
        if self.num_threads == 1 or len(rows) == 1:
            for matcher, index in rows:
                matcher.fill_next_token_bitmask(bitmask, index)
            return
        pool = self._executor()
        # One task per thread, each a contiguous share of the rows: fewer hand-overs than a
        # task per row, and the kernels release the GIL inside each fill.
        shares = min(self.num_threads, len(rows))
        bounds = np.linspace(0, len(rows), shares + 1).astype(int)

        def fill(lo: int, hi: int) -> None:
            for matcher, index in rows[lo:hi]:
                matcher.fill_next_token_bitmask(bitmask, index)

        futures = [pool.submit(fill, int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        for future in futures:  # wait for all, then raise the first error
            future.exception()
        for future in futures:
            future.result()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise ConfigurationError("this BatchMatcher is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.num_threads, thread_name_prefix="constrain-mask")
            return self._pool

    def close(self) -> None:
        """Stop the threads (waits for a batch in progress). A closed BatchMatcher refuses
        batches that need threads."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> "BatchMatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("started" if self._pool is not None else "not started")
        return f"BatchMatcher(num_threads={self.num_threads}, {state})"


def fill_next_token_bitmasks(
    matchers: Sequence[Matcher],
    bitmask: BitmaskArray,
    indices: Optional[Sequence[int]] = None,
    *,
    num_threads: Optional[int] = None,
) -> None:
    """:meth:`BatchMatcher.fill_next_token_bitmasks` with a pool for this call only (its
    threads are started and stopped here, tens of microseconds each); a decoding loop should
    keep one :class:`BatchMatcher` instead."""
    with BatchMatcher(num_threads) as batch:
        batch.fill_next_token_bitmasks(matchers, bitmask, indices)


def _check_batch(
    matchers: Sequence[Matcher], bitmask: BitmaskArray, indices: Optional[Sequence[int]]
) -> List[Tuple[Matcher, int]]:
    """[(matcher, row)] after checking types, distinctness and row numbers."""
    if not isinstance(matchers, (list, tuple)):
        raise ConfigurationError(f"`matchers` must be a list of Matcher, got {describe(matchers)}")
    for i, m in enumerate(matchers):
        if not isinstance(m, Matcher):
            raise ConfigurationError(f"`matchers[{i}]` must be a Matcher, got {describe(m)}")
    if len({id(m) for m in matchers}) != len(matchers):
        raise ConfigurationError("`matchers` lists one matcher twice; a matcher is used by one thread at a time")
    if indices is None:
        rows = list(range(len(matchers)))
    else:
        if not isinstance(indices, (list, tuple, range, np.ndarray)):
            raise ConfigurationError(f"`indices` must be a list of ints, got {describe(indices)}")
        rows = [check_int(r, f"indices[{i}]", lo=0) for i, r in enumerate(indices)]
        if len(rows) != len(matchers):
            raise ConfigurationError(f"`indices` has {len(rows)} rows for {len(matchers)} matchers")
        if len(set(rows)) != len(rows):
            raise ConfigurationError("`indices` names one row twice")
    if matchers:
        shape = getattr(bitmask, "shape", None)
        if shape is None or len(shape) not in (1, 2):
            raise ConfigurationError(f"Invalid bitmask: expected (batch, words), got {describe(bitmask)}")
        batch = 1 if len(shape) == 1 else shape[0]
        if max(rows) >= batch:
            raise ConfigurationError(f"Invalid bitmask index {max(rows)} for batch size {batch}")
    return list(zip(matchers, rows))

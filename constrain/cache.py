"""The one owner of constrain's process-wide caches.

Every cache that outlives a call (compiled grammars, vocabularies, models, DFAs, shared mask
parts, memoized front-end functions) is an :class:`LRUCache` or a :func:`memoize` function of
this module, registered under a name when its module is imported, with a stated bound.
:func:`caches` lists them with their sizes and :func:`clear_caches` empties them all, e.g. to
give memory back between two workloads::

    import constrain

    constrain.compile(constrain.Grammar.from_regex("[a-z]+@[a-z]+"), constrain.Vocabulary.byte_level())
    for name, info in constrain.caches().items():
        print(name, info.entries, info.nbytes)
    constrain.clear_caches()

Clearing never changes a result: an emptied cache is refilled on demand, and objects a caller
still holds (a compiled grammar, a model) stay alive with their caller.

A leaf module: it imports nothing of constrain.
"""

from __future__ import annotations

import enum
import functools
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Final, Generic, Hashable, List, NamedTuple, Optional, Tuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])


class CacheInfo(NamedTuple):
    """What a cache holds now.

    Attributes:
        name: the name it is registered under.
        entries: entries held.
        max_entries: the entry bound.
        nbytes: bytes held (by the cache's own measure of an entry), or ``None`` where
            entries have no known size.
        max_bytes: the byte bound, or ``None``.
        hits: lookups answered from the cache since it was made.
        misses: lookups that had to compute their value.
    """

    name: str
    entries: int
    max_entries: int
    nbytes: Optional[int]
    max_bytes: Optional[int]
    hits: int
    misses: int


class _Flight:
    """A value being computed by one thread (the leader) for the threads waiting on it."""

    __slots__ = ("owner", "done", "ok", "value")

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class _Missing(enum.Enum):
    """What a lookup finds for an absent key (an enum member: ``is _MISSING`` narrows the
    type of what was found)."""

    MISSING = 0


_MISSING: Final = _Missing.MISSING


class LRUCache(Generic[K, V]):
    """A thread-safe least-recently-used cache bounded by entries and, optionally, bytes.

    :meth:`get_or_create` calls its factory once per key, however many threads ask at once:
    the first asker computes the value outside the cache's lock while the others wait for it
    (so a slow factory delays only the askers of its own key). A factory that raises caches
    nothing; a waiter then computes the value itself.

    Args:
        name: the name it is registered under (see :func:`caches`).
        max_entries: the most entries it keeps.
        max_bytes: the most bytes it keeps, measured by ``nbytes``; ``None`` for no byte bound.
        nbytes: the size of a value in bytes (needed with ``max_bytes``); called under the
            cache's lock, so it must be cheap.
        max_entry_bytes: a value larger than this is returned but not kept (default
            ``max_bytes``: one value never empties the cache for itself).
        register: add it to the registry of :func:`caches` (``False`` for a private cache).
    """

    def __init__(
        self,
        name: str,
        *,
        max_entries: int,
        max_bytes: Optional[int] = None,
        nbytes: Optional[Callable[[V], int]] = None,
        max_entry_bytes: Optional[int] = None,
        register: bool = True,
    ) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError(f"cache {name!r}: max_entries must be a positive int, got {max_entries!r}")
        if (max_bytes is None) != (nbytes is None):
            raise ValueError(f"cache {name!r}: max_bytes and nbytes go together")
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes if max_entry_bytes is not None else max_bytes
        self._weigh = nbytes
        self._lock = threading.Lock()
        self._entries: "OrderedDict[K, V]" = OrderedDict()
        self._sizes: Dict[K, int] = {}
        self._nbytes = 0
        self._flights: Dict[K, _Flight] = {}
        self._hits = 0
        self._misses = 0
        if register:
            _register(name, self)

    def get(self, key: K, default: Any = None) -> Any:
        """The value of ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                self._misses += 1
                return default
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def get_or_create(self, key: K, factory: Callable[..., V], *args: Any) -> V:
        """The value of ``key``; on a miss, ``factory(*args)``'s, kept within the bounds.

        Raises:
            RuntimeError: ``factory`` asked for its own key (it would wait for itself).
            Whatever ``factory`` raises (nothing is kept then).
        """
        # The hit path: one lock, one lookup (callers pass the factory's arguments rather
        # than a closure, which would cost an allocation per hit).
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is not _MISSING:
                self._entries.move_to_end(key)
                self._hits += 1
                return value
        return self._create(key, factory, args)

    def _create(self, key: K, factory: Callable[..., V], args: Tuple[Any, ...]) -> V:
        while True:
            with self._lock:
                value = self._entries.get(key, _MISSING)
                if value is not _MISSING:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return value
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    self._misses += 1
                    break
            if flight.owner == threading.get_ident():
                raise RuntimeError(f"cache {self.name!r}: the factory of {key!r} asked for its own key")
            flight.done.wait()
            if flight.ok:
                made: V = flight.value  # the leader's factory's value for this key
                return made
            # the leader's factory raised: try again (this thread may lead now)
        try:
            value = factory(*args)
            with self._lock:
                del self._flights[key]
                self._insert(key, value)
        except BaseException:
            # nothing kept; the waiters wake up and try again
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
            raise
        flight.value = value
        flight.ok = True
        flight.done.set()
        return value

    def put(self, key: K, value: V) -> bool:
        """Keep ``value`` under ``key`` (replacing any); whether it was kept (a value over
        ``max_entry_bytes`` is not)."""
        with self._lock:
            return self._insert(key, value)

    def _insert(self, key: K, value: V) -> bool:
        # (under the lock)
        size = self._weigh(value) if self._weigh is not None else 0
        old = self._sizes.pop(key, None)
        if old is not None:
            del self._entries[key]
            self._nbytes -= old
        if self.max_entry_bytes is not None and size > self.max_entry_bytes:
            return False
        self._entries[key] = value
        self._sizes[key] = size
        self._nbytes += size
        max_bytes = self.max_bytes
        while len(self._entries) > self.max_entries or (max_bytes is not None and self._nbytes > max_bytes):
            old_key, _ = self._entries.popitem(last=False)
            self._nbytes -= self._sizes.pop(old_key)
        return True

    def pop(self, key: K, default: Any = None) -> Any:
        """Remove ``key``; its value, or ``default``."""
        with self._lock:
            value = self._entries.pop(key, _MISSING)
            if value is _MISSING:
                return default
            self._nbytes -= self._sizes.pop(key)
            return value

    def clear(self) -> None:
        """Forget every entry (values being computed now are still kept when they arrive)."""
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    @property
    def size(self) -> int:
        """Entries held."""
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held, by ``nbytes`` of each entry (0 without a byte measure)."""
        return self._nbytes

    def keys(self) -> List[K]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def info(self) -> CacheInfo:
        """Its :class:`CacheInfo`."""
        with self._lock:
            return CacheInfo(
                self.name,
                len(self._entries),
                self.max_entries,
                self._nbytes if self._weigh is not None else None,
                self.max_bytes,
                self._hits,
                self._misses,
            )

    def __repr__(self) -> str:
        bound = f", max_bytes={self.max_bytes}" if self.max_bytes is not None else ""
        return f"LRUCache({self.name!r}, entries={len(self)}/{self.max_entries}{bound})"


class FunctionMemo:
    """The registry's view of a :func:`memoize` function (``functools.lru_cache``, whose
    lookups are thread-safe and run in C: the memoized functions are hot paths of the
    front ends, such as the derivative of a regex)."""

    def __init__(self, name: str, function: Any, maxsize: int) -> None:
        self.name = name
        self.function = function
        self.max_entries = maxsize

    def clear(self) -> None:
        self.function.cache_clear()

    def __len__(self) -> int:
        currsize: int = self.function.cache_info().currsize
        return currsize

    @property
    def size(self) -> int:
        return len(self)

    def info(self) -> CacheInfo:
        stats = self.function.cache_info()
        return CacheInfo(self.name, stats.currsize, self.max_entries, None, None, stats.hits, stats.misses)


def memoize(name: str, maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)``, registered under ``name`` (so that :func:`caches`
    lists it and :func:`clear_caches` empties it). ``maxsize`` must be a positive int: a
    process-wide memo of a function whose arguments are open-ended is bounded."""
    if not isinstance(maxsize, int) or isinstance(maxsize, bool) or maxsize < 1:
        raise ValueError(f"memo {name!r}: maxsize must be a positive int, got {maxsize!r}")

    def decorate(fn: F) -> F:
        wrapped = functools.lru_cache(maxsize=maxsize)(fn)
        memo = FunctionMemo(name, wrapped, maxsize)
        wrapped.memo = memo  # type: ignore[attr-defined]  # keeps the registry's weak entry alive
        _register(name, memo)
        return wrapped  # type: ignore[return-value]

    return decorate


#: Every live registered cache by name. Weak: a cache belongs to its module (or object); the
#: registry only lists it, and a cache that is gone leaves it.
_REGISTRY: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def _register(name: str, cache: Any) -> None:
    # The latest cache of a name wins (a reloaded module replaces its caches).
    with _registry_lock:
        _REGISTRY[name] = cache


def registered() -> Dict[str, Any]:
    """The registered caches by name (the objects: :class:`LRUCache` or
    :class:`FunctionMemo`)."""
    with _registry_lock:
        return dict(sorted(_REGISTRY.items()))


def caches() -> Dict[str, CacheInfo]:
    """Every registered cache's :class:`CacheInfo`, by name. A module registers its caches
    when it is imported (``constrain.generate``'s compile and model caches appear once it has
    been used)."""
    return {name: cache.info() for name, cache in registered().items()}


def clear_caches() -> None:
    """Empty every registered cache. Results never change: caches refill on demand."""
    for cache in registered().values():
        cache.clear()


__all__ = ("CacheInfo", "FunctionMemo", "LRUCache", "caches", "clear_caches", "memoize", "registered")

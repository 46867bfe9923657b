"""Token-bucket rate limiting, per endpoint, local or shared through a store.

Seed 002's API::

    limiter = RateLimiter(max_requests=100, window_seconds=60)
    limiter.add_endpoint("fetch_ohlcv", max_requests=50, window_seconds=60)
    if limiter.acquire("fetch_ohlcv"):       # non-blocking, returns a bool
        fetch_ohlcv_data()
    else:
        wait = limiter.get_wait_time("fetch_ohlcv")

plus a blocking form (``acquire(blocking=True, timeout=5)``), async forms
(``await limiter.aacquire(...)``, ``aacquire_or_raise``, ``atokens_available``,
``aget_wait_time``, ``aget_stats``), ``acquire_or_raise`` raising
:class:`~peak_trade.errors.RateLimitExceeded` with ``retry_after``, request
costs (``cost=`` for weighted APIs) and ``burst`` (bucket size, default
``max_requests``).

A bucket refills at ``max_requests / window_seconds`` tokens per second up to
``burst`` tokens. Locally each bucket is a few floats behind a lock. With
``store=``, every decision is one atomic ``take_tokens`` of the store (GCRA;
on Redis one Lua script, one round trip, server time), so every process and
host that names the same limiter shares one bucket.

One core, two drivers
---------------------

Every decision and every read of a bucket is written once, as a generator
that does no I/O: it yields what it needs done and is sent the answer. A step
is either a wait (a ``float``, seconds) or a store operation (an
:class:`operator.methodcaller` naming a store primitive and its arguments,
e.g. ``methodcaller("take_tokens", key, rate, burst, cost)``). The **sync
driver** applies an operation to the sync store and sleeps on the clock; the
**async driver** awaits the operation on the async store and awaits
``clock.asleep``. A local bucket decides inside the core and yields no
operation at all.

``store=`` takes a :class:`~peak_trade.store.Store` or an
:class:`~peak_trade.store.aio.AsyncStore`:

* a sync ``Store`` serves both paths. On the async path its primitives run
  through :class:`~peak_trade.store.aio.AsyncStoreAdapter`, that is in a worker
  thread (``asyncio.to_thread``) for every backend whose calls block (SQLite,
  Redis), so the event loop never waits on a file lock or a round trip;
  ``MemoryStore`` runs inline (its calls never block).
* an ``AsyncStore`` (``AsyncRedisStore``, ...) is awaited on the async path,
  one round trip per decision and no thread. The sync methods cannot drive it
  (that needs an event loop the caller may already be running): they raise
  :class:`~peak_trade.errors.InvalidArgumentError` at once, naming the async
  method to call instead, and ``with_resilience`` refuses to decorate a sync
  function with such a limiter. :meth:`RateLimiter.get_stats` still answers
  from sync code (counts and limits are local) with ``tokens_available`` set to
  ``None``; ``await aget_stats()`` reads the tokens too.

Either way a store failure (down, or slower than its time budget) raises
:class:`~peak_trade.errors.StoreUnavailableError` from the decision: the
limiter never grants a permit it could not record.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from operator import methodcaller
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar, cast

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import InvalidArgumentError, RateLimitExceeded
from peak_trade.events import UNWATCHED, EventBus
from peak_trade.resilience._catalog import NAMED
from peak_trade.resilience._contract import PatternEvent, PatternKind, PatternStats

if TYPE_CHECKING:
    from peak_trade.store import Store
    from peak_trade.store.aio import AsyncStore

__all__ = [
    "RateLimitDecision",
    "RateLimitEndpointStats",
    "RateLimiter",
    "RateLimiterEvent",
    "RateLimiterStats",
]

DEFAULT_ENDPOINT = "default"

T = TypeVar("T")

Step: TypeAlias = "float | methodcaller"
"""What the core yields: seconds to wait, or a store operation to run (and send back)."""

Steps: TypeAlias = Generator[Step, Any, T]
"""A core routine: yields steps, is sent each store operation's result, returns a ``T``."""


@dataclass(frozen=True, slots=True)
class RateLimiterEvent(PatternEvent):
    """Base of every rate limiter event; ``name`` is the limiter's name."""

    kind: ClassVar[str] = PatternKind.RATE_LIMITER


@dataclass(frozen=True, slots=True)
class RateLimitDecision(RateLimiterEvent):
    """Published for every decision when someone subscribes (``name``: the limiter)."""

    endpoint: str
    allowed: bool
    wait: float
    cost: int

    @property
    def limiter(self) -> str:
        """The limiter's name, as ``name`` (the field's name before every event had ``name``)."""
        return self.name


@dataclass(frozen=True, slots=True)
class RateLimitEndpointStats:
    """One endpoint's bucket size and this process's decisions on it."""

    endpoint: str
    max_requests: int
    window_seconds: float
    burst: int
    allowed: int
    rejected: int

    @property
    def total_requests(self) -> int:
        return self.allowed + self.rejected

    @property
    def rejection_rate(self) -> float:
        total = self.allowed + self.rejected
        return self.rejected / total if total else 0.0


@dataclass(frozen=True, slots=True)
class RateLimiterStats(PatternStats):
    """A snapshot of a limiter's decisions (``limiter.stats``), per endpoint and in total.

    Counts are this process's decisions, also for a bucket shared through a
    store. The tokens in a bucket are not part of it (reading a shared one is
    a store call): ``tokens_available()`` / ``get_stats()`` read them.
    """

    endpoints: Mapping[str, RateLimitEndpointStats]

    @property
    def allowed(self) -> int:
        return sum(e.allowed for e in self.endpoints.values())

    @property
    def rejected(self) -> int:
        return sum(e.rejected for e in self.endpoints.values())

    @property
    def total_requests(self) -> int:
        return self.allowed + self.rejected

    @property
    def rejection_rate(self) -> float:
        total = self.total_requests
        return self.rejected / total if total else 0.0


@dataclass(slots=True)
class _Spec:
    max_requests: int
    window_seconds: float
    burst: int

    @property
    def rate(self) -> float:
        return self.max_requests / self.window_seconds


class _LocalBucket:
    """A classic token bucket (tokens, last refill time) and its counts, behind one lock."""

    __slots__ = (
        "_last",
        "_lock",
        "_now",
        "_tokens",
        "allowed",
        "burst",
        "rate",
        "rejected",
        "spec",
    )

    def __init__(self, spec: _Spec, clock: Clock) -> None:
        self.spec = spec
        self.rate = spec.rate
        self.burst = float(spec.burst)
        self._now = clock.monotonic
        self._tokens = self.burst
        self._last = self._now()
        self._lock = threading.Lock()
        self.allowed = 0
        self.rejected = 0

    def take(self, cost: int) -> tuple[bool, float]:
        with self._lock:
            now = self._now()
            tokens = min(self._tokens + (now - self._last) * self.rate, self.burst)
            self._last = now
            if tokens >= cost:
                self._tokens = tokens - cost
                self.allowed += 1
                return True, 0.0
            self._tokens = tokens
            self.rejected += 1
            return False, (cost - tokens) / self.rate

    def available(self) -> float:
        with self._lock:
            return min(self.burst, self._tokens + (self._now() - self._last) * self.rate)


class _StoreBucket:
    """A bucket kept in a store, shared by every process using the same key.

    It does no I/O: it builds the store operations (``take_one`` is built once,
    for the common cost of 1) and counts this process's decisions.
    """

    __slots__ = ("_key", "_lock", "allowed", "read", "rejected", "spec", "take_one")

    def __init__(self, spec: _Spec, key: str) -> None:
        self.spec = spec
        self._key = key
        self._lock = threading.Lock()
        self.allowed = 0
        self.rejected = 0
        self.take_one = self.take(1)
        self.read = methodcaller("tokens_available", key, spec.rate, spec.burst)

    def take(self, cost: int) -> methodcaller:
        return methodcaller("take_tokens", self._key, self.spec.rate, self.spec.burst, cost)

    def counted(self, reply: tuple[bool, float]) -> tuple[bool, float]:
        """Count the store's answer to a ``take`` as this process's decision; return it."""
        with self._lock:
            if reply[0]:
                self.allowed += 1
            else:
                self.rejected += 1
        return reply


_Bucket: TypeAlias = "_LocalBucket | _StoreBucket"


def _is_async_store(store: object) -> bool:
    """True for an ``AsyncStore``, False for a ``Store``; anything else is refused."""
    take = getattr(store, "take_tokens", None)
    if callable(take) and callable(getattr(store, "tokens_available", None)):
        # async primitives, or an async context manager (AsyncStore) rather than a sync one
        return inspect.iscoroutinefunction(take) or hasattr(type(store), "__aenter__")
    raise InvalidArgumentError(
        f"A rate limiter's store must be a Store or an AsyncStore; got {store!r}.",
        hint="Pass store=store_from_url(url) (or await async_store_from_url(url) for "
        "async code), or leave store out for in-process buckets.",
        context={"store": repr(store)},
    )


class RateLimiter:
    """Token-bucket rate limiter with per-endpoint buckets.

    Args:
        max_requests: requests allowed per ``window_seconds`` (the default bucket).
        window_seconds: the window; the refill rate is ``max_requests / window_seconds``.
        burst: bucket size (default ``max_requests``): how many calls may go at once.
        name: identifies the limiter in events, stats and store keys.
        store: share the buckets through this ``Store`` or ``AsyncStore`` (all
            processes using the same ``name`` and store share them; see the
            module docstring for which methods each kind serves); default:
            in-process buckets.
        clock: time source; ``ManualClock`` in tests.
        bus: publish a :class:`RateLimitDecision` per decision.
        register: a limiter given a ``name`` is listed (weakly) by
            ``get_all_rate_limiters()``; ``register=False`` keeps it out.
    """

    kind: ClassVar[PatternKind] = PatternKind.RATE_LIMITER

    def __init__(
        self,
        max_requests: int = 100,
        window_seconds: float = 60.0,
        *,
        burst: int | None = None,
        name: str | None = None,
        store: Store | AsyncStore | None = None,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        register: bool = True,
    ) -> None:
        self.name = name if name is not None else "default"
        self._clock = clock
        self._bus = bus
        self._decisions = UNWATCHED if bus is None else bus.interest(RateLimitDecision)
        self._store = store
        self._sync_store: Store | None = None
        self._async_store: AsyncStore | None = None
        if store is not None:
            if _is_async_store(store):
                self._async_store = cast("AsyncStore", store)
            else:
                from peak_trade.store.aio import AsyncStoreAdapter  # lazy: only a shared limiter

                sync = self._sync_store = cast("Store", store)
                self._async_store = AsyncStoreAdapter(sync)  # blocking backends: a worker thread
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.add_endpoint(DEFAULT_ENDPOINT, max_requests, window_seconds, burst=burst)
        self._default = self._buckets[DEFAULT_ENDPOINT]
        if register and name is not None:
            NAMED.add(self)

    @property
    def store(self) -> Store | AsyncStore | None:
        """The store the buckets are shared through (``None``: in-process buckets)."""
        return self._store

    @property
    def async_only(self) -> bool:
        """True when the buckets live in an ``AsyncStore``: only the ``a*`` methods decide."""
        return self._store is not None and self._sync_store is None

    # ------------------------------------------------------------------ configuration

    def add_endpoint(
        self,
        endpoint: str,
        max_requests: int,
        window_seconds: float,
        *,
        burst: int | None = None,
    ) -> None:
        """Give ``endpoint`` its own bucket (replacing any earlier one)."""
        spec = _validated_spec(endpoint, max_requests, window_seconds, burst)
        bucket: _Bucket
        if self._store is None:
            bucket = _LocalBucket(spec, self._clock)
        else:
            bucket = _StoreBucket(spec, f"ratelimit:{self.name}:{endpoint}")
        with self._lock:
            self._buckets = {**self._buckets, endpoint: bucket}  # copy-on-write: reads take no lock
            if endpoint == DEFAULT_ENDPOINT:
                self._default = bucket

    def _bucket(self, endpoint: str | None) -> tuple[str, _Bucket]:
        # Unknown endpoints share the default bucket (seed 002 behaviour).
        if endpoint is not None:
            bucket = self._buckets.get(endpoint)
            if bucket is not None:
                return endpoint, bucket
        return DEFAULT_ENDPOINT, self._default

    # ------------------------------------------------------------------ the core (no I/O)

    def _check_cost(self, endpoint: str, bucket: _Bucket, cost: int) -> None:
        burst = bucket.spec.burst
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1 or cost > burst:
            raise InvalidArgumentError(
                f"A request cost of {cost!r} can never be granted by a bucket of {burst}.",
                hint="Use a cost between 1 and the endpoint's burst (max_requests by default).",
                context={"limiter": self.name, "endpoint": endpoint, "cost": cost, "burst": burst},
            )

    def _decide(self, endpoint: str, bucket: _Bucket, cost: int) -> Steps[tuple[bool, float]]:
        """One decision: a local bucket decides here, a shared one yields its store operation."""
        if isinstance(bucket, _StoreBucket):
            allowed, wait = bucket.counted(
                (yield bucket.take_one if cost == 1 else bucket.take(cost))
            )
        else:
            allowed, wait = bucket.take(cost)
        bus = self._bus
        if bus is not None and self._decisions.active:
            bus.publish(RateLimitDecision(self.name, endpoint, allowed, wait, cost))
        return allowed, wait

    def _acquire_steps(
        self, endpoint: str | None, cost: int, blocking: bool, timeout: float | None
    ) -> Steps[tuple[bool, float]]:
        """The acquire loop: decides, and while blocking, waits and decides again."""
        ep, bucket = self._bucket(endpoint)
        self._check_cost(ep, bucket, cost)
        allowed, wait = yield from self._decide(ep, bucket, cost)
        if allowed or not blocking:
            return allowed, wait
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            if deadline is not None and self._clock.monotonic() + wait > deadline:
                return False, wait  # waiting could not succeed in time: do not sleep for nothing
            yield float(wait)
            allowed, wait = yield from self._decide(ep, bucket, cost)
            if allowed:
                return True, 0.0

    def _or_raise_steps(
        self, endpoint: str | None, cost: int, timeout: float | None
    ) -> Steps[None]:
        """Take tokens (waiting up to ``timeout``, default: not at all) or raise."""
        allowed, wait = yield from self._acquire_steps(endpoint, cost, timeout is not None, timeout)
        if not allowed:
            raise self._exceeded(endpoint, cost, wait)

    def _exceeded(self, endpoint: str | None, cost: int, wait: float) -> RateLimitExceeded:
        ep, _ = self._bucket(endpoint)
        return RateLimitExceeded(
            f"Rate limit of {self.name!r}/{ep} exceeded; next permit in {wait:.3f}s.",
            retry_after=wait,
            hint="Slow down, or raise max_requests for this endpoint in [resilience].",
            context={"limiter": self.name, "endpoint": ep, "cost": cost},
        )

    @staticmethod
    def _available(bucket: _Bucket) -> Steps[float]:
        if isinstance(bucket, _StoreBucket):
            tokens: float = yield bucket.read
            return tokens
        return bucket.available()

    def _wait_time_steps(self, endpoint: str | None, cost: int) -> Steps[float]:
        _, bucket = self._bucket(endpoint)
        tokens = yield from self._available(bucket)
        return max(0.0, (cost - tokens) / bucket.spec.rate)

    def _stats_steps(self, endpoint: str | None, read_tokens: bool) -> Steps[dict[str, Any]]:
        if endpoint is not None:
            ep, bucket = self._bucket(endpoint)
            tokens = (yield from self._available(bucket)) if read_tokens else None
            return _bucket_stats(ep, bucket, tokens)
        per = {}
        for ep, bucket in self._buckets.items():
            tokens = (yield from self._available(bucket)) if read_tokens else None
            per[ep] = _bucket_stats(ep, bucket, tokens)
        allowed = sum(s["allowed"] for s in per.values())
        rejected = sum(s["rejected"] for s in per.values())
        default = per[DEFAULT_ENDPOINT]
        return {
            "name": self.name,
            "total_requests": allowed + rejected,
            "allowed": allowed,
            "rejected": rejected,
            "rejection_rate": rejected / (allowed + rejected) if allowed + rejected else 0.0,
            "max_requests": default["max_requests"],
            "window_seconds": default["window_seconds"],
            "tokens_available": default["tokens_available"],
            "endpoints": per,
        }

    # ------------------------------------------------------------------ the two drivers

    def _run(self, steps: Steps[T]) -> T:
        """The sync driver: runs store operations on the sync store, sleeps on the clock."""
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, methodcaller):
                store = self._sync_store
                if store is None:
                    steps.close()
                    raise self._needs_async()
                reply = step(store)
            else:
                self._clock.sleep(step)
                reply = None

    async def _arun(self, steps: Steps[T]) -> T:
        """The async driver: awaits store operations on the async store and ``clock.asleep``."""
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, methodcaller):
                reply = await step(self._async_store)
            else:
                await self._clock.asleep(step)
                reply = None

    def _needs_async(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"Rate limiter {self.name!r} shares its buckets through an AsyncStore "
            f"({self._store!r}), which only async code can drive; it was called from sync code.",
            hint="In async code use await limiter.aacquire() / aacquire_or_raise() / "
            "atokens_available(). Sync callers need a limiter on a sync Store "
            "(store_from_url(url)); a limiter of the same name on the same backend and "
            "namespace shares the same buckets.",
            context={"limiter": self.name, "store": repr(self._store)},
        )

    # ------------------------------------------------------------------ decisions

    def acquire(
        self,
        endpoint: str | None = None,
        *,
        cost: int = 1,
        blocking: bool = False,
        timeout: float | None = None,
    ) -> bool:
        """Take ``cost`` tokens. Non-blocking by default: True if granted, False if not.

        With ``blocking=True`` wait (on the clock) until granted, or until
        ``timeout`` seconds would be exceeded, then return False.
        """
        if cost == 1 and not blocking and not self._decisions.active:
            # the hot path: one dict lookup, one locked bucket update
            bucket = self._buckets.get(endpoint, self._default) if endpoint else self._default
            if isinstance(bucket, _LocalBucket):
                return bucket.take(1)[0]
            if self._sync_store is not None:  # the sync driver running the one store operation
                return bucket.counted(bucket.take_one(self._sync_store))[0]
        return self._run(self._acquire_steps(endpoint, cost, blocking, timeout))[0]

    async def aacquire(
        self,
        endpoint: str | None = None,
        *,
        cost: int = 1,
        blocking: bool = False,
        timeout: float | None = None,
    ) -> bool:
        """Async :meth:`acquire`: awaits the store and ``clock.asleep``; never blocks the loop."""
        if cost == 1 and not blocking and not self._decisions.active:
            bucket = self._buckets.get(endpoint, self._default) if endpoint else self._default
            if isinstance(bucket, _LocalBucket):
                return bucket.take(1)[0]
            # the async driver awaiting the one store operation
            return bucket.counted(await bucket.take_one(self._async_store))[0]
        return (await self._arun(self._acquire_steps(endpoint, cost, blocking, timeout)))[0]

    def acquire_or_raise(
        self, endpoint: str | None = None, *, cost: int = 1, timeout: float | None = None
    ) -> None:
        """Take tokens (waiting up to ``timeout``, default: not at all) or raise
        :class:`RateLimitExceeded` carrying ``retry_after``."""
        if cost == 1 and timeout is None and not self._decisions.active:
            bucket = self._buckets.get(endpoint, self._default) if endpoint else self._default
            if isinstance(bucket, _LocalBucket):
                allowed, wait = bucket.take(1)
            elif self._sync_store is not None:
                allowed, wait = bucket.counted(bucket.take_one(self._sync_store))
            else:
                raise self._needs_async()
            if not allowed:
                raise self._exceeded(endpoint, cost, wait)
            return
        self._run(self._or_raise_steps(endpoint, cost, timeout))

    async def aacquire_or_raise(
        self, endpoint: str | None = None, *, cost: int = 1, timeout: float | None = None
    ) -> None:
        """Async :meth:`acquire_or_raise`."""
        if cost == 1 and timeout is None and not self._decisions.active:
            bucket = self._buckets.get(endpoint, self._default) if endpoint else self._default
            if isinstance(bucket, _LocalBucket):
                allowed, wait = bucket.take(1)
            else:
                allowed, wait = bucket.counted(await bucket.take_one(self._async_store))
            if not allowed:
                raise self._exceeded(endpoint, cost, wait)
            return
        await self._arun(self._or_raise_steps(endpoint, cost, timeout))

    # ------------------------------------------------------------------ inspection

    def get_wait_time(self, endpoint: str | None = None, *, cost: int = 1) -> float:
        """Seconds until ``cost`` tokens are available (0.0 if available now)."""
        return self._run(self._wait_time_steps(endpoint, cost))

    async def aget_wait_time(self, endpoint: str | None = None, *, cost: int = 1) -> float:
        """Async :meth:`get_wait_time`."""
        return await self._arun(self._wait_time_steps(endpoint, cost))

    def tokens_available(self, endpoint: str | None = None) -> float:
        """Tokens in the bucket right now."""
        return self._run(self._available(self._bucket(endpoint)[1]))

    async def atokens_available(self, endpoint: str | None = None) -> float:
        """Async :meth:`tokens_available`."""
        return await self._arun(self._available(self._bucket(endpoint)[1]))

    @property
    def stats(self) -> RateLimiterStats:
        """A snapshot of this process's decisions, per endpoint (no store call, no lock)."""
        return RateLimiterStats(
            {ep: _endpoint_stats(ep, bucket) for ep, bucket in self._buckets.items()}
        )

    def get_stats(self, endpoint: str | None = None) -> dict[str, Any]:
        """Counts of allowed and rejected requests and the bucket state.

        Without ``endpoint``: totals over all endpoints plus an ``endpoints`` map.
        Counts are this process's decisions; a shared bucket's tokens are fleet-wide
        (``None`` when the bucket lives in an ``AsyncStore``: see :meth:`aget_stats`).
        """
        return self._run(self._stats_steps(endpoint, read_tokens=not self.async_only))

    async def aget_stats(self, endpoint: str | None = None) -> dict[str, Any]:
        """Async :meth:`get_stats` (reads the tokens of every bucket, from any store)."""
        return await self._arun(self._stats_steps(endpoint, read_tokens=True))

    def __repr__(self) -> str:
        spec = self._default.spec
        return (
            f"RateLimiter(name={self.name!r}, max_requests={spec.max_requests}, "
            f"window_seconds={spec.window_seconds}, endpoints={sorted(self._buckets)})"
        )


def _endpoint_stats(endpoint: str, bucket: _Bucket) -> RateLimitEndpointStats:
    spec = bucket.spec
    return RateLimitEndpointStats(
        endpoint,
        spec.max_requests,
        spec.window_seconds,
        spec.burst,
        bucket.allowed,
        bucket.rejected,
    )


def _bucket_stats(endpoint: str, bucket: _Bucket, tokens: float | None) -> dict[str, Any]:
    """Seed 002's dict for one endpoint: its :class:`RateLimitEndpointStats` and its tokens."""
    stats = _endpoint_stats(endpoint, bucket)
    return {
        **asdict(stats),
        "total_requests": stats.total_requests,
        "rejection_rate": stats.rejection_rate,
        "tokens_available": tokens,
    }


def _validated_spec(
    endpoint: str, max_requests: int, window_seconds: float, burst: int | None
) -> _Spec:
    problems = []
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        problems.append(f"max_requests must be an integer >= 1, got {max_requests!r}")
    if not isinstance(window_seconds, int | float) or not window_seconds > 0:
        problems.append(f"window_seconds must be a number > 0, got {window_seconds!r}")
    if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
        problems.append(f"burst must be an integer >= 1, got {burst!r}")
    if problems:
        raise InvalidArgumentError(
            f"Invalid rate limit for endpoint {endpoint!r}: " + "; ".join(problems),
            hint="Example: RateLimiter(max_requests=100, window_seconds=60).",
            context={"endpoint": endpoint, "max_requests": max_requests, "window": window_seconds},
        )
    return _Spec(max_requests, float(window_seconds), burst if burst is not None else max_requests)

"""Token-bucket rate limiting, per endpoint, local or shared through a store.

Seed 002's API::

    limiter = RateLimiter(max_requests=100, window_seconds=60)
    limiter.add_endpoint("fetch_ohlcv", max_requests=50, window_seconds=60)
    if limiter.acquire("fetch_ohlcv"):       # non-blocking, returns a bool
        fetch_ohlcv_data()
    else:
        wait = limiter.get_wait_time("fetch_ohlcv")

plus a blocking form (``acquire(blocking=True, timeout=5)``), an async form
(``await limiter.aacquire(...)``), ``acquire_or_raise`` raising
:class:`~peak_trade.errors.RateLimitExceeded` with ``retry_after``, request
costs (``cost=`` for weighted APIs) and ``burst`` (bucket size, default
``max_requests``).

A bucket refills at ``max_requests / window_seconds`` tokens per second up to
``burst`` tokens. Locally each bucket is a few floats behind a lock. With
``store=``, every decision is one atomic ``Store.take_tokens`` (GCRA; on Redis
one Lua script, one round trip, server time), so every process and host that
names the same limiter shares one bucket.

The blocking loop is written once, as a generator that yields how long to
wait; the sync shell sleeps on the clock, the async shell awaits it.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import InvalidArgumentError, RateLimitExceeded
from peak_trade.events import UNWATCHED, Event, EventBus
from peak_trade.resilience._catalog import Catalog

if TYPE_CHECKING:
    from peak_trade.store import Store

__all__ = ["NAMED", "RateLimitDecision", "RateLimiter"]

DEFAULT_ENDPOINT = "default"


@dataclass(frozen=True, slots=True)
class RateLimitDecision(Event):
    """Published for every decision when someone subscribes."""

    limiter: str
    endpoint: str
    allowed: bool
    wait: float
    cost: int


@dataclass(slots=True)
class _Spec:
    max_requests: int
    window_seconds: float
    burst: int

    @property
    def rate(self) -> float:
        return self.max_requests / self.window_seconds


class _Bucket(Protocol):
    spec: _Spec
    allowed: int
    rejected: int

    def take(self, cost: int) -> tuple[bool, float]: ...
    def available(self) -> float: ...


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
    """A bucket kept in a :class:`Store`: shared by every process using the same key."""

    __slots__ = ("_key", "_lock", "_store", "allowed", "rejected", "spec")

    def __init__(self, spec: _Spec, store: Store, key: str) -> None:
        self.spec = spec
        self._store = store
        self._key = key
        self._lock = threading.Lock()
        self.allowed = 0
        self.rejected = 0

    def take(self, cost: int) -> tuple[bool, float]:
        allowed, wait = self._store.take_tokens(self._key, self.spec.rate, self.spec.burst, cost)
        with self._lock:
            if allowed:
                self.allowed += 1
            else:
                self.rejected += 1
        return allowed, wait

    def available(self) -> float:
        return self._store.tokens_available(self._key, self.spec.rate, self.spec.burst)


class RateLimiter:
    """Token-bucket rate limiter with per-endpoint buckets.

    Args:
        max_requests: requests allowed per ``window_seconds`` (the default bucket).
        window_seconds: the window; the refill rate is ``max_requests / window_seconds``.
        burst: bucket size (default ``max_requests``): how many calls may go at once.
        name: identifies the limiter in events, stats and store keys.
        store: share the buckets through this store (all processes using the
            same ``name`` and store share them); default: in-process buckets.
        clock: time source; ``ManualClock`` in tests.
        bus: publish a :class:`RateLimitDecision` per decision.
        register: a limiter given a ``name`` is listed (weakly) by
            ``get_all_rate_limiters()``; ``register=False`` keeps it out.
    """

    def __init__(
        self,
        max_requests: int = 100,
        window_seconds: float = 60.0,
        *,
        burst: int | None = None,
        name: str | None = None,
        store: Store | None = None,
        clock: Clock = system_clock,
        bus: EventBus | None = None,
        register: bool = True,
    ) -> None:
        self.name = name if name is not None else "default"
        self._clock = clock
        self._bus = bus
        self._decisions = UNWATCHED if bus is None else bus.interest(RateLimitDecision)
        self._store = store
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.add_endpoint(DEFAULT_ENDPOINT, max_requests, window_seconds, burst=burst)
        self._default = self._buckets[DEFAULT_ENDPOINT]
        if register and name is not None:
            NAMED.add(name, self)

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
            bucket = _StoreBucket(spec, self._store, f"ratelimit:{self.name}:{endpoint}")
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

    # ------------------------------------------------------------------ decisions

    def _check_cost(self, endpoint: str, bucket: _Bucket, cost: int) -> None:
        burst = bucket.spec.burst
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1 or cost > burst:
            raise InvalidArgumentError(
                f"A request cost of {cost!r} can never be granted by a bucket of {burst}.",
                hint="Use a cost between 1 and the endpoint's burst (max_requests by default).",
                context={"limiter": self.name, "endpoint": endpoint, "cost": cost, "burst": burst},
            )

    def _decide(self, endpoint: str, bucket: _Bucket, cost: int) -> tuple[bool, float]:
        allowed, wait = bucket.take(cost)
        bus = self._bus
        if bus is not None and self._decisions.active:
            bus.publish(RateLimitDecision(self.name, endpoint, allowed, wait, cost))
        return allowed, wait

    def _steps(
        self, endpoint: str | None, cost: int, blocking: bool, timeout: float | None
    ) -> Generator[float, None, tuple[bool, float]]:
        """The acquire loop, sans I/O: yields seconds to wait, returns (allowed, wait)."""
        ep, bucket = self._bucket(endpoint)
        self._check_cost(ep, bucket, cost)
        allowed, wait = self._decide(ep, bucket, cost)
        if allowed or not blocking:
            return allowed, wait
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            if deadline is not None and self._clock.monotonic() + wait > deadline:
                return False, wait  # waiting could not succeed in time: do not sleep for nothing
            yield wait
            allowed, wait = self._decide(ep, bucket, cost)
            if allowed:
                return True, 0.0

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
            return bucket.take(1)[0]
        return self._run_sync(self._steps(endpoint, cost, blocking, timeout))[0]

    def _run_sync(self, steps: Generator[float, None, tuple[bool, float]]) -> tuple[bool, float]:
        """Drive the acquire loop, sleeping on the clock between decisions."""
        try:
            while True:
                self._clock.sleep(next(steps))
        except StopIteration as done:
            result: tuple[bool, float] = done.value
            return result

    async def aacquire(
        self,
        endpoint: str | None = None,
        *,
        cost: int = 1,
        blocking: bool = False,
        timeout: float | None = None,
    ) -> bool:
        """Async :meth:`acquire`: waits with ``await clock.asleep`` instead of blocking."""
        steps = self._steps(endpoint, cost, blocking, timeout)
        try:
            while True:
                await self._clock.asleep(next(steps))
        except StopIteration as done:
            result: tuple[bool, float] = done.value
            return result[0]

    def acquire_or_raise(
        self, endpoint: str | None = None, *, cost: int = 1, timeout: float | None = None
    ) -> None:
        """Take tokens (waiting up to ``timeout``, default: not at all) or raise
        :class:`RateLimitExceeded` carrying ``retry_after``."""
        if cost == 1 and timeout is None and not self._decisions.active:
            bucket = self._buckets.get(endpoint, self._default) if endpoint else self._default
            allowed, wait = bucket.take(1)
        else:
            allowed, wait = self._run_sync(
                self._steps(endpoint, cost, timeout is not None, timeout)
            )
        if not allowed:
            ep, _ = self._bucket(endpoint)
            raise RateLimitExceeded(
                f"Rate limit of {self.name!r}/{ep} exceeded; next permit in {wait:.3f}s.",
                retry_after=wait,
                hint="Slow down, or raise max_requests for this endpoint in [resilience].",
                context={"limiter": self.name, "endpoint": ep, "cost": cost},
            )

    # ------------------------------------------------------------------ inspection

    def get_wait_time(self, endpoint: str | None = None, *, cost: int = 1) -> float:
        """Seconds until ``cost`` tokens are available (0.0 if available now)."""
        _, bucket = self._bucket(endpoint)
        return max(0.0, (cost - bucket.available()) / bucket.spec.rate)

    def tokens_available(self, endpoint: str | None = None) -> float:
        """Tokens in the bucket right now."""
        return self._bucket(endpoint)[1].available()

    def get_stats(self, endpoint: str | None = None) -> dict[str, Any]:
        """Counts of allowed and rejected requests and the bucket state.

        Without ``endpoint``: totals over all endpoints plus an ``endpoints`` map.
        Counts are this process's decisions; a shared bucket's tokens are fleet-wide.
        """
        if endpoint is not None:
            ep, bucket = self._bucket(endpoint)
            return _bucket_stats(ep, bucket)
        per = {ep: _bucket_stats(ep, b) for ep, b in self._buckets.items()}
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

    def __repr__(self) -> str:
        spec = self._default.spec
        return (
            f"RateLimiter(name={self.name!r}, max_requests={spec.max_requests}, "
            f"window_seconds={spec.window_seconds}, endpoints={sorted(self._buckets)})"
        )


NAMED: Catalog[RateLimiter] = Catalog("rate limiter")
"""Limiters made with a ``name`` (and ``register=True``), weakly held: the default
instance ``get_all_rate_limiters()`` lists; ``set_default_registry(None)`` clears it."""


def _bucket_stats(endpoint: str, bucket: _Bucket) -> dict[str, Any]:
    spec = bucket.spec
    allowed, rejected = bucket.allowed, bucket.rejected
    total = allowed + rejected
    return {
        "endpoint": endpoint,
        "max_requests": spec.max_requests,
        "window_seconds": spec.window_seconds,
        "burst": spec.burst,
        "allowed": allowed,
        "rejected": rejected,
        "total_requests": total,
        "rejection_rate": rejected / total if total else 0.0,
        "tokens_available": bucket.available(),
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

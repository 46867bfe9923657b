"""Property test: memory and SQLite stores behave like a plain Python model.

Hypothesis drives random sequences of get / set / set_if_absent /
compare_and_set / compare_and_delete / delete / incr / window_hit /
take_tokens interleaved with clock advances, on a ``ManualClock`` shared by
store and model, and checks every result and the full state after each step.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from peak_trade.clock import ManualClock
from peak_trade.errors import StoreError
from peak_trade.store import MemoryStore, Store
from peak_trade.store.sqlite import SqliteStore

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from([b"", b"x", b"y", b"1", b"-2", b"9223372036854775807"])
TTLS = st.sampled_from([None, 0.5, 1.0, 5.0])
STEPS = st.sampled_from([0.1, 0.4, 0.5, 1.0, 3.0])
INT64_MAX = 2**63 - 1
REDIS_INTEGER = re.compile(rb"-?[1-9][0-9]*|0")  # what Redis INCRBY accepts


class StoreModel(RuleBasedStateMachine):
    """Compares a store to dicts: key -> (value, expires_at), window events, GCRA tat."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.store = self.make_store()
        self.values: dict[str, tuple[bytes, float | None]] = {}
        self.events: dict[str, list[tuple[float, int]]] = {}
        self.tat: dict[str, float] = {}

    def make_store(self) -> Store:
        raise NotImplementedError

    def teardown(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ model helpers

    def live(self, key: str) -> bytes | None:
        entry = self.values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self.clock.time():
            del self.values[key]
            return None
        return value

    def put(self, key: str, value: bytes, ttl: float | None) -> None:
        self.values[key] = (value, None if ttl is None else self.clock.time() + ttl)

    # ------------------------------------------------------------ rules

    @rule(seconds=STEPS)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        assert self.store.get(key) == self.live(key)

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.store.set(key, value, ttl)
        self.put(key, value, ttl)

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set_if_absent(self, key: str, value: bytes, ttl: float | None) -> None:
        expected = self.live(key) is None
        assert self.store.set_if_absent(key, value, ttl) is expected
        if expected:
            self.put(key, value, ttl)

    @rule(key=KEYS, expected=st.none() | VALUES, new=VALUES, ttl=TTLS)
    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> None:
        match = self.live(key) == expected
        assert self.store.compare_and_set(key, expected, new, ttl) is match
        if match:
            self.put(key, new, ttl)

    @rule(key=KEYS, expected=VALUES)
    def compare_and_delete(self, key: str, expected: bytes) -> None:
        match = self.live(key) == expected
        assert self.store.compare_and_delete(key, expected) is match
        if match:
            del self.values[key]

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        now = self.clock.time()
        existed = (
            self.live(key) is not None
            or any(ts + 10 > now for ts, _ in self.events.get(key, []))
            or self.tat.get(key, now) > now
        )
        assert self.store.delete(key) is existed
        self.values.pop(key, None)
        self.events.pop(key, None)
        self.tat.pop(key, None)

    @rule(key=KEYS, amount=st.integers(-3, 3), ttl=TTLS)
    def incr(self, key: str, amount: int, ttl: float | None) -> None:
        current = self.live(key)
        ok = current is None or REDIS_INTEGER.fullmatch(current) is not None
        result = (0 if current is None else int(current)) + amount if ok else None
        if result is None or not -(2**63) <= result <= INT64_MAX:
            try:
                self.store.incr(key, amount, ttl)
            except StoreError:
                return
            raise AssertionError("incr of a non-integer or overflowing value must fail")
        assert self.store.incr(key, amount, ttl) == result
        if current is None:
            self.put(key, str(result).encode(), ttl)
        else:
            self.values[key] = (str(result).encode(), self.values[key][1])

    @rule(key=KEYS, cost=st.integers(0, 3), limit=st.none() | st.integers(0, 6))
    def window_hit(self, key: str, cost: int, limit: int | None) -> None:
        now = self.clock.time()
        events = [e for e in self.events.get(key, []) if e[0] > now - 10]
        total = sum(c for _, c in events) + cost
        assert self.store.window_hit(key, 10, cost, limit) == total
        if cost and (limit is None or total <= limit):
            events.append((now, cost))
        self.events[key] = events

    @rule(key=KEYS, cost=st.integers(1, 3))
    def take_tokens(self, key: str, cost: int) -> None:
        rate, burst, now = 2.0, 3, self.clock.time()
        base = max(self.tat.get(key, now), now)
        tokens = burst - (base - now) * rate
        allowed, wait = self.store.take_tokens(key, rate, burst, cost)
        if abs(tokens - cost) > 1e-5:  # away from the float-rounding boundary: must agree
            assert allowed is (tokens >= cost)
        if allowed:
            assert wait == 0.0
            self.tat[key] = base + cost / rate
        else:
            assert math.isclose(wait, (cost - tokens) / rate, abs_tol=1e-5)

    @invariant()
    def same_keys_and_ttls(self) -> None:
        now = self.clock.time()
        live = sorted(k for k in list(self.values) if self.live(k) is not None)
        assert self.store.scan("") == live
        for key in live:
            expires_at = self.values[key][1]
            expected = math.inf if expires_at is None else expires_at - now
            assert self.store.ttl(key) == expected


class MemoryModel(StoreModel):
    def make_store(self) -> Store:
        return MemoryStore(clock=self.clock)


class SqliteModel(StoreModel):
    def make_store(self) -> Store:
        self.tmp = tempfile.mkdtemp(prefix="peaktrade-model-")
        return SqliteStore(Path(self.tmp) / "model.db", clock=self.clock)

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.tmp, ignore_errors=True)


TestMemoryStoreMatchesModel = MemoryModel.TestCase
TestMemoryStoreMatchesModel.settings = settings(max_examples=150, stateful_step_count=40)
TestSqliteStoreMatchesModel = SqliteModel.TestCase
TestSqliteStoreMatchesModel.settings = settings(max_examples=60, stateful_step_count=30)

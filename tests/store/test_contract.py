"""The store contract: every backend (memory, SQLite, Redis; sync and async) passes it.

A new backend is done when it passes this file. Tests that move time take
``timed_case`` (backends whose clock the test controls); the others take
``store_case`` and hold on every backend, checking Redis's server-clock
behaviour through ``ttl()`` and the ``wait`` values it returns.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from peak_trade.errors import ConfigError, InvalidArgumentError, StoreError
from peak_trade.store import Store

from .conftest import StoreCase, unique_namespace

# ---------------------------------------------------------------- values


def test_ping(store: Store) -> None:
    store.ping()


def test_get_of_a_missing_key_is_none(store: Store) -> None:
    assert store.get("missing") is None


@pytest.mark.parametrize("value", [b"v", b"", b"\x00\xff\x80binary", b"x" * 100_000])
def test_set_then_get_round_trips_bytes(store: Store, value: bytes) -> None:
    store.set("k", value)
    assert store.get("k") == value


@pytest.mark.parametrize("key", ["a", "order:42:binance", "ключ/é*?[x]\\", "k" * 512])
def test_keys_may_use_any_printable_characters_but_braces(store: Store, key: str) -> None:
    store.set(key, b"v")
    assert store.get(key) == b"v"
    assert store.scan(key) == [key]
    assert store.delete(key)


def test_set_overwrites_value_and_expiry(store: Store) -> None:
    store.set("k", b"1", ttl=100)
    store.set("k", b"2")
    assert store.get("k") == b"2"
    assert store.ttl("k") == math.inf
    store.set("k", b"3", ttl=50)
    ttl = store.ttl("k")
    assert ttl is not None
    assert 49 < ttl <= 50


def test_empty_value_is_not_absent(store: Store) -> None:
    store.set("k", b"")
    assert store.get("k") == b""
    assert not store.set_if_absent("k", b"x")
    assert not store.compare_and_set("k", None, b"x")
    assert store.compare_and_set("k", b"", b"x")
    assert store.get("k") == b"x"


# ---------------------------------------------------------------- set_if_absent / CAS / CAD


def test_set_if_absent_only_first_wins(store: Store) -> None:
    assert store.set_if_absent("k", b"first")
    assert not store.set_if_absent("k", b"second")
    assert store.get("k") == b"first"


def test_set_if_absent_with_ttl(store: Store) -> None:
    assert store.set_if_absent("k", b"v", ttl=30)
    ttl = store.ttl("k")
    assert ttl is not None
    assert 29 < ttl <= 30


def test_compare_and_set(store: Store) -> None:
    assert not store.compare_and_set("k", b"x", b"y")  # absent != b"x"
    assert store.get("k") is None
    assert store.compare_and_set("k", None, b"a")  # None: must be absent
    assert not store.compare_and_set("k", None, b"b")
    assert not store.compare_and_set("k", b"wrong", b"b")
    assert store.get("k") == b"a"
    assert store.compare_and_set("k", b"a", b"b")
    assert store.get("k") == b"b"


def test_compare_and_set_sets_the_new_expiry(store: Store) -> None:
    store.set("k", b"a", ttl=100)
    assert store.compare_and_set("k", b"a", b"b", ttl=10)
    ttl = store.ttl("k")
    assert ttl is not None
    assert 9 < ttl <= 10
    assert store.compare_and_set("k", b"b", b"c")  # ttl=None: persistent
    assert store.ttl("k") == math.inf


def test_compare_and_delete(store: Store) -> None:
    assert not store.compare_and_delete("k", b"a")
    store.set("k", b"a")
    assert not store.compare_and_delete("k", b"b")
    assert store.get("k") == b"a"
    assert store.compare_and_delete("k", b"a")
    assert store.get("k") is None
    assert not store.compare_and_delete("k", b"a")


def test_lock_pattern_owner_token(store: Store) -> None:
    """The lease idiom the higher layers use: acquire with a token, release only by owner."""
    assert store.set_if_absent("lock", b"owner-1", ttl=30)
    assert not store.set_if_absent("lock", b"owner-2", ttl=30)
    assert not store.compare_and_delete("lock", b"owner-2")
    assert store.compare_and_set("lock", b"owner-1", b"owner-1", ttl=60)  # renew
    assert store.compare_and_delete("lock", b"owner-1")
    assert store.set_if_absent("lock", b"owner-2", ttl=30)


# ---------------------------------------------------------------- delete / ttl


def test_delete(store: Store) -> None:
    assert not store.delete("k")
    store.set("k", b"v")
    assert store.delete("k")
    assert store.get("k") is None
    assert not store.delete("k")


def test_delete_removes_window_and_bucket_of_the_same_name(store: Store) -> None:
    store.window_hit("k", 60)
    assert store.delete("k")
    assert store.window_hit("k", 60, cost=0) == 0
    store.take_tokens("k", rate=0.01, burst=3, cost=3)
    assert store.tokens_available("k", 0.01, 3) < 1
    assert store.delete("k")
    assert store.tokens_available("k", 0.01, 3) == 3
    assert not store.delete("k")


def test_ttl(store: Store) -> None:
    assert store.ttl("k") is None
    store.set("k", b"v")
    assert store.ttl("k") == math.inf
    store.set("k", b"v", ttl=2.5)
    ttl = store.ttl("k")
    assert ttl is not None
    assert 2.4 < ttl <= 2.5


def test_tiny_ttls_are_rounded_up_not_down(store: Store) -> None:
    store.set("k", b"v", ttl=0.0001)  # Redis rounds up to 1 ms; never to "no expiry"
    ttl = store.ttl("k")
    assert ttl is None or 0 <= ttl <= 0.001


# ---------------------------------------------------------------- incr


def test_incr(store: Store) -> None:
    assert store.incr("n") == 1
    assert store.incr("n", 5) == 6
    assert store.incr("n", -10) == -4
    assert store.get("n") == b"-4"
    assert store.ttl("n") == math.inf


def test_incr_works_on_integer_values_set_by_set(store: Store) -> None:
    store.set("n", b"41")
    assert store.incr("n") == 42


@pytest.mark.parametrize("value", [b"abc", b"1.5", b"", b" 1"])
def test_incr_on_a_non_integer_value_is_a_store_error(store: Store, value: bytes) -> None:
    store.set("n", value)
    with pytest.raises(StoreError, match="integer"):
        store.incr("n")
    assert store.get("n") == value


def test_incr_overflow_is_a_store_error(store: Store) -> None:
    store.set("n", str(2**63 - 1).encode())
    with pytest.raises(StoreError):
        store.incr("n")


def test_incr_ttl_applies_only_when_the_key_is_created(store: Store) -> None:
    assert store.incr("n", ttl=10) == 1
    assert store.incr("n", ttl=1000) == 2
    ttl = store.ttl("n")
    assert ttl is not None
    assert 9 < ttl <= 10
    store.set("p", b"5")
    assert store.incr("p", ttl=10) == 6
    assert store.ttl("p") == math.inf


# ---------------------------------------------------------------- window_hit


def test_window_hit_counts_costs_including_this_hit(store: Store) -> None:
    assert store.window_hit("w", 60) == 1
    assert store.window_hit("w", 60) == 2
    assert store.window_hit("w", 60, cost=5) == 7
    assert store.window_hit("w", 60, cost=0) == 7  # read-only count
    assert store.window_hit("w", 60, cost=0) == 7


def test_window_hit_limit_records_nothing_over_the_limit(store: Store) -> None:
    assert store.window_hit("w", 60, cost=3, limit=5) == 3
    assert store.window_hit("w", 60, cost=2, limit=5) == 5  # exactly at the limit: allowed
    assert store.window_hit("w", 60, cost=1, limit=5) == 6  # over: refused, total reported
    assert store.window_hit("w", 60, cost=4, limit=5) == 9
    assert store.window_hit("w", 60, cost=0) == 5  # nothing was recorded
    assert store.window_hit("w", 60, cost=0, limit=5) == 5


def test_window_hit_of_an_empty_window(store: Store) -> None:
    assert store.window_hit("w", 60, cost=0) == 0
    assert store.window_hit("w", 60, cost=2, limit=1) == 2
    assert store.window_hit("w", 60, cost=0) == 0
    assert not store.delete("w")  # nothing was ever recorded


def test_many_hits_in_the_same_instant_are_all_counted(store: Store) -> None:
    for _ in range(50):
        store.window_hit("w", 60)
    assert store.window_hit("w", 60, cost=0) == 50


# ---------------------------------------------------------------- take_tokens


def test_bucket_starts_full_and_grants_burst(store: Store) -> None:
    assert store.tokens_available("b", rate=0.01, burst=5) == 5
    for _ in range(5):
        assert store.take_tokens("b", rate=0.01, burst=5) == (True, 0.0)
    allowed, wait = store.take_tokens("b", rate=0.01, burst=5)
    assert not allowed
    assert 99 < wait <= 100  # one token at 0.01/s


def test_refused_take_consumes_nothing(store: Store) -> None:
    assert store.take_tokens("b", rate=0.01, burst=10, cost=7)[0]
    allowed, wait = store.take_tokens("b", rate=0.01, burst=10, cost=5)
    assert not allowed
    assert 199 < wait <= 200  # 2 more tokens needed at 0.01/s
    assert store.take_tokens("b", rate=0.01, burst=10, cost=3)[0]
    avail = store.tokens_available("b", rate=0.01, burst=10)
    assert 0 <= avail < 0.1


def test_tokens_available_is_read_only(store: Store) -> None:
    store.take_tokens("b", rate=0.01, burst=4, cost=2)
    for _ in range(3):
        assert 2 <= store.tokens_available("b", rate=0.01, burst=4) < 2.1


def test_cost_above_burst_is_invalid(store: Store) -> None:
    with pytest.raises(InvalidArgumentError, match="never be granted"):
        store.take_tokens("b", rate=1, burst=3, cost=4)


def test_buckets_with_different_keys_are_independent(store: Store) -> None:
    assert store.take_tokens("b1", rate=0.01, burst=1)[0]
    assert not store.take_tokens("b1", rate=0.01, burst=1)[0]
    assert store.take_tokens("b2", rate=0.01, burst=1)[0]


# ---------------------------------------------------------------- families and scan


def test_value_window_and_bucket_of_one_name_are_separate_records(store: Store) -> None:
    store.set("x", b"v")
    assert store.window_hit("x", 60) == 1
    assert store.take_tokens("x", rate=1, burst=2)[0]
    assert store.get("x") == b"v"
    assert store.incr("y") == 1
    assert store.window_hit("y", 60) == 1
    assert store.scan("") == ["x", "y"]


def test_scan(store: Store) -> None:
    for key in ["user:2", "user:1", "userx", "order:1", "use"]:
        store.set(key, b"v")
    store.window_hit("user:window", 60)
    store.take_tokens("user:bucket", rate=1, burst=1)
    assert store.scan("user:") == ["user:1", "user:2"]
    assert store.scan("user") == ["user:1", "user:2", "userx"]
    assert store.scan("") == ["order:1", "use", "user:1", "user:2", "userx"]
    assert store.scan("nothing") == []


def test_scan_prefix_is_literal_not_a_pattern(store: Store) -> None:
    for key in ["a*b", "axb", "a?c", "a[1]", "a\\d"]:
        store.set(key, b"v")
    assert store.scan("a*") == ["a*b"]
    assert store.scan("a?") == ["a?c"]
    assert store.scan("a[") == ["a[1]"]
    assert store.scan("a\\") == ["a\\d"]


def test_scan_skips_deleted_keys(store: Store) -> None:
    store.set("a1", b"v")
    store.set("a2", b"v")
    store.delete("a1")
    assert store.scan("a") == ["a2"]


# ---------------------------------------------------------------- namespaces


def test_namespaces_never_collide(store_case: StoreCase) -> None:
    ns = unique_namespace()
    a = store_case.open(ns)
    b = store_case.open(ns + "2")  # a namespace that starts like the other one
    a.set("k", b"a")
    assert b.get("k") is None
    assert b.set_if_absent("k", b"b")
    assert a.get("k") == b"a"
    assert a.incr("n") == 1
    assert b.incr("n") == 1
    assert a.window_hit("w", 60, cost=3) == 3
    assert b.window_hit("w", 60, cost=0) == 0
    assert a.take_tokens("t", rate=0.01, burst=1)[0]
    assert b.take_tokens("t", rate=0.01, burst=1)[0]
    assert a.scan("") == ["k", "n"]
    assert b.scan("") == ["k", "n"]
    assert b.delete("k")
    assert a.get("k") == b"a"
    assert not b.compare_and_delete("k", b"a")
    assert a.namespace == ns
    assert b.namespace == ns + "2"


def test_same_namespace_shares_data(store_case: StoreCase) -> None:
    ns = unique_namespace()
    first = store_case.open(ns)
    second = store_case.open(ns)
    first.set("k", b"v")
    assert second.get("k") == b"v"
    assert not second.set_if_absent("k", b"w")


def test_bad_namespace_is_rejected(store_case: StoreCase) -> None:
    with pytest.raises((InvalidArgumentError, ConfigError)):
        store_case.open("bad namespace")


# ---------------------------------------------------------------- lifecycle


def test_context_manager_closes_and_data_survives(store_case: StoreCase) -> None:
    ns = unique_namespace()
    with store_case.open(ns) as s:
        s.set("k", b"v")
    with store_case.open(ns) as s:
        assert s.get("k") == b"v"


def test_close_is_idempotent_and_a_closed_store_reconnects(store_case: StoreCase) -> None:
    s = store_case.open()
    s.set("k", b"v")
    s.close()
    s.close()
    assert s.get("k") == b"v"
    assert s.incr("n") == 1


def test_url_is_a_string_without_secrets(store: Store) -> None:
    assert isinstance(store.url, str)
    assert "://" in store.url


# ---------------------------------------------------------------- argument validation

BAD_KEYS: list[Any] = ["", "a b", "a\tb", "a\nb", "a{b", "a}b", "{x}", "a\x00b", "a\x7f", "k" * 513]
BAD_KEYS += [None, 1, b"key"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_invalid_arguments(store: Store, key: Any) -> None:
    calls = [
        lambda: store.get(key),
        lambda: store.set(key, b"v"),
        lambda: store.set_if_absent(key, b"v"),
        lambda: store.compare_and_set(key, None, b"v"),
        lambda: store.compare_and_delete(key, b"v"),
        lambda: store.delete(key),
        lambda: store.ttl(key),
        lambda: store.incr(key),
        lambda: store.window_hit(key, 1),
        lambda: store.take_tokens(key, 1, 1),
        lambda: store.tokens_available(key, 1, 1),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.hint
        assert "key" in info.value.context


@pytest.mark.parametrize("prefix", ["a b", "{", None])
def test_bad_scan_prefix(store: Store, prefix: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        store.scan(prefix)


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, "1", True])
def test_bad_ttls(store: Store, ttl: Any) -> None:
    for call in (
        lambda: store.set("k", b"v", ttl=ttl),
        lambda: store.set_if_absent("k", b"v", ttl=ttl),
        lambda: store.compare_and_set("k", None, b"v", ttl=ttl),
        lambda: store.incr("k", ttl=ttl),
    ):
        with pytest.raises(InvalidArgumentError, match="ttl"):
            call()
    assert store.get("k") is None


@pytest.mark.parametrize("value", ["text", bytearray(b"x"), None, 1, memoryview(b"x")], ids=repr)
def test_values_must_be_bytes(store: Store, value: Any) -> None:
    for call in (
        lambda: store.set("k", value),
        lambda: store.set_if_absent("k", value),
        lambda: store.compare_and_set("k", None, value),
        lambda: store.compare_and_delete("k", value),
    ):
        with pytest.raises(InvalidArgumentError, match="bytes"):
            call()
    if value is not None:
        with pytest.raises(InvalidArgumentError, match="bytes"):
            store.compare_and_set("k", value, b"new")
    assert store.get("k") is None


def test_bad_counting_arguments(store: Store) -> None:
    bad: list[Any] = [
        lambda: store.incr("k", 1.5),
        lambda: store.incr("k", True),
        lambda: store.incr("k", 2**63),
        lambda: store.window_hit("k", 0),
        lambda: store.window_hit("k", -1),
        lambda: store.window_hit("k", math.inf),
        lambda: store.window_hit("k", 1, cost=-1),
        lambda: store.window_hit("k", 1, cost=1.0),
        lambda: store.window_hit("k", 1, limit=-1),
        lambda: store.take_tokens("k", 0, 1),
        lambda: store.take_tokens("k", -1, 1),
        lambda: store.take_tokens("k", math.nan, 1),
        lambda: store.take_tokens("k", 1, 0),
        lambda: store.take_tokens("k", 1, 1.5),
        lambda: store.take_tokens("k", 1, 1, cost=0),
        lambda: store.take_tokens("k", 1, 1, cost=-1),
        lambda: store.tokens_available("k", 0, 1),
        lambda: store.tokens_available("k", 1, 0),
    ]
    for call in bad:
        with pytest.raises(InvalidArgumentError):
            call()
    assert store.scan("") == []


# ---------------------------------------------------------------- time travel (controlled clocks)


def test_values_expire(timed_case: StoreCase) -> None:
    store = timed_case.store
    store.set("k", b"v", ttl=10)
    timed_case.advance(4)
    assert store.ttl("k") == pytest.approx(6)
    timed_case.advance(5.9)
    assert store.get("k") == b"v"
    assert store.scan("") == ["k"]
    timed_case.advance(0.2)
    assert store.get("k") is None
    assert store.ttl("k") is None
    assert store.scan("") == []
    assert not store.delete("k")
    assert not store.compare_and_delete("k", b"v")


def test_expired_keys_are_absent_for_every_primitive(timed_case: StoreCase) -> None:
    store = timed_case.store
    store.set("a", b"old", ttl=1)
    store.set("b", b"old", ttl=1)
    store.set("c", b"old", ttl=1)
    store.set("d", b"7", ttl=1)
    timed_case.advance(1.5)
    assert store.set_if_absent("a", b"new")
    assert not store.compare_and_set("b", b"old", b"new")
    assert store.compare_and_set("b", None, b"new")
    assert not store.compare_and_delete("c", b"old")
    assert store.incr("d") == 1  # an expired counter starts again at 0
    assert store.ttl("d") == math.inf


def test_incr_fixed_window_counter(timed_case: StoreCase) -> None:
    store = timed_case.store
    assert store.incr("n", ttl=60) == 1
    timed_case.advance(30)
    assert store.incr("n", ttl=60) == 2
    assert store.ttl("n") == pytest.approx(30)
    timed_case.advance(30.5)
    assert store.incr("n", ttl=60) == 1
    assert store.ttl("n") == pytest.approx(60)


def test_window_slides(timed_case: StoreCase) -> None:
    store = timed_case.store
    assert store.window_hit("w", 60, cost=2) == 2
    timed_case.advance(30)
    assert store.window_hit("w", 60, cost=3) == 5
    timed_case.advance(29.9)
    assert store.window_hit("w", 60, cost=0) == 5
    timed_case.advance(0.2)  # the first hit is now older than 60 s
    assert store.window_hit("w", 60, cost=0) == 3
    timed_case.advance(30)
    assert store.window_hit("w", 60, cost=0) == 0
    assert not store.delete("w")


def test_window_limit_frees_up_as_old_hits_leave(timed_case: StoreCase) -> None:
    store = timed_case.store
    for _ in range(3):
        assert store.window_hit("w", 10, limit=3) <= 3
        timed_case.advance(1)
    assert store.window_hit("w", 10, limit=3) == 4  # refused
    timed_case.advance(7.5)  # the first hit (t=0) leaves the window at t=10
    assert store.window_hit("w", 10, limit=3) == 3


def test_bucket_refills_at_rate_up_to_burst(timed_case: StoreCase) -> None:
    store = timed_case.store
    for _ in range(4):
        assert store.take_tokens("b", rate=2, burst=4)[0]
    allowed, wait = store.take_tokens("b", rate=2, burst=4)
    assert (allowed, wait) == (False, pytest.approx(0.5))
    timed_case.advance(0.25)
    assert store.tokens_available("b", 2, 4) == pytest.approx(0.5)
    assert store.take_tokens("b", rate=2, burst=4) == (False, pytest.approx(0.25))
    timed_case.advance(0.25)
    assert store.take_tokens("b", rate=2, burst=4) == (True, 0.0)
    assert store.take_tokens("b", rate=2, burst=4, cost=3) == (False, pytest.approx(1.5))
    timed_case.advance(1000)
    assert store.tokens_available("b", 2, 4) == 4  # capped at burst
    assert not store.delete("b")  # a full bucket is the same as no bucket
    for _ in range(4):
        assert store.take_tokens("b", rate=2, burst=4)[0]
    assert not store.take_tokens("b", rate=2, burst=4)[0]


def test_bucket_waits_are_exact_after_waiting_them(timed_case: StoreCase) -> None:
    store = timed_case.store
    assert store.take_tokens("b", rate=3, burst=1)[0]
    for _ in range(20):
        allowed, wait = store.take_tokens("b", rate=3, burst=1)
        assert not allowed
        timed_case.advance(wait)
        assert store.take_tokens("b", rate=3, burst=1) == (True, 0.0)


def test_scan_after_expiry_and_ttl_decreases(timed_case: StoreCase) -> None:
    store = timed_case.store
    store.set("p:1", b"v", ttl=5)
    store.set("p:2", b"v")
    timed_case.advance(2)
    assert store.ttl("p:1") == pytest.approx(3)
    timed_case.advance(3)
    assert store.scan("p:") == ["p:2"]

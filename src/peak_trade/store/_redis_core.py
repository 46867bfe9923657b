"""The Redis backend's logic, written once for the sync and the async shell.

Each primitive is a pure function from arguments to a :class:`Command`: the
validated arguments, the key layout, the one native command or Lua script to
send, and how to parse the reply. The shells (``redis.py`` with
``redis.Redis``, ``aio_redis.py`` with ``redis.asyncio.Redis``) only send a
command and hand the reply to :meth:`Command.parse`. Error mapping and the
start-up eviction-policy check, also shared, are in ``_redis_checks.py``.

Key layout (namespace ``ns``, user key ``k``)::

    ns:{k}      the value (string)                 get/set/.../incr
    ns:{k}:w    the sliding-window log (zset)      window_hit
    ns:{k}:b    the GCRA bucket's arrival time     take_tokens

The user key sits inside braces, a Redis Cluster *hash tag*: all three live
in one slot, so every script (and the three-key ``DEL``) touches one slot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, TypeVar

from peak_trade.store._validate import (
    check_amount,
    check_bucket,
    check_cost,
    check_key,
    check_limit,
    check_namespace,
    check_prefix,
    check_ttl,
    check_value,
    check_window,
)

__all__ = ["SCRIPTS", "Command", "RedisCommands"]

T = TypeVar("T")

SCRIPTS: dict[str, str] = {
    name: resources.files("peak_trade.store").joinpath("lua", f"{name}.lua").read_text("utf-8")
    for name in (
        "compare_and_set",
        "compare_and_delete",
        "incr",
        "window_hit",
        "take_tokens",
        "tokens_available",
    )
}
"""Lua source per script name (``lua/<name>.lua``), registered once per client."""


@dataclass(frozen=True, slots=True)
class Command(Generic[T]):
    """One round trip: a native command (``args``) or a Lua ``script`` (``keys``, ``args``)."""

    op: str
    key: str | None
    args: tuple[Any, ...]
    parse: Callable[[Any], T]
    script: str | None = None
    keys: tuple[str, ...] = ()


def _ms(ttl: float) -> int:
    """Seconds to whole milliseconds, rounded up (a TTL never ends early)."""
    return max(1, math.ceil(round(ttl * 1000, 6)))


def _opt_ms(ttl: float | None) -> str:
    return "" if ttl is None else str(_ms(ttl))


def _bytes_or_none(reply: Any) -> bytes | None:
    return None if reply is None else bytes(reply)


def _ok(reply: Any) -> bool:
    return reply is True or reply in (b"OK", "OK")


def _nothing(_reply: Any) -> None:
    return None


def _flag(reply: Any) -> bool:
    return int(reply) > 0


def _ttl(reply: Any) -> float | None:
    ms = int(reply)
    if ms == -2:
        return None
    if ms == -1:
        return math.inf
    return ms / 1000.0


def _take(reply: Any) -> tuple[bool, float]:
    allowed, wait = reply
    return bool(int(allowed)), float(wait) / 1e6


def _float(reply: Any) -> float:
    return float(reply)


class RedisCommands:
    """Builds the :class:`Command` for each primitive in one namespace."""

    __slots__ = ("_scan_head", "namespace")

    def __init__(self, namespace: str) -> None:
        self.namespace = check_namespace(namespace)
        self._scan_head = f"{self.namespace}:{{"

    # ------------------------------------------------------------ keys

    def value_key(self, key: str) -> str:
        """``ns:{key}``: the hash-tagged Redis key of a value."""
        return f"{self.namespace}:{{{check_key(key)}}}"

    def scan_pattern(self, prefix: str) -> str:
        """``SCAN MATCH`` pattern for the value keys starting with ``prefix``."""
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in check_prefix(prefix))
        return f"{self._scan_head}{escaped}*}}"

    def user_key(self, raw: bytes | str) -> str | None:
        """The user key of a scanned Redis key, or None if it is not a value key."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if text.startswith(self._scan_head) and text.endswith("}"):
            return text[len(self._scan_head) : -1]
        return None

    # ------------------------------------------------------------ primitives

    def ping(self) -> Command[None]:
        return Command("ping", None, ("PING",), _nothing)

    def get(self, key: str) -> Command[bytes | None]:
        return Command("get", key, ("GET", self.value_key(key)), _bytes_or_none)

    def set(self, key: str, value: bytes, ttl: float | None) -> Command[None]:
        rkey, value, ttl = self.value_key(key), check_value(value), check_ttl(ttl)
        px = () if ttl is None else ("PX", _ms(ttl))
        return Command("set", key, ("SET", rkey, value, *px), _nothing)

    def set_if_absent(self, key: str, value: bytes, ttl: float | None) -> Command[bool]:
        rkey, value, ttl = self.value_key(key), check_value(value), check_ttl(ttl)
        px = () if ttl is None else ("PX", _ms(ttl))
        return Command("set_if_absent", key, ("SET", rkey, value, "NX", *px), _ok)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> Command[bool]:
        if expected is None:
            return self.set_if_absent(key, new, ttl)
        rkey, new, ttl = self.value_key(key), check_value(new), check_ttl(ttl)
        args = (check_value(expected), new, _opt_ms(ttl))
        return Command("compare_and_set", key, args, _flag, "compare_and_set", (rkey,))

    def compare_and_delete(self, key: str, expected: bytes) -> Command[bool]:
        rkey, expected = self.value_key(key), check_value(expected)
        return Command("compare_and_delete", key, (expected,), _flag, "compare_and_delete", (rkey,))

    def delete(self, key: str) -> Command[bool]:
        rkey = self.value_key(key)
        return Command("delete", key, ("DEL", rkey, f"{rkey}:w", f"{rkey}:b"), _flag)

    def ttl(self, key: str) -> Command[float | None]:
        return Command("ttl", key, ("PTTL", self.value_key(key)), _ttl)

    def incr(self, key: str, amount: int, ttl: float | None) -> Command[int]:
        rkey, amount, ttl = self.value_key(key), check_amount(amount), check_ttl(ttl)
        return Command("incr", key, (amount, _opt_ms(ttl)), int, "incr", (rkey,))

    def window_hit(self, key: str, window: float, cost: int, limit: int | None) -> Command[int]:
        rkey = self.value_key(key) + ":w"
        window, cost, limit = check_window(window), check_cost(cost), check_limit(limit)
        args = (repr(window * 1e6), cost, "" if limit is None else limit)
        return Command("window_hit", key, args, int, "window_hit", (rkey,))

    def take_tokens(
        self, key: str, rate: float, burst: int, cost: int
    ) -> Command[tuple[bool, float]]:
        rkey, cost = self.value_key(key) + ":b", check_cost(cost, minimum=1)
        rate, burst = check_bucket(rate, burst, cost)
        args = (repr(1e6 / rate), burst, cost)
        return Command("take_tokens", key, args, _take, "take_tokens", (rkey,))

    def tokens_available(self, key: str, rate: float, burst: int) -> Command[float]:
        rkey = self.value_key(key) + ":b"
        rate, burst = check_bucket(rate, burst)
        args = (repr(1e6 / rate), burst)
        return Command("tokens_available", key, args, _float, "tokens_available", (rkey,))

    def eviction_policy(self) -> Command[str | None]:
        return Command("config_get", None, ("CONFIG GET", "maxmemory-policy"), _policy_from_reply)


def _policy_from_reply(reply: Any) -> str | None:
    if isinstance(reply, Mapping):
        items = list(reply.items())
    else:
        flat = list(reply or ())
        items = list(zip(flat[::2], flat[1::2], strict=False))
    for name, value in items:
        if (name.decode() if isinstance(name, bytes) else str(name)) == "maxmemory-policy":
            return value.decode() if isinstance(value, bytes) else str(value)
    return None

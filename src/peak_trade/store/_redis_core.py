"""The Redis backend's logic, written once for the sync and the async shell.

Each primitive is a pure function from (already validated) arguments to a
:class:`Command`: the key layout, the one native command or Lua script to
send, and how to parse the reply. The arguments were checked by the shells'
base classes (``StoreBase``, ``AsyncStoreBase``) before a builder runs. The
shells (``redis.py`` with ``redis.Redis``, ``aio_redis.py`` with
``redis.asyncio.Redis``) only send a command and hand the reply to
:meth:`Command.parse`. Error mapping and the
start-up eviction-policy check, also shared, are in ``_redis_checks.py``.

Key layout (namespace ``ns``, user key ``k``)::

    ns:{k}      the value (string)                 get/set/.../incr
    ns:{k}:w    the sliding-window log (zset)      window_hit
    ns:{k}:b    the GCRA bucket's arrival time     take_tokens

The user key sits inside braces, a Redis Cluster *hash tag*: all three live
in one slot, so every script (and the three-key ``DEL``) touches one slot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, TypeVar

from peak_trade.store._validate import check_namespace, check_prefix

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
"""Lua source per script name (``lua/<name>.lua``)."""

SHAS: dict[str, str] = {
    name: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest()
    for name, src in SCRIPTS.items()
}
"""The SHA1 Redis knows each script by: commands send ``EVALSHA`` and fall back to
``SCRIPT LOAD`` only when the server answers ``NOSCRIPT`` (first use, after a
restart or ``SCRIPT FLUSH``)."""


@dataclass(frozen=True, slots=True)
class Command(Generic[T]):
    """One round trip: the full argument list of a native command or of an ``EVALSHA``.

    ``script`` names the Lua script an ``EVALSHA`` runs, so a shell that gets
    ``NOSCRIPT`` back can load it and send ``args`` again. ``reused`` marks a
    memoised command that is sent again and again (a limiter's decision), so a
    shell may keep its wire encoding. ``guarded`` commands (writes, and
    ``PING``, which answers "is the store usable") wait for the eviction-policy
    check to pass; reads do not.
    """

    op: str
    key: str | None
    args: tuple[Any, ...]
    parse: Callable[[Any], T]
    script: str | None = None
    reused: bool = False
    guarded: bool = True


def _script(
    op: str,
    key: str,
    parse: Callable[[Any], T],
    rkey: str | bytes,
    *argv: Any,
    reused: bool = False,
    guarded: bool = True,
) -> Command[T]:
    """An ``EVALSHA`` of the script named ``op`` on the one key ``rkey``."""
    args = (b"EVALSHA", SHAS[op].encode(), b"1", rkey, *argv)
    return Command(op, key, args, parse, op, reused, guarded)


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
    """``0``: granted; otherwise the whole microseconds (rounded up) to wait."""
    return (True, 0.0) if reply == 0 else (False, reply / 1e6)


def _float(reply: Any) -> float:
    return float(reply)


class RedisCommands:
    """Builds the :class:`Command` for each primitive in one namespace (arguments validated)."""

    __slots__ = ("_scan_head", "namespace")

    def __init__(self, namespace: str) -> None:
        self.namespace = check_namespace(namespace)
        self._scan_head = f"{self.namespace}:{{"

    # ------------------------------------------------------------ keys

    def value_key(self, key: str) -> str:
        """``ns:{key}``: the hash-tagged Redis key of a value."""
        return f"{self.namespace}:{{{key}}}"

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
        return Command("get", key, ("GET", self.value_key(key)), _bytes_or_none, guarded=False)

    def set(self, key: str, value: bytes, ttl: float | None) -> Command[None]:
        px = () if ttl is None else ("PX", _ms(ttl))
        return Command("set", key, ("SET", self.value_key(key), value, *px), _nothing)

    def compare_and_set(
        self, key: str, expected: bytes | None, new: bytes, ttl: float | None
    ) -> Command[bool]:
        rkey = self.value_key(key)
        if expected is None:  # set_if_absent: one native command
            px = () if ttl is None else ("PX", _ms(ttl))
            return Command("set_if_absent", key, ("SET", rkey, new, "NX", *px), _ok)
        return _script("compare_and_set", key, _flag, rkey, expected, new, _opt_ms(ttl))

    def compare_and_delete(self, key: str, expected: bytes) -> Command[bool]:
        return _script("compare_and_delete", key, _flag, self.value_key(key), expected)

    def delete(self, key: str) -> Command[bool]:
        rkey = self.value_key(key)
        return Command("delete", key, ("DEL", rkey, f"{rkey}:w", f"{rkey}:b"), _flag)

    def ttl(self, key: str) -> Command[float | None]:
        return Command("ttl", key, ("PTTL", self.value_key(key)), _ttl, guarded=False)

    def incr(self, key: str, amount: int, ttl: float | None) -> Command[int]:
        return _script("incr", key, int, self.value_key(key), amount, _opt_ms(ttl))

    def window_hit(self, key: str, window: float, cost: int, limit: int | None) -> Command[int]:
        args = (repr(window * 1e6), cost, "" if limit is None else limit)
        return _script("window_hit", key, int, self.value_key(key) + ":w", *args)

    def take_tokens(
        self, key: str, rate: float, burst: int, cost: int
    ) -> Command[tuple[bool, float]]:
        """The rate limiter's hot path: built once per (key, rate, burst, cost) and kept by
        the shell (``StoreBase`` memoises it), so it is marked ``reused`` and pre-encoded."""
        rkey = (self.value_key(key) + ":b").encode()
        args = (repr(1e6 / rate).encode(), str(burst).encode(), str(cost).encode())
        return _script("take_tokens", key, _take, rkey, *args, reused=True)

    def tokens_available(self, key: str, rate: float, burst: int) -> Command[float]:
        args = (repr(1e6 / rate), burst)
        rkey = self.value_key(key) + ":b"
        return _script("tokens_available", key, _float, rkey, *args, guarded=False)

    def eviction_policy(self) -> Command[str | None]:
        return Command(
            "config_get",
            None,
            ("CONFIG GET", "maxmemory-policy"),
            _policy_from_reply,
            guarded=False,
        )


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

"""Pure semantics of the counting primitives, shared by the memory and SQLite backends.

The Redis backend runs the same arithmetic in Lua (``lua/*.lua``) on the
server's clock; these functions are the reference the contract suite checks
both against.

GCRA (generic cell rate algorithm) keeps one number per bucket, the
*theoretical arrival time* ``tat``: the moment the bucket would be full again.
With ``interval = 1 / rate`` a bucket of ``burst`` tokens holds
``burst - (max(tat, now) - now) * rate`` tokens at ``now``; taking ``cost``
tokens moves ``tat`` forward by ``cost * interval``.
"""

from __future__ import annotations

import re

from peak_trade.errors import StoreError

__all__ = [
    "GCRA_TOLERANCE",
    "counter_add",
    "gcra_available",
    "gcra_take",
]

GCRA_TOLERANCE = 1e-6
"""Seconds of float rounding forgiven when a bucket is (almost) exactly refilled."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INTEGER = re.compile(rb"-?[1-9][0-9]{0,18}|0")


def counter_add(key: str, current: bytes | None, amount: int) -> int:
    """``int(current) + amount`` with Redis ``INCRBY`` rules (ASCII int64, no overflow)."""
    if current is None:
        base = 0
    elif _INTEGER.fullmatch(current) and _INT64_MIN <= int(current) <= _INT64_MAX:
        base = int(current)
    else:
        raise StoreError(
            "The value at this key is not an integer, so it cannot be incremented.",
            hint="incr() works on keys it created or on values such as b'42'; "
            "use another key for counters.",
            context={"key": key, "value": current[:40]},
        )
    result = base + amount
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise StoreError(
            "Incrementing this counter would overflow a 64-bit signed integer.",
            hint="Reset the counter with delete() or use a smaller amount.",
            context={"key": key, "value": base, "amount": amount},
        )
    return result


def gcra_take(
    tat: float | None, now: float, rate: float, burst: int, cost: int
) -> tuple[bool, float, float | None]:
    """Try to take ``cost`` tokens. Returns ``(allowed, wait, new_tat)``.

    When refused, ``wait`` is the number of seconds until ``cost`` tokens are
    available and ``new_tat`` is the unchanged ``tat`` (nothing is consumed).
    """
    interval = 1.0 / rate
    base = now if tat is None or tat < now else tat
    new_tat = base + cost * interval
    over = new_tat - now - burst * interval
    if over <= GCRA_TOLERANCE:
        return True, 0.0, new_tat
    return False, over, tat


def gcra_available(tat: float | None, now: float, rate: float, burst: int) -> float:
    """Tokens in the bucket at ``now`` (between 0 and ``burst``)."""
    if tat is None or tat <= now:
        return float(burst)
    return max(0.0, burst - (tat - now) * rate)

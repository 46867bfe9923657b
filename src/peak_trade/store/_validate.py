"""Argument checks shared by every backend (and by the Redis command core).

Every public primitive validates its arguments here *before* touching a
backend, so a bad call fails the same way, with the same
:class:`~peak_trade.errors.InvalidArgumentError`, on memory, SQLite and Redis.
"""

from __future__ import annotations

import math
import re
from typing import Any

from peak_trade._store_url import NAMESPACE_RULE, check_store_namespace
from peak_trade.errors import InvalidArgumentError

__all__ = [
    "MAX_KEY_LENGTH",
    "check_amount",
    "check_bucket",
    "check_cost",
    "check_expected",
    "check_key",
    "check_limit",
    "check_namespace",
    "check_prefix",
    "check_seconds",
    "check_ttl",
    "check_value",
    "check_window",
]

MAX_KEY_LENGTH = 512
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Braces are reserved for Redis hash tags; whitespace and control characters
# make keys unreadable in logs and unsafe in glob patterns; lone surrogates
# cannot be encoded as UTF-8.
_BAD_KEY_CHARS = re.compile(r"[{}\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")

_KEY_HINT = (
    f"Use a non-empty str of at most {MAX_KEY_LENGTH} characters without braces, "
    "whitespace or control characters, e.g. 'ratelimit:binance:orders'."
)


def _bad(message: str, hint: str, **context: Any) -> InvalidArgumentError:
    return InvalidArgumentError(message, hint=hint, context=context)


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid store key, else raise ``InvalidArgumentError``."""
    if not isinstance(key, str) or not key:
        raise _bad("A store key must be a non-empty str.", _KEY_HINT, key=key)
    if len(key) > MAX_KEY_LENGTH:
        raise _bad(
            f"A store key is limited to {MAX_KEY_LENGTH} characters.",
            _KEY_HINT,
            key=key[:40] + "...",
            length=len(key),
        )
    bad = _BAD_KEY_CHARS.search(key)
    if bad is not None:
        raise _bad(
            f"A store key may not contain {bad.group()!r}.",
            _KEY_HINT,
            key=key,
            position=bad.start(),
        )
    return key


def check_prefix(prefix: object) -> str:
    """Validate a ``scan`` prefix: like a key, but may be empty (meaning: every key)."""
    if prefix == "":
        return ""
    return check_key(prefix)


def check_namespace(namespace: object) -> str:
    """Validate a namespace by the one rule config shares: ``NAMESPACE_RULE``."""
    try:
        return check_store_namespace(namespace)
    except ValueError:
        raise _bad(
            f"A store namespace must be {NAMESPACE_RULE}.",
            "Pick a short identifier such as 'peaktrade' or 'peaktrade-test'.",
            namespace=namespace,
        ) from None


def check_value(value: object) -> bytes:
    """Values are ``bytes``; encode text yourself (``json.dumps(...).encode()``)."""
    if not isinstance(value, bytes):
        raise _bad(
            f"A store value must be bytes, not {type(value).__name__}.",
            "Encode it first, e.g. value.encode() or json.dumps(obj).encode().",
            value_type=type(value).__name__,
        )
    return value


def check_expected(expected: object) -> bytes | None:
    """A compare-and-set ``expected`` value: ``None`` (must be absent) or ``bytes``."""
    return None if expected is None else check_value(expected)


def _positive_number(name: str, value: object, hint: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _bad(f"{name} must be a finite number > 0.", hint, **{name: value})
    return float(value)


def check_seconds(name: str, value: object) -> float:
    """A timeout or budget of a store (``busy_timeout``, ``store_timeout``, ...): seconds > 0."""
    return _positive_number(name, value, f"Pass seconds > 0, e.g. {name}=0.5.")


def check_ttl(ttl: object) -> float | None:
    """``None`` (no expiry) or a finite number of seconds > 0."""
    if ttl is None:
        return None
    return _positive_number(
        "ttl", ttl, "Pass seconds > 0, or ttl=None for a key that never expires."
    )


def check_window(window: object) -> float:
    """A sliding window length in seconds (> 0)."""
    return _positive_number("window", window, "Pass the window length in seconds, e.g. 60.0.")


def _int(name: str, value: object, low: int, high: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{name} must be an int between {low} and {high}.", hint, **{name: value})
    return value


def check_amount(amount: object) -> int:
    """An ``incr`` amount: any 64-bit signed int (negative decrements)."""
    return _int("amount", amount, _INT64_MIN, _INT64_MAX, "Pass an int, e.g. 1 or -1.")


def check_cost(cost: object, *, minimum: int = 0) -> int:
    """A number of events or tokens (``>= minimum``)."""
    return _int("cost", cost, minimum, 2**31, f"Pass an int >= {minimum}.")


def check_limit(limit: object) -> int | None:
    """A ``window_hit`` limit: ``None`` or an int >= 0."""
    if limit is None:
        return None
    return _int("limit", limit, 0, 2**53, "Pass an int >= 0, or None for no limit.")


def check_bucket(rate: object, burst: object, cost: int | None = None) -> tuple[float, int]:
    """Validate GCRA parameters; ``cost`` (if given) must fit in the bucket."""
    r = _positive_number("rate", rate, "Pass the refill rate in tokens per second, e.g. 10.0.")
    b = _int("burst", burst, 1, 2**31, "Pass the bucket capacity as an int >= 1.")
    if cost is not None and cost > b:
        raise _bad(
            f"A cost of {cost} can never be granted by a bucket of {b} tokens.",
            "Use a cost between 1 and burst, or a larger burst.",
            cost=cost,
            burst=b,
        )
    return r, b

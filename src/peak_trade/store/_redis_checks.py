"""Redis failures and start-up checks, shared by the sync and async shells.

:func:`wrap_error` maps redis-py exceptions to peak-trade errors with a hint;
:func:`check_policy_reply` and :func:`policy_unverifiable` decide what the
``maxmemory-policy`` check does in each ``eviction_policy_check`` mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from redis import exceptions as rex

from peak_trade.errors import (
    InvalidArgumentError,
    StoreError,
    StoreUnavailableError,
    UnsafeStoreConfigError,
)
from peak_trade.logging import get_logger

__all__ = [
    "EvictionCheck",
    "check_mode",
    "check_policy_reply",
    "endpoint",
    "policy_unverifiable",
    "wrap_error",
]

EvictionCheck = Literal["refuse", "warn", "off"]
_log = get_logger("peak_trade.store")


# ---------------------------------------------------------------- errors


def endpoint(connection_kwargs: Mapping[str, Any]) -> str:
    """``host:port/db`` or the socket path of a redis-py connection pool."""
    path = connection_kwargs.get("path")
    if path:
        return f"unix:{path}"
    host = connection_kwargs.get("host", "localhost")
    port = connection_kwargs.get("port", 6379)
    return f"{host}:{port}/{connection_kwargs.get('db', 0)}"


def wrap_error(exc: Exception, *, url: str, where: str, op: str, key: str | None) -> StoreError:
    """Turn a redis-py exception into the matching peak-trade error (caller chains ``from``)."""
    context: dict[str, Any] = {"url": url, "operation": op, "error": f"{type(exc).__name__}: {exc}"}
    if key is not None:
        context["key"] = key
    text = str(exc)
    if isinstance(exc, rex.AuthenticationError | rex.AuthenticationWrongNumberOfArgsError):
        return StoreUnavailableError(
            "Redis refused the credentials.",
            hint="Check the user and password in [store] url (redis://user:password@host:port/db).",
            context=context,
        )
    if isinstance(exc, rex.TimeoutError):
        return StoreUnavailableError(
            f"Redis at {where} did not answer in time.",
            hint="The command may or may not have run (it is not retried automatically). "
            "Check the server's load and network, or raise socket_timeout.",
            context=context,
        )
    if isinstance(exc, rex.ConnectionError):
        return StoreUnavailableError(
            f"Cannot connect to Redis at {where}.",
            hint=f"Is redis-server running at {where}? Check [store] url.",
            context=context,
        )
    if isinstance(exc, rex.ReadOnlyError):
        return StoreUnavailableError(
            "Redis refused a write: the server is a read-only replica.",
            hint="Point [store] url at the primary.",
            context=context,
        )
    if isinstance(exc, rex.OutOfMemoryError) or text.startswith("OOM"):
        return StoreUnavailableError(
            "Redis is out of memory (maxmemory reached) and refuses writes.",
            hint="Raise maxmemory or free memory; with noeviction Redis refuses writes "
            "instead of evicting keys.",
            context=context,
        )
    if "not an integer" in text or "overflow" in text:
        return StoreError(
            "The value at this key is not an integer, or the increment would overflow.",
            hint="incr() works on keys it created or on values such as b'42'; "
            "use another key for counters.",
            context=context,
        )
    if text.startswith("WRONGTYPE"):
        return StoreError(
            "A Redis key in this store's namespace holds an unexpected data type.",
            hint="Another program writes into this namespace; give the store its own "
            "namespace or database.",
            context=context,
        )
    return StoreError("Redis rejected a store command.", context=context)


# ---------------------------------------------------------------- eviction policy


def check_mode(mode: object) -> EvictionCheck:
    """Validate ``eviction_policy_check``."""
    if mode == "refuse":
        return "refuse"
    if mode in ("warn", "off"):
        return "warn" if mode == "warn" else "off"
    raise InvalidArgumentError(
        "eviction_policy_check must be 'refuse', 'warn' or 'off'.",
        hint="Keep 'refuse' unless you checked the server's maxmemory-policy yourself.",
        context={"eviction_policy_check": mode},
    )


def check_policy_reply(policy: str | None, mode: EvictionCheck, url: str) -> None:
    """Refuse (or warn about) any ``maxmemory-policy`` other than ``noeviction``."""
    if policy == "noeviction":
        return
    message = (
        f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis may evict "
        "store keys, including idempotency records that carry a TTL, and a side effect "
        "could then run twice."
    )
    hint = (
        "Run `CONFIG SET maxmemory-policy noeviction` (and persist it in redis.conf), "
        "or pass eviction_policy_check='warn' (e.g. ?eviction_policy_check=warn in "
        "[store] url) to accept the risk."
    )
    if mode == "refuse":
        raise UnsafeStoreConfigError(message, hint=hint, context={"url": url, "policy": policy})
    _log.warning("redis eviction policy may evict store keys", policy=policy, url=url, hint=hint)


def policy_unverifiable(exc: Exception, mode: EvictionCheck, url: str) -> None:
    """``CONFIG GET`` is not allowed (managed Redis, ACLs): refuse or warn."""
    message = (
        "Cannot verify Redis maxmemory-policy: the server refused CONFIG GET "
        "(common on managed Redis and with ACLs)."
    )
    hint = (
        "Check in your provider's console that maxmemory-policy is noeviction, then pass "
        "eviction_policy_check='warn' (or 'off') to skip this check."
    )
    context = {"url": url, "error": f"{type(exc).__name__}: {exc}"}
    if mode == "refuse":
        raise UnsafeStoreConfigError(message, hint=hint, context=context) from exc
    _log.warning("cannot verify redis eviction policy", url=url, error=str(exc), hint=hint)

"""Redis failures and the eviction-policy check, shared by the sync and async shells.

:func:`wrap_error` maps redis-py exceptions to peak-trade errors with a hint;
:func:`check_policy_reply` and :func:`policy_unverifiable` decide what the
``maxmemory-policy`` check does in each ``eviction_policy_check`` mode, and
:class:`PolicyGate` when it runs: once Redis first answers, and until it has
passed, before each write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    "PolicyGate",
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


def wrap_error(
    exc: Exception, *, url: str, where: str, op: str, key: str | None, budget: float | None = None
) -> StoreError:
    """Turn a redis-py exception into the matching peak-trade error (caller chains ``from``).

    ``budget`` is the store's ``store_timeout`` (how long the command was given).
    """
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
        if budget is not None:
            context["store_timeout"] = budget
        return StoreUnavailableError(
            f"Redis at {where} did not answer in time.",
            hint="The command may or may not have run (it is not retried automatically). "
            "Check the server's load and network; a store call may take at most "
            "store_timeout seconds (?store_timeout= in the URL, [store] store_timeout).",
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


class PolicyGate:
    """When a store runs its ``maxmemory-policy`` check, and what the check allows.

    A store is opened without I/O. The check runs before the first command that
    reaches Redis; once it has passed (``noeviction``, or ``warn``/``off`` mode)
    ``passed`` is True and the shells skip the gate: one attribute test per
    command. While it has not passed, reads go through and *guarded* commands
    (writes, and ``PING``) are refused; each guarded command runs the check
    again first, so a policy fixed on the server is picked up without a restart.
    """

    __slots__ = ("mode", "passed", "refusal", "url")

    def __init__(self, mode: EvictionCheck, url: str) -> None:
        self.mode = mode
        self.url = url
        self.passed = mode == "off"
        self.refusal: UnsafeStoreConfigError | None = None

    def due(self, guarded: bool) -> bool:
        """Whether the check must run before a command: first contact, or a guarded one."""
        return self.refusal is None or guarded

    def settle(self, policy: str | None) -> None:
        """Record the policy the server reported."""
        self._decide(check_policy_reply, policy)

    def unverifiable(self, exc: Exception) -> None:
        """Record that the server refused ``CONFIG GET``."""
        self._decide(policy_unverifiable, exc)

    def _decide(self, check: Callable[[Any, EvictionCheck, str], None], found: Any) -> None:
        try:
            check(found, self.mode, self.url)  # raises in "refuse" mode, logs in "warn"
        except UnsafeStoreConfigError as refusal:
            self.refusal = refusal
        else:
            self.passed, self.refusal = True, None

    def admit(self, op: str, key: str | None, guarded: bool) -> None:
        """Raise ``UnsafeStoreConfigError`` for a guarded command while the check refuses."""
        refusal = self.refusal
        if refusal is None or not guarded or self.passed:
            return
        context = {**refusal.context, "operation": op}
        if key is not None:
            context["key"] = key
        raise UnsafeStoreConfigError(
            refusal.message, hint=refusal.hint, context=context
        ) from refusal.__cause__

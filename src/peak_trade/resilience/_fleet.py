"""A breaker's shared half: one breaker for every worker of a fleet, through a store.

A :class:`~peak_trade.resilience.CircuitBreaker` built with ``store=`` keeps
its own state machine (so the hot path stays in process) and shares its
state through four keys of the store:

``breaker:<name>``
    The fleet-wide state, without expiry: absent (never tripped), ``closed``,
    ``open``, ``forced`` (forced open by an operator) or ``disabled``.
``breaker:<name>:open``
    The open period: set with TTL ``recovery_timeout`` whenever the fleet
    opens. While the state is ``open``, this key alive means "reject, for its
    TTL"; gone means "a trial is due". Because the period is a TTL, it is
    measured by the store's clock (Redis: the server's), never by comparing
    the workers' wall clocks.
``breaker:<name>:trial``
    The claim on the one trial call: ``<worker id>``, TTL ``trial_timeout``.
``breaker:<name>:failures``
    Consecutive failures across the fleet (default mode): every failure is one
    ``incr``; a success resets it, but only when the worker knows it is not
    zero, so the success path costs no round trip.

What each worker does:

* **Sync** every ``sync_interval`` seconds, when a call arrives (one ``get``
  of the state, one ``ttl`` of the open period if the state is ``open``, one
  ``get`` of the failure count): ``open`` moves the local breaker to OPEN for
  what is left of the period (none left: a trial is due); ``forced`` and
  ``disabled`` move it there; ``closed`` closes it (unless it runs a trial of
  its own); absent ends a local forced-open or disabled state. So a trip
  anywhere stops calls everywhere within ``sync_interval``, and a worker that
  made no call for an hour still finds out whether the fleet recovered.
* **Trip**: a local CLOSED → OPEN (threshold reached) starts the open period,
  then sets the state to ``open`` (compare-and-set from ``closed`` or absent:
  an operator's ``forced``/``disabled`` is never overwritten).
* **Trial**: when the open period is over, the worker claims the trial with
  ``set_if_absent`` on the trial key, then checks the state is still ``open``
  with no period (else it gives the claim back and follows the state). So
  exactly one worker of the fleet sends the trial call, including a worker
  that was idle for the whole period; the others keep rejecting and ask again
  every ``sync_interval`` (``retry_after`` up to the claim's TTL). The trial's
  success sets ``open`` → ``closed`` (compare-and-set), which closes every
  worker at its next sync however long it was idle; its failure starts a new
  open period. Either way the claim is given back (compare-and-delete). A
  worker that dies during its trial blocks the others until the claim expires.
* **Operator actions** (``force_open``, ``disable``, ``open``, ``close``,
  ``reset``) are written for the whole fleet.

If the store fails (an error, or a call slower than the store's
``store_timeout``, which raises ``StoreUnavailableError``), the breaker keeps
working on its local state (warning logged once per outage): protecting the
caller never depends on the store. Sliding windows stay per worker; only their
verdicts are shared.

One protocol, two drivers
-------------------------
:class:`Fleet` never touches a store. Each part of the protocol is a
generator that *yields* the store operations it needs (:class:`StoreCall`)
and is sent their results; store errors are thrown into it, where the
fallback to local state is decided, once. :func:`drive` runs such steps
against a sync :class:`~peak_trade.store.Store`; :func:`adrive` awaits them on
an :class:`~peak_trade.store.aio.AsyncStore`, so an async protected call never
blocks its event loop on the store. Given a sync store, the async driver goes
through :class:`~peak_trade.store.aio.AsyncStoreAdapter`, which runs the calls
of a blocking backend (SQLite, Redis) in a worker thread. Given an async
store, a breaker can only protect async code: the sync driver refuses with an
``InvalidArgumentError`` that says so (there is no event loop to drive it).

The local state machine is reached through :class:`Local` (the breaker
shell): its lock, its core and its events stay there.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import GeneratorType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from peak_trade.errors import InvalidArgumentError, StoreError
from peak_trade.logging import get_logger
from peak_trade.resilience._breaker_core import (
    BreakerCore,
    CircuitState,
    Rejected,
    Transition,
)

if TYPE_CHECKING:
    from peak_trade.store import Store
    from peak_trade.store.aio import AsyncStore

__all__ = [
    "Fleet",
    "Local",
    "Steps",
    "StoreCall",
    "Verdict",
    "VerdictKind",
    "adrive",
    "drive",
    "is_async_store",
]

_log = get_logger("peak_trade.resilience.circuitbreaker")

T = TypeVar("T")

Token = Any
"""A call's token, as the local breaker hands it out (opaque here)."""

_OPEN = b"open"
_FORCED = b"forced"
_DISABLED = b"disabled"
_CLOSED = b"closed"
_PERIOD = b"1"


# --------------------------------------------------------------------------- store calls, drivers


@dataclass(frozen=True, slots=True)
class StoreCall:
    """One store primitive to run: ``store.<op>(*args)``."""

    op: str
    args: tuple[Any, ...]


Steps = Generator[StoreCall, Any, T]
"""A part of the protocol: yields store calls, is sent their results, returns a ``T``."""


def drive(store: Store, steps: Steps[T]) -> T:
    """Run ``steps`` against a sync store (the sync driver)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            result = getattr(store, call.op)(*call.args)
        except BaseException as exc:  # noqa: BLE001 - the steps decide (store errors: fall back)
            error = exc


async def adrive(store: AsyncStore, steps: Steps[T]) -> T:
    """Await ``steps`` on an async store (the async driver; same loop as :func:`drive`)."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            result = await getattr(store, call.op)(*call.args)
        except BaseException as exc:  # noqa: BLE001 - cancellation too: the steps free the permit
            error = exc


def is_async_store(store: object) -> bool:
    """True for an :class:`~peak_trade.store.aio.AsyncStore`: ``async def`` primitives, or
    an async context manager (primitives that return awaitables), as the limiter decides."""
    return inspect.iscoroutinefunction(getattr(store, "get", None)) or hasattr(
        type(store), "__aenter__"
    )


# --------------------------------------------------------------------------- verdicts


class VerdictKind(enum.Enum):
    """What the fleet's shared record says."""

    UNKNOWN = "unknown"  # the store could not be read
    NONE = "none"  # nothing shared yet
    CLOSED = "closed"
    OPEN = "open"  # in the open period, ``remaining`` s left
    DUE = "due"  # open, the period is over: a trial is due
    TRIAL = "trial"  # another worker's trial, its claim holds ``remaining`` s more
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The shared record as one worker read it: the kind, and seconds it has left."""

    kind: VerdictKind
    remaining: float | None = None


_UNKNOWN = Verdict(VerdictKind.UNKNOWN)
_NONE = Verdict(VerdictKind.NONE)
_DUE = Verdict(VerdictKind.DUE, 0.0)
_KINDS = {
    _FORCED: VerdictKind.FORCED_OPEN,
    _DISABLED: VerdictKind.DISABLED,
    _CLOSED: VerdictKind.CLOSED,
}
"""State value to verdict (``open`` depends on the period; anything else: NONE)."""


# --------------------------------------------------------------------------- the local breaker


class Local(Protocol):
    """What the fleet needs of the worker's own breaker (the shell; each call takes its lock)."""

    @property
    def core(self) -> BreakerCore:
        """The state machine, for reads only (changes go through :meth:`update`)."""
        ...

    def update(self, change: Callable[[BreakerCore], T]) -> T:
        """Run ``change`` on the core under the lock, then publish the transitions it made."""
        ...

    def enter(self, now: float | None = None) -> Token:
        """A token for a call (asking the core only when it has no free permit);
        raise ``CircuitOpenError`` if rejected."""
        ...

    def reject(self, rejected: Rejected) -> NoReturn:
        """Raise ``CircuitOpenError`` for ``rejected``."""
        ...

    def record_success(self, token: Token) -> tuple[Transition, ...]:
        """Tell the core the call succeeded; the transitions it caused."""
        ...

    def record_failure(
        self, token: Token, exc: BaseException, run: int | None
    ) -> tuple[Transition, ...]:
        """Tell the core how the call raised; the transitions it caused."""
        ...

    def counts(self, exc: BaseException) -> bool:
        """True if ``exc`` is a failure of the protected service."""
        ...

    def release(self, token: Token) -> None:
        """Hand the permit back without an outcome."""
        ...


# --------------------------------------------------------------------------- the protocol


class Fleet:
    """The fleet half of one worker's breaker: the protocol's state and steps. No I/O of its own.

    ``store`` is what the drivers run the steps on: a sync ``Store`` (drives
    both sync and async calls) or an ``AsyncStore`` (async calls only).
    """

    __slots__ = (
        "_adapter",
        "_async",
        "_degraded",
        "_failures_key",
        "_key",
        "_pending",
        "_period_key",
        "_tasks",
        "_trial_key",
        "failures_dirty",
        "next_sync",
        "recovery_timeout",
        "store",
        "sync_interval",
        "token",
        "trial_timeout",
    )

    def __init__(
        self,
        store: Store | AsyncStore,
        name: str,
        *,
        recovery_timeout: float,
        sync_interval: float,
        trial_timeout: float,
    ) -> None:
        self.store = store
        self._async = is_async_store(store)
        self._adapter: AsyncStore | None = None
        self._key = f"breaker:{name}"
        self._period_key = f"breaker:{name}:open"
        self._trial_key = f"breaker:{name}:trial"
        self._failures_key = f"breaker:{name}:failures"
        self.recovery_timeout = recovery_timeout
        self.sync_interval = sync_interval
        self.trial_timeout = trial_timeout
        self.token = secrets.token_hex(8).encode()
        self.failures_dirty = False
        self.next_sync = float("-inf")
        self._degraded = False
        self._pending: CircuitState | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- drivers

    @property
    def is_async(self) -> bool:
        """True when the store is an ``AsyncStore``: only async calls can be protected."""
        return self._async

    def refuse_sync(self, what: str) -> None:
        """Raise if this fleet cannot be driven from sync code (its store is async)."""
        if self._async:
            raise InvalidArgumentError(
                f"This breaker shares its state through an async store ({self.store!r}), "
                f"so it cannot protect {what}: sync code has no event loop to await it on.",
                hint="Protect async code with it (async def, async with breaker.guard()), or "
                "give the breaker a sync store for sync code: store_from_url(url) rather "
                "than await async_store_from_url(url).",
                context={"breaker": self._key.removeprefix("breaker:"), "protects": what},
            )

    def run(self, work: Any) -> Any:
        """Finish ``work`` with the sync driver: steps are run, anything else is the result."""
        if not isinstance(work, GeneratorType):
            return work
        if self._async:
            work.close()
            self.refuse_sync("sync code")
        return drive(self.store, work)  # type: ignore[arg-type]

    async def arun(self, work: Any) -> Any:
        """Finish ``work`` with the async driver (a sync store goes through the async adapter)."""
        if not isinstance(work, GeneratorType):
            return work
        store = self._adapter
        if store is None:
            store = self._adapter = self._async_view()
        return await adrive(store, work)

    def _async_view(self) -> AsyncStore:
        if self._async:
            return self.store  # type: ignore[return-value]
        from peak_trade.store.aio import AsyncStoreAdapter  # only once async code needs it

        return AsyncStoreAdapter(self.store)  # type: ignore[arg-type]

    # -- error handling: the store is a helper, never a point of failure

    def _failed(self, op: str, exc: StoreError) -> None:
        if not self._degraded:
            self._degraded = True
            _log.warning(
                "shared breaker state unavailable; deciding locally until the store is back",
                breaker_key=self._key,
                op=op,
                error=str(exc),
            )

    def _ok(self) -> None:
        if self._degraded:
            self._degraded = False
            _log.info("shared breaker state reachable again", breaker_key=self._key)

    # -- the three steps of a call
    #
    # Each gives its answer at once when the call needs nothing of the store (the
    # common case: between two syncs, nothing to share), or else the steps that
    # get it; ``run``/``arun`` finish either.

    def enter(self, local: Local, now: float) -> Token | Steps[Token]:
        """Before a call: follow the fleet (every ``sync_interval``), claim the trial, then ask."""
        core = local.core
        if (
            self._pending is None
            and now < self.next_sync
            and (core.free_permit is not None or not core.trial_due(now))  # (no trial in CLOSED)
        ):
            return local.enter(now)
        return self._enter(local, now)

    def _enter(self, local: Local, now: float) -> Steps[Token]:
        if self._pending is not None:
            yield from self._flush()
        if now >= self.next_sync:
            self.next_sync = now + self.sync_interval
            verdict = yield from self._read()
            if verdict is not _UNKNOWN:
                local.update(lambda core: self._follow(core, verdict, now))
        if local.core.trial_due(now):
            claim = yield from self._claim_trial()
            if claim is not None:  # another worker's trial, or the fleet moved on
                rejected = local.update(lambda core: self._follow_claim(core, claim, now))
                if rejected is not None:
                    local.reject(rejected)
        return local.enter(now)

    def succeeded(self, local: Local, token: Token) -> Steps[None] | None:
        """After a success: share what it changed; end the fleet's run of failures."""
        changes = local.record_success(token)
        if changes or (self.failures_dirty and local.core.state is CircuitState.CLOSED):
            return self._succeeded(local, changes)
        return None

    def _succeeded(self, local: Local, changes: tuple[Transition, ...]) -> Steps[None]:
        yield from self._share(changes)
        if self.failures_dirty and local.core.state is CircuitState.CLOSED:
            try:
                yield from self._reset_failures()
            except StoreError as exc:
                self._failed("record_success", exc)
            else:
                self._ok()

    def failed(self, local: Local, token: Token, exc: BaseException) -> Steps[None] | None:
        """After a call raised: count a failure fleet-wide (default mode), then share."""
        if local.counts(exc) and local.core.counts_consecutive_failures:
            return self._failed_counted(local, token, exc)
        changes = local.record_failure(token, exc, None)
        return self._share(changes) if changes else None

    def _failed_counted(self, local: Local, token: Token, exc: BaseException) -> Steps[None]:
        try:
            run = yield from self._count_failure()
        except BaseException:  # cancelled while counting: the permit still goes back
            local.release(token)
            raise
        changes = local.record_failure(token, exc, run)
        yield from self._share(changes)

    # -- operator actions

    def operator(self, to: CircuitState) -> Steps[None]:
        """An operator moved the breaker to ``to``: the same for everyone."""
        try:
            if to is CircuitState.CLOSED:  # close/reset: every worker closes, the count restarts
                yield StoreCall("set", (self._key, _CLOSED, None))
                yield from self._reset_failures()
            elif to is CircuitState.OPEN:
                yield StoreCall("set", (self._period_key, _PERIOD, self.recovery_timeout))
                yield StoreCall("set", (self._key, _OPEN, None))
            elif to is CircuitState.FORCED_OPEN:
                yield StoreCall("set", (self._key, _FORCED, None))
            elif to is CircuitState.DISABLED:
                yield StoreCall("set", (self._key, _DISABLED, None))
        except StoreError as exc:
            self._failed("operator", exc)
        else:
            self._ok()

    def moved(self, to: CircuitState) -> None:
        """Share an operator's move: at once, without ever blocking a running event loop.

        On a running event loop the write is sent by a task (a sync store's
        call runs in a worker thread). Elsewhere a sync store is written
        directly; an async store cannot be, so the write waits for the
        breaker's next call, which sends it before anything else.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None and not self._async:
            drive(self.store, self.operator(to))  # type: ignore[arg-type]
            return
        self._pending = to
        if loop is not None:
            task: asyncio.Task[None] = loop.create_task(self._send_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_pending(self) -> None:
        await self.arun(self._flush())

    def _flush(self) -> Steps[None]:
        to, self._pending = self._pending, None
        if to is not None:
            yield from self.operator(to)

    # -- reading and following the record

    def _read(self) -> Steps[Verdict]:
        """The shared verdict and failure count (two or three reads); UNKNOWN if unreachable."""
        try:
            verdict = yield from self._state()
            raw_failures = yield StoreCall("get", (self._failures_key,))
        except StoreError as exc:
            self._failed("read", exc)
            return _UNKNOWN
        self._ok()
        self.failures_dirty = bool(raw_failures) and int(raw_failures) > 0
        return verdict

    def _state(self) -> Steps[Verdict]:
        """The state record as a verdict (an ``open`` one with its period)."""
        value = yield StoreCall("get", (self._key,))
        if value == _OPEN:
            remaining = yield StoreCall("ttl", (self._period_key,))
            if remaining is None:
                return _DUE
            return Verdict(VerdictKind.OPEN, remaining)
        kind = _KINDS.get(value) if value is not None else None
        return _NONE if kind is None else Verdict(kind)

    def _wait_for(self, verdict: Verdict) -> float:
        """How long to stay OPEN for a shared verdict, by the store's clock.

        An open period: until it ends. Another worker's trial: until its claim
        expires, but asking again every ``sync_interval``, because the trial
        usually ends (and closes the fleet) long before its claim would.
        """
        remaining = verdict.remaining if verdict.remaining is not None else 0.0
        if verdict.kind is VerdictKind.TRIAL:
            return min(remaining, self.sync_interval)
        return remaining

    def _follow(self, core: BreakerCore, verdict: Verdict, now: float) -> None:
        """Move the local state machine to what the fleet says (under the local lock)."""
        kind = verdict.kind
        state = core.state
        if kind is VerdictKind.OPEN or kind is VerdictKind.TRIAL:
            core.open_for(self._wait_for(verdict), now)
        elif kind is VerdictKind.DUE:
            if state is not CircuitState.HALF_OPEN:  # a local trial decides for itself
                core.open_for(0.0, now)  # the next call claims the fleet's trial
        elif kind is VerdictKind.FORCED_OPEN:
            core.move(CircuitState.FORCED_OPEN, now)
        elif kind is VerdictKind.DISABLED:
            core.move(CircuitState.DISABLED, now)
        elif kind is VerdictKind.CLOSED:
            if state is not CircuitState.HALF_OPEN:  # a local trial decides for itself
                core.move(CircuitState.CLOSED, now)  # recovered elsewhere
        elif state is CircuitState.FORCED_OPEN or state is CircuitState.DISABLED:
            core.move(CircuitState.CLOSED, now)  # an operator cleared it elsewhere

    def _follow_claim(self, core: BreakerCore, verdict: Verdict, now: float) -> Rejected | None:
        """Follow the verdict that beat our trial claim; the rejection, unless it lets calls in."""
        self._follow(core, verdict, now)
        if core.state.allows_calls:
            return None
        return core.refuse(self._wait_for(verdict) if core.state is CircuitState.OPEN else None)

    # -- the trial

    def _claim_trial(self) -> Steps[Verdict | None]:
        """Claim the fleet's one trial call.

        None: claimed (or nothing shared says otherwise, or the store is
        unreachable: try, as a lone breaker would). Otherwise what stands in
        the way: another worker's claim (TRIAL, with its remaining time), or a
        state that is no longer a due trial (CLOSED, a new open period,
        FORCED_OPEN...), our claim given back.
        """
        try:
            if (
                yield StoreCall("set_if_absent", (self._trial_key, self.token, self.trial_timeout))
            ):
                verdict = yield from self._state()
                if verdict is _DUE or verdict is _NONE:
                    self._ok()
                    return None
                yield StoreCall("compare_and_delete", (self._trial_key, self.token))
            else:
                holder = yield StoreCall("get", (self._trial_key,))
                if holder == self.token:  # our own claim, from a trial still running here
                    self._ok()
                    return None
                remaining = yield StoreCall("ttl", (self._trial_key,))
                # none left: that claim ended meanwhile, so ask again at once
                verdict = Verdict(VerdictKind.TRIAL, remaining or 0.0)
        except StoreError as exc:
            self._failed("claim_trial", exc)
            return None
        self._ok()
        return verdict

    # -- sharing what this worker's calls changed

    def _share(self, changes: tuple[Transition, ...]) -> Steps[None]:
        for frm, to in changes:
            if to is CircuitState.OPEN and frm is CircuitState.HALF_OPEN:
                yield from self._write("trial_failed", self._trial_failed())
            elif to is CircuitState.OPEN:
                yield from self._write("open", self._tripped())
            elif to is CircuitState.CLOSED and frm is CircuitState.HALF_OPEN:
                yield from self._write("trial_succeeded", self._trial_succeeded())

    def _write(self, op: str, steps: Steps[None]) -> Steps[None]:
        try:
            yield from steps
        except StoreError as exc:
            self._failed(op, exc)
        else:
            self._ok()

    def _tripped(self) -> Steps[None]:
        """This worker opened the breaker: open it for the fleet, restart the count.

        The period first, so no reader sees ``open`` without one (a due trial).
        The state only moves from ``closed`` or absent: an operator's word stays.
        """
        yield StoreCall("set", (self._period_key, _PERIOD, self.recovery_timeout))
        if not (yield StoreCall("compare_and_set", (self._key, _CLOSED, _OPEN, None))):
            yield StoreCall("compare_and_set", (self._key, None, _OPEN, None))
        yield from self._reset_failures()

    def _trial_failed(self) -> Steps[None]:
        """Our trial failed: a new open period; the claim goes back."""
        yield StoreCall("set", (self._period_key, _PERIOD, self.recovery_timeout))
        yield StoreCall("compare_and_delete", (self._trial_key, self.token))

    def _trial_succeeded(self) -> Steps[None]:
        """Our trial succeeded: the fleet is closed (unless an operator said otherwise)."""
        yield StoreCall("compare_and_set", (self._key, _OPEN, _CLOSED, None))
        yield from self._reset_failures()
        yield StoreCall("compare_and_delete", (self._trial_key, self.token))

    def _reset_failures(self) -> Steps[None]:
        yield StoreCall("set", (self._failures_key, b"0", None))
        self.failures_dirty = False

    def _count_failure(self) -> Steps[int | None]:
        """Count one failure fleet-wide; the new count, or None if the store failed."""
        try:
            count = yield StoreCall("incr", (self._failures_key,))
        except StoreError as exc:
            self._failed("record_failure", exc)
            return None
        self._ok()
        self.failures_dirty = True
        return int(count)

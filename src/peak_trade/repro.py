"""Reproducibility: who ran what, from which code and config, with which seed.

Seed API (seed 000, A4 and B2)::

    from peak_trade.repro import (ReproContext, set_global_seed, verify_determinism,
                                  get_git_sha, stable_hash_dict)

    ctx = ReproContext.create(seed=42, config_dict=my_config)
    ctx.run_id                      # "20261123T085446123456Z-3f9c1a2b": unique, sorts by time
    set_global_seed(42)             # random, numpy (legacy global), torch if installed
    assert verify_determinism(my_func, seed=42)
    get_git_sha(short=True)         # "e71254ed4d90", or "unknown" outside a checkout
    stable_hash_dict(my_config)     # same hash whatever the key order

This module is in the base layer: it imports only the standard library and
``peak_trade.errors/clock/logging`` at import time. numpy and torch are
imported inside :func:`set_global_seed`, and only if they are installed, so
``import peak_trade.repro`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import importlib
import json
import math
import os
import platform as _platform
import random
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from peak_trade.clock import Clock, system_clock
from peak_trade.errors import BacktestInvariantError, InvalidArgumentError
from peak_trade.logging import get_logger

__all__ = [
    "GIT_SHA_SHORT_LENGTH",
    "HASH_SHORT_LENGTH",
    "MAX_SEED",
    "ReproContext",
    "SeedReport",
    "UNKNOWN_GIT_SHA",
    "get_git_sha",
    "set_global_seed",
    "stable_hash_dict",
    "verify_determinism",
]

UNKNOWN_GIT_SHA = "unknown"
"""What :func:`get_git_sha` returns when the commit cannot be determined."""

HASH_SHORT_LENGTH = 16
"""Hex characters kept by ``stable_hash_dict(..., short=True)``: 64 bits, so two
different configs collide with probability ~n²/2⁶⁵ (negligible below billions of
configs) while staying short enough for file names and log lines."""

GIT_SHA_SHORT_LENGTH = 12
"""Hex characters kept by ``get_git_sha(short=True)``. A fixed length, unlike
``git rev-parse --short`` (which grows with the repository), so the same commit
always gives the same string; ``git show <sha>`` accepts it."""

MAX_SEED = 2**32
"""Seeds must satisfy ``0 <= seed < MAX_SEED`` (numpy's legacy ``seed`` limit)."""

_GIT_TIMEOUT_S = 5.0
_HEX_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256 repositories

_log = get_logger("peak_trade.repro")


# --------------------------------------------------------------------------- hashing


def stable_hash_dict(d: Mapping[str, Any], short: bool = True) -> str:
    """SHA-256 of the canonical JSON of ``d``: the same for equal dicts whatever the key order.

    Canonical JSON is ``json.dumps`` with sorted keys (at every depth), no
    whitespace and ``ensure_ascii=True``, after normalising values:

    * ``str``, ``int``, ``float``, ``bool``, ``None``: as JSON. ``1`` and ``1.0``
      hash differently (they are different config values to a parser).
    * ``list`` and ``tuple``: JSON arrays (so ``(1, 2)`` hashes like ``[1, 2]``).
    * ``dict`` / any ``Mapping``: JSON objects; keys must be ``str`` (an ``int``
      key would silently collide with its string form in JSON).
    * ``datetime`` / ``date``: ``isoformat()``; ``Path``: ``str(path)``;
      ``Decimal``: ``str(value)`` (exact, no float rounding); ``Enum``: its
      ``value`` (normalised again); ``set`` / ``frozenset``: an array sorted by
      each element's canonical JSON, so set iteration order never matters.

    NaN and ±infinity are **rejected**: JSON has no spelling for them, and
    ``json.dumps`` would emit the non-standard ``NaN`` that other tools parse
    differently. Use ``None`` or a string such as ``"inf"`` in configs.

    Args:
        d: the mapping to hash (typically a config dict).
        short: return the first :data:`HASH_SHORT_LENGTH` (16) hex characters
            instead of all 64.

    Raises:
        InvalidArgumentError: ``d`` is not a mapping, or holds a value of an
            unsupported type, a non-string key, NaN/infinity or a reference
            cycle; the error names the key path, e.g. ``$.model.layers[2]``.
    """
    if not isinstance(d, Mapping):
        raise InvalidArgumentError(
            f"stable_hash_dict needs a mapping, got {type(d).__name__}.",
            hint="Pass a dict (e.g. your config); wrap other values as {'value': x}.",
            context={"type": type(d).__name__},
        )
    canonical = _canonical_json(_normalize(d, "$", set()))
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return digest[:HASH_SHORT_LENGTH] if short else digest


def _canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _child_path(path: str, key: str) -> str:
    """``$.a.b`` for identifier keys, ``$['a key']`` otherwise, so the path is unambiguous."""
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _normalize(value: Any, path: str, active: set[int]) -> Any:
    """Turn ``value`` into plain JSON types, or raise naming ``path``.

    ``active`` holds the ids of the containers on the current recursion path, to
    report a reference cycle instead of overflowing the stack.
    """
    # Enum first: IntEnum/StrEnum are also int/str, but their value is what counts.
    if isinstance(value, enum.Enum):
        return _normalize(value.value, path, active)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(
                f"Cannot hash the non-finite float {value!r} at {path}.",
                hint="JSON has no NaN/infinity; use None or a string such as 'inf' instead.",
                context={"path": path, "value": repr(value)},
            )
        return value
    if isinstance(value, _dt.date):  # datetime is a date subclass
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        if id(value) in active:
            raise InvalidArgumentError(
                f"Cannot hash a self-referencing container at {path}.",
                hint="Remove the reference cycle from the dict before hashing it.",
                context={"path": path},
            )
        active.add(id(value))
        try:
            return _normalize_container(value, path, active)
        finally:
            active.discard(id(value))
    raise InvalidArgumentError(
        f"Cannot hash a value of type {type(value).__name__} at {path}.",
        hint=(
            "stable_hash_dict supports str, int, float, bool, None, list, tuple, dict, set, "
            "datetime, date, Path, Decimal and Enum; convert other values first "
            "(e.g. str(x) or x.to_dict())."
        ),
        context={"path": path, "type": type(value).__qualname__},
    )


def _normalize_container(
    value: Mapping[Any, Any] | list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any],
    path: str,
    active: set[int],
) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgumentError(
                    f"Cannot hash a dict with a non-string key {key!r} at {path}.",
                    hint="Use string keys (JSON objects only have string keys).",
                    context={"path": path, "key": repr(key), "key_type": type(key).__name__},
                )
            out[key] = _normalize(item, _child_path(path, key), active)
        return out
    if isinstance(value, list | tuple):
        return [_normalize(item, f"{path}[{i}]", active) for i, item in enumerate(value)]
    items = [_normalize(item, f"{path}{{}}", active) for item in value]
    return sorted(items, key=_canonical_json)


# --------------------------------------------------------------------------- git


def get_git_sha(short: bool = True, cwd: str | os.PathLike[str] | None = None) -> str:
    """The commit checked out in ``cwd`` (default: the current directory), or ``"unknown"``.

    Runs ``git rev-parse --verify HEAD`` without a shell and with a 5 s timeout.
    Never raises: outside a checkout, without a ``git`` binary, in a repository
    without commits, or on a timeout it returns :data:`UNKNOWN_GIT_SHA`.

    There is deliberately no ``PEAK_TRADE_GIT_SHA`` environment override:
    :func:`peak_trade.config.load_settings` rejects unknown ``PEAK_TRADE_*``
    variables. Deployments without ``.git`` pass the commit explicitly,
    ``ReproContext.create(..., git_sha=build_sha)``.

    Args:
        short: the first :data:`GIT_SHA_SHORT_LENGTH` (12) hex characters
            instead of the full 40 (64 in SHA-256 repositories).
        cwd: a directory inside the checkout.
    """
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        _log.debug("git_sha_unavailable", reason=repr(exc), cwd=str(cwd) if cwd else None)
        return UNKNOWN_GIT_SHA
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not _HEX_SHA.match(sha):
        _log.debug(
            "git_sha_unavailable", returncode=proc.returncode, stderr=proc.stderr.strip()[:200]
        )
        return UNKNOWN_GIT_SHA
    return sha[:GIT_SHA_SHORT_LENGTH] if short else sha


# --------------------------------------------------------------------------- seeds


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise InvalidArgumentError(
            f"Invalid seed {seed!r}: it must be an int with 0 <= seed < 2**32.",
            hint="Pass a non-negative integer seed such as 42.",
            context={"seed": repr(seed), "type": type(seed).__name__},
        )
    return seed


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :func:`set_global_seed` did.

    Attributes:
        seed: the seed used.
        libraries: what was seeded, in order: always ``"random"``, then
            ``"numpy"``, ``"torch"`` and ``"torch.cuda"`` when available.
        skipped: libraries that are not installed (or failed to import).
        pythonhashseed: the value put in ``os.environ["PYTHONHASHSEED"]``. It
            only affects **child** processes: the running interpreter's
            ``str``/``bytes`` hash seed is fixed at start-up and cannot change, so
            code that depends on set iteration order of strings is reproducible
            only when the process itself was started with ``PYTHONHASHSEED`` set.
    """

    seed: int
    libraries: tuple[str, ...]
    skipped: tuple[str, ...]
    pythonhashseed: str

    def seeded(self, library: str) -> bool:
        """True if ``library`` (``"random"``, ``"numpy"``, ``"torch"``, ...) was seeded."""
        return library in self.libraries


def set_global_seed(seed: int) -> SeedReport:
    """Seed every global random number generator we know of, for reproducible runs.

    * ``random.seed(seed)``;
    * numpy's **legacy global** generator (``np.random.seed``), if numpy is
      installed. ``np.random.default_rng()`` Generators are independent of it
      and must be given the seed explicitly: ``np.random.default_rng(seed)``;
    * ``torch.manual_seed`` and, if CUDA is available,
      ``torch.cuda.manual_seed_all``, if torch is installed. Bit-exact GPU
      results also need ``torch.use_deterministic_algorithms(True)``, which is
      left to the caller because it makes some operations raise;
    * ``os.environ["PYTHONHASHSEED"] = str(seed)`` for child processes (see
      :class:`SeedReport` for why the current process is not affected).

    Raises:
        InvalidArgumentError: ``seed`` is not an int in ``[0, 2**32)``.
    """
    seed = _check_seed(seed)
    random.seed(seed)
    libraries = ["random"]
    skipped: list[str] = []

    numpy = _optional_import("numpy")
    if numpy is None:
        skipped.append("numpy")
    else:
        numpy.random.seed(seed)
        libraries.append("numpy")

    torch = _optional_import("torch")
    if torch is None:
        skipped.append("torch")
    else:
        torch.manual_seed(seed)
        libraries.append("torch")
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
            libraries.append("torch.cuda")

    os.environ["PYTHONHASHSEED"] = str(seed)
    return SeedReport(
        seed=seed,
        libraries=tuple(libraries),
        skipped=tuple(skipped),
        pythonhashseed=str(seed),
    )


def _optional_import(name: str) -> Any:
    """The module ``name``, or ``None`` if it is not installed or cannot load.

    ``OSError`` is caught too: a torch wheel without its CUDA libraries fails
    that way, and an unusable optional library must not break seeding.
    """
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:
        if not isinstance(exc, ModuleNotFoundError) or exc.name != name:
            _log.warning("optional_import_failed", module=name, error=repr(exc))
        return None


# --------------------------------------------------------------------------- determinism


def verify_determinism(
    fn: Callable[[], Any],
    seed: int,
    runs: int = 3,
    *,
    raise_on_mismatch: bool = False,
) -> bool:
    """True if ``fn()`` gives the same result on every run, each after ``set_global_seed(seed)``.

    Results are compared with the equality the type means: objects with an
    ``equals`` method (pandas and polars frames/series) use it; numpy arrays must
    have the same shape and dtype and :func:`numpy.array_equal` (NaN in the same
    places counts as equal); lists, tuples and dicts are compared element by
    element with these rules; a float NaN equals NaN; anything else uses ``==``.
    Exceptions from ``fn`` propagate. The global generators stay seeded after
    the call.

    Args:
        fn: a zero-argument callable (use ``functools.partial`` for arguments).
        seed: passed to :func:`set_global_seed` before each run.
        runs: how many times to run ``fn`` (at least 2).
        raise_on_mismatch: raise :class:`BacktestInvariantError` naming the
            first run that differs from run 0, instead of returning ``False``.

    Raises:
        InvalidArgumentError: ``runs < 2``, an invalid seed, or results that
            cannot be compared.
        BacktestInvariantError: results differ and ``raise_on_mismatch`` is set.
    """
    _check_seed(seed)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise InvalidArgumentError(
            f"verify_determinism needs runs >= 2 to compare anything, got {runs!r}.",
            hint="Pass runs=2 or more (the default is 3).",
            context={"runs": repr(runs)},
        )
    set_global_seed(seed)
    first = fn()
    for index in range(1, runs):
        set_global_seed(seed)
        result = fn()
        if not _results_equal(first, result):
            if raise_on_mismatch:
                raise BacktestInvariantError(
                    f"{_name_of(fn)} is not deterministic: run {index} differs from run 0 "
                    f"with seed {seed}.",
                    hint=(
                        "Look for randomness that set_global_seed does not control: "
                        "np.random.default_rng() without a seed, time, set iteration order "
                        "of strings, thread scheduling, unordered dict/file listings."
                    ),
                    context={
                        "function": _name_of(fn),
                        "seed": seed,
                        "run": index,
                        "runs": runs,
                        "expected": _short_repr(first),
                        "actual": _short_repr(result),
                    },
                )
            return False
    return True


def _name_of(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _results_equal(a: Any, b: Any) -> bool:
    """Exact equality for determinism checks (see :func:`verify_determinism`)."""
    if type(a) is not type(b):
        return False
    if _is_ndarray(a):
        return _arrays_equal(a, b)
    equals = getattr(a, "equals", None)
    if callable(equals) and not isinstance(a, type):
        return bool(equals(b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_results_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_results_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"Cannot compare two results of type {type(a).__qualname__} for equality: {exc}",
            hint="Return plain values, numpy arrays, pandas objects or containers of them.",
            context={"type": type(a).__qualname__},
        ) from exc


def _is_ndarray(value: Any) -> bool:
    """Duck-typed so numpy is only looked at when it is already loaded."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def _arrays_equal(a: Any, b: Any) -> bool:
    import numpy as np

    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # equal_nan is undefined for non-numeric dtypes (str, object)
        return bool(np.array_equal(a, b))


# --------------------------------------------------------------------------- context


def _utc_iso(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.UTC).isoformat()


def _new_run_id(timestamp: float) -> str:
    """``YYYYMMDDTHHMMSSffffffZ-<8 hex>``: lexicographic order is time order (to the
    microsecond), and 32 random bits keep ids unique across processes and hosts."""
    moment = _dt.datetime.fromtimestamp(timestamp, tz=_dt.UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class ReproContext:
    """Everything needed to reproduce a run: seed, code version, config, environment.

    Build it with :meth:`create`; store it next to the results with
    :meth:`to_json` and read it back with :meth:`from_dict`.

    Attributes:
        seed: the run's global seed.
        git_sha: the commit (:func:`get_git_sha`) or ``"unknown"``.
        config_hash: :func:`stable_hash_dict` of the config (short form).
        python_version: ``platform.python_version()``, e.g. ``"3.11.9"``.
        platform: ``platform.platform()``, e.g. ``"Linux-6.1-x86_64-with-glibc2.36"``.
        run_id: unique per :meth:`create` call and sortable by creation time.
        created_at: creation time, UTC ISO 8601 (``"2026-11-23T08:54:46.123456+00:00"``).
    """

    seed: int
    git_sha: str
    config_hash: str
    python_version: str
    platform: str
    run_id: str
    created_at: str

    @classmethod
    def create(
        cls,
        seed: int,
        config_dict: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        git_sha: str | None = None,
        clock: Clock | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> ReproContext:
        """Capture the current run's context.

        Args:
            seed: the run's seed (validated like :func:`set_global_seed`; this
                does not seed anything by itself).
            config_dict: the run's configuration; hashed with
                :func:`stable_hash_dict` (``None`` hashes as ``{}``).
            run_id: use this id instead of generating one.
            git_sha: use this commit instead of asking git (deployments
                without a ``.git`` directory).
            clock: time source for ``created_at`` and the run id.
            cwd: directory for :func:`get_git_sha`.

        Raises:
            InvalidArgumentError: a bad seed, an empty ``run_id``, or a config
                that :func:`stable_hash_dict` cannot hash.
        """
        seed = _check_seed(seed)
        if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()):
            raise InvalidArgumentError(
                "run_id must be a non-empty string.",
                hint="Omit run_id to generate a unique one.",
                context={"run_id": repr(run_id)},
            )
        now = (clock or system_clock).time()
        return cls(
            seed=seed,
            git_sha=git_sha if git_sha is not None else get_git_sha(short=True, cwd=cwd),
            config_hash=stable_hash_dict(config_dict if config_dict is not None else {}),
            python_version=_platform.python_version(),
            platform=_platform.platform(),
            run_id=run_id if run_id is not None else _new_run_id(now),
            created_at=_utc_iso(now),
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of all fields (JSON-ready)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The fields as JSON with sorted keys (stable, diff-friendly)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReproContext:
        """Rebuild a context from :meth:`to_dict` output.

        Raises:
            InvalidArgumentError: fields are missing or unknown, or have the wrong type.
        """
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"ReproContext.from_dict needs a mapping, got {type(data).__name__}.",
                hint="Pass the dict produced by ReproContext.to_dict() (or json.loads of to_json).",
                context={"type": type(data).__name__},
            )
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        missing = sorted(set(fields) - set(data))
        unknown = sorted(set(data) - set(fields))
        if missing or unknown:
            raise InvalidArgumentError(
                "Not a ReproContext dict: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {missing}" if missing else "",
                        f"unknown {unknown}" if unknown else "",
                    )
                    if part
                ),
                hint="Pass the dict produced by ReproContext.to_dict().",
                context={"missing": missing, "unknown": unknown},
            )
        wrong = sorted(
            name
            for name, value in data.items()
            if (name == "seed" and (isinstance(value, bool) or not isinstance(value, int)))
            or (name != "seed" and not isinstance(value, str))
        )
        if wrong:
            raise InvalidArgumentError(
                f"ReproContext fields with the wrong type: {wrong}.",
                hint="seed must be an int and every other field a string.",
                context={name: repr(data[name]) for name in wrong},
            )
        return cls(**{name: data[name] for name in fields})

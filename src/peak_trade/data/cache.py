"""``OhlcvCache``: a partitioned, validated, checksummed parquet store of candles.

Layout under ``root`` (one directory per series, one file per period)::

    <exchange>/<symbol, percent-encoded>/<timeframe>/<period>.parquet (+ .sha256)
    binance/BTC%2FUSDT/1m/2026-11.parquet        monthly files below 1h candles
    binance/BTC%2FUSDT/1h/2026.parquet           yearly files from 1h up
    manifest.json                                 every file: SHA-256, size, rows, run

What each :meth:`OhlcvCache.append` guarantees:

* the new candles satisfy the OHLCV contract (:func:`validate_ohlcv`) before
  anything is written; a violation raises ``DataContractError`` and changes
  nothing. ``strict`` (the default; ``[data] validate_strict`` in the config)
  decides how their timestamps are held against the series' timeframe:

  - ``strict=True``: the contract's strict mode with the series' timeframe.
    Every candle must open on the timeframe's grid (a multiple of its length
    since the epoch; Mondays for weeks, as exchanges do), or the append is
    refused (``misaligned_timestamps``).
  - ``strict=False``: off-grid open times are stored as they come (data
    resampled with an offset, an exchange whose days start at another hour)
    and counted in :attr:`AppendResult.misaligned_candles`.
  - In both modes gaps are allowed, since an exchange may have had no trades
    in a minute: they are stored as gaps (never filled) and counted in
    :attr:`AppendResult.missing_candles`. Every other rule (columns, types,
    NaN, prices, high/low, volume, order, duplicates, time zone) always holds.
* they are merged into each affected period file with the candles already
  there: sorted, one row per timestamp, the **newer** row winning (the exchange
  revises the still-open candle until it closes), and the merged file is
  validated again;
* each file is replaced by :func:`atomic_write` (temp file, fsync, rename,
  SHA-256 sidecar), then recorded in the manifest; a crash leaves every file
  either old or new, and ``peaktrade data verify`` finds a file whose manifest
  entry lags behind;
* appends to one series from several processes are serialised by a lock file
  per series (``.lock`` in the series directory), so none is lost.

:meth:`OhlcvCache.read` verifies every file's checksum and returns the candles
in ``[start, end)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peak_trade.clock import Clock, system_clock
from peak_trade.data._fs import (
    find_temp_files,
    finish_transition,
    is_temp_name,
    make_dirs,
    read_sidecar_digests,
    sha256_file,
    sidecar_accepts,
    temp_file_in_use,
    try_remove_stale_temp,
)
from peak_trade.data._lock import FileLock
from peak_trade.data.atomic import atomic_read_frame, atomic_write, clean_stale_temp_files
from peak_trade.data.contracts import REQUIRED_COLUMNS, Rule, parse_timeframe, validate_ohlcv
from peak_trade.data.manifest import CacheManifest, VerifyReport
from peak_trade.errors import CacheCorruptionError, CacheFileNotFoundError, InvalidArgumentError

if TYPE_CHECKING:
    from peak_trade.repro import ReproContext

__all__ = ["SCHEMA_VERSION", "AppendResult", "CacheCheck", "OhlcvCache"]

SCHEMA_VERSION = 1
"""Version of the candle file layout recorded in the manifest for every file."""

_HOUR_NS = 3_600_000_000_000
# Contract rules an append tolerates (and counts): gaps always, off-grid times if lenient.
_ALLOWED_STRICT = frozenset({Rule.MISSING_CANDLES})
_ALLOWED_LENIENT = frozenset({Rule.MISSING_CANDLES, Rule.MISALIGNED_TIMESTAMPS})
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one :meth:`OhlcvCache.append` changed.

    Attributes:
        rows_in: candles passed in.
        rows_added: candles the cache did not have before.
        rows_updated: candles that replaced a stored one with different values.
        files: the period files rewritten (relative to root), in order.
        missing_candles: candles missing between the first and last one passed in
            (gaps are stored as gaps, never filled; ``validate_ohlcv(strict=True)``
            on a read range reports them).
        misaligned_candles: candles passed in whose open time is off the
            timeframe's grid (only a cache with ``strict=False`` accepts them).
    """

    rows_in: int
    rows_added: int
    rows_updated: int
    files: tuple[str, ...]
    missing_candles: int
    misaligned_candles: int = 0


@dataclass(frozen=True, slots=True)
class CacheCheck:
    """What :meth:`OhlcvCache.verify` found: the manifest's view plus every sidecar's.

    ``ok`` means every data file is recorded in the manifest as it is and
    verifies against its sidecar. The other findings are reported but are not
    damage; ``verify(repair=True)`` settles them without ever touching a data file.

    Attributes:
        manifest: missing, changed and untracked files per the manifest.
        sidecars: one ``{"path", "problem", ...}`` per data file whose ``.sha256``
            sidecar is missing (``no-sidecar``), malformed, or rejects the bytes
            (``mismatch``): damage; the file must be fetched again.
        files: data files whose sidecar was checked.
        lagging: data files (of the cache's layout) that the manifest lists as
            changed or untracked although their sidecar vouches for every byte: a
            write that was interrupted after the renames, before it recorded them.
            They make ``ok`` false (the manifest is behind); repair records them.
        transitions: intact files whose sidecar still lists a second digest, left
            by a writer that died mid-replacement. Verified reads accept them;
            ``sha256sum -c`` reports one FAILED line. Repair rewrites the sidecar.
        temp_files: ``{"path", "in_use"}`` per temp file under root. One in use
            belongs to a live writer (not a problem); the others were left by
            writers that died, and are safe to remove (repair removes them, as
            does :func:`~peak_trade.data.clean_stale_temp_files`).
        repaired: ``{"path", "action"}`` per repair done by ``verify(repair=True)``;
            the other fields describe the cache after the repairs.
    """

    manifest: VerifyReport
    sidecars: tuple[dict[str, Any], ...]
    files: int
    lagging: tuple[str, ...] = ()
    transitions: tuple[str, ...] = ()
    temp_files: tuple[dict[str, Any], ...] = ()
    repaired: tuple[dict[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.manifest.ok and not self.sidecars

    @property
    def repairable(self) -> bool:
        """Whether ``verify(repair=True)`` has something to do."""
        stale = any(not t["in_use"] for t in self.temp_files)
        return bool(self.lagging or self.transitions or stale)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": self.files,
            "manifest": self.manifest.to_dict(),
            "sidecars": list(self.sidecars),
            "lagging": list(self.lagging),
            "transitions": list(self.transitions),
            "temp_files": list(self.temp_files),
            "repaired": list(self.repaired),
        }

    def __str__(self) -> str:
        return self.render()

    def render(self, repair: str = "verify(repair=True)") -> str:
        """The report as text; ``repair`` names how the reader runs a repair."""
        lines = [str(self.manifest)]
        lagging = set(self.lagging)
        if self.manifest.missing:
            lines.append(
                "  (missing: fetch those candles again, or restore the files from a backup)"
            )
        if any(c.path not in lagging for c in self.manifest.changed):
            lines.append(
                "  (changed since recorded: delete each such file and its .sha256 sidecar, "
                "then fetch those candles again)"
            )
        if any(p not in lagging for p in self.manifest.untracked):
            lines.append("  (untracked: not written by this cache; move them out of the directory)")
        status = "OK" if not self.sidecars else "PROBLEMS"
        lines.append(
            f"Checksum sidecars {status}: {self.files} file(s) checked, {len(self.sidecars)} bad"
        )
        lines.extend(f"  {p['problem']:<10} {p['path']}" for p in self.sidecars)
        if self.sidecars:
            lines.append(
                "  (damaged: delete each such file and its .sha256 sidecar, then fetch "
                "those candles again)"
            )
        if self.lagging:
            lines.append(
                f"Intact but not recorded: {len(self.lagging)} file(s) whose sidecar vouches "
                "for every byte; a write was interrupted before it updated the manifest. "
                f"{repair} records them."
            )
            lines.extend(f"  lagging    {p}" for p in self.lagging)
        if self.transitions:
            lines.append(
                f"Interrupted sidecar updates: {len(self.transitions)} intact file(s) whose "
                "sidecar still lists a second digest (reads verify; `sha256sum -c` shows one "
                f"FAILED line). {repair} rewrites the sidecar."
            )
            lines.extend(f"  sidecar    {p}" for p in self.transitions)
        if self.temp_files:
            stale = [t["path"] for t in self.temp_files if not t["in_use"]]
            live = [t["path"] for t in self.temp_files if t["in_use"]]
            lines.append(
                f"Temp files: {len(stale)} left by writers that died (safe to remove: "
                f"{repair} removes them), {len(live)} being written right now (not a problem)"
            )
            lines.extend(f"  stale      {p}" for p in stale)
            lines.extend(f"  in use     {p}" for p in live)
        if self.repaired:
            lines.append(f"Repaired: {len(self.repaired)}")
            lines.extend(f"  {r['path']}: {r['action']}" for r in self.repaired)
        return "\n".join(lines)


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InvalidArgumentError(
            f"{kind} must be a plain name (letters, digits, '.', '_', '-'), got {value!r}.",
            hint=f"Pass the ccxt {kind} id, e.g. 'binance'." if kind == "exchange" else None,
            context={kind: repr(value)},
        )
    return value


class OhlcvCache:
    """Candles per exchange, symbol and timeframe in validated, checksummed parquet files.

    Args:
        root: the cache directory (created on the first write).
        repro: the writing run's context; its run id, git SHA and config hash
            go into the manifest. Default: a run id derived from the clock.
        lock_timeout: seconds an append waits for another writer of the same series.
        clock: time source (run ids, manifest timestamps, lock back-off).
        strict: hold appended candles to the timeframe's grid (module docstring);
            the service passes ``[data] validate_strict``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        repro: ReproContext | None = None,
        lock_timeout: float = 60.0,
        clock: Clock | None = None,
        strict: bool = True,
    ) -> None:
        if not isinstance(strict, bool):
            raise InvalidArgumentError(
                f"strict must be True or False, got {strict!r}.",
                hint="strict=True refuses candles off the timeframe's grid; "
                "strict=False stores and counts them.",
                context={"strict": repr(strict)},
            )
        self.strict = strict
        self._clock: Clock = clock or system_clock
        self.manifest = CacheManifest(root, lock_timeout=lock_timeout, clock=self._clock)
        self.root = self.manifest.root
        self._repro = repro
        self._lock_timeout = lock_timeout
        self._run_id = repro.run_id if repro is not None else f"cache-{os.getpid()}"

    def __repr__(self) -> str:
        return f"OhlcvCache({str(self.root)!r}, strict={self.strict})"

    # ------------------------------------------------------------------ layout

    def series_dir(self, exchange: str, symbol: str, timeframe: str) -> Path:
        """The directory of one series."""
        parse_timeframe(timeframe)
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidArgumentError(
                f"symbol must be a non-empty string, got {symbol!r}.",
                hint="Pass the ccxt symbol, e.g. 'BTC/USDT'.",
                context={"symbol": repr(symbol)},
            )
        encoded = urllib.parse.quote(symbol, safe="")
        return self.root / _check_name("exchange", exchange) / encoded / timeframe

    @staticmethod
    def _period_freq(timeframe: str) -> str:
        """Monthly files below 1h candles, yearly from 1h up (a few MB per file either way)."""
        return "M" if parse_timeframe(timeframe) < _HOUR_NS else "Y"

    @staticmethod
    def _period_name(period: pd.Period) -> str:
        return (
            f"{period.year:04d}-{period.month:02d}"
            if period.freqstr.startswith("M")
            else (f"{period.year:04d}")
        )

    def series(self) -> list[tuple[str, str, str]]:
        """Every (exchange, symbol, timeframe) with at least one file in the manifest."""
        found: set[tuple[str, str, str]] = set()
        for entry in self.manifest.entries():
            parts = entry.path.split("/")
            if len(parts) == 4 and parts[3].endswith(".parquet"):
                found.add((parts[0], urllib.parse.unquote(parts[1]), parts[2]))
        return sorted(found)

    def _files(self, exchange: str, symbol: str, timeframe: str) -> list[Path]:
        directory = self.series_dir(exchange, symbol, timeframe)
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))

    # ------------------------------------------------------------------ writing

    def append(
        self, exchange: str, symbol: str, timeframe: str, candles: pd.DataFrame
    ) -> AppendResult:
        """Merge ``candles`` into the series (see the module docstring for the guarantees).

        Raises:
            DataContractError: ``candles`` (or a merge with a damaged file) breaks the
                OHLCV contract; nothing was written.
            CacheCorruptionError: a stored file fails its checksum; fix it first
                (``peaktrade data verify``), nothing was written.
            OperationTimeoutError: another writer held the series longer than lock_timeout.
        """
        directory = self.series_dir(exchange, symbol, timeframe)
        report = validate_ohlcv(candles, strict=True, timeframe=timeframe, raise_on_error=False)
        allowed = _ALLOWED_STRICT if self.strict else _ALLOWED_LENIENT
        blocking = tuple(v for v in report.violations if v.rule not in allowed)
        if blocking:
            raise dataclasses.replace(report, violations=blocking).to_error()
        gap = report.violation(Rule.MISSING_CANDLES)
        off_grid = report.violation(Rule.MISALIGNED_TIMESTAMPS)
        missing = gap.count if gap is not None else 0
        misaligned = off_grid.count if off_grid is not None else 0
        new = self._normalise(candles)
        if new.empty:
            return AppendResult(0, 0, 0, (), 0)
        make_dirs(directory)
        freq = self._period_freq(timeframe)
        periods = pd.DatetimeIndex(new.index).tz_convert(None).to_period(freq)
        added = updated = 0
        written: list[str] = []
        with FileLock(directory / ".lock", self._lock_timeout, clock=self._clock):
            clean_stale_temp_files(directory)
            for period, chunk in new.groupby(periods, sort=True):
                path = directory / f"{self._period_name(period)}.parquet"
                merged, n_added, n_updated = self._merge(path, chunk)
                if n_added == 0 and n_updated == 0:
                    continue
                # the base contract on the merged file: stored candles met `strict` (or
                # an earlier cache's setting) when they were appended
                validate_ohlcv(merged)
                result = atomic_write(merged, path, checksum=True)
                self._record(path, result.sha256, len(merged), (exchange, symbol, timeframe))
                added += n_added
                updated += n_updated
                written.append(path.relative_to(self.root).as_posix())
        return AppendResult(len(candles), added, updated, tuple(written), missing, misaligned)

    @staticmethod
    def _normalise(candles: pd.DataFrame) -> pd.DataFrame:
        frame = candles.loc[:, list(REQUIRED_COLUMNS)].astype("float64")
        index = pd.DatetimeIndex(frame.index).tz_convert("UTC").as_unit("ns")
        frame.index = index.rename("timestamp")
        return frame

    @staticmethod
    def _merge(path: Path, chunk: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
        """The period file with ``chunk`` merged in; plus rows added and rows changed."""
        if not path.exists():
            return chunk, len(chunk), 0
        old = atomic_read_frame(path, verify_checksum=True)
        old.index = pd.DatetimeIndex(old.index).tz_convert("UTC").as_unit("ns")
        known = chunk.index.isin(old.index)
        overlap = chunk[known]
        changed = 0
        if len(overlap):
            before = old.loc[overlap.index, list(REQUIRED_COLUMNS)]
            same = (before.to_numpy() == overlap.to_numpy()) | (
                pd.isna(before.to_numpy()) & pd.isna(overlap.to_numpy())
            )
            changed = int((~same.all(axis=1)).sum())
        merged = pd.concat([old, chunk])
        merged = merged[~merged.index.duplicated(keep="last")].sort_index()
        return merged, int((~known).sum()), changed

    def _record(
        self, path: Path, sha256: str | None, rows: int | None, series: tuple[str, str, str]
    ) -> None:
        exchange, symbol, timeframe = series
        repro = self._repro
        self.manifest.record(
            path,
            run_id=self._run_id,
            schema_version=SCHEMA_VERSION,
            rows=rows,
            sha256=sha256,
            git_sha=repro.git_sha if repro is not None else None,
            config_hash=repro.config_hash if repro is not None else None,
            extra={"exchange": exchange, "symbol": symbol, "timeframe": timeframe},
        )

    # ------------------------------------------------------------------ checking

    def verify(self, *, repair: bool = False) -> CacheCheck:
        """Check every data file against the manifest and against its own sidecar.

        The two checks catch different accidents: the manifest sees files that
        vanished or appeared, the sidecars see a file and its sidecar that no
        longer match (also for files the manifest does not know yet). A file
        passes its sidecar check exactly when a verified read accepts it
        (:func:`~peak_trade.data._fs.sidecar_accepts` decides both). Each file
        is hashed at most once: a file the manifest found intact has the digest
        of its entry. What an interrupted write leaves behind (see
        :class:`CacheCheck`) is reported apart from damage.

        With ``repair``, the leftovers of interrupted writes are settled, then
        the cache is checked again: temp files of dead writers are removed,
        transition sidecars rewritten, and lagging files recorded in the
        manifest. A data file is never modified or deleted, and damage is never
        "repaired".

        Raises:
            CacheFileNotFoundError: ``root`` has no manifest (``context["reason"]
                == "no_manifest"``): it is not a cache, or nothing was ever
                appended to it.
            CacheCorruptionError: the manifest file itself is unreadable.
        """
        if not self.manifest.path.is_file():
            raise self._no_manifest()
        check = self._inspect()
        if not repair or not check.repairable:
            return check
        done = self._repair(check)
        return dataclasses.replace(self._inspect(), repaired=tuple(done))

    def _no_manifest(self) -> CacheFileNotFoundError:
        where = self.manifest.path
        return CacheFileNotFoundError(
            f"{str(self.root)!r} is not a peak-trade cache: there is no manifest at "
            f"{str(where)!r}.",
            hint="Give the cache directory itself: the one holding manifest.json and the "
            "<exchange>/<symbol>/<timeframe>/ folders (its first append creates the "
            "manifest). If the manifest was lost, restore manifest.json from a backup.",
            context={"root": str(self.root), "manifest": str(where), "reason": "no_manifest"},
        )

    def _inspect(self) -> CacheCheck:
        entries = {e.path: e for e in self.manifest.entries()}
        report = self.manifest.verify()
        behind = {c.path for c in report.changed} | set(report.untracked)
        problems: list[dict[str, Any]] = []
        transitions: list[str] = []
        lagging: list[str] = []
        files = 0
        for path in sorted(self.root.rglob("*.parquet")):
            if is_temp_name(path.name) or not path.is_file():
                continue
            files += 1
            rel = path.relative_to(self.root).as_posix()
            entry = entries.get(rel)
            proven = entry.sha256 if entry is not None and rel not in behind else None
            problem, accepted = _sidecar_check(path, proven)
            if problem is not None:
                problems.append({"path": rel, **problem})
                continue
            if len(accepted) > 1:
                transitions.append(rel)
            if rel in behind and self._series_of(rel) is not None:
                lagging.append(rel)
        temps = tuple(
            {"path": p.relative_to(self.root).as_posix(), "in_use": temp_file_in_use(p)}
            for p in find_temp_files(self.root)
        )
        return CacheCheck(
            report,
            tuple(problems),
            files,
            lagging=tuple(lagging),
            transitions=tuple(transitions),
            temp_files=temps,
        )

    def _repair(self, check: CacheCheck) -> list[dict[str, str]]:
        done: list[dict[str, str]] = []
        for temp in check.temp_files:
            if not temp["in_use"] and try_remove_stale_temp(self.root / temp["path"]):
                done.append({"path": temp["path"], "action": "removed a dead writer's temp file"})
        for rel in check.transitions:
            if finish_transition(self.root / rel):
                done.append({"path": rel, "action": "finished the sidecar update"})
        for rel in check.lagging:
            path, series = self.root / rel, self._series_of(rel)
            accepted = read_sidecar_digests(path)
            actual = sha256_file(path)
            if series is None or not sidecar_accepts(accepted, actual):
                continue  # changed since the check: leave it to the next one
            self._record(path, actual, None, series)
            done.append({"path": rel, "action": "recorded in the manifest"})
        return done

    def _series_of(self, rel: str) -> tuple[str, str, str] | None:
        """(exchange, symbol, timeframe) if ``rel`` is a period file of this cache's layout."""
        parts = rel.split("/")
        if len(parts) != 4 or not parts[3].endswith(".parquet"):
            return None
        exchange, symbol, timeframe = parts[0], urllib.parse.unquote(parts[1]), parts[2]
        try:
            directory = self.series_dir(exchange, symbol, timeframe)
            period = pd.Period(parts[3].removesuffix(".parquet"), freq=self._period_freq(timeframe))
        except (InvalidArgumentError, ValueError, TypeError, OverflowError):
            return None
        canonical = directory / f"{self._period_name(period)}.parquet"
        return (exchange, symbol, timeframe) if canonical == self.root / rel else None

    # ------------------------------------------------------------------ reading

    def read(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: Any = None,
        end: Any = None,
        *,
        verify_checksum: bool = True,
    ) -> pd.DataFrame:
        """Candles with ``start <= timestamp < end`` (either bound optional), sorted, UTC.

        ``start``/``end`` are anything ``pd.Timestamp`` accepts; naive values are UTC.

        Raises:
            CacheCorruptionError: a file fails its checksum or does not parse.
        """
        lo, hi = _bound(start), _bound(end)
        frames = [
            frame
            for frame in self._read_files((exchange, symbol, timeframe), lo, hi, verify_checksum)
            if len(frame)
        ]
        if not frames:
            empty = pd.DataFrame(
                {c: pd.Series(dtype="float64") for c in REQUIRED_COLUMNS},
                index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
            )
            return empty
        out = pd.concat(frames) if len(frames) > 1 else frames[0]
        index = pd.DatetimeIndex(out.index)
        first = 0 if lo is None else index.searchsorted(lo, side="left")
        stop = len(index) if hi is None else index.searchsorted(hi, side="left")
        return out.iloc[first:stop]  # files are sorted and partitions in order

    def _read_files(
        self,
        series: tuple[str, str, str],
        lo: pd.Timestamp | None,
        hi: pd.Timestamp | None,
        verify: bool,
    ) -> Iterator[pd.DataFrame]:
        exchange, symbol, timeframe = series
        freq = self._period_freq(timeframe)
        for path in self._files(exchange, symbol, timeframe):
            period = pd.Period(path.stem, freq=freq)
            first = period.start_time.tz_localize("UTC")
            last = period.end_time.tz_localize("UTC")
            if (hi is not None and first >= hi) or (lo is not None and last < lo):
                continue
            frame = atomic_read_frame(path, verify_checksum=verify)
            frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
            yield frame

    def last_timestamp(self, exchange: str, symbol: str, timeframe: str) -> pd.Timestamp | None:
        """The newest stored candle's open time, or None for an empty series."""
        files = self._files(exchange, symbol, timeframe)
        for path in reversed(files):
            frame = atomic_read_frame(path, verify_checksum=True)
            if len(frame):
                return pd.Timestamp(frame.index.max()).tz_convert("UTC")
        return None


def _sidecar_check(path: Path, proven: str | None) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """(problem or None, the digests the sidecar accepts); ``proven``: the digest if known."""
    try:
        accepted = read_sidecar_digests(path)
    except CacheCorruptionError:
        return {"problem": "malformed"}, ()
    if accepted is None:
        return {"problem": "no-sidecar"}, ()
    actual = proven if proven is not None else sha256_file(path)
    if not sidecar_accepts(accepted, actual):
        problem: dict[str, Any] = {"problem": "mismatch", "expected": accepted[0], "actual": actual}
        if len(accepted) > 1:
            problem["accepted"] = list(accepted)
        return problem, accepted
    return None, accepted


def _bound(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Not a time: {value!r}.",
            hint="Pass a pandas Timestamp, a datetime or an ISO string such as '2026-01-01'.",
            context={"value": repr(value)},
        ) from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

"""Market data you can trust: the OHLCV contract, crash-safe checksummed files, the manifest.

Seed API::

    from peak_trade.data import validate_ohlcv, atomic_write, atomic_read, CacheManifest

    validate_ohlcv(df, strict=True, timeframe="1h")      # raises DataContractError
    df = read_ohlcv("BTCUSDT-1h.csv.gz", tz="UTC")      # real files into the contract's shape
    atomic_write(df, "cache/btc.parquet", checksum=True) # temp file, fsync, rename, .sha256
    df = atomic_read("cache/btc.parquet", verify_checksum=True)

Importing this package is cheap: pandas, numpy and pyarrow are imported by the
module that needs them, the first time one of these names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peak_trade.data.atomic import WriteResult as WriteResult
    from peak_trade.data.atomic import atomic_read as atomic_read
    from peak_trade.data.atomic import atomic_write as atomic_write
    from peak_trade.data.atomic import clean_stale_temp_files as clean_stale_temp_files
    from peak_trade.data.cache import AppendResult as AppendResult
    from peak_trade.data.cache import CacheCheck as CacheCheck
    from peak_trade.data.cache import OhlcvCache as OhlcvCache
    from peak_trade.data.contracts import Rule as Rule
    from peak_trade.data.contracts import ValidationReport as ValidationReport
    from peak_trade.data.contracts import Violation as Violation
    from peak_trade.data.contracts import validate_ohlcv as validate_ohlcv
    from peak_trade.data.manifest import CacheManifest as CacheManifest
    from peak_trade.data.manifest import ManifestEntry as ManifestEntry
    from peak_trade.data.manifest import VerifyReport as VerifyReport
    from peak_trade.data.readers import read_ohlcv as read_ohlcv

_LAZY = {
    "validate_ohlcv": "contracts",
    "Rule": "contracts",
    "WriteResult": "atomic",
    "AppendResult": "cache",
    "CacheCheck": "cache",
    "ValidationReport": "contracts",
    "Violation": "contracts",
    "atomic_write": "atomic",
    "atomic_read": "atomic",
    "clean_stale_temp_files": "atomic",
    "CacheManifest": "manifest",
    "ManifestEntry": "manifest",
    "VerifyReport": "manifest",
    "OhlcvCache": "cache",
    "read_ohlcv": "readers",
}

__all__ = [
    "AppendResult",
    "CacheCheck",
    "CacheManifest",
    "ManifestEntry",
    "OhlcvCache",
    "Rule",
    "ValidationReport",
    "VerifyReport",
    "Violation",
    "WriteResult",
    "atomic_read",
    "atomic_write",
    "clean_stale_temp_files",
    "read_ohlcv",
    "validate_ohlcv",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'peak_trade.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"peak_trade.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

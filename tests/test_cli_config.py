"""`peaktrade config show|validate` as real processes: secrets never printed, one URL
parser with `run`, and a warning for every configured key nothing uses yet."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from peaktrade_cli import run_peaktrade

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Hunter2Sekr1t"


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_peaktrade(args, cwd, **env)


def test_validate_accepts_an_upper_case_redis_url_and_never_prints_its_password(
    tmp_path: Path,
) -> None:
    out = run(
        ["config", "validate"],
        tmp_path,
        PEAK_TRADE_STORE__URL=f"REDIS://:{PASSWORD}@127.0.0.1:6399/0",
    )
    assert out.returncode == 0, out.stderr
    assert "is valid" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"redis//:{PASSWORD}@127.0.0.1:6399/0",
        f"redis+sentinel://:{PASSWORD}@127.0.0.1:26379/0",
        f"mysql://:{PASSWORD}@127.0.0.1/0",
        f"redis://:pa/{PASSWORD}@127.0.0.1:6399/0",
    ],
)
def test_validate_refuses_a_bad_url_without_printing_its_password(tmp_path: Path, url: str) -> None:
    out = run(["config", "validate"], tmp_path, PEAK_TRADE_STORE__URL=url)
    assert out.returncode == 2
    assert "store.url" in out.stderr
    assert "Hint:" in out.stderr
    assert PASSWORD not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://var/state.db", "sqlite:///var/state.db"),
        ("redis://localhost:port/0", "port"),
        ("redis://localhost:6379/0?colour=blue", "colour"),
    ],
)
def test_validate_refuses_what_run_would_refuse(tmp_path: Path, url: str, says: str) -> None:
    config = tmp_path / "peaktrade.toml"
    config.write_text(f"[store]\nurl = '{url}'\n")
    out = run(["config", "validate", str(config)], tmp_path)
    assert out.returncode == 2
    assert "store.url" in out.stderr
    assert says in out.stderr


def test_show_masks_the_store_password_unless_asked(tmp_path: Path) -> None:
    env = {"PEAK_TRADE_STORE__URL": f"redis://:{PASSWORD}@db:6379/0"}
    masked = run(["config", "show"], tmp_path, **env)
    assert masked.returncode == 0, masked.stderr
    assert 'url = "redis://:***@db:6379/0"' in masked.stdout
    assert PASSWORD not in masked.stdout + masked.stderr
    as_json = run(["config", "show", "--json"], tmp_path, **env)
    assert json.loads(as_json.stdout)["store"]["url"] == "redis://:***@db:6379/0"
    shown = run(["config", "show", "--show-secrets"], tmp_path, **env)
    assert f'url = "redis://:{PASSWORD}@db:6379/0"' in shown.stdout


def test_keys_nothing_uses_yet_are_warned_about_on_stderr(tmp_path: Path) -> None:
    config = tmp_path / "peaktrade.toml"
    config.write_text(
        "[web]\nport = 9000\n[health_checks]\nshow_details = true\n"
        "[monitoring]\nlog_level = 'DEBUG'\n"
    )
    validated = run(["config", "validate", str(config)], tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("OK:")
    warnings = validated.stderr.splitlines()
    assert (
        "warning: [web] port = 9000 is accepted but not used yet "
        "(planned: the web app and status page, served by peaktrade run, step 10)"
    ) in warnings
    assert any(w.startswith("warning: [health_checks] show_details = true") for w in warnings)
    assert not any("log_level" in w for w in warnings)  # live
    shown = run(["config", "show", "-c", str(config)], tmp_path)
    assert shown.returncode == 0
    assert tomllib.loads(shown.stdout)["web"]["port"] == 9000  # stdout stays TOML
    assert "warning: [web] port = 9000" in shown.stderr
    as_json = run(["config", "show", "--json", "-c", str(config)], tmp_path)
    assert json.loads(as_json.stdout)["web"]["port"] == 9000


def test_the_example_config_validates_without_warnings(tmp_path: Path) -> None:
    out = run(["config", "validate", str(ROOT / "config" / "peaktrade.example.toml")], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""

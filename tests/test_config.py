from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from peak_trade.config import (
    INERT_KEYS,
    Settings,
    find_config_file,
    inert_reason,
    load_settings,
    setting_keys,
)
from peak_trade.errors import ConfigError
from peak_trade.store.url import parse_store_url

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "peaktrade.example.toml"


def write(tmp_path: Path, text: str, name: str = "peaktrade.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | None = None, **env: str) -> Settings:
    return load_settings(path, environ=env, use_default_file=False)


def test_no_file_gives_defaults() -> None:
    s = load()
    assert s.model_dump() == Settings().model_dump()
    assert s.source is None
    assert s.resilience.circuit_breaker_threshold == 5
    assert s.store.url.get_secret_value() == "sqlite:///var/state.db"
    assert s.exchange.mode == "fake"
    assert s.retry.enabled is False  # trading-behaviour features are off by default


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    s = load(write(tmp_path, ""))
    assert s.model_dump() == Settings().model_dump()
    assert s.source == tmp_path / "peaktrade.toml"


def _leaf_keys(d: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out |= _leaf_keys(v, f"{prefix}{k}.")
        else:
            out.add(f"{prefix}{k}")
    return out


def test_example_file_is_the_defaults_and_documents_every_key() -> None:
    s = load(EXAMPLE)
    assert s.model_dump() == Settings().model_dump()
    text = EXAMPLE.read_text()
    # every key of the model appears in the example (set or commented out) with a comment
    every_key = _leaf_keys(Settings().to_toml_dict()) | {
        "resilience.timeout_seconds",
        "exchange.base_url",
        "exchange.api_key",
        "exchange.api_secret",
    }
    for dotted in every_key:
        leaf = dotted.rsplit(".", 1)[-1]
        pattern = rf"^#?\s*{leaf}\s*=|^\[{re.escape(dotted)}\]"
        assert re.search(pattern, text, re.M), f"{dotted} missing from the example"
    for line in text.splitlines():
        if re.match(r"^\w+\s*=", line) and "#" not in line:
            assert line.split("=")[0].strip() in {"host", "enabled", "cache_dir"}, line


def test_seed_002_config_loads_and_module_overrides_resolve(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[resilience]
circuit_breaker_enabled = true
circuit_breaker_threshold = 5
circuit_breaker_timeout = 60
rate_limit_enabled = true
rate_limit_requests = 100
rate_limit_window = 60
metrics_enabled = true

[resilience.backtest]
circuit_breaker_threshold = 5
circuit_breaker_timeout = 60

[resilience.portfolio]
circuit_breaker_threshold = 3
circuit_breaker_timeout = 30

[resilience.risk]
circuit_breaker_threshold = 3
fail_safe_defaults = true

[resilience.live]
circuit_breaker_threshold = 2
circuit_breaker_timeout = 120
rate_limit_requests = 30
""",
    )
    r = load(path).resilience
    live = r.for_module("live")
    assert (live.circuit_breaker_threshold, live.circuit_breaker_timeout) == (2, 120.0)
    assert live.rate_limit_requests == 30
    assert live.rate_limit_window == 60.0  # inherited
    risk = r.for_module("risk")
    assert risk.fail_safe_defaults is True
    assert risk.circuit_breaker_timeout == 60.0
    unknown = r.for_module("not_configured")
    assert unknown.circuit_breaker_threshold == 5
    assert set(r.modules) == {"backtest", "portfolio", "risk", "live"}


def test_seed_003_sections_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[resilience.rate_limits]
kraken = 10
binance = 15
coinbasepro = { requests = 8, window = 2.0, burst = 4 }

[monitoring]
log_level = "info"
structured_logging = true
metrics_enabled = true

[health_checks]
enabled = true
interval_seconds = 60
checks = ["backtest", "exchange", "portfolio", "risk", "live"]

[backup]
enabled = true
interval_hours = 24
retention_days = 30
backup_path = "./backups"
compress = true
""",
    )
    s = load(path)
    assert s.resilience.rate_limits["binance"].requests == 15
    assert s.resilience.rate_limits["binance"].window == 1.0
    assert s.resilience.rate_limits["coinbasepro"].burst == 4
    assert s.monitoring.log_level == "INFO"
    assert s.health_checks.checks == ("backtest", "exchange", "portfolio", "risk", "live")
    assert s.backup.backup_path == Path("backups")


def test_seed_env_names_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[resilience]\ncircuit_breaker_threshold = 3\nrate_limit_requests = 5\n")
    s = load(
        path,
        PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="10",
        PEAK_TRADE_RATE_LIMIT_REQUESTS="200",
    )
    assert s.resilience.circuit_breaker_threshold == 10
    assert s.resilience.rate_limit_requests == 200
    assert s.env_overrides == (
        "PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD",
        "PEAK_TRADE_RATE_LIMIT_REQUESTS",
    )


def test_nested_env_names_reach_every_section() -> None:
    s = load(
        PEAK_TRADE_STORE__URL="redis://:pw@localhost:6379/0",
        PEAK_TRADE_RESILIENCE__LIVE__RATE_LIMIT_REQUESTS="30",
        PEAK_TRADE_RESILIENCE__RATE_LIMITS__BINANCE="15",
        PEAK_TRADE_EXCHANGE__SYMBOLS="BTC/USDT, SOL/USDT",
        PEAK_TRADE_HEALTH_CHECKS__CHECKS='["store", "exchange"]',
        PEAK_TRADE_RETRY__CIRCUIT_BREAKER__ENABLED="true",
        PEAK_TRADE_WEB__PORT="9000",
        PEAK_TRADE_CONFIG="ignored-here",
        OTHER_VAR="x",
    )
    assert s.store.url.get_secret_value() == "redis://:pw@localhost:6379/0"
    assert s.resilience.for_module("live").rate_limit_requests == 30
    assert s.resilience.rate_limits["binance"].requests == 15
    assert s.exchange.symbols == ("BTC/USDT", "SOL/USDT")
    assert s.health_checks.checks == ("store", "exchange")
    assert s.retry.circuit_breaker.enabled is True
    assert s.web.port == 9000


def test_typo_in_file_names_the_key_the_file_and_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "[resilience]\ncircuit_breaker_treshold = 5\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert "resilience.circuit_breaker_treshold: unknown key" in text
    assert str(path) in text
    assert "did you mean 'circuit_breaker_threshold'" in text
    assert info.value.context["file"] == str(path)


def test_typo_in_module_override_and_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[resilience.live]\ncircuit_breaker_threshhold = 2\n[webb]\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert "2 problems" in text
    assert "resilience.live.circuit_breaker_threshhold: unknown key" in text
    assert "webb: unknown key" in text
    assert "did you mean 'web'" in text


@pytest.mark.parametrize(
    ("toml", "key", "allowed"),
    [
        (
            "[resilience]\ncircuit_breaker_threshold = 0",
            "resilience.circuit_breaker_threshold",
            "> 0",
        ),
        (
            "[resilience]\ncircuit_breaker_timeout = 'soon'",
            "resilience.circuit_breaker_timeout",
            "a number",
        ),
        (
            "[store]\neviction_policy_check = 'maybe'",
            "store.eviction_policy_check",
            "'refuse', 'warn', 'off'",
        ),
        ("[web]\nport = 70000", "web.port", "<= 65535"),
        ("[monitoring]\nlog_level = 'LOUD'", "monitoring.log_level", "'DEBUG'"),
        ("[backup]\ncompression_level = 30", "backup.compression_level", "<= 22"),
        ("[exchange]\nmode = 'paper'", "exchange.mode", "'fake', 'live'"),
        ("[store]\nurl = 'postgres://db'", "store.url", "memory://"),
        ("[resilience.rate_limits]\nbinance = -1", "resilience.rate_limits.binance", "> 0"),
    ],
)
def test_bad_values_name_key_file_and_what_is_allowed(
    tmp_path: Path, toml: str, key: str, allowed: str
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert key in text
    assert str(path) in text
    assert allowed in text


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load(PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="ten")
    text = str(info.value)
    assert "environment variable PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD" in text
    assert "an integer > 0" in text


def test_unknown_env_variable_is_an_error_with_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        load(PEAK_TRADE_CIRCUT_BREAKER_THRESHOLD="10")
    assert "did you mean PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD" in str(info.value)
    with pytest.raises(ConfigError, match=r"store\.urll: unknown key"):
        load(PEAK_TRADE_STORE__URLL="memory://")


def test_same_key_twice_in_env_is_an_error() -> None:
    with pytest.raises(ConfigError, match="sets the same key"):
        load(
            PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD="10",
            PEAK_TRADE_RESILIENCE__CIRCUIT_BREAKER_THRESHOLD="11",
        )


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load(write(tmp_path, "[resilience\nx=1"))
    assert isinstance(info.value.__cause__, tomllib.TOMLDecodeError)
    with pytest.raises(ConfigError, match="not found") as missing:
        load(tmp_path / "nope.toml")
    assert missing.value.hint is not None
    assert "example" in missing.value.hint


def test_settings_are_frozen() -> None:
    s = load()
    with pytest.raises(ValueError, match="frozen"):
        s.web.port = 1  # type: ignore[misc]


def test_secrets_are_masked_unless_asked() -> None:
    s = load(
        PEAK_TRADE_EXCHANGE__API_KEY="AKIA-XYZ",
        PEAK_TRADE_STORE__URL="redis://:hunter2@db:6379/0",
    )
    masked = s.to_toml_dict()
    assert masked["exchange"]["api_key"] == "***"
    assert masked["store"]["url"] == "redis://:***@db:6379/0"
    assert "AKIA-XYZ" not in repr(s)
    clear = s.to_toml_dict(mask_secrets=False)
    assert clear["exchange"]["api_key"] == "AKIA-XYZ"
    assert clear["store"]["url"] == "redis://:hunter2@db:6379/0"


def test_effective_config_round_trips_through_toml(tmp_path: Path) -> None:
    import tomli_w

    s = load(
        PEAK_TRADE_RESILIENCE__LIVE__CIRCUIT_BREAKER_THRESHOLD="2",
        PEAK_TRADE_RESILIENCE__RATE_LIMITS__BINANCE="15",
    )
    path = write(tmp_path, tomli_w.dumps(s.to_toml_dict()))
    assert load(path).model_dump() == s.model_dump()


def test_find_config_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None, {}) is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "peaktrade.toml").write_text("[web]\nport = 1\n")
    assert find_config_file(None, {}) == Path("config/peaktrade.toml")
    assert find_config_file(None, {"PEAK_TRADE_CONFIG": "x.toml"}) == Path("x.toml")
    assert find_config_file("y.toml", {"PEAK_TRADE_CONFIG": "x.toml"}) == Path("y.toml")
    assert load_settings(environ={}).web.port == 1


@given(threshold=st.integers(min_value=1, max_value=10**6), timeout=st.floats(0.001, 1e6))
def test_any_valid_override_is_taken_verbatim(threshold: int, timeout: float) -> None:
    s = load(
        PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD=str(threshold),
        PEAK_TRADE_RESILIENCE__X__CIRCUIT_BREAKER_TIMEOUT=repr(timeout),
    )
    assert s.resilience.for_module("x").circuit_breaker_threshold == threshold
    assert s.resilience.for_module("x").circuit_breaker_timeout == timeout


@given(threshold=st.integers(max_value=0))
def test_any_non_positive_threshold_is_rejected(threshold: int) -> None:
    with pytest.raises(ConfigError, match="circuit_breaker_threshold"):
        load(PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD=str(threshold))


# ---------------------------------------------------------------- secrets and the store URL

PASSWORD = "Hunter2Sekr1t"


def test_store_url_password_never_shows_in_repr_dumps_or_logs_of_settings() -> None:
    s = load(PEAK_TRADE_STORE__URL=f"REDIS://:{PASSWORD}@127.0.0.1:6399/0")  # any scheme case
    assert s.store.url.get_secret_value() == f"REDIS://:{PASSWORD}@127.0.0.1:6399/0"
    assert str(s.store.url) == "REDIS://:***@127.0.0.1:6399/0"
    for text in (repr(s), str(s), repr(s.store), s.model_dump_json(), str(s.model_dump())):
        assert PASSWORD not in text
    assert s.to_toml_dict()["store"]["url"] == "REDIS://:***@127.0.0.1:6399/0"
    assert s.to_toml_dict(mask_secrets=False)["store"]["url"].endswith(
        f":{PASSWORD}@127.0.0.1:6399/0"
    )


@pytest.mark.parametrize(
    "url",
    [
        f"redis//:{PASSWORD}@h:6379/0",
        f"redis+sentinel://:{PASSWORD}@h:26379/0",
        f"mysql://:{PASSWORD}@h/0",
        f"redis://:pa/{PASSWORD}@h:6379/0",
        f"redis://:{PASSWORD}@h:port/0",
        f"redis://:{PASSWORD}@h/0?colour=blue",
    ],
)
def test_a_bad_store_url_is_refused_without_printing_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(PEAK_TRADE_STORE__URL=url)
    err = info.value
    assert "store.url" in str(err)
    assert "environment variable PEAK_TRADE_STORE__URL" in str(err)
    for text in (str(err), repr(err.context), str(err.hint)):
        assert PASSWORD not in text


def test_a_secret_with_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "[exchange]\napi_secret = 987654321\n"))
    assert "exchange.api_secret" in str(info.value)
    assert "987654321" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://var/state.db",  # two slashes: 'var' is a host
        "redis://localhost:port/0",
        "redis://localhost:6379/0?colour=blue",
        "redis://localhost:6379/0?max_connections=0",
        "redis://localhost:6379/0?ssl_cert_reqs=none",
        "memory://?busy_timeout=1",
        "sqlite:///:memory:",
    ],
)
def test_config_refuses_every_url_the_store_refuses(url: str) -> None:
    with pytest.raises(ConfigError) as from_store:
        parse_store_url(url)
    with pytest.raises(ConfigError) as from_config:
        load(PEAK_TRADE_STORE__URL=url)
    text = str(from_config.value)
    assert from_store.value.message in text  # the same words, from the same parser
    assert str(from_store.value.hint).rstrip(".") in text  # and what is allowed


_SCHEMES = st.sampled_from(["memory", "sqlite", "redis", "rediss", "unix", "REDIS", "mysql"])
_AUTHORITY = st.sampled_from(["", "h", "h:6379", "h:port", ":pw@h", "u:p@ss@h:1", "var"])
_PATH = st.sampled_from(["", "/", "/0", "/zero", "/x.db", "//abs/x.db", "/:memory:", "/run/r.sock"])
_QUERY = st.lists(
    st.sampled_from(
        [
            "namespace=bot1",
            "namespace=bad ns",
            "busy_timeout=2",
            "busy_timeout=-1",
            "eviction_policy_check=warn",
            "max_connections=4",
            "max_connections=none",
            "health_check_interval=30",
            "db=2",
            "client_name=me",
            "ssl_cert_reqs=none",
            "colour=blue",
        ]
    ),
    max_size=3,
)


@given(scheme=_SCHEMES, authority=_AUTHORITY, path=_PATH, query=_QUERY)
def test_config_accepts_exactly_the_store_urls_the_store_accepts(
    scheme: str, authority: str, path: str, query: list[str]
) -> None:
    url = f"{scheme}://{authority}{path}" + (f"?{'&'.join(query)}" if query else "")
    try:
        parse_store_url(url)
        store_ok = True
    except ConfigError:
        store_ok = False
    try:
        load(PEAK_TRADE_STORE__URL=url)
        config_ok = True
    except ConfigError:
        config_ok = False
    assert config_ok == store_ok, url


def test_store_namespace_follows_the_stores_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"store\.namespace"):
        load(write(tmp_path, f"[store]\nnamespace = '{'n' * 65}'\n"))
    assert load(write(tmp_path, f"[store]\nnamespace = '{'n' * 64}'\n")).store.namespace == "n" * 64


def test_store_options_are_what_the_node_passes_to_the_store() -> None:
    redis_cfg = load(
        PEAK_TRADE_STORE__URL="redis://db:6379/0", PEAK_TRADE_STORE__CONNECT_TIMEOUT="3"
    ).store
    assert redis_cfg.store_options() == {
        "namespace": "peaktrade",
        "eviction_policy_check": "refuse",
        "connect_timeout": 3.0,
    }
    assert load().store.store_options() == {"namespace": "peaktrade"}


# ---------------------------------------------------------------- keys nothing reads yet

SRC = ROOT / "src" / "peak_trade"

# Every key of Settings is read by code (here: the module that reads it and the
# attribute it reads there) or listed in config.INERT_KEYS, never both. Wiring a
# key means moving it from INERT_KEYS to this table.
LIVE_KEYS = {
    "resilience.circuit_breaker_enabled": ("resilience/pipeline.py", "circuit_breaker_enabled"),
    "resilience.circuit_breaker_threshold": ("resilience/registry.py", "circuit_breaker_threshold"),
    "resilience.circuit_breaker_timeout": ("resilience/registry.py", "circuit_breaker_timeout"),
    "resilience.rate_limit_enabled": ("resilience/pipeline.py", "rate_limit_enabled"),
    "resilience.rate_limit_requests": ("resilience/registry.py", "rate_limit_requests"),
    "resilience.rate_limit_window": ("resilience/registry.py", "rate_limit_window"),
    "resilience.retry_max_attempts": ("resilience/pipeline.py", "retry_max_attempts"),
    "resilience.retry_base_delay": ("resilience/pipeline.py", "retry_base_delay"),
    "resilience.retry_max_delay": ("resilience/pipeline.py", "retry_max_delay"),
    "resilience.timeout_seconds": ("resilience/pipeline.py", "timeout_seconds"),
    "resilience.fail_safe_defaults": ("resilience/pipeline.py", "fail_safe_defaults"),
    "resilience.rate_limits": ("resilience/registry.py", "rate_limits"),
    "resilience.modules": ("resilience/registry.py", "for_module"),
    "monitoring.log_level": ("node.py", "log_level"),
    "monitoring.structured_logging": ("node.py", "structured_logging"),
    "monitoring.log_format": ("node.py", "log_format"),
    "store.url": ("node.py", "url"),
    "store.namespace": ("node.py", "store_options"),
    "store.eviction_policy_check": ("node.py", "store_options"),
    "store.connect_timeout": ("node.py", "store_options"),
    "store.store_timeout": ("node.py", "store_options"),
    "data.cache_dir": ("cli/_data_verify.py", "cache_dir"),
    "data.validate_strict": ("cli/_data_validate.py", "validate_strict"),
}


def test_every_key_is_read_by_code_or_marked_inert() -> None:
    keys = set(setting_keys())
    inert = {k for k in keys if inert_reason(k) is not None}
    assert not inert & set(LIVE_KEYS), "a key is marked inert but listed as live"
    assert keys - inert == set(LIVE_KEYS), "classify every key: LIVE_KEYS here or INERT_KEYS"
    for key, (module, attribute) in LIVE_KEYS.items():
        source = (SRC / module).read_text(encoding="utf-8")
        assert re.search(rf"\.{attribute}\b", source), f"{key}: {module} does not read it"
    for prefix in INERT_KEYS:  # no stale entries
        assert any(k == prefix or k.startswith(f"{prefix}.") for k in keys), prefix


def test_the_knobs_the_issue_names_are_classified() -> None:
    assert inert_reason("monitoring.metrics_enabled") is not None
    assert inert_reason("resilience.metrics_enabled") is not None
    assert inert_reason("health_checks.show_details") is not None
    assert inert_reason("web.show_details") is not None
    assert inert_reason("resilience.fail_safe_defaults") is None
    assert inert_reason("data.validate_strict") is None


def test_inert_settings_name_only_keys_set_away_from_their_default(tmp_path: Path) -> None:
    assert load().inert_settings() == []
    assert load(EXAMPLE).inert_settings() == []
    path = write(
        tmp_path,
        "[web]\nport = 9000\nhost = '127.0.0.1'\n"  # host at its default: no warning
        "[retry.circuit_breaker]\nenabled = true\n"
        "[exchange]\napi_key = 'AKIA-SECRET'\nsymbols = ['SOL/USDT']\n"
        "[store]\nurl = 'memory://'\n",  # live: no warning
    )
    found = {i.key: i for i in load(path).inert_settings()}
    assert set(found) == {
        "web.port",
        "retry.circuit_breaker.enabled",
        "exchange.api_key",
        "exchange.symbols",
    }
    assert str(found["web.port"]) == (
        "[web] port = 9000 is accepted but not used yet "
        "(planned: the web app and status page, served by peaktrade run, step 10)"
    )
    assert str(found["retry.circuit_breaker.enabled"]).startswith(
        "[retry.circuit_breaker] enabled = true is accepted"
    )
    assert found["exchange.api_key"].value == "***"
    assert "AKIA" not in str(found["exchange.api_key"])
    assert str(found["exchange.symbols"]).startswith('[exchange] symbols = ["SOL/USDT"]')


def test_the_seeds_sections_still_load() -> None:
    s = load(
        PEAK_TRADE_HEALTH_CHECKS__SHOW_DETAILS="true",
        PEAK_TRADE_WEB__SHOW_DETAILS="true",
        PEAK_TRADE_MONITORING__METRICS_ENABLED="false",
    )
    assert [i.key for i in s.inert_settings()] == [
        "monitoring.metrics_enabled",
        "health_checks.show_details",
        "web.show_details",
    ]


def test_a_validator_message_is_shown_without_pydantics_label() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"PEAK_TRADE_STORE__URL": "ftp://h/0"}, use_default_file=False)
    assert "Unsupported store URL scheme 'ftp'" in caught.value.message
    assert "Value error" not in caught.value.message


# ---------------------------------------------------------------- one declaration per knob

CONFIG_SRC = SRC / "config.py"

# The resilience knobs as they are today: the three shapes must all say this.
KNOBS_TODAY = {
    "circuit_breaker_enabled": (True, "true or false"),
    "circuit_breaker_threshold": (5, "an integer > 0"),
    "circuit_breaker_timeout": (60.0, "a number > 0"),
    "rate_limit_enabled": (True, "true or false"),
    "rate_limit_requests": (100, "an integer > 0"),
    "rate_limit_window": (60.0, "a number > 0"),
    "retry_max_attempts": (3, "an integer > 0"),
    "retry_base_delay": (1.0, "a number >= 0"),
    "retry_max_delay": (60.0, "a number >= 0"),
    "timeout_seconds": (None, "a number > 0"),
    "fail_safe_defaults": (False, "true or false"),
}
GLOBAL_ONLY = {"metrics_enabled", "rate_limits", "modules"}


def test_the_three_resilience_shapes_agree_field_by_field() -> None:
    from peak_trade.config import (
        ModuleResilience,
        ResilienceSettings,
        ResolvedModuleResilience,
        _describe_type,
    )

    globals_ = ResilienceSettings.model_fields
    overrides = ModuleResilience.model_fields
    resolved = ResolvedModuleResilience.model_fields
    assert list(overrides) == list(KNOBS_TODAY)  # a module may override exactly these
    assert set(globals_) == set(KNOBS_TODAY) | GLOBAL_ONLY
    assert set(resolved) == set(KNOBS_TODAY) | {"module"}
    for name, (default, allowed) in KNOBS_TODAY.items():
        shapes = {"global": globals_[name], "override": overrides[name], "resolved": resolved[name]}
        for shape, info in shapes.items():
            assert _describe_type(info.annotation, info.metadata) == allowed, (name, shape)
            assert info.description, f"{shape} {name} has no description"
        assert globals_[name].description == overrides[name].description
        assert globals_[name].description == resolved[name].description
        assert globals_[name].get_default() == default, name
        assert resolved[name].get_default() == default, name  # resolved with no override
        assert overrides[name].get_default() is None, name  # None: take the global
        assert not overrides[name].is_required()


def test_an_override_is_refused_exactly_where_the_global_is() -> None:
    from peak_trade.config import ModuleResilience, ResilienceSettings

    for name, (_, allowed) in KNOBS_TODAY.items():
        bad = "x" if "true or false" in allowed else ("-1" if ">= 0" in allowed else "0")
        with pytest.raises(ValidationError, match=name):
            ResilienceSettings.model_validate({name: bad})
        with pytest.raises(ValidationError, match=name):
            ModuleResilience.model_validate({name: bad})
        assert ModuleResilience.model_validate({name: None}).model_dump()[name] is None


def test_a_global_only_knob_is_not_a_module_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "[resilience.live]\nmetrics_enabled = false\n"))
    assert "resilience.live.metrics_enabled: unknown key" in str(info.value)
    assert "Allowed keys: circuit_breaker_enabled," in str(info.value)


def _config_with_one_more_line(line: str) -> Any:
    """config.py as a fresh module, with ``line`` added next to the first declaration
    of circuit_breaker_threshold: what a developer adding a knob would write."""
    import importlib.util
    import sys

    source = CONFIG_SRC.read_text(encoding="utf-8")
    first = re.search(r"^( +)circuit_breaker_threshold: .*$", source, re.M)
    assert first is not None
    patched = source[: first.end()] + f"\n{first.group(1)}{line}" + source[first.end() :]
    name = "peak_trade._toy_knob_config"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves the annotations through it
    try:
        exec(compile(patched, str(CONFIG_SRC), "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


def test_a_new_resilience_knob_is_one_line(tmp_path: Path) -> None:
    toy = _config_with_one_more_line(
        'toy_knob: PosInt = Field(7, description="a toy knob for the test")'
    )
    defaults = toy.load_settings(environ={}, use_default_file=False).resilience
    assert defaults.toy_knob == 7  # a global with its default
    assert defaults.for_module("any").toy_knob == 7
    path = write(tmp_path, "[resilience]\ntoy_knob = 3\n[resilience.live]\ntoy_knob = 9\n")
    settings = toy.load_settings(path, environ={}, use_default_file=False)
    assert settings.resilience.toy_knob == 3  # a global from the file
    assert settings.resilience.modules["live"].toy_knob == 9  # a module override
    assert settings.resilience.for_module("live").toy_knob == 9  # resolved over the global
    assert settings.resilience.for_module("risk").toy_knob == 3
    assert settings.to_toml_dict()["resilience"]["live"] == {"toy_knob": 9}
    flat = toy.load_settings(environ={"PEAK_TRADE_TOY_KNOB": "4"}, use_default_file=False)
    assert flat.resilience.for_module("x").toy_knob == 4  # the seed's flat variable name
    with pytest.raises(ConfigError) as info:
        toy.load_settings(
            environ={"PEAK_TRADE_RESILIENCE__LIVE__TOY_KNOB": "0"}, use_default_file=False
        )
    text = str(info.value)
    assert "resilience.live.toy_knob = '0'" in text
    assert "environment variable PEAK_TRADE_RESILIENCE__LIVE__TOY_KNOB" in text
    assert "allowed: an integer > 0" in text

"""Configuration: one typed, frozen model loaded from TOML and the environment.

Precedence, lowest first: built-in defaults < the TOML file < ``PEAK_TRADE_*``
environment variables. Every field has a default, so an empty or missing file
works. :func:`load_settings` is the only entry point::

    settings = load_settings("config/peaktrade.toml")
    settings.resilience.for_module("portfolio").circuit_breaker_threshold

Environment variables:

* ``PEAK_TRADE_<SECTION>__<KEY>[__<SUBKEY>...]`` sets any key, e.g.
  ``PEAK_TRADE_STORE__URL=redis://localhost:6379/0`` or
  ``PEAK_TRADE_RESILIENCE__PORTFOLIO__CIRCUIT_BREAKER_THRESHOLD=3``.
* The seed's flat names for the ``[resilience]`` globals also work:
  ``PEAK_TRADE_CIRCUIT_BREAKER_THRESHOLD``, ``PEAK_TRADE_RATE_LIMIT_REQUESTS``, ...
* ``PEAK_TRADE_CONFIG`` names the config file.

A ``PEAK_TRADE_*`` variable that matches no key is an error, not silently
ignored: a typo must not leave a production limit at its default.

Every problem (unknown key, wrong type, value out of range, bad TOML) raises a
single :class:`~peak_trade.errors.ConfigError` listing *all* problems, each
with the key, where the value came from (file or variable) and what is allowed.

pydantic validates the model; the file and environment layers are our own
because pydantic-settings silently ignores unknown variables and cannot tell
which variable or file a bad value came from.

Keys that nothing reads yet (they configure features of later steps: health
checks, metrics, backups, job safety, the exchange client, the web app) are
listed in one table, :data:`INERT_KEYS`. They load, so the seeds' files keep
working, but :meth:`Settings.inert_settings` names every one set to a
non-default value, and ``peaktrade config validate``/``show`` and the node
warn about each: a setting that does nothing must not pass for one that does.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from peak_trade._store_url import (
    COMMON_OPTIONS,
    DEFAULT_NAMESPACE,
    SecretUrl,
    check_store_namespace,
    parse_store_url,
)
from peak_trade.errors import ConfigError
from peak_trade.logging import REDACTED, is_secret_key, mask_url_credentials

__all__ = [
    "BackupSettings",
    "DEFAULT_CONFIG_PATH",
    "DataSettings",
    "ENV_PREFIX",
    "ExchangeSettings",
    "HealthCheckSettings",
    "INERT_KEYS",
    "InertSetting",
    "ModuleResilience",
    "MonitoringSettings",
    "RateLimitSpec",
    "ResilienceKnobs",
    "ResilienceSettings",
    "ResolvedModuleResilience",
    "RetrySettings",
    "Settings",
    "StoreSettings",
    "WebSettings",
    "find_config_file",
    "inert_reason",
    "load_settings",
    "setting_keys",
]

ENV_PREFIX = "PEAK_TRADE_"
CONFIG_ENV_VAR = "PEAK_TRADE_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/peaktrade.toml")
_RESERVED_ENV = frozenset({CONFIG_ENV_VAR})

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- resilience


class RateLimitSpec(_Section):
    """A per-endpoint or per-exchange token bucket: ``requests`` per ``window`` seconds.

    In TOML, ``binance = 15`` is shorthand for 15 requests per second (seed 003).
    """

    requests: PosInt
    window: PosFloat = 1.0
    burst: PosInt | None = Field(default=None, description="bucket size; default = requests")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool):
            return data  # let validation reject it
        if isinstance(data, int | float):
            return {"requests": data}
        if isinstance(data, str) and data.strip().isdigit():
            return {"requests": int(data)}
        return data


class ResilienceKnobs(_Section):
    """The resilience knobs a ``[resilience.<module>]`` table may override: the one
    declaration of each (name, type and bounds, default, description).

    The three shapes derive from it: :class:`ResilienceSettings` (the
    ``[resilience]`` globals) and :class:`ResolvedModuleResilience` (one module's
    effective values) inherit it, and :class:`ModuleResilience` (one module's
    overrides) is it with every field optional, ``None`` meaning "the global".
    A new knob is one line here; its global, its override, its merge in
    :meth:`ResilienceSettings.for_module`, its flat variable
    ``PEAK_TRADE_<KNOB>``, its error messages and ``config show`` follow. A knob
    no module may override is one line in :class:`ResilienceSettings` instead.
    """

    circuit_breaker_enabled: bool = Field(default=True, description="wrap calls in a breaker")
    circuit_breaker_threshold: PosInt = Field(default=5, description="failures that open it")
    circuit_breaker_timeout: PosFloat = Field(default=60.0, description="seconds before a trial")
    rate_limit_enabled: bool = Field(default=True, description="a token bucket per operation")
    rate_limit_requests: PosInt = Field(default=100, description="requests per window")
    rate_limit_window: PosFloat = Field(default=60.0, description="the window in seconds")
    retry_max_attempts: PosInt = Field(default=3, description="attempts, the first included")
    retry_base_delay: NonNegFloat = Field(default=1.0, description="first back-off, seconds")
    retry_max_delay: NonNegFloat = Field(default=60.0, description="longest back-off, seconds")
    timeout_seconds: PosFloat | None = Field(default=None, description="per attempt, if set")
    fail_safe_defaults: bool = Field(default=False, description="failures answer a safe default")


def _all_optional(knobs: type[_Section], name: str) -> type[_Section]:
    """Model ``name``: ``knobs`` with every field optional and ``None`` by default, with
    the same type, bounds and description: an override table sets only what it changes."""
    fields: dict[str, Any] = {}
    for key, info in knobs.model_fields.items():
        kind: Any = info.annotation
        if info.metadata:  # bounds such as gt=0 go back onto the type, inside the Optional
            kind = Annotated[(kind, *info.metadata)]
        fields[key] = (kind | None, Field(default=None, description=info.description))
    return create_model(name, __base__=_Section, **fields)


if TYPE_CHECKING:
    _ModuleOverrides = _Section
else:
    _ModuleOverrides = _all_optional(ResilienceKnobs, "_ModuleOverrides")


class ModuleResilience(_ModuleOverrides):
    """``[resilience.<module>]``: every :class:`ResilienceKnobs` knob, optional.

    ``None`` (the default) takes the global. The fields are generated from
    :class:`ResilienceKnobs`, so static type checkers do not see them: read a
    module's values through the typed :meth:`ResilienceSettings.for_module`.
    """

    if TYPE_CHECKING:

        def __init__(self, **overrides: Any) -> None: ...


class ResolvedModuleResilience(ResilienceKnobs):
    """The effective resilience settings of one module (overrides applied over globals)."""

    module: str


_RESERVED_RESILIENCE_TABLES = frozenset({"rate_limits", "modules"})


class ResilienceSettings(ResilienceKnobs):
    """``[resilience]``: the globals of every :class:`ResilienceKnobs` knob, the
    global-only ones below, ``rate_limits`` and the ``[resilience.<module>]`` overrides."""

    metrics_enabled: bool = Field(default=True, description="publish resilience metrics")
    rate_limits: dict[str, RateLimitSpec] = Field(default_factory=dict)
    modules: dict[str, ModuleResilience] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_module_tables(cls, data: Any) -> Any:
        # Every sub-table other than the reserved ones is a module override.
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] = {}
        modules: dict[str, Any] = dict(data.get("modules") or {})
        for key, value in data.items():
            if key == "modules":
                continue
            if isinstance(value, Mapping) and key not in _RESERVED_RESILIENCE_TABLES:
                modules[key] = value
            else:
                out[key] = value
        out["modules"] = modules
        return out

    def for_module(self, module: str) -> ResolvedModuleResilience:
        """Settings for ``module``: its ``[resilience.<module>]`` values over the globals."""
        override = self.modules.get(module)
        values: dict[str, Any] = {}
        for name in ResilienceKnobs.model_fields:  # every knob, and only the knobs
            value = getattr(override, name) if override is not None else None
            values[name] = value if value is not None else getattr(self, name)
        return ResolvedModuleResilience(module=module, **values)


# --------------------------------------------------------------------------- other sections

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class MonitoringSettings(_Section):
    """``[monitoring]``: logging, metrics and alerts."""

    log_level: LogLevel = "INFO"
    structured_logging: bool = True
    log_format: Literal["auto", "console", "json"] = "auto"
    metrics_enabled: bool = True
    alerts_enabled: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class HealthCheckSettings(_Section):
    """``[health_checks]``: scheduled checks and the ``/health*`` endpoints."""

    enabled: bool = True
    interval_seconds: PosFloat = 60.0
    timeout_seconds: PosFloat = 5.0
    cache_ttl_seconds: NonNegFloat = 5.0
    checks: tuple[str, ...] = Field(default=(), description="names to run; empty = all registered")
    show_details: bool = False


class BackupSettings(_Section):
    """``[backup]``: scheduled backups (tar + zstd) and retention."""

    enabled: bool = True
    interval_hours: PosFloat = 24.0
    retention_days: PosInt = 30
    backup_path: Path = Path("var/backups")
    compress: bool = True
    compression_level: Annotated[int, Field(ge=1, le=22)] = 3


class JobBreakerSettings(_Section):
    """``[retry.circuit_breaker]``: per-job-type breaker (seed 004)."""

    enabled: bool = False
    failure_threshold: PosInt = 10
    time_window_minutes: PosFloat = 5.0


class RetryMetricsSettings(_Section):
    """``[retry.metrics]``: shared retry metrics (seed 004)."""

    enabled: bool = False
    time_window_minutes: PosFloat = 60.0


class IdempotencySettings(_Section):
    """``[retry.idempotency]``: side-effect guard records (seed 004's ``retry.redis``)."""

    namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]+$")] = "idempotency"
    ttl_seconds: PosFloat = 259_200.0
    lease_seconds: PosFloat = 30.0


class RetrySettings(_Section):
    """``[retry]``: job safety (seed 004). Off by default: it changes trading behaviour."""

    enabled: bool = False
    max_attempts: PosInt = 3
    cooldown_seconds: PosFloat = 60.0
    exponential_backoff: bool = True
    max_cooldown_seconds: PosFloat = 3600.0
    audit_log_path: Path = Path("var/logs/job_retry_audit")
    circuit_breaker: JobBreakerSettings = Field(default_factory=JobBreakerSettings)
    metrics: RetryMetricsSettings = Field(default_factory=RetryMetricsSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)


Timeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"]


class ExchangeSettings(_Section):
    """``[exchange]``: which exchange, which markets, request budget, credentials."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9]+$")] = "binance"
    mode: Literal["fake", "live"] = "fake"
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    symbols: tuple[Annotated[str, Field(pattern=r"^[A-Z0-9]+/[A-Z0-9]+$")], ...] = (
        "BTC/USDT",
        "ETH/USDT",
    )
    timeframe: Timeframe = "1m"
    history_candles: PosInt = 1000
    request_weight_limit: PosInt = Field(default=6000, description="per minute, shared by workers")
    weight_safety_margin: Annotated[float, Field(ge=0, lt=1)] = 0.1
    timeout_seconds: PosFloat = 10.0
    trading_enabled: bool = False
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None


class StoreSettings(_Section):
    """``[store]``: where shared state lives (see docs/stores.md).

    ``url`` is a :class:`~peak_trade._store_url.SecretUrl`: printing, logging
    or dumping the settings shows it with the password masked;
    ``settings.store.url.get_secret_value()`` is the URL as written. It is
    checked by the very parser ``store_from_url`` uses, so a URL that passes
    here opens there. ``store_timeout`` is the time budget of one store call
    (unset: the backend's default, 0.5 s on Redis; SQLite: its busy timeout).
    """

    url: SecretUrl = SecretUrl("sqlite:///var/state.db")
    namespace: str = DEFAULT_NAMESPACE
    eviction_policy_check: Literal["refuse", "warn", "off"] = "refuse"
    connect_timeout: PosFloat = 2.0
    store_timeout: PosFloat | None = None

    @field_validator("url")
    @classmethod
    def _parse_url(cls, v: SecretUrl) -> SecretUrl:
        try:
            parse_store_url(v)
        except ConfigError as err:
            raise ValueError(f"{err.message} {err.hint}") from None
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        return check_store_namespace(v)

    @field_validator("store_timeout")
    @classmethod
    def _store_timeout(cls, v: float | None) -> float | None:
        return None if v is None else float(COMMON_OPTIONS["store_timeout"]("store_timeout", v))

    @property
    def backend(self) -> str:
        """The backend's name in the table of backends: ``memory``, ``sqlite``, ``redis``, ..."""
        return parse_store_url(self.url).backend

    def store_options(self) -> dict[str, Any]:
        """The keyword arguments of ``store_from_url(settings.store.url, **options)``.

        Each key goes in only if the URL's backend takes that option (the table
        of backends says which), and ``store_timeout`` only if set; a ``?key=``
        in the URL still wins over them.
        """
        spec = parse_store_url(self.url)
        accepted = spec.row.accepted if spec.row is not None else {}
        options: dict[str, Any] = {"namespace": self.namespace}
        for name in ("eviction_policy_check", "connect_timeout", "store_timeout"):
            value = getattr(self, name)
            if name in accepted and value is not None:
                options[name] = value
        return options


class WebSettings(_Section):
    """``[web]``: the status page and health/metrics endpoints."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8787
    show_details: bool = False


class DataSettings(_Section):
    """``[data]``: the validated OHLCV cache."""

    cache_dir: Path = Path("var/cache")
    validate_strict: bool = True


# --------------------------------------------------------------------------- inert keys

INERT_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "resilience.metrics_enabled": "resilience metrics, exported by the metrics layer, step 6",
        "monitoring.metrics_enabled": "Prometheus metrics on /metrics, step 6",
        "monitoring.alerts_enabled": "the alert manager, step 6",
        "health_checks": "scheduled health checks and the /health endpoints, step 6",
        "backup": "scheduled backups, step 9",
        "retry": "job safety (exactly-once side effects, the job breaker), step 7",
        "exchange": "the exchange client and the fake exchange, step 8",
        "exchange.symbols": "the OHLCV sync of peaktrade run, step 10",
        "exchange.timeframe": "the OHLCV sync of peaktrade run, step 10",
        "exchange.history_candles": "the OHLCV sync of peaktrade run, step 10",
        "web": "the web app and status page, served by peaktrade run, step 10",
    }
)
"""Keys (or whole sections) that load but that nothing reads yet, with the feature
that will. The most specific entry wins. Wiring a key means removing it here
(``tests/test_config.py`` checks every key is either here or read by code)."""


def inert_reason(key: str) -> str | None:
    """What will use the dotted ``key`` (``"web.port"``), or ``None`` if it is live."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        reason = INERT_KEYS.get(".".join(parts[:n]))
        if reason is not None:
            return reason
    return None


@dataclass(frozen=True)
class InertSetting:
    """A key set to a non-default value that nothing uses yet."""

    key: str
    value: Any
    planned: str

    def __str__(self) -> str:
        section, _, name = self.key.rpartition(".")
        return (
            f"[{section}] {name} = {_literal(self.value)} is accepted but not used yet "
            f"(planned: {self.planned})"
        )


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return str(value)


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, FieldInfo]]:
    """``(dotted key, path to the parent model, field)`` for every leaf field."""
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        if sub is not None:
            yield from _leaves(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", prefix, info


def setting_keys() -> list[str]:
    """Every leaf key of :class:`Settings`, dotted (``resilience.modules`` and
    ``resilience.rate_limits`` count as one key each)."""
    return [key for key, _, _ in _leaves(Settings)]


def _shown_value(value: Any, key: str) -> Any:
    if isinstance(value, SecretStr) or is_secret_key(key.rsplit(".", 1)[-1]):
        return REDACTED
    if isinstance(value, SecretUrl):
        return value.masked
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class Settings(_Section):
    """The whole configuration. Build it with :func:`load_settings`."""

    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    health_checks: HealthCheckSettings = Field(default_factory=HealthCheckSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    data: DataSettings = Field(default_factory=DataSettings)

    _source: Path | None = PrivateAttr(default=None)
    _env_overrides: tuple[str, ...] = PrivateAttr(default=())

    @property
    def source(self) -> Path | None:
        """The TOML file these settings were loaded from, if any."""
        return self._source

    @property
    def env_overrides(self) -> tuple[str, ...]:
        """Names of the ``PEAK_TRADE_*`` variables that changed a value."""
        return self._env_overrides

    def inert_settings(self) -> list[InertSetting]:
        """Every key of :data:`INERT_KEYS` set to something other than its default.

        Secrets are masked in ``value``; ``str()`` of each is the warning the
        command line prints.
        """
        found: list[InertSetting] = []
        for key, parent, info in _leaves(type(self)):
            planned = inert_reason(key)
            if planned is None:
                continue
            node: Any = self
            for part in parent.split(".")[:-1]:
                node = getattr(node, part)
            value = getattr(node, key.rsplit(".", 1)[-1])
            if value != info.get_default(call_default_factory=True):
                found.append(InertSetting(key, _shown_value(value, key), planned))
        return found

    def to_toml_dict(self, *, mask_secrets: bool = True) -> dict[str, Any]:
        """The effective configuration in the file's shape (module overrides as sub-tables).

        Secrets (``SecretStr`` fields, passwords in URLs) are masked unless
        ``mask_secrets=False``. ``None`` values are omitted (TOML has no null).
        """
        raw = self.model_dump(mode="python")
        res = raw["resilience"]
        for name, module in res.pop("modules").items():
            res[name] = module
        out: dict[str, Any] = _tomlable(raw, mask_secrets)
        return out


def _tomlable(value: Any, mask: bool) -> Any:
    if isinstance(value, dict):
        return {
            k: _tomlable(v, mask)
            for k, v in value.items()
            if v is not None and not (isinstance(v, dict) and not v and k not in ("rate_limits",))
        }
    if isinstance(value, list | tuple):
        return [_tomlable(v, mask) for v in value]
    if isinstance(value, SecretStr):
        return REDACTED if mask else value.get_secret_value()
    if isinstance(value, SecretUrl):
        return value.masked if mask else value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and mask:
        return mask_url_credentials(value)
    return value


# --------------------------------------------------------------------------- loading


def find_config_file(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The config file to use: ``path``, else ``$PEAK_TRADE_CONFIG``, else
    ``config/peaktrade.toml`` if it exists, else ``None`` (defaults only)."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV_VAR):
        return Path(env[CONFIG_ENV_VAR])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    use_default_file: bool = True,
) -> Settings:
    """Load and validate the configuration.

    Args:
        path: a TOML file. It must exist if given. ``None`` looks for
            ``$PEAK_TRADE_CONFIG`` and then ``config/peaktrade.toml``
            (unless ``use_default_file=False``).
        environ: the environment to read ``PEAK_TRADE_*`` from (default ``os.environ``).

    Raises:
        ConfigError: listing every problem found.
    """
    env = os.environ if environ is None else environ
    file = find_config_file(path, env) if (path is not None or use_default_file) else None
    data: dict[str, Any] = _read_toml(file) if file is not None else {}
    origins: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    overrides = _env_layer(env, data, origins, problems)
    where_file = str(file) if file is not None else "<defaults>"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe(err, origins, where_file) for err in exc.errors())
    if problems:
        plural = "s" if len(problems) > 1 else ""
        raise ConfigError(
            f"Invalid configuration ({len(problems)} problem{plural}):\n  " + "\n  ".join(problems),
            hint="Fix the keys above; config/peaktrade.example.toml documents every key.",
            context={"file": where_file, "env_overrides": sorted(overrides)},
        )
    settings._source = file
    settings._env_overrides = tuple(sorted(overrides))
    return settings


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"Config file not found: {file}",
            hint="Copy config/peaktrade.example.toml to that path, or omit it to run on defaults.",
            context={"file": str(file)},
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read config file {file}: {exc}",
            hint="Check the file's permissions and that it is UTF-8 text.",
            context={"file": str(file)},
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Config file {file} is not valid TOML: {exc}",
            hint="Fix the syntax at the line and column shown (strings need quotes).",
            context={"file": str(file)},
        ) from exc


def _flat_resilience_names() -> dict[str, str]:
    return {
        f"{ENV_PREFIX}{name.upper()}": name
        for name, info in ResilienceSettings.model_fields.items()
        if not _is_mapping(info.annotation)
    }


def _env_layer(
    env: Mapping[str, str],
    data: dict[str, Any],
    origins: dict[tuple[str, ...], str],
    problems: list[str],
) -> list[str]:
    flat = _flat_resilience_names()
    applied: list[str] = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in _RESERVED_ENV:
            continue
        raw = env[var]
        if var in flat:
            path: tuple[str, ...] = ("resilience", flat[var])
        elif "__" in var:
            path = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split("__"))
        else:
            known = [*flat, *(f"{ENV_PREFIX}{s.upper()}__..." for s in Settings.model_fields)]
            guess = difflib.get_close_matches(var, known, n=1)
            problems.append(
                f"{var}: unknown environment variable"
                + (f" (did you mean {guess[0]}?)" if guess else "")
                + f"; use {ENV_PREFIX}<SECTION>__<KEY>"
            )
            continue
        if path in origins:
            problems.append(f"{var}: sets the same key as {origins[path]}; set only one")
            continue
        if any(not p for p in path):
            problems.append(f"{var}: empty name part; use {ENV_PREFIX}<SECTION>__<KEY>")
            continue
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = _parse_env_value(path, raw)
        origins[path] = var
        applied.append(var)
    return applied


def _parse_env_value(path: tuple[str, ...], raw: str) -> Any:
    """Strings go to pydantic as they are (it coerces ``"10"``, ``"true"``); sequences
    are parsed from a TOML array (``["a", "b"]``) or a comma-separated list."""
    annotation = _annotation_at(path)
    if annotation is None or not _is_sequence(annotation):
        return raw
    text = raw.strip()
    if text.startswith("["):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return [item.strip() for item in text.split(",") if item.strip()]


def _annotation_at(path: tuple[str, ...]) -> Any:
    model: type[BaseModel] = Settings
    annotation: Any = None
    parts = list(path)
    if (
        len(parts) >= 3
        and parts[0] == "resilience"
        and parts[1] not in ResilienceSettings.model_fields
    ):
        parts = ["resilience", "modules", *parts[1:]]
    i = 0
    while i < len(parts):
        info: FieldInfo | None = model.model_fields.get(parts[i])
        if info is None:
            return None
        annotation = info.annotation
        i += 1
        if _is_mapping(annotation):
            i += 1  # skip the dict key
            annotation = typing.get_args(annotation)[1]
        sub = _model_of(annotation)
        if sub is None:
            break
        model = sub
    return annotation if i >= len(parts) else None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    ann = _strip_optional(annotation)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _is_mapping(annotation: Any) -> bool:
    return typing.get_origin(_strip_optional(annotation)) is dict


def _is_sequence(annotation: Any) -> bool:
    return typing.get_origin(_strip_optional(annotation)) in (list, tuple)


def _describe(err: Any, origins: Mapping[tuple[str, ...], str], where_file: str) -> str:
    loc = tuple(str(p) for p in err["loc"])
    # model validators report the whole model; field validators the field
    key_path = loc
    if len(key_path) >= 2 and key_path[:2] == ("resilience", "modules"):
        key_path = ("resilience", *key_path[2:])
    shown = ".".join(key_path) or "<root>"
    source = _origin_of(key_path, origins) or where_file
    kind = err["type"]
    if kind == "extra_forbidden":
        parent_model = _model_for_path(loc[:-1])
        options = list(parent_model.model_fields) if parent_model is not None else []
        if parent_model is ResilienceSettings:
            options = [o for o in options if o != "modules"]
        guess = difflib.get_close_matches(loc[-1], options, n=1)
        return (
            f"{shown}: unknown key (in {source})"
            + (f"; did you mean {guess[0]!r}?" if guess else "")
            + (f" Allowed keys: {', '.join(options)}." if options else "")
        )
    allowed = None if kind == "value_error" else _allowed_for(loc)
    value = err.get("input")
    shown_value = "" if isinstance(value, dict) else f" = {_shown(loc, value)}"
    msg = str(err["msg"])
    if kind == "value_error":  # our validators' sentences, without pydantic's label
        msg = msg.removeprefix("Value error, ")
    if isinstance(value, str) and value and value in msg:  # never echo a secret's input
        msg = msg.replace(value, _shown(loc, value))
    return f"{shown}{shown_value} (in {source}): {msg}" + (
        f"; allowed: {allowed}" if allowed else ""
    )


def _shown(loc: tuple[str, ...], value: Any) -> str:
    """``value`` as an error may show it: secrets masked, passwords in URLs masked."""
    parent = _model_for_path(loc[:-1]) if loc else None
    info = parent.model_fields.get(loc[-1]) if parent is not None else None
    kind = _strip_optional(info.annotation) if info is not None else None
    if kind is SecretUrl or isinstance(value, SecretUrl):
        return repr(SecretUrl(value).masked if isinstance(value, str | SecretUrl) else REDACTED)
    if kind is SecretStr or (loc and is_secret_key(loc[-1])):
        return repr(REDACTED)
    if isinstance(value, str):
        return repr(mask_url_credentials(value))
    return repr(value)


def _origin_of(path: tuple[str, ...], origins: Mapping[tuple[str, ...], str]) -> str | None:
    for n in range(len(path), 0, -1):
        if path[:n] in origins:
            return f"environment variable {origins[path[:n]]}"
    return None


def _model_for_path(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    i = 0
    while i < len(loc):
        info = model.model_fields.get(loc[i])
        if info is None:
            return None
        ann = info.annotation
        i += 1
        if _is_mapping(ann):
            i += 1
            ann = typing.get_args(_strip_optional(ann))[1]
        sub = _model_of(ann)
        if sub is None:
            return None
        model = sub
    return model


def _allowed_for(loc: tuple[str, ...]) -> str | None:
    if not loc:
        return None
    parent = _model_for_path(loc[:-1])
    if parent is None:
        return None
    info = parent.model_fields.get(loc[-1])
    if info is None:
        return None
    return _describe_type(info.annotation, info.metadata)


def _describe_type(annotation: Any, metadata: list[Any]) -> str:
    ann = _strip_optional(annotation)
    bounds: list[Any] = list(metadata)
    if typing.get_origin(ann) is Annotated:
        base, *extra = typing.get_args(ann)
        ann = base
        for item in extra:
            bounds.extend(getattr(item, "metadata", [item]))
    if typing.get_origin(ann) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(ann))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    name = names.get(ann, getattr(ann, "__name__", str(ann)))
    if _is_sequence(ann):
        name = "a list"
    limits = []
    for b in bounds:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(b, attr, None)
            if value is not None and isinstance(
                b, annotated_types.Gt | annotated_types.Ge | annotated_types.Lt | annotated_types.Le
            ):
                limits.append(f"{sym} {value}")
        pattern = getattr(b, "pattern", None)
        if isinstance(pattern, str):
            limits.append(f"matching {pattern}")
    return name + (" " + " and ".join(limits) if limits else "")

"""peak_trade.repro: seeds, stable hashes, git SHA, determinism checks, ReproContext."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import itertools
import json
import os
import random
import re
import subprocess
import sys
import types
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peak_trade.clock import ManualClock
from peak_trade.errors import BacktestInvariantError, InvalidArgumentError
from peak_trade.repro import (
    GIT_SHA_SHORT_LENGTH,
    HASH_SHORT_LENGTH,
    UNKNOWN_GIT_SHA,
    ReproContext,
    SeedReport,
    get_git_sha,
    set_global_seed,
    stable_hash_dict,
    verify_determinism,
)


@pytest.fixture(autouse=True)
def _restore_hashseed(monkeypatch: pytest.MonkeyPatch) -> None:
    """set_global_seed writes PYTHONHASHSEED; make monkeypatch restore it after each test."""
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "0"))


# --------------------------------------------------------------------------- import cost


def test_import_repro_does_not_import_numpy() -> None:
    code = "import json, sys, peak_trade.repro; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not loaded & {"numpy", "pandas", "pyarrow", "torch", "polars"}


# --------------------------------------------------------------------------- stable_hash_dict


def test_hash_is_sha256_of_canonical_json() -> None:
    d = {"b": 1, "a": [1.5, None, True], "é": "ü"}
    canonical = '{"a":[1.5,null,true],"b":1,"\\u00e9":"\\u00fc"}'
    full = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    assert stable_hash_dict(d, short=False) == full
    assert stable_hash_dict(d) == full[:HASH_SHORT_LENGTH]
    assert len(stable_hash_dict(d)) == 16
    assert len(stable_hash_dict(d, short=False)) == 64


def test_hash_ignores_key_order_at_every_depth() -> None:
    a = {"x": {"p": 1, "q": [{"m": 1, "n": 2}]}, "y": 2}
    b = OrderedDict([("y", 2), ("x", {"q": [{"n": 2, "m": 1}], "p": 1})])
    assert stable_hash_dict(a) == stable_hash_dict(b)


def test_hash_distinguishes_values_and_list_order() -> None:
    base = stable_hash_dict({"a": [1, 2]})
    assert stable_hash_dict({"a": [2, 1]}) != base
    assert stable_hash_dict({"a": [1, 3]}) != base
    assert stable_hash_dict({"a": 1}) != stable_hash_dict({"a": 1.0})
    assert stable_hash_dict({"a": 1}) != stable_hash_dict({"a": "1"})
    assert stable_hash_dict({"a": True}) != stable_hash_dict({"a": 1})
    assert stable_hash_dict({"a": (1, 2)}) == base  # tuples hash like lists


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def test_hash_supports_extended_types() -> None:
    d = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "path": Path("data/btc.parquet"),
        "price": Decimal("0.10"),
        "color": Color.RED,
        "level": Level.HIGH,
        "tags": {"b", "a", "c"},
        "frozen": frozenset({3, 1, 2}),
    }
    plain = {
        "when": "2024-01-02T03:04:05+00:00",
        "day": "2024-01-02",
        "path": "data/btc.parquet",
        "price": "0.10",
        "color": "red",
        "level": 3,
        "tags": ["a", "b", "c"],
        "frozen": [1, 2, 3],
    }
    assert stable_hash_dict(d, short=False) == stable_hash_dict(plain, short=False)


def test_hash_of_sets_is_independent_of_iteration_order() -> None:
    # Mixed element types cannot be sorted directly; they sort by canonical JSON.
    a = {"s": {1, "a", (2, 3), None}}
    b = {"s": {None, (2, 3), "a", 1}}
    assert stable_hash_dict(a) == stable_hash_dict(b)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"model": {"layers": [1, 2, object()]}}, "$.model.layers[2]"),
        ({"a key": {"b": b"bytes"}}, "$['a key'].b"),
        ({"fn": print}, "$.fn"),
        ({"s": {1j}}, "$.s{}"),
    ],
)
def test_hash_rejects_unsupported_types_naming_the_key_path(value: Any, path: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stable_hash_dict(value)
    assert info.value.context["path"] == path
    assert path in str(info.value)
    assert info.value.hint


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_hash_rejects_non_finite_floats(bad: float) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stable_hash_dict({"a": [0.0, bad]})
    assert info.value.context["path"] == "$.a[1]"


def test_hash_rejects_non_string_keys_and_cycles_and_non_mappings() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        stable_hash_dict({"a": {1: "x"}})
    assert info.value.context["path"] == "$.a"
    cyclic: dict[str, Any] = {"a": []}
    cyclic["a"].append(cyclic)
    with pytest.raises(InvalidArgumentError, match="self-referencing"):
        stable_hash_dict(cyclic)
    with pytest.raises(InvalidArgumentError, match="needs a mapping"):
        stable_hash_dict([1, 2])  # type: ignore[arg-type]


def test_hash_allows_shared_non_cyclic_references() -> None:
    shared = [1, 2]
    assert stable_hash_dict({"a": shared, "b": shared}) == stable_hash_dict(
        {"a": [1, 2], "b": [1, 2]}
    )


_keys = st.text(min_size=0, max_size=8)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
_trees = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=25,
)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@given(st.dictionaries(_keys, _trees, max_size=6), st.randoms(use_true_random=False))
def test_hash_is_independent_of_key_order_property(d: dict[str, Any], rng: random.Random) -> None:
    shuffled = _shuffled(d, rng)
    assert stable_hash_dict(shuffled, short=False) == stable_hash_dict(d, short=False)


@given(st.dictionaries(_keys, _trees, max_size=6), st.dictionaries(_keys, _trees, max_size=6))
def test_hash_differs_when_canonical_json_differs(a: dict[str, Any], b: dict[str, Any]) -> None:
    def canon(x: Any) -> str:
        return json.dumps(x, sort_keys=True, separators=(",", ":"))

    assert (stable_hash_dict(a, short=False) == stable_hash_dict(b, short=False)) == (
        canon(a) == canon(b)
    )


# --------------------------------------------------------------------------- git


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def test_git_sha_inside_a_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("x")
    _git(repo, "add", "f.txt")
    _git(repo, "commit", "-q", "-m", "init")
    expected = _git(repo, "rev-parse", "HEAD")
    (repo / "sub").mkdir()
    assert get_git_sha(short=False, cwd=repo / "sub") == expected
    assert get_git_sha(cwd=repo) == expected[:GIT_SHA_SHORT_LENGTH]
    assert get_git_sha(cwd=str(repo)) == expected[:12]


def test_git_sha_outside_a_checkout_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("GIT_DIR", raising=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert get_git_sha(cwd=plain) == UNKNOWN_GIT_SHA == "unknown"


def test_git_sha_in_a_repo_without_commits_is_unknown(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert get_git_sha(cwd=tmp_path) == UNKNOWN_GIT_SHA


def test_git_sha_without_git_binary_or_bad_cwd_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_git_sha(cwd=tmp_path / "does-not-exist") == UNKNOWN_GIT_SHA
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable here
    assert get_git_sha(cwd=tmp_path) == UNKNOWN_GIT_SHA


# --------------------------------------------------------------------------- set_global_seed


def test_set_global_seed_makes_random_and_numpy_repeat() -> None:
    report = set_global_seed(123)
    first = (random.random(), np.random.rand(3).tolist())
    set_global_seed(123)
    second = (random.random(), np.random.rand(3).tolist())
    assert first == second
    set_global_seed(124)
    assert (random.random(), np.random.rand(3).tolist()) != first
    assert isinstance(report, SeedReport)
    assert report.libraries[:2] == ("random", "numpy")
    assert report.seeded("numpy")
    assert report.seed == 123


def test_set_global_seed_sets_pythonhashseed_for_children() -> None:
    report = set_global_seed(7)
    assert os.environ["PYTHONHASHSEED"] == "7" == report.pythonhashseed
    code = "print(hash('peak-trade'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=30
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1  # same hash in two children: randomization is pinned


def test_set_global_seed_seeds_torch_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    cuda = types.SimpleNamespace(
        is_available=lambda: True, manual_seed_all=lambda s: calls.append(("cuda", s))
    )
    fake = types.ModuleType("torch")
    fake.manual_seed = lambda s: calls.append(("cpu", s))  # type: ignore[attr-defined]
    fake.cuda = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake)
    report = set_global_seed(5)
    assert calls == [("cpu", 5), ("cuda", 5)]
    assert report.libraries == ("random", "numpy", "torch", "torch.cuda")
    assert report.skipped == ()


def test_set_global_seed_reports_missing_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    monkeypatch.setitem(sys.modules, "numpy", None)
    report = set_global_seed(5)
    assert report.libraries == ("random",)
    assert report.skipped == ("numpy", "torch")
    assert not report.seeded("numpy")


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "42", True, None])
def test_set_global_seed_rejects_invalid_seeds(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        set_global_seed(bad)
    assert info.value.hint


def test_set_global_seed_accepts_the_bounds() -> None:
    assert set_global_seed(0).seed == 0
    assert set_global_seed(2**32 - 1).seed == 2**32 - 1


# --------------------------------------------------------------------------- verify_determinism


def test_deterministic_function_passes() -> None:
    def fn() -> tuple[float, list[float]]:
        return random.random(), np.random.normal(size=4).tolist()

    assert verify_determinism(fn, seed=42)
    assert verify_determinism(fn, seed=42, runs=5)


def test_non_deterministic_function_fails() -> None:
    counter = itertools.count()
    assert not verify_determinism(lambda: next(counter), seed=42)
    unseeded = np.random.default_rng()  # a Generator is not touched by set_global_seed
    assert not verify_determinism(lambda: unseeded.random(3), seed=42)


def test_raise_on_mismatch_names_the_run() -> None:
    values = iter([1, 1, 2])

    def fn() -> int:
        return next(values)

    with pytest.raises(BacktestInvariantError) as info:
        verify_determinism(fn, seed=1, runs=3, raise_on_mismatch=True)
    assert info.value.context["run"] == 2
    assert info.value.context["seed"] == 1
    assert "run 2 differs from run 0" in str(info.value)


def test_runs_must_be_at_least_two() -> None:
    for bad in (0, 1, -3):
        with pytest.raises(InvalidArgumentError):
            verify_determinism(lambda: 1, seed=1, runs=bad)


def test_numpy_results_compare_exactly_with_nan_and_dtype() -> None:
    assert verify_determinism(lambda: np.array([1.0, np.nan]), seed=3)
    assert verify_determinism(lambda: np.array(["a", "b"]), seed=3)
    assert verify_determinism(lambda: [np.random.rand(2), {"k": np.random.rand(2)}], seed=3)
    dtypes = iter([np.int64, np.int32])
    assert not verify_determinism(lambda: np.zeros(2, dtype=next(dtypes)), seed=3, runs=2)
    shapes = iter([(2,), (1, 2)])
    assert not verify_determinism(lambda: np.zeros(next(shapes)), seed=3, runs=2)
    bumps = iter([0.0, 1e-12])
    assert not verify_determinism(lambda: np.array([1.0]) + next(bumps), seed=3, runs=2)


def test_pandas_results_use_equals() -> None:
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"x": np.random.rand(4), "y": [1.0, np.nan, 2.0, 3.0]})

    assert verify_determinism(frame, seed=9)
    noise = np.random.default_rng()
    assert not verify_determinism(lambda: pd.Series(noise.random(3)), seed=9)


def test_float_nan_equals_nan_and_types_must_match() -> None:
    assert verify_determinism(lambda: {"a": float("nan")}, seed=1)
    kinds = iter([1, 1.0])
    assert not verify_determinism(lambda: next(kinds), seed=1, runs=2)


def test_uncomparable_results_raise() -> None:
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise TypeError("no")

        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(InvalidArgumentError, match="Cannot compare"):
        verify_determinism(Weird, seed=1)


# --------------------------------------------------------------------------- ReproContext


def test_create_captures_the_environment() -> None:
    clock = ManualClock(start=1_700_000_000.25)
    config = {"b": 2, "a": {"y": 1, "x": 0}}
    ctx = ReproContext.create(seed=42, config_dict=config, clock=clock, git_sha="abc123")
    assert ctx.seed == 42
    assert ctx.git_sha == "abc123"
    assert ctx.config_hash == stable_hash_dict(config)
    assert ctx.config_hash == stable_hash_dict({"a": {"x": 0, "y": 1}, "b": 2})
    assert ctx.created_at == "2023-11-14T22:13:20.250000+00:00"
    assert dt.datetime.fromisoformat(ctx.created_at).tzinfo is not None
    assert ctx.python_version == ".".join(map(str, sys.version_info[:3]))
    assert ctx.platform
    assert re.fullmatch(r"20231114T221320250000Z-[0-9a-f]{8}", ctx.run_id)


def test_create_without_config_and_with_git_lookup(tmp_path: Path) -> None:
    ctx = ReproContext.create(seed=1, cwd=tmp_path / "missing")
    assert ctx.config_hash == stable_hash_dict({})
    assert ctx.git_sha == UNKNOWN_GIT_SHA


def test_run_ids_are_unique_and_sortable() -> None:
    clock = ManualClock()
    ids = []
    for _ in range(50):
        ids.append(ReproContext.create(seed=1, clock=clock, git_sha="x").run_id)
        clock.advance(0.001)
    assert len(set(ids)) == 50
    assert ids == sorted(ids)
    same_instant = {ReproContext.create(seed=1, clock=clock, git_sha="x").run_id for _ in range(50)}
    assert len(same_instant) == 50


def test_explicit_run_id_is_kept_and_validated() -> None:
    assert ReproContext.create(seed=1, run_id="my-run", git_sha="x").run_id == "my-run"
    with pytest.raises(InvalidArgumentError):
        ReproContext.create(seed=1, run_id="  ", git_sha="x")
    with pytest.raises(InvalidArgumentError):
        ReproContext.create(seed=-1, git_sha="x")
    with pytest.raises(InvalidArgumentError) as info:
        ReproContext.create(seed=1, config_dict={"x": object()}, git_sha="x")
    assert info.value.context["path"] == "$.x"


def test_round_trip_and_json() -> None:
    ctx = ReproContext.create(seed=7, config_dict={"a": 1}, clock=ManualClock(), git_sha="x")
    assert ReproContext.from_dict(ctx.to_dict()) == ctx
    assert ReproContext.from_dict(json.loads(ctx.to_json())) == ctx
    assert list(json.loads(ctx.to_json())) == sorted(ctx.to_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.seed = 8  # type: ignore[misc]


def test_from_dict_rejects_bad_input() -> None:
    good = ReproContext.create(seed=7, clock=ManualClock(), git_sha="x").to_dict()
    with pytest.raises(InvalidArgumentError) as info:
        ReproContext.from_dict({k: v for k, v in good.items() if k != "seed"})
    assert info.value.context["missing"] == ["seed"]
    with pytest.raises(InvalidArgumentError) as info:
        ReproContext.from_dict({**good, "extra": 1})
    assert info.value.context["unknown"] == ["extra"]
    with pytest.raises(InvalidArgumentError, match="wrong type"):
        ReproContext.from_dict({**good, "seed": "7"})
    with pytest.raises(InvalidArgumentError, match="wrong type"):
        ReproContext.from_dict({**good, "git_sha": None})
    with pytest.raises(InvalidArgumentError, match="needs a mapping"):
        ReproContext.from_dict([1])  # type: ignore[arg-type]

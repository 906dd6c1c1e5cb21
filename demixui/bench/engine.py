"""The engine's figures per device block size, from its null-backend run (no sound device, paced by a clock).

`demixui.engine.benchmark.run_null_benchmark(model_path, blocksize, seconds)` plays audio through the whole
engine (inference worker, rings, audio callback) in real time and returns its telemetry; this module
turns that into one row per block size: total latency, inference p50/p99 per hop as a share of the hop's
budget, and underruns of both kinds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from demixui.bench.table import Row


def _first(stats: dict, *keys: str) -> float | None:
    for key in keys:
        value = stats.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _share(stats: dict, pct_key: str, ms_key: str) -> float | None:
    """A per-hop time as % of the hop budget, given directly or as ms beside the budget in ms."""
    pct = _first(stats, pct_key)
    if pct is not None:
        return pct
    ms, budget = _first(stats, ms_key), _first(stats, "hop_budget_ms")
    return 100 * ms / budget if ms is not None and budget else None


def engine_row(blocksize: int, seconds: float, stats: dict) -> Row:
    """One engine row from `run_null_benchmark`'s dict (keys as in the engine's telemetry snapshot)."""
    figures = {
        "seconds": _first(stats, "seconds", "duration_s", "played_s") or seconds,
        "total_latency_ms": _first(stats, "total_latency_ms", "latency_ms"),
        "infer_p50_pct": _share(stats, "inference_p50_pct", "inference_p50_ms"),
        "infer_p99_pct": _share(stats, "inference_p99_pct", "inference_p99_ms"),
        "app_underruns": _first(stats, "app_underruns"),
        "device_underruns": _first(stats, "device_underruns"),
    }
    missing = [key for key, value in figures.items() if value is None or not math.isfinite(value)]
    reason = f"the engine's benchmark did not report {', '.join(missing)}" if missing else None
    return Row("engine", f"block {blocksize}", {k: v for k, v in figures.items() if v is not None},
               reason=reason, raw=_json_safe(stats))


def measure_engine(model_path: Path | None, blocksizes: list[int], seconds: float, mix: np.ndarray,
                   log: Callable[[str], None] = print) -> list[Row]:
    """One row per block size, playing `mix` `(nb_samples, 2)` (looped) as live input through the engine;
    rows that say why when the engine's benchmark is missing or fails."""
    try:
        from demixui.engine.benchmark import run_null_benchmark
    except ImportError as error:
        reason = f"the engine's null-backend benchmark is not in this build ({error})"
        return [Row("engine", f"block {b}", {}, reason=reason) for b in blocksizes]
    rows = []
    for blocksize in blocksizes:
        log(f"engine: block size {blocksize}, {seconds:.0f} s through the null backend ...")
        try:
            stats = run_null_benchmark(model_path, blocksize, seconds, audio=mix)
        except Exception as error:  # noqa: BLE001 - one broken block size must not lose the other rows
            rows.append(Row("engine", f"block {blocksize}", {},
                            reason=f"the engine's benchmark failed: {type(error).__name__}: {error}"))
            continue
        row = engine_row(blocksize, seconds, stats)
        # Live input plays through the live model when one is bundled (engine/models.py): name the model.
        model = f" through {stats['model_name']}" if stats.get("model_name") else ""
        row.notes.append(f"{stats.get('mode', 'live')} input{model}, wall-clock times "
                         "(the machine's load included)")
        rows.append(row)
    return rows


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

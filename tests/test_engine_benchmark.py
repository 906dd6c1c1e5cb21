"""The figures `demixui bench` takes from the engine: a short real-time null-backend run."""

from __future__ import annotations

import pytest

from demixui.engine.benchmark import run_null_benchmark
from demixui.engine.live import live_buffer

SR = 44100


@pytest.mark.parametrize("mode", ["live", "file"])
def test_null_benchmark_reports_latency_inference_and_underruns(tiny_model_path, mode):
    stats = run_null_benchmark(tiny_model_path, 256, 1.0, mode=mode)
    assert stats["mode"] == mode and stats["blocksize"] == 256
    assert 1.0 <= stats["seconds"] < 2.0
    assert stats["wall_seconds"] >= 0.9  # paced by the clock in real time, not faster
    assert stats["hop_budget_ms"] == pytest.approx(512 / SR * 1000)
    share = 100 * stats["inference_p99_ms"] / stats["hop_budget_ms"]
    assert stats["inference_p99_pct"] == pytest.approx(share)
    assert 0 < stats["inference_p50_ms"] <= stats["inference_p99_ms"] <= stats["inference_max_ms"]
    assert stats["device_latency_ms"] == 0.0
    assert isinstance(stats["app_underruns"], int) and isinstance(stats["device_underruns"], int)
    if mode == "live":  # model latency + the live buffer: whole blocks for the hop and the worker's time
        # (live.py), 768 at 256/512, or a few blocks more where the machine made the worker late (it then
        # grows a block at a time)
        least = live_buffer(256, 512, SR)
        assert least == 768
        buffer = stats["total_latency_ms"] * SR / 1000 - 1536
        assert buffer == pytest.approx(round(buffer), abs=1e-6)
        assert round(buffer) in range(least, least + 4 * 256 + 1, 256), buffer

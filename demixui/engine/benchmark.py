"""The engine's real-time figures from a null-backend run (no sound device), for `demixui bench`.

`run_null_benchmark` plays audio through the whole engine (inference worker, rings, audio callback,
analysis) with the null backend paced by the clock in real time, as live input by default: the null input
hands the engine one block of the audio per output block, so the latency reported is the true end-to-end
figure (model latency + the live buffer, no device latency) and an underrun is a block the worker did not
separate in time. `mode="file"` plays the audio as a file instead (the reader thread, looped).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from demixui.engine.engine import Engine

SR = 44100


def synthetic_music(seconds: float, seed: int = 0) -> np.ndarray:
    """Deterministic stereo test audio `(n, 2)` float32: a bass line, chords and decaying noise hits."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    beat = (t * 2.0) % 1.0
    bass = 0.25 * np.sin(2 * np.pi * 55 * (1 + (np.floor(t / 2) % 4) / 4) * t)
    chords = sum(0.08 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate((220.0, 277.2, 329.6)))
    hits = rng.standard_normal(len(t)) * np.exp(-beat * 25) * 0.3
    left, right = bass + chords + hits, bass + 0.8 * chords + 0.7 * hits
    return np.stack([left, right], axis=1).astype(np.float32)


def run_null_benchmark(model_path, blocksize: int, seconds: float, mode: str = "live",
                       audio: np.ndarray | None = None) -> dict:
    """Play `seconds` of audio in real time at `blocksize`; returns the final telemetry as a dict.

    Keys: every EngineSnapshot field (latencies in ms, inference p50/p99/max ms per hop, hop budget,
    real-time factor, app and device underruns, ...) plus `seconds` (audio played), `wall_seconds`,
    `inference_p50_pct`/`inference_p99_pct` (per-hop time as % of the hop's budget), `mode`, `blocksize`.
    """
    if mode not in ("live", "file"):
        raise ValueError(f"mode must be 'live' or 'file', got {mode!r}")
    if audio is None:
        audio = synthetic_music(min(seconds, 30.0))
    reps = max(1, math.ceil((seconds + 1.0) * SR / len(audio)))
    with tempfile.TemporaryDirectory() as tmp, \
            Engine(model_path, backend="null", blocksize=blocksize) as engine:
        if mode == "live":
            engine.open_live(np.tile(audio, (reps, 1)))
        else:
            import soundfile as sf

            path = Path(tmp) / "bench.wav"
            sf.write(path, audio, SR, subtype="FLOAT")
            engine.open_file(path)
            engine.set_loop(True)
            engine.play()
        started = time.monotonic()
        deadline = started + 3 * seconds + 30
        # Poll cheaply (two attribute reads): this thread holds the GIL as little as possible.
        while engine.played_seconds < seconds and time.monotonic() < deadline and not engine._fatal:
            time.sleep(0.1)
        snap = engine.snapshot()
        if snap.state == "error":
            raise RuntimeError(snap.error)
        wall = time.monotonic() - started
        played = engine.played_seconds
    stats = dataclasses.asdict(snap)
    budget = snap.hop_budget_ms
    stats.update(
        seconds=played,
        wall_seconds=wall,
        mode=mode,
        inference_p50_pct=100.0 * snap.inference_p50_ms / budget,
        inference_p99_pct=100.0 * snap.inference_p99_ms / budget,
    )
    return stats


def main() -> None:  # `python -m demixui.engine.benchmark [MODEL] [SECONDS]`: a quick look by hand
    import sys

    model = sys.argv[1] if len(sys.argv) > 1 else None
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    for blocksize in (128, 256, 512, 1024):
        s = run_null_benchmark(model, blocksize, seconds)
        print(f"block {blocksize:5d}: total latency {s['total_latency_ms']:6.1f} ms  inference p50 "
              f"{s['inference_p50_pct']:5.1f}% p99 {s['inference_p99_pct']:5.1f}% of "
              f"{s['hop_budget_ms']:.1f} ms  underruns app {s['app_underruns']} "
              f"device {s['device_underruns']}  ({s['seconds']:.0f} s)")


if __name__ == "__main__":
    main()

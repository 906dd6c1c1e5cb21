"""Building an EngineSnapshot from the latest values the threads publish (no locks on the audio path)."""

from __future__ import annotations

import numpy as np

from demixui.engine.snapshot import EngineSnapshot


def inference_stats(times_s: np.ndarray, hop_budget_ms: float) -> tuple[float, float, float, float]:
    """(p50, p99, max) per-hop inference times in ms and the real-time factor (mean / budget)."""
    if times_s.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    ms = times_s * 1000.0
    p50, p99 = percentiles(ms, (50.0, 99.0))
    return p50, p99, float(ms.max()), float(ms.mean() / hop_budget_ms)


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """`np.percentile(values, qs)` (its default, linear interpolation) from one `np.partition`: the same
    numbers for a fifth of the time (np.percentile's Python layers cost ~0.6 ms per call, and the window asks
    for a snapshot 40 times a second)."""
    n = values.size
    positions = [q / 100.0 * (n - 1) for q in qs]
    below = [int(p) for p in positions]
    parted = np.partition(values, sorted({k for b in below for k in (b, min(b + 1, n - 1))}))
    result = []
    for position, low in zip(positions, below, strict=True):
        a, b = float(parted[low]), float(parted[min(low + 1, n - 1)])
        result.append(a + (b - a) * (position - low))
    return result


def engine_state(engine) -> str:
    session = engine._session
    if engine._fatal:
        return "error"
    if session is None:
        return "empty"
    if session.ended:
        return "ended"
    if engine._playing:
        return "playing"
    return "stopped" if session.play_position == 0 else "paused"


def build_snapshot(engine) -> EngineSnapshot:
    sr = engine.sample_rate
    playback = engine.playback
    session = engine._session
    output = engine._output
    device_latency_s = float(output.latency)
    if engine._input is not None:
        device_latency_s += float(engine._input.latency)
    device_latency = int(round(device_latency_s * sr))
    live = session is not None and session.info.live
    # A file: a model swap is heard at most `near_lead` ahead; the rest of the deep lead delays nothing.
    buffered = playback.source_lead if live else min(playback.stem_fill, engine.worker.near_lead())
    if session is None or not session.started:
        buffered = 0
    model_ms = engine._latency / sr * 1000.0
    buffer_ms = max(0, buffered) / sr * 1000.0
    device_ms = device_latency_s * 1000.0
    hop_budget_ms = engine.hop / sr * 1000.0
    p50, p99, worst, rtf = inference_stats(engine.worker.times.recent(), hop_budget_ms)
    stem_rms, stem_peak, out_peak = engine.analysis.levels
    lead = engine.worker.lead()
    mix = engine._mix
    return EngineSnapshot(
        state=engine_state(engine),
        source_name="" if session is None else session.info.name,
        position_s=0.0 if session is None else session.position_s(sr, device_latency),
        duration_s=0.0 if session is None else session.info.duration_s,
        loop=engine._loop,
        model_latency_ms=model_ms,
        buffer_latency_ms=buffer_ms,
        device_latency_ms=device_ms,
        total_latency_ms=model_ms + buffer_ms + device_ms,
        inference_p50_ms=p50,
        inference_p99_ms=p99,
        inference_max_ms=worst,
        hop_budget_ms=hop_budget_ms,
        realtime_factor=rtf,
        app_underruns=playback.app_underruns,
        device_underruns=playback.device_underruns,
        ring_fill=min(1.0, max(0.0, playback.stem_fill / lead)) if session is not None else 0.0,
        stem_rms_db=tuple(stem_rms),
        stem_peak_db=tuple(stem_peak),
        output_peak_db=tuple(out_peak),
        gains_db=tuple(mix.gains_db),
        muted=tuple(mix.muted),
        soloed=tuple(mix.soloed),
        karaoke=mix.karaoke,
        karaoke_reduction_db=mix.karaoke_db,
        blocksize=engine.blocksize,
        output_device=output.name,
        sample_rate=sr,
        model_name=_model_name(engine._model),
        error=engine._error,
        error_count=engine._error_count,
        wet=float(playback.wet),
        resyncs=engine.worker.resyncs,
        monitor_drops=playback.monitor_drops,
        drift_corrections=playback.drift_corrections,
        audio_callback=playback.audio_callback,
        outputs=playback.layout.describe(),
        cued=tuple(bool(c) for c in engine._cue),
    )


def _model_name(model) -> str:
    info = model.info
    version = getattr(info, "model_version", "") or ""
    name = getattr(info, "path", None)
    base = name.name if name is not None and hasattr(name, "name") else str(name or "model")
    return f"{base} ({version})" if version else base


"""The engine's telemetry: one immutable snapshot, built on demand from latest values (never blocks audio).

Latency, as reported (all in milliseconds, computed from the running pipeline, not guessed):
- `model_latency_ms`: the model's algorithmic latency L (STFT n_fft - hop): the stems heard now separate
  the source sample from L ago, and the dry mix is delayed by the same L so the two line up.
- `buffer_latency_ms`: audio waiting in the engine's rings beyond L. Live input: input captured but not yet
  played (source ring write position minus the play position, at the start of the last output block).
  File: how long a model swap takes to be heard: the separated audio queued ahead of the play position, up
  to the worker's `near_lead` (a swap starts there). The worker queues about 0.5 s more (its lead, which
  `ring_fill` shows), which delays nothing: the gains act in the callback and a seek starts a new session.
- `device_latency_ms`: what PortAudio reports for the output stream (plus the input stream when live); 0 on
  the null backend.
- `total_latency_ms` = the sum. For live input on the null backend an input impulse comes out exactly
  `total_latency` samples later (a test checks it); for a file the sample at file time t is heard at
  position t, L after the decoder read it (the impulse test checks that offset too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSnapshot:
    """Latest engine state for the UI and the CLI status line. dB values are dBFS; times in ms or seconds."""

    state: str  # "empty", "stopped", "playing", "paused", "ended", "error"
    source_name: str
    position_s: float  # source time being heard (after the output device's latency)
    duration_s: float  # inf for live input
    loop: bool
    model_latency_ms: float
    buffer_latency_ms: float
    device_latency_ms: float
    total_latency_ms: float
    inference_p50_ms: float  # per model hop (recent 2048 hops)
    inference_p99_ms: float
    inference_max_ms: float
    hop_budget_ms: float  # real-time budget of one hop: hop / sample_rate
    realtime_factor: float  # mean inference time per hop / hop budget (< 1 keeps up; 0.25 = 4x faster)
    app_underruns: int  # output blocks that fell back to the dry mix (stems late) or lacked input
    device_underruns: int  # output underflows the device reported
    ring_fill: float  # 0..1: separated audio ahead of the play position / the worker's target lead
    stem_rms_db: tuple[float, ...]  # per stem, before its gain, over the last ~46 ms
    stem_peak_db: tuple[float, ...]
    output_peak_db: tuple[float, float]
    gains_db: tuple[float, ...]
    muted: tuple[bool, ...]
    soloed: tuple[bool, ...]
    karaoke: bool
    karaoke_reduction_db: float
    blocksize: int
    output_device: str
    sample_rate: int
    model_name: str
    error: str | None  # the latest engine error (lost device, bad file, failed model ...), for the UI
    error_count: int
    wet: float = 1.0  # 1 while separated stems play, 0 while the dry mix stands in
    resyncs: int = 0  # times the inference worker restarted ahead of the callback after falling behind
    monitor_drops: int = 0  # blocks the analysis/recording thread missed (it fell behind)
    drift_corrections: int = 0  # live input: jumps/holds that kept the buffer bounded (two device clocks)
    audio_callback: str = ""  # "native (numba)": no Python thread can delay it; or "python (why not native)"
    outputs: str = "remix 1-2"  # the output channels (routing.OutputLayout.describe)
    cued: tuple[bool, ...] = (False, False, False, False)  # stems on the cue bus (pre-fader)

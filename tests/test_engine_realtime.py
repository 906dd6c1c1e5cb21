"""The audio callback follows the real-time rules: in steady state it allocates no arrays (slices and `out=`
only), whatever path it takes: separated stems, a gain ramp, a fallback crossfade, a pause fade. Both the
native callback (its Python entry, as the null backend calls it) and the Python fallback; the native kernel's
C entry is checked with numba's own allocation counters in test_engine_native.py."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from demixui.engine import Engine
from demixui.engine.playback import CALLBACK_ENV
from demixui.engine.routing import OutputLayout

SR = 44100


class _Status:
    output_underflow = False


@pytest.mark.parametrize("outputs", [OutputLayout(), OutputLayout(stem_outputs=True, cue_bus=True)],
                         ids=["remix", "stems and cue"])
@pytest.mark.parametrize("kind", ["native", "python"])
def test_callback_allocates_no_arrays_on_any_path(tiny_model_path, tmp_path, monkeypatch, kind, outputs):
    monkeypatch.setenv(CALLBACK_ENV, kind)
    path = tmp_path / "noise.wav"
    # 10 s: the null clock runs past 0.2 s before it is stopped; the worker's lead must fit before the end.
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (10 * SR, 2)).astype(np.float32), SR)
    engine = Engine(tiny_model_path, backend="null-fast", blocksize=256, outputs=outputs)
    try:
        assert engine.playback.native == (kind == "native"), engine.audio_callback
        engine.set_cue("bass", True)
        engine.open_file(path)
        engine.play()
        deadline = time.monotonic() + 20
        while engine.played_seconds < 0.2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        engine.output.stop()  # from here on only this test calls the callback ...
        session = engine._session
        while session.stem_span[1] - session.play_position < engine.worker.lead():  # worker fills its lead
            assert time.monotonic() < deadline, (session.stem_span, session.play_position)
            time.sleep(0.01)
        for part in (engine.worker, engine.reader, engine.analysis):
            part.stop()  # ... and nothing else in the process allocates
        playback, session = engine.playback, engine._session
        width = outputs.channels
        small, large = np.zeros((256, width), np.float32), np.zeros((4096, width), np.float32)
        status = _Status()
        playback.callback(small, 256, None, status)  # warm up any lazily created Python objects
        held = session.stem_span[1] - session.play_position
        while held >= 2 * 4096:  # a file's lead is deep: play it down (large blocks, then small ones)
            block = large if held - 4096 > 4096 + playback.ramp else small
            playback.callback(block, len(block), None, status)
            held = session.stem_span[1] - session.play_position
        assert 4096 + playback.ramp < held < 2 * 4096, held  # one large block of stems, then the fallback
        engine.set_gain_db("drums", -12.0)  # a ramp in progress
        peaks = []
        tracemalloc.start()
        try:
            for call in ["wet", "fallback", "dry", "pause", "fade", "silence"]:
                if call == "pause":
                    engine.pause()  # the transport fade-out, then silence
                    continue
                tracemalloc.reset_peak()
                base, _ = tracemalloc.get_traced_memory()
                playback.callback(large, 4096, None, status)
                peaks.append(tracemalloc.get_traced_memory()[1] - base)
        finally:
            tracemalloc.stop()
        assert playback.app_underruns > 0 and playback.transport == 0.0  # every path was taken
        # Views, Python floats and numpy's iterator bookkeeping (~1-3 kB, whatever the block size) only:
        # one (4096, 2) float32 temporary alone would be 32 kB.
        assert max(peaks) < 4096, peaks
    finally:
        engine.close()


def test_engine_hands_the_gil_over_within_a_fraction_of_a_millisecond(tiny_model_path):
    """The inference worker waits for the GIL each time it comes back from onnxruntime or numpy; beside a
    thread running Python it waits up to the switch interval (Python's default 5 ms), several times a hop.
    The engine shortens it for the whole process (its effect on the hop's p99 is in BENCHMARKS.md)."""
    import sys

    from demixui.engine.engine import SWITCH_INTERVAL_S

    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        with Engine(tiny_model_path, backend="null-fast", blocksize=256):
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S, abs=1e-6)
        assert SWITCH_INTERVAL_S <= 0.0005
    finally:
        sys.setswitchinterval(previous)

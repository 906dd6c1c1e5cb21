"""A model too slow for real time: the callback falls back to the aligned dry mix (times the smallest stem
gain, so a muted stem stays muted) without a click, counts app underruns, and goes back to separated stems
when the model catches up.

The slowness is the one fault we cannot cause otherwise, so the real runtime's separator is wrapped to sleep
while a flag is set; everything else (runtime, rings, callback, clock) is the real thing, paced in real time.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from demixui.engine import Engine

SR = 44100
LATENCY = 1536


def wait_until_ended(engine: Engine, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while engine.snapshot().state != "ended":
        assert time.monotonic() < deadline, "playback did not end in time"
        time.sleep(0.05)


def play_to_end(model, path, blocksize: int = 256, seconds: float = 15.0, setup=None):
    """Play `path` through the null backend to its end; (final snapshot, captured output, output offset)."""
    with Engine(model=model, backend="null", blocksize=blocksize, capture=True) as engine:
        if setup is not None:
            setup(engine)
        engine.open_file(path)
        engine.play()
        wait_until_ended(engine, seconds)
        return engine.snapshot(), engine.captured(), engine.output_offset


class SlowModel:
    """The real model, whose streams sleep 50 ms per hop (4x slower than real time) while `slow` is set, or
    `stall` seconds per call when that is set (no stems in time for a short file at all)."""

    def __init__(self, model):
        self.model = model
        self.info = model.info
        self.slow = False
        self.stall = 0.0

    def new_stream(self):
        return _SlowStream(self.model.new_stream(), self)


class _SlowStream:
    def __init__(self, inner, owner: SlowModel):
        self._inner, self._owner = inner, owner
        self.hop, self.latency_samples, self.stems = inner.hop, inner.latency_samples, inner.stems

    def reset(self) -> None:
        self._inner.reset()

    def process(self, mix: np.ndarray) -> np.ndarray:
        if self._owner.stall:
            time.sleep(self._owner.stall)
        elif self._owner.slow:
            time.sleep(0.05 * max(1, mix.shape[0] // self.hop))
        return self._inner.process(mix)


def test_slow_model_falls_back_to_the_dry_mix_without_a_click_and_recovers(tiny_model_path, tmp_path):
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    model = load_model(tiny_model_path)
    t = np.arange(int(SR * 4.5)) / SR
    # Smooth tones, so that any click would stand far above the signal's own sample-to-sample steps.
    mix = (0.3 * np.sin(2 * np.pi * 110 * t)[:, None] * [1.0, 0.7]
           + 0.2 * np.sin(2 * np.pi * 55 * t)[:, None]).astype(np.float32)
    path = tmp_path / "tones.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    slow = SlowModel(model)
    with Engine(model=slow, backend="null", blocksize=256, capture=True) as engine:
        engine.set_gain_db("vocals", -12.0)  # so that the separated mix audibly differs from the dry mix
        engine.open_file(path)
        engine.play()
        time.sleep(1.0)
        slow.slow = True  # 4x slower than real time: the file's lead (half a second) drains in ~0.7 s
        time.sleep(1.4)
        slow.slow = False
        lead_s = engine.worker.lead() / SR
        wait_until_ended(engine, 20)
        snap = engine.snapshot()
        out = engine.captured()[engine.output_offset:][:len(mix) + LATENCY]
    assert snap.app_underruns > 0 and snap.resyncs >= 1 and snap.wet == 1.0
    vocals_gain = np.float32(10 ** (-12 / 20))
    dry = vocals_gain * np.concatenate([np.zeros((LATENCY, 2), np.float32), mix])  # the smallest gain
    stems = separate_array(model, mix)
    wet_offline = np.concatenate([np.zeros((LATENCY, 2), np.float32),
                                  vocals_gain * stems[:, 0] + stems[:, 1:].sum(1)])
    is_dry = np.abs(out - dry).max(axis=1) < 1e-6
    is_wet = np.abs(out - wet_offline).max(axis=1) < 2e-5
    # Dry stretches (start, end) in output positions; the long one is the slowdown.
    edges = np.flatnonzero(np.diff(is_dry[LATENCY:].astype(np.int8))) + LATENCY + 1
    assert len(edges) >= 2, "the output never fell back to the dry mix"
    stretches = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=False) if is_dry[a]]
    long = [(a, b) for a, b in stretches if b - a > 0.2 * SR]
    assert long and 0.9 < long[0][0] / SR < 1.3 + lead_s / 0.75, stretches
    # Until the first fallback (the ramp before it aside): exactly the offline separation, the same stream.
    first = stretches[0][0]
    assert first > 0.25 * SR
    assert is_wet[LATENCY:first - engine.playback.ramp].all()
    # After it: separated again (the restarted stream differs slightly from offline, but not from dry alone).
    tail = slice(len(out) - SR // 2, len(out) - LATENCY)
    assert not is_dry[tail].any()
    assert np.abs(out[tail] - dry[tail]).max() > 0.05
    # No click: the largest step between samples is the tones' own, though wet and dry differ a lot.
    steps = np.abs(np.diff(out, axis=0)).max()
    natural = np.abs(np.diff(mix, axis=0)).max()  # the unscaled mix's: the wet output's are as large
    assert np.abs(wet_offline - dry)[LATENCY:].max() > 10 * natural  # a hard switch would click
    assert steps <= natural * 1.5, (steps, natural)


@pytest.mark.parametrize("blocksize", [64, 4096])
def test_fallback_keeps_every_block_filled_at_extreme_block_sizes(tiny_model_path, tmp_path, blocksize):
    """With the model stalled from the start, the engine still plays the whole file, dry, to the end."""
    from demixui.model.runtime import load_model

    slow = SlowModel(load_model(tiny_model_path))
    slow.slow = True
    mix = (0.3 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR))[:, None].repeat(2, 1).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    snap, out, offset = play_to_end(slow, path, blocksize=blocksize)
    out = out[offset:][:len(mix) + LATENCY]
    assert snap.app_underruns > 0
    # Whatever mix of dry and separated it played, it is the tone (stems sum to the mix) and has no gaps.
    np.testing.assert_allclose(out[LATENCY:], mix, atol=1e-4)


@pytest.mark.parametrize("setting", ["equal gains", "karaoke"])
def test_the_dry_stand_in_never_plays_a_stem_louder_than_its_slider(tiny_model_path, tmp_path, setting):
    """Stalled model: with every stem at -6 dB the stand-in is the mix at -6 dB (exactly the remix); with
    the vocals muted for karaoke it is silence, not the singer coming back."""
    from demixui.model.runtime import load_model

    slow = SlowModel(load_model(tiny_model_path))
    slow.stall = 2.0
    mix = (0.3 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR))[:, None].repeat(2, 1).astype(np.float32)
    sf.write(tmp_path / "tone.wav", mix, SR, subtype="FLOAT")

    def setup(engine: Engine) -> None:
        if setting == "karaoke":
            engine.set_karaoke(True)
        else:
            for stem in ("vocals", "drums", "bass", "other"):
                engine.set_gain_db(stem, -6.0)

    snap, out, offset = play_to_end(slow, tmp_path / "tone.wav", setup=setup)
    out = out[offset:][:len(mix) + LATENCY]
    assert snap.app_underruns > 0 and snap.wet == 0.0  # it never got a separated block
    expected = 0.0 * mix if setting == "karaoke" else np.float32(10 ** (-6 / 20)) * mix
    np.testing.assert_allclose(out[LATENCY:], expected, atol=1e-6)


def test_a_file_slow_to_open_starts_late_without_underruns(tiny_model_path, tmp_path, monkeypatch):
    """Opening can take seconds (an hour of MP3 is decoded whole, a network share is slow): the callback
    plays silence until the first samples arrive, and only then gives the model its prefill time. Slow
    storage is the injected fault; the engine, model and clock are real."""
    import demixui.engine.reader as reader
    from demixui.model.runtime import load_model

    real_open = reader.open_audio

    def slow_open(path):
        time.sleep(1.5)
        return real_open(path)

    monkeypatch.setattr(reader, "open_audio", slow_open)
    t = np.arange(int(SR * 1.0)) / SR
    mix = (0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * [1.0, 0.7]).astype(np.float32)
    sf.write(tmp_path / "tone.wav", mix, SR, subtype="FLOAT")
    snap, out, offset = play_to_end(load_model(tiny_model_path), tmp_path / "tone.wav", seconds=20)
    assert snap.app_underruns == 0, snap.app_underruns
    assert offset > 1.2 * SR  # it did wait (silently) for the file
    assert np.abs(out[:offset]).max() == 0.0
    assert np.abs(out[offset + LATENCY:offset + len(mix)]).max() > 0.1  # and then played it


def test_a_nan_mid_file_ends_playback_there_with_its_time(tiny_model_path, tmp_path):
    """A file damaged mid-way (a NaN at 0.6 s) plays up to the bad sample, then ends with an error that says
    where, instead of sending a NaN to the model or the speakers."""
    from demixui.model.runtime import load_model

    mix = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR))[:, None].repeat(2, 1).astype(np.float32)
    mix[int(0.6 * SR), 1] = np.nan
    sf.write(tmp_path / "damaged.wav", mix, SR, subtype="FLOAT")
    snap, out, offset = play_to_end(load_model(tiny_model_path), tmp_path / "damaged.wav")
    out = out[offset:]
    assert snap.error is not None and "damaged.wav" in snap.error and "from 0.600 s" in snap.error, snap.error
    assert np.isfinite(out).all()
    played = np.flatnonzero(np.abs(out).max(axis=1) > 0.01)
    assert 0.3 * SR < played[-1] - LATENCY < 0.61 * SR, played[-1]  # the audio before it did play


def test_a_model_with_nan_output_is_never_played_the_dry_mix_stands_in_and_it_is_counted(nan_model_path,
                                                                                         tmp_path):
    """A broken model (NaN weights, as a diverged export gives): its output never reaches the device; the
    aligned dry mix plays instead, as for an app underrun, and the error is reported once and counted."""
    from demixui.model.runtime import load_model

    mix = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR // 2) / SR))[:, None].repeat(2, 1).astype(np.float32)
    sf.write(tmp_path / "song.wav", mix, SR, subtype="FLOAT")
    snap, out, offset = play_to_end(load_model(nan_model_path), tmp_path / "song.wav")
    assert np.isfinite(out).all()
    assert snap.error_count == 1 and "NaN or infinite" in snap.error and "playing the mix" in snap.error
    assert snap.app_underruns > 0
    played = out[offset + LATENCY:offset + LATENCY + len(mix)]
    np.testing.assert_allclose(played[300:], mix[300:], atol=1e-6)  # (after the 5 ms fade-in)


def test_live_input_resumes_separating_after_the_worker_fell_behind(tiny_live_model_path):
    """A stall makes the worker resynchronise ahead of the live input it has not got yet: it waits for that
    input (it once fed a negative number of samples and failed for good) and the stems come back."""
    from demixui.model.runtime import load_model

    model = SlowModel(load_model(tiny_live_model_path))
    t = np.arange(4 * SR) / SR
    mix = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32)
    with Engine(model=model, backend="null", blocksize=128) as engine:
        engine.open_live(mix)
        deadline = time.monotonic() + 30
        while engine.snapshot().wet < 1.0 or not engine._session.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        model.stall = 0.1  # the worker falls more than 4 hops behind the callback
        while engine.worker.resyncs == 0:
            assert time.monotonic() < deadline, engine.snapshot()
            time.sleep(0.01)
        model.stall = 0.0
        underruns = engine.snapshot().app_underruns
        while engine.snapshot().wet < 1.0 or engine.snapshot().app_underruns == underruns:
            assert time.monotonic() < deadline, engine.snapshot()
            time.sleep(0.01)
        time.sleep(0.3)
        snap = engine.snapshot()
    assert snap.error is None, snap.error
    assert snap.wet == 1.0  # separating again

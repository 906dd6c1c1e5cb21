"""The engine through the null backend: exact output, latency, gains, mute/solo, transport, bad input.

The null-fast backend renders every block as soon as the worker has separated it (the clock waits, never the
callback), so the output is deterministic and can be compared sample for sample with offline separation.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from demixui.engine import STEMS, Engine
from demixui.errors import AudioFileError, DemixError, DeviceError, ModelFileError

SR = 44100
LATENCY = 1536  # n_fft 2048 - hop 512 of the test model


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """A deterministic stereo test signal `(n, 2)`: a few tones and decaying noise bursts, |x| < 0.8."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.2 * np.sin(2 * np.pi * 110 * t)[:, None] * [1.0, 0.6]
    x = x + 0.15 * np.sin(2 * np.pi * 660 * t + 1.0)[:, None] * [0.5, 1.0]
    bursts = rng.standard_normal((len(t), 2)) * np.exp(-((t * 4) % 1.0) * 12)[:, None] * 0.2
    return (x + bursts).astype(np.float32)


@pytest.fixture(scope="module")
def model(tiny_model_path):
    from demixui.model.runtime import load_model

    return load_model(tiny_model_path)


@pytest.fixture(scope="module")
def track(tmp_path_factory, model):
    """A 2-second file, its samples and the offline stems `(n, 4, 2)` aligned with it."""
    from demixui.model.offline import separate_array

    mix = music(2.0)
    path = tmp_path_factory.mktemp("engine") / "track.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    return path, mix, separate_array(model, mix)


def play_to_end(engine: Engine, timeout: float = 60.0) -> np.ndarray:
    """Play the open file to its end; the captured output from the session's first sample `(n, 2)`."""
    engine.play()
    deadline = time.monotonic() + timeout
    while engine.snapshot().state != "ended":
        assert time.monotonic() < deadline, engine.snapshot()
        time.sleep(0.01)
    return engine.captured()[engine.output_offset:]


def mixdown(stems: np.ndarray, gains) -> np.ndarray:
    return (stems * np.asarray(gains, np.float32)[None, :, None]).sum(axis=1)


@pytest.mark.parametrize("blocksize", [64, 512, 4096])
def test_output_equals_offline_separation_with_gains(model, track, blocksize):
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=blocksize, capture=True) as engine:
        engine.set_gain_db("vocals", -6.0)
        engine.set_gain_db("drums", 3.0)
        engine.set_mute("bass", True)
        engine.open_file(path)
        out = play_to_end(engine)
        snap = engine.snapshot()
    gains = [10 ** (-6 / 20), 10 ** (3 / 20), 0.0, 1.0]
    expected = mixdown(stems, gains)
    assert snap.model_latency_ms == pytest.approx(LATENCY / SR * 1000)
    assert snap.app_underruns == 0 and snap.error is None
    assert out.shape[0] >= len(mix) + LATENCY
    # Float32 rounding only: the same streaming code, other block sizes per onnxruntime call.
    np.testing.assert_allclose(out[LATENCY:LATENCY + len(mix)], expected, atol=2e-5, rtol=0)
    # The first L samples are the stream's warm-up (stems of the zero padding and the first hops: they sum
    # to silence, but weighted unequally they do not). Masks of near-silent frames are sensitive to how
    # many frames onnxruntime gets per call, hence the looser tolerance there.
    warm_up = model.new_stream().process(mix[:2 * LATENCY])[:LATENCY]
    np.testing.assert_allclose(out[:LATENCY], mixdown(warm_up, gains), atol=5e-4, rtol=0)
    assert np.abs(out[LATENCY + len(mix):]).max() == 0.0  # nothing after the end


def test_file_impulse_comes_out_at_the_model_latency(model, tmp_path):
    x = np.zeros((SR, 2), np.float32)
    k = 12345
    x[k] = [0.9, -0.9]
    path = tmp_path / "impulse.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with Engine(model=model, backend="null-fast", blocksize=256, capture=True) as engine:
        engine.open_file(path)
        out = play_to_end(engine)
        latency = round(engine.snapshot().model_latency_ms * SR / 1000)
    assert latency == LATENCY
    # Unity gains: the stems sum back to the mix, so the impulse is the loudest sample, exactly there.
    assert int(np.argmax(np.abs(out[:, 0]))) == k + latency
    np.testing.assert_allclose(out[k + latency], [0.9, -0.9], atol=1e-5)


@pytest.fixture(scope="module")
def live_model(tiny_live_model_path):
    from demixui.model.runtime import load_model

    return load_model(tiny_live_model_path)


@pytest.fixture(scope="module")
def shipped_live_model():
    from demixui.assets import LIVE_MODEL, asset_path
    from demixui.model.runtime import load_model

    path = asset_path(LIVE_MODEL)
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    return load_model(path)


IMPULSE_CASES = [*((which, b) for which in ("default", "live") for b in (64, 128, 256, 1024)),
                 *(("shipped live", b) for b in (64, 128, 256))]


@pytest.mark.parametrize("which,blocksize", IMPULSE_CASES)
def test_live_impulse_comes_out_at_the_reported_total_latency(request, model, live_model, which, blocksize):
    """At every block size, with the default model's STFT (2048/512) and the live model's (512/128), and with
    the shipped live model itself (its real weights: at unity gains the stems still sum to the impulse)."""
    from demixui.engine.live import live_buffer

    separator = {"default": model, "live": live_model}.get(which)
    separator = separator or request.getfixturevalue("shipped_live_model")
    signal = np.zeros((SR, 2), np.float32)
    k = 20000 + 37  # off every block and hop grid
    signal[k] = [1.0, -0.5]
    with Engine(model=separator, backend="null-fast", blocksize=blocksize, capture=True) as engine:
        engine.open_live(signal)
        deadline = time.monotonic() + 30
        while engine.captured().shape[0] < (engine.output.input_start_block or 0) * blocksize + 2 * SR:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        snap = engine.snapshot()
        out = engine.captured()
        first_input = engine.output.input_start_block * blocksize  # output index simultaneous with input 0
    total = snap.total_latency_ms * SR / 1000
    assert snap.device_latency_ms == 0.0 and snap.app_underruns == 0
    assert total == pytest.approx(round(total), abs=1e-6)
    assert int(np.argmax(np.abs(out[:, 0]))) == first_input + k + round(total)
    # What the buffer part of it is, by construction: the least whole blocks with which every block's stems
    # exist, from the model's hop, and those that give the worker its time (live.py), not a fixed margin.
    hop = separator.info.hop
    assert snap.buffer_latency_ms * SR / 1000 == pytest.approx(live_buffer(blocksize, hop, SR))
    assert snap.model_latency_ms * SR / 1000 == pytest.approx(separator.info.latency_samples)


@pytest.mark.parametrize("blocksize,limit_ms", [(64, 20.0), (128, 20.0)])
def test_live_model_latency_is_within_the_targets(live_model, blocksize, limit_ms):
    """Issue 14: model + buffer at most 20 ms at block 128 with the live STFT, as the engine reports it once
    live input plays (the impulse test above proves the report); block 64 too (its 12 ms target is not met:
    the worker's time costs more blocks there, live.py)."""
    signal = music(1.0)
    with Engine(model=live_model, backend="null-fast", blocksize=blocksize) as engine:
        engine.open_live(signal)
        deadline = time.monotonic() + 30
        while not (engine._session.started and engine.played_seconds > 0.2):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        snap = engine.snapshot()
    assert snap.app_underruns == 0
    assert snap.model_latency_ms + snap.buffer_latency_ms <= limit_ms, snap


def test_gain_change_ramps_over_the_ramp_length_and_no_faster(model, track):
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=256, capture=True) as engine:
        engine.open_file(path)
        ramp = engine.playback.ramp
        def move():
            _wait_played(engine, 0.7)
            engine.set_gain_db("drums", -20.0)

        mover = threading.Thread(target=move)
        mover.start()
        out = play_to_end(engine)
        mover.join()
    old = mixdown(stems, [1, 1, 1, 1])
    new = mixdown(stems, [1, 0.1, 1, 1])
    out = out[LATENCY:LATENCY + len(mix)]
    moved = np.flatnonzero(np.abs(out - old).max(axis=1) > 1e-4)
    assert moved.size, "the gain change was never heard"
    # The ramp starts at a block boundary (the callback reads the new target once per block) ...
    t0 = moved[0]
    candidates = [b for b in range(t0 - 255, t0 + 1) if (b + LATENCY) % 256 == 0]
    assert len(candidates) == 1
    t0 = candidates[0]
    alpha = np.clip((np.arange(len(out)) - t0 + 1) / ramp, 0.0, 1.0)[:, None]
    np.testing.assert_allclose(out, old + alpha * (new - old), atol=2e-5, rtol=0)
    # ... so the gain moves by (0.1 - 1) / ramp per sample: the steepest step the ramp allows, never more.
    assert 0.5 * SR / 1000 <= ramp <= 10 * SR / 1000


def _wait_played(engine: Engine, seconds: float) -> None:
    deadline = time.monotonic() + 30
    while engine.played_seconds < seconds and time.monotonic() < deadline:
        time.sleep(0.001)


TRUTH_TABLE = [
    # (muted, soloed, karaoke dB or None) -> linear gains of vocals, drums, bass, other
    ((), (), None, [1, 1, 1, 1]),
    (("vocals",), (), None, [0, 1, 1, 1]),
    ((), ("drums",), None, [0, 1, 0, 0]),
    ((), ("drums", "bass"), None, [0, 1, 1, 0]),
    (("drums",), ("drums",), None, [0, 0, 0, 0]),  # mute wins over solo, as on a desk
    (("vocals",), ("drums",), None, [0, 1, 0, 0]),
    (("bass",), ("drums", "bass"), None, [0, 1, 0, 0]),
    ((), (), math.inf, [0, 1, 1, 1]),
    ((), (), 6.0, [10 ** (-6 / 20), 1, 1, 1]),
    ((), ("vocals",), math.inf, [0, 0, 0, 0]),  # karaoke still applies to a soloed vocal
    ((), ("other",), 6.0, [0, 0, 0, 1]),
]


@pytest.mark.parametrize("muted,soloed,karaoke,expected", TRUTH_TABLE)
def test_mute_solo_karaoke_truth_table(model, muted, soloed, karaoke, expected):
    with Engine(model=model, backend="null") as engine:
        engine.set_gain_db("other", 0.0)
        for stem in muted:
            engine.set_mute(stem, True)
        for stem in soloed:
            engine.set_solo(stem, True)
        if karaoke is not None:
            engine.set_karaoke(True, karaoke)
        np.testing.assert_allclose(engine.effective_gains(), expected, rtol=1e-6)
        snap = engine.snapshot()
        assert snap.muted == tuple(s in muted for s in STEMS)
        assert snap.soloed == tuple(s in soloed for s in STEMS)
        engine.reset_mix()
        np.testing.assert_allclose(engine.effective_gains(), [1, 1, 1, 1])


def test_solo_plays_exactly_that_stem(model, track):
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=1024, capture=True) as engine:
        engine.set_solo("bass", True)
        engine.open_file(path)
        out = play_to_end(engine)
    np.testing.assert_allclose(out[LATENCY:LATENCY + len(mix)], stems[:, 2], atol=2e-5, rtol=0)


def test_recording_holds_exactly_what_was_played(model, track, tmp_path):
    path, mix, _ = track
    with Engine(model=model, backend="null-fast", blocksize=512, capture=True) as engine:
        engine.set_karaoke(True)
        engine.open_file(path)
        engine.start_recording(tmp_path / "rec.wav")
        out = play_to_end(engine)
        recorded_path = engine.stop_recording()
    recorded, rate = sf.read(recorded_path, dtype="float32")
    assert rate == SR and sf.info(recorded_path).subtype == "FLOAT"
    assert recorded.shape == (len(mix) + LATENCY, 2)  # the session: the file and the model's tail, no more
    np.testing.assert_array_equal(recorded, out[:len(mix) + LATENCY])
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("callback", ["native", "python"])
def test_a_file_separated_before_play_starts_at_play(model, track, callback, monkeypatch):
    """A file whose first stems are separated while it waits for play (the clock renders silent blocks all
    the while) starts at the first block played: output_offset names that block, not one rendered before.
    (It once named the first block after the stems were ready, so a test slowed between open and play on
    a busy machine found the output shifted by that many blocks.)"""
    from demixui.engine.playback import CALLBACK_ENV

    monkeypatch.setenv(CALLBACK_ENV, callback)
    path, mix, stems = track
    with Engine(model=model, backend="null-fast", blocksize=512, capture=True) as engine:
        assert engine.audio_callback.startswith(callback)
        engine.open_file(path)
        session, playback = engine._session, engine.playback
        deadline = time.monotonic() + 30
        while not playback._stems_ready(session, engine.blocksize):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        blocks = engine.output.blocks
        while engine.output.blocks < blocks + 3:  # blocks rendered with the stems ready, paused
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert not session.started and engine.output_offset == -1
        out = play_to_end(engine)
    assert engine.output_offset >= (blocks + 3) * 512
    np.testing.assert_allclose(out[LATENCY:LATENCY + len(mix)], stems.sum(axis=1), atol=2e-5, rtol=0)


def test_spectrogram_and_levels_follow_what_is_played(model, tmp_path):
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t))[:, None].repeat(2, axis=1).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, tone, SR, subtype="FLOAT")
    with Engine(model=model, backend="null-fast", blocksize=256, capture=True) as engine:
        engine.open_file(path)
        engine.play()
        _wait_played(engine, 0.6)
        time.sleep(0.2)
        columns, count = engine.spectrogram("output", 0)
        stem_columns, _ = engine.spectrogram("drums", 0)
        snap = engine.snapshot()
        later, count2 = engine.spectrogram("output", count)
        with pytest.raises(ValueError):
            engine.spectrogram("piano", 0)
    assert columns.shape[0] == count > 5 and columns.dtype == np.float32
    assert stem_columns.shape == columns.shape
    assert later.shape[0] == count2 - count
    last = columns[-1]
    # A 0.5 full-scale sine reads about -6 dB in the bands around 1 kHz, and far lower elsewhere.
    assert -9.0 < last.max() < -3.0
    assert np.median(last) < last.max() - 30
    assert max(snap.output_peak_db) == pytest.approx(20 * math.log10(0.5), abs=0.5)
    assert all(v > -60 for v in snap.stem_rms_db)


def test_transport_seek_pause_loop_blocksize_device_and_close_leave_no_threads(model, track):
    path, mix, _ = track
    before = set(threading.enumerate())
    engine = Engine(model=model, backend="null", blocksize=256, capture=True)
    try:
        assert engine.snapshot().state == "empty"
        engine.play()  # nothing to play: no-op
        engine.open_file(path)
        assert engine.snapshot().state == "stopped"
        engine.play()
        _wait_played(engine, 0.2)
        assert engine.snapshot().state == "playing"
        engine.pause()
        time.sleep(0.05)
        paused_at = engine.played_seconds
        time.sleep(0.1)
        assert engine.played_seconds == paused_at and engine.snapshot().state == "paused"
        engine.seek(1.5)
        engine.play()
        _wait_played(engine, 0.1)
        assert engine.snapshot().position_s > 1.5
        engine.set_blocksize(1024)
        engine.set_output_device("null")
        with pytest.raises(DeviceError):
            engine.set_output_device("no such device")
        with pytest.raises(DemixError):
            engine.set_blocksize(1000)
        assert engine.snapshot().blocksize == 1024
        deadline = time.monotonic() + 10
        while engine.snapshot().state != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        engine.set_loop(True)
        engine.play()  # from the end: starts again at 0, now looping past the end
        _wait_played(engine, 2.3)
        snap = engine.snapshot()
        assert snap.state == "playing" and snap.loop and 0.0 <= snap.position_s < 1.0
        engine.stop()
        assert engine.snapshot().state == "stopped" and engine.snapshot().position_s == 0.0
        engine.open_file(path)  # replacing the source while stopped
        engine.play()
        _wait_played(engine, 0.1)
    finally:
        started = time.monotonic()
        engine.close()
        closed_in = time.monotonic() - started
    engine.close()  # twice is fine
    assert closed_in < 1.0
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, leaked


def test_bad_input_is_one_clear_error(model, tmp_path, tiny_model_path):
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"RIFF garbage")
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"not a model")
    with pytest.raises(DemixError, match="power of two"):
        Engine(model=model, backend="null", blocksize=100)
    with pytest.raises(DemixError, match="backend"):
        Engine(model=model, backend="alsa")
    with Engine(model=model, backend="null-fast", capture=True) as engine:
        for path in (tmp_path / "missing.wav", text, fake, tmp_path):
            with pytest.raises(AudioFileError) as error:
                engine.open_file(path)
            assert "\n" not in str(error.value)
        with pytest.raises(DemixError):
            engine.set_gain_db("vocals", 20.0)
        with pytest.raises(DemixError):
            engine.set_mute("piano", True)
        with pytest.raises(AudioFileError):
            engine.start_recording(tmp_path / "out.mp3")
        sf.write(tmp_path / "ok.wav", music(1.0), SR)
        engine.open_file(tmp_path / "ok.wav")
        engine.play()
        _wait_played(engine, 0.2)
        with pytest.raises(ModelFileError):
            engine.load_model(bad_model)
        played = engine.played_seconds
        _wait_played(engine, played + 0.2)  # the old model keeps playing
        assert engine.snapshot().state in ("playing", "ended") and engine.snapshot().error is None
        engine.load_model(tiny_model_path)  # a good one is taken up while playing
        deadline = time.monotonic() + 10
        while engine.snapshot().state != "ended":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert engine.snapshot().error is None


@pytest.fixture(scope="module")
def other_model_path(tmp_path_factory):
    """A second tiny model (other random weights), exported like `tiny_model_path`."""
    torch = pytest.importorskip("torch")
    from demixui.model.export import export_model
    from demixui.model.network import CONFIGS, Separator

    torch.manual_seed(99)
    path = tmp_path_factory.mktemp("other_model") / "other.onnx"
    export_model(Separator(CONFIGS["tiny"]), path, training_data="none", model_version="tiny-other")
    return str(path)


def test_swapping_the_model_while_playing_crossfades_to_it(model, other_model_path, tmp_path):
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    t = np.arange(2 * SR) / SR
    mix = (0.3 * np.sin(2 * np.pi * 110 * t)[:, None] * [1.0, 0.7]
           + 0.2 * np.sin(2 * np.pi * 55 * t)[:, None]).astype(np.float32)
    path = tmp_path / "tones.wav"
    sf.write(path, mix, SR, subtype="FLOAT")
    # Real-time pace, so that the swap (loading a model takes a moment) lands in the middle of the file.
    with Engine(model=model, backend="null", blocksize=256, capture=True) as engine:
        engine.set_mute("vocals", True)  # not unity: the two models' mixes differ
        engine.open_file(path)

        loaded_at = []

        def swap():
            _wait_played(engine, 0.8)
            engine.load_model(other_model_path)
            loaded_at.append(engine._session.play_position)

        swapper = threading.Thread(target=swap)
        swapper.start()
        out = play_to_end(engine)[:len(mix) + LATENCY]
        swapper.join()
        snap = engine.snapshot()
    assert snap.app_underruns == 0 and snap.resyncs == 0 and "tiny-other" in snap.model_name
    pad = np.zeros((LATENCY, 2), np.float32)
    first = np.concatenate([pad, separate_array(model, mix)[:, 1:].sum(1)])
    second = np.concatenate([pad, separate_array(load_model(other_model_path), mix)[:, 1:].sum(1)])
    # Exactly the first model until the swap (after its warm-up) ...
    is_first = np.abs(out - first).max(axis=1) < 2e-5
    swapped_at = int(np.argmin(is_first[LATENCY:])) + LATENCY
    assert 0.8 * SR < swapped_at < 1.5 * SR
    # A file is separated half a second ahead, but the new model takes over about 0.1 s after the swap (where
    # the worker restarts ahead of the callback, `near_lead`), not where the stems end.
    assert engine.worker.lead() >= 0.45 * SR
    assert swapped_at - loaded_at[0] < 0.25 * SR, (swapped_at, loaded_at)
    # ... then the second model (its stream started L before the swap, so close to its offline output) ...
    tail = slice(swapped_at + 4096, len(out) - LATENCY)
    assert np.abs(out[tail] - second[tail]).max() < 0.1 * np.abs(first[tail] - second[tail]).max()
    # ... and no click in between: the largest step between samples is the tones' own.
    natural = np.abs(np.diff(np.concatenate([pad, mix]), axis=0)).max()
    assert np.abs(first - second)[LATENCY:].max() > 5 * natural  # switching without a fade would click
    assert np.abs(np.diff(out, axis=0)).max() <= 1.5 * natural


@pytest.mark.parametrize("extra", [+1, -1])
def test_live_input_on_another_clock_keeps_latency_bounded_without_clicks(model, extra):
    """Input 1/16 faster (or slower) than the output, as with two devices: the callback jumps ahead (or
    holds) now and then, each time faded out and in, and the live buffer stays near its target."""
    t = np.arange(6 * SR) / SR
    tones = (0.3 * np.sin(2 * np.pi * 110 * t)[:, None] * [1.0, 0.7]
             + 0.2 * np.sin(2 * np.pi * 55 * t)[:, None]).astype(np.float32)
    with Engine(model=model, backend="null-fast", blocksize=256, capture=True) as engine:
        engine.open_live(None)
        cursor, calls, buffers = [0], [0], []

        def drifting_input(block, frames, time_info, status):  # runs on the clock thread: the one writer
            calls[0] += 1
            count = frames + (frames * extra if calls[0] % 16 == 0 else 0)
            engine._live_write(tones[cursor[0]:cursor[0] + count], count, time_info, status)
            cursor[0] += count
            session = engine._session
            if session.started:
                buffers.append(session.source.written - session.play_position)

        engine.output.set_input(drifting_input, None)
        deadline = time.monotonic() + 30
        while cursor[0] < len(tones) - 4 * SR // 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        snap = engine.snapshot()
        target = engine.playback.live_target
        out = engine.captured()[engine.output_offset:]
    assert snap.drift_corrections >= 3, snap
    # Bounded: never much more than the jump threshold (4 blocks) above the target, never negative.
    assert max(buffers) <= target + 8 * 256 and min(buffers) >= 0
    natural = np.abs(np.diff(tones, axis=0)).max()
    assert np.abs(np.diff(out[:4 * SR], axis=0)).max() <= 1.5 * natural


def test_snapshot_percentiles_are_numpys():
    """The snapshot's p50/p99 come from one np.partition (np.percentile's Python layers cost more than the
    rest of a snapshot): the same numbers as np.percentile's linear interpolation, at any size."""
    from demixui.engine.telemetry import percentiles

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 100, 2047, 2048):
        for trial in range(20):
            values = rng.gamma(2.0, 1.5, n)
            if trial % 4 == 0:
                values = np.round(values, 1)  # ties
            expected = np.percentile(values, [50, 99])
            np.testing.assert_allclose(percentiles(values, (50.0, 99.0)), expected, rtol=1e-12, atol=0)


def test_analysis_levels_and_columns_equal_the_plain_formulas():
    """The analysis thread computes in place (a circular level window, band maxima by reduceat); the levels
    and spectrogram columns are those of the plain formulas: the last LEVEL_WINDOW frames rolled into place,
    and each band's loudest bin gathered. Chunks of awkward sizes, longer than the window too."""
    from demixui.engine.analysis import LEVEL_WINDOW, SPEC_FFT, SPEC_HOP, Analysis, db

    analysis = Analysis(None, object(), STEMS, 44100)
    rng = np.random.default_rng(0)
    played = np.zeros((0, 12), np.float32)
    for size in (1, 64, 65, 2047, 2048, 2049, 5000, 300, 7):
        chunk = (rng.standard_normal((size, 12)) * rng.uniform(0.01, 0.5, 12)).astype(np.float32)
        analysis._update_levels(chunk)
        analysis._update_spectrogram(chunk)
        played = np.concatenate([played, chunk])
        recent = np.concatenate([np.zeros((LEVEL_WINDOW, 12), np.float32), played])[-LEVEL_WINDOW:]
        stems = recent[:, 4:].reshape(LEVEL_WINDOW, -1, 2)
        rms, peak, out_peak = analysis.levels
        np.testing.assert_allclose(rms, db(np.mean(stems.astype(np.float64) ** 2, axis=(0, 2))), atol=1e-4)
        np.testing.assert_array_equal(peak, db(np.max(np.abs(stems), axis=(0, 2)).astype(np.float64) ** 2))
        out_expected = db(np.max(np.abs(recent[:, 0:2]), axis=0).astype(np.float64) ** 2)
        np.testing.assert_array_equal(out_peak, out_expected)
    mono = np.concatenate([played[:, 0:1] + played[:, 1:2], played[:, 2:3] + played[:, 3:4],
                           played[:, 4::2] + played[:, 5::2]], axis=1) * 0.5
    count = analysis.column_count
    assert count == (played.shape[0] - SPEC_FFT) // SPEC_HOP + 1
    for k in (0, 1, count // 2, count - 1):
        frame = mono[k * SPEC_HOP:k * SPEC_HOP + SPEC_FFT].T * analysis._window
        power = np.abs(np.fft.rfft(frame, axis=1)) ** 2 / analysis._ref_power
        np.testing.assert_array_equal(analysis._columns[:, k], db(power[:, analysis._bands].max(axis=2)))


def test_a_file_rides_out_a_stalled_worker_on_its_lead(model, tmp_path):
    """The worker is a Python thread: another thread holding the GIL on a busy machine can stall it for a
    few hundred milliseconds. A file is separated far enough ahead (worker.FILE_LEAD_SECONDS) that the
    callback keeps playing stems through such a stall: no app underrun, no resync. (The stall is a sleep in
    the worker's separator call: with the null backend's clock in Python, a thread holding the GIL would
    stop the clock too.)"""
    stall_s = 0.3  # the old lead, 8 hops and 2 blocks (104 ms here), ran out within it
    path = tmp_path / "long.wav"
    sf.write(path, music(4.0), SR, subtype="FLOAT")
    with Engine(model=model, backend="null", blocksize=256) as engine:
        assert engine.worker.lead() >= 0.45 * SR  # a file's lead, about half a second, in whole hops
        assert engine.worker.lead() % engine.hop == 0
        engine.open_file(path)
        engine.play()
        session = engine._session
        deadline = time.monotonic() + 30
        while session.stem_span[1] - session.play_position < engine.worker.lead() - engine.hop:
            assert time.monotonic() < deadline, "the worker never built its lead"
            time.sleep(0.005)
        stream, stalled = engine.worker._stream, threading.Event()
        original = stream.process

        def process_after_a_stall(mix):
            stream.process = original  # once
            stalled.set()
            time.sleep(stall_s)
            return original(mix)

        stream.process = process_after_a_stall
        assert stalled.wait(10)
        position = engine.played_seconds
        _wait_played(engine, position + stall_s + 0.3)
        snap = engine.snapshot()
    assert engine.played_seconds >= position + stall_s + 0.3
    assert snap.app_underruns == 0 and snap.resyncs == 0, snap

"""The generator's signal processing: the vocoder's pitch, mixing laws, the mastering gain and sidechain, and
crowded or rapped vocal lines."""

from __future__ import annotations

import numpy as np
import soxr

from demixui.data import production, vocoder
from demixui.data.score import Note
from tests.conftest import require_executable


def harvest_midi(audio: np.ndarray, rate: int = 44100) -> tuple[np.ndarray, np.ndarray]:
    from demixui.data.vocals import pw

    x = soxr.resample(audio.astype(np.float64), rate, 16000)
    f0, times = pw.dio(x, 16000, f0_floor=60.0, f0_ceil=900.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, times, 16000)
    with np.errstate(divide="ignore"):
        return np.where(f0 > 0, 69 + 12 * np.log2(f0 / 440), np.nan), times


def test_vocoder_voiced_frames_have_the_requested_pitch_and_unvoiced_are_noise():
    nb_frames, nb_bins = 400, 513  # 2 s at 5 ms
    freqs = np.linspace(0, 11025, nb_bins)
    sp = np.tile(1e-3 / (1 + (freqs / 1000) ** 2), (nb_frames, 1))  # a smooth, falling envelope
    f0 = np.full(nb_frames, 220.0)
    f0[200:] = 0.0  # the second second unvoiced
    ap = np.where(f0[:, None] > 0, 0.05, 1.0) * np.ones((1, nb_bins))
    audio = vocoder.synthesize(f0, sp, ap, 22050, 5.0, np.random.default_rng(0))
    assert audio.shape == (88200,) and np.isfinite(audio).all()
    midi, times = harvest_midi(audio)
    voiced = (times > 0.1) & (times < 0.9)
    assert abs(np.nanmedian(midi[voiced]) - 57.0) < 0.2  # 220 Hz = A3 = MIDI 57
    unvoiced = (times > 1.1) & (times < 1.9)
    assert np.mean(np.isnan(midi[unvoiced])) > 0.8
    rms = lambda a, b: np.sqrt(np.mean(audio[int(a * 44100) : int(b * 44100)] ** 2))  # noqa: E731
    assert rms(1.1, 1.9) > 0.05 * rms(0.1, 0.9), "noise too quiet: unvoiced frames must sound"


def test_vocoder_adds_air_above_the_analysed_band():
    nb_frames, nb_bins = 200, 513
    sp = np.full((nb_frames, nb_bins), 1e-4)
    audio = vocoder.synthesize(
        np.full(nb_frames, 150.0),
        sp,
        np.full((nb_frames, nb_bins), 0.1),
        22050,
        5.0,
        np.random.default_rng(0),
    )
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / 44100)
    band = lambda lo, hi: spectrum[(freqs > lo) & (freqs < hi)].mean()  # noqa: E731
    assert band(12000, 16000) > 1e-3 * band(2000, 6000), "nothing above 11 kHz"


def test_place_follows_the_pan_law():
    audio = np.ones((100, 2), dtype=np.float32)
    left = production.place(audio, -1.0, 1.0)
    centre = production.place(audio, 0.0, 1.0)
    assert np.allclose(left[:, 1], 0, atol=1e-6) and np.allclose(left[:, 0], np.sqrt(2))
    assert np.allclose(centre, 1.0, atol=1e-6)  # constant power: centre keeps unity on both sides
    wide = production.place(np.stack([np.ones(10), -np.ones(10)], axis=1).astype(np.float32), 0.0, 0.0)
    assert np.allclose(wide, 0.0), "width 0 is mono"


def test_master_gain_limits_peaks_and_is_smooth():
    rng = np.random.default_rng(0)
    mix = (rng.standard_normal((44100, 2)) * 0.1).astype(np.float32)
    mix[20000:20050] = 0.9  # a transient 19 dB above the rest
    gain = production.master_gain(mix, 6.0)
    assert gain.shape == (44100,) and gain.max() <= 1.0 + 1e-6
    limited = mix * gain[:, None]
    assert np.abs(limited[19900:20200]).max() < 0.9 * 10 ** (-5 / 20)
    assert np.abs(np.diff(gain)).max() < 0.01, "gain must not step (that would click)"
    assert gain[:10000].min() > 0.95, "quiet passages far from the peak keep their level"


def test_sidechain_dips_at_each_kick_and_recovers():
    gain = production.sidechain_gain([0.5, 1.5], 88200, 6.0, 0.1)
    assert gain[int(0.45 * 44100)] > 0.99
    assert abs(gain[int(0.505 * 44100)] - 10 ** (-6 / 20)) < 0.05
    assert gain[int(1.2 * 44100)] > 0.97
    assert gain.min() >= 10 ** (-6 / 20) - 1e-6


def test_crowded_syllables_are_sung_in_order():
    require_executable("espeak-ng")
    from demixui.data.vocals import Voice, sing

    voice = Voice("en+m3", 1.0, 30.0, 5.5, 0.1)
    # consonant onsets longer than the gaps between notes (a fast rapped or ornamented line)
    notes = [
        Note(1.0, 0.02, 60, 100, "oh"),
        Note(1.02, 0.3, 62, 100, "straight"),
        Note(1.03, 0.3, 62, 100, "street"),
        Note(1.2, 0.5, 64, 100, None),
    ]
    audio = sing(notes, voice, 3.0, np.random.default_rng(0))
    assert audio.shape == (132300,) and np.isfinite(audio).all() and np.abs(audio).max() > 0


def test_rapped_words_keep_their_own_intonation():
    require_executable("espeak-ng")
    from demixui.data.vocals import Voice, sing

    voice = Voice("en+m1", 1.0, 30.0, 5.5, 0.0)
    words = ["yo", "check", "the", "flow", "real", "talk", "money", "make", "it", "move"]
    notes = [Note(0.5 + 0.2 * i, 0.2, 50, 100, w, spoken=True) for i, w in enumerate(words)]
    audio = sing(notes, voice, 3.0, np.random.default_rng(0))
    midi, times = harvest_midi(audio)
    sung = (times > 0.5) & (times < 2.5) & ~np.isnan(midi)
    assert sung.sum() > 40
    assert abs(np.median(midi[sung]) - 50) < 4, "spoken in the register the note asks for"
    assert np.std(midi[sung]) > 0.5, "speech intonation moves; a held note would not"


def level_spread_db(audio: np.ndarray, block: int = 2048) -> float:
    """p90 - p10 of the block levels, as `data stats` measures it."""
    nb = len(audio) // block
    levels = 10 * np.log10((audio[: nb * block] ** 2).reshape(nb, -1).mean(axis=1) + 1e-12)
    return float(np.percentile(levels, 90) - np.percentile(levels, 10))


def test_bass_chain_levels_notes_and_darkens_them():
    # decaying 55 Hz notes with their overtones, 20 dB apart in level: what a GM bass part gives
    t = np.arange(production.SAMPLE_RATE // 2) / production.SAMPLE_RATE
    note = sum(np.sin(2 * np.pi * 55 * k * t) / k for k in range(1, 150)) * np.exp(-t * 6)
    notes = np.concatenate([note * (0.5 if i % 2 else 0.05) for i in range(8)]).astype(np.float32)
    audio = np.stack([notes, notes], axis=1)
    spreads, highs = [], []
    for seed in range(6):
        out = production.apply(audio, production.bass_chain("pop", np.random.default_rng(seed)))
        spreads.append(level_spread_db(out[:, 0]))
        power = np.abs(np.fft.rfft(out[:, 0])) ** 2
        highs.append(power[np.fft.rfftfreq(len(out), 1 / production.SAMPLE_RATE) > 2000].sum() / power.sum())
    before = np.abs(np.fft.rfft(notes)) ** 2
    high_before = before[np.fft.rfftfreq(len(notes), 1 / production.SAMPLE_RATE) > 2000].sum() / before.sum()
    assert np.median(spreads) < level_spread_db(notes) - 8, (spreads, level_spread_db(notes))
    assert np.median(highs) < high_before / 10, (highs, high_before)


def band_db(audio: np.ndarray, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / production.SAMPLE_RATE)
    return float(10 * np.log10(power[(freqs >= low) & (freqs < high)].mean() + 1e-20))


def test_guitar_cabinet_cuts_lows_and_highs_and_the_amp_distorts():
    noise = np.random.default_rng(0).normal(0, 0.1, (production.SAMPLE_RATE, 2)).astype(np.float32)
    t = np.arange(production.SAMPLE_RATE) / production.SAMPLE_RATE
    tone = np.repeat(0.3 * np.sin(2 * np.pi * 220 * t)[:, None], 2, axis=1).astype(np.float32)
    for seed in range(5):
        cabinet = production.guitar_amp(np.random.default_rng(seed), 0, 0)
        out = production.apply(noise, cabinet)[:, 0]
        mids = band_db(out, 1000, 3000)
        assert band_db(out, 20, 50) < mids - 10 and band_db(out, 10000, 16000) < mids - 20, seed  # flat in
        chain = production.guitar_amp(np.random.default_rng(seed), 8, 28)
        played = production.apply(tone, chain)[:, 0]  # a sine comes out with its odd harmonics
        assert band_db(played, 650, 670) > band_db(played, 2000, 2100) + 10 > band_db(tone[:, 0], 650, 670)


def test_other_parts_often_keep_their_low_end():
    chains = [production.other_highpass(np.random.default_rng(seed)) for seed in range(200)]
    cutoffs = [chain[0].cutoff_frequency_hz for chain in chains if chain]
    assert 50 < len(chains) - len(cutoffs) < 90  # about a third unfiltered
    assert np.median(cutoffs) < 80 and max(cutoffs) <= 200, (np.median(cutoffs), max(cutoffs))


def test_vocal_tone_is_mostly_darker():
    noise = np.random.default_rng(1).normal(0, 0.1, (production.SAMPLE_RATE, 2)).astype(np.float32)
    tilts, airs = [], []
    for seed in range(20):
        out = production.apply(noise, production.vocal_tone(np.random.default_rng(seed)))[:, 0]
        tilts.append(band_db(out, 3000, 8000) - band_db(out, 500, 1500))  # 0 dB for the white noise in
        airs.append(band_db(out, 16000, 20000) - band_db(out, 500, 1500))
    assert np.median(tilts) < -2 and max(tilts) < 2, tilts
    assert np.mean(np.array(airs) < -2.5) >= 0.4, airs  # a first-order low-pass at 12-18 kHz on 60 %


def centroid_hz(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / production.SAMPLE_RATE)
    return float((power * freqs).sum() / power.sum())


def test_palm_muted_guitar_is_darker_than_open_through_the_same_amp():
    t = np.arange(production.SAMPLE_RATE // 2) / production.SAMPLE_RATE
    saw = 0.3 * (2 * ((82.4 * t) % 1.0) - 1)  # a low E string's bright sawtooth
    string = np.repeat(saw[:, None], 2, axis=1).astype(np.float32)
    ratios = []
    for seed in range(8):
        palm, _ = production.effects_for("guitar_dist", "metal", 120, np.random.default_rng(seed), "palm")
        open_, _ = production.effects_for("guitar_dist", "metal", 120, np.random.default_rng(seed), "power")
        assert len(palm) == len(open_) + 2  # the palm's low-pass ahead of the same kind of amp
        ratios.append(
            centroid_hz(production.apply(string, palm)[:, 0])
            / centroid_hz(production.apply(string, open_)[:, 0])
        )
    assert np.median(ratios) < 0.8, ratios


def test_a_second_takes_tone_is_near_the_first_but_not_the_same():
    noise = np.random.default_rng(2).normal(0, 0.1, (production.SAMPLE_RATE // 2, 2)).astype(np.float32)
    for seed in range(5):
        first, _ = production.effects_for("guitar_dist", "rock", 120, np.random.default_rng(seed), "power")
        second, _ = production.effects_for("guitar_dist", "rock", 120, np.random.default_rng(seed), "power")
        drive = next(p.drive_db for p in second if isinstance(p, production.pb.Distortion))
        production.second_take_tone(second, np.random.default_rng(100 + seed))
        moved = next(p.drive_db for p in second if isinstance(p, production.pb.Distortion))
        assert 0 < abs(moved - drive) <= 2
        a = production.apply(noise, first)[:, 0]
        b = production.apply(noise, second)[:, 0]
        assert not np.array_equal(a, b)
        assert np.corrcoef(a, b)[0, 1] > 0.5, seed  # the same input through nearby settings
        assert abs(band_db(a, 1000, 3000) - band_db(b, 1000, 3000)) < 4

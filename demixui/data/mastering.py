"""Stem buses (a compressor on the vocals and "other" stems alone, and the "other" bus's tone), then
mastering whose every gain is computed on the mix and applied identically to every stem, so that the mixture
stays the exact sum of the stems: a bus compressor's gain curve, a tilt EQ that moves the mix's low and high
bands toward levels drawn around those of real records, an occasional 14-18 kHz low-pass, and dual-mono songs
(every stem folded to its mid, as on mono records and mono reissues).

The figures quoted are medians of the 87 MUSDB18 train previews (`demixui data stats`).
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb
import scipy.signal

from demixui.data.production import SAMPLE_RATE, apply

STEMS = ("vocals", "drums", "bass", "other")
MONO_ODDS = 0.2  # the issue: 15-25 % dual-mono songs; a mono mix costs our model 1.15 dB on "other"
BLOCK = 64  # samples per gain step of the bus compressor


def band_shares(audio: np.ndarray, edges_hz: tuple[tuple[float, float], ...]) -> list[float]:
    """The share of `audio`'s energy (both channels summed) in each band, from one FFT."""
    power = np.abs(np.fft.rfft(audio[:, 0] + audio[:, 1])) ** 2 + 1e-20  # (mean(axis=1) is 10x slower)
    freqs = np.fft.rfftfreq(audio.shape[0], 1 / SAMPLE_RATE)
    total = power.sum()
    return [float(power[(freqs >= low) & (freqs < high)].sum() / total) for low, high in edges_hz]


# stem -> (odds, threshold dBFS, ratio, attack ms, release ms) of its bus compressor; the parts reach their
# buses at set levels (mixdown: vocals -17..-20, other -21 dB active RMS, +-3 dB), so fixed thresholds meet
# every song alike. Real stems are level (frame level spread, MUSDB18 previews: vocals 13.3 dB, other 4.4;
# ours 17.4 and 6.1 without). Drums and bass are one part each, whose own chain is already their bus
# (production.drum_bus, bass_chain: compressed); a second compressor on them, tried, brightened the drums
# (centroid 487 -> 576 Hz, real 483) and flattened the bass (level spread 6.0 -> 5.1 dB, real 6.0).
BUS_COMPRESSORS = {
    "vocals": (0.75, (-28, -16), (2, 5), (2, 10), (60, 200)),
    "other": (0.75, (-26, -14), (2, 5), (5, 30), (80, 250)),
}


def stem_bus(stem: str, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The vocals and "other" buses: a glue compressor on most, and on "other" a darker tone: lows and low
    mids up, the upper mids moved a little (real "other": 6 % of the energy below 150 Hz, centroid 667 Hz;
    ours 1.4 % and 880 Hz). Each stem alone, so the sum stays exact."""
    if stem not in BUS_COMPRESSORS:
        return audio, {}
    odds, thresholds, ratios, attacks, releases = BUS_COMPRESSORS[stem]
    chain: list[pb.Plugin] = []
    info: dict = {}
    if rng.random() < odds:
        threshold, ratio = round(float(rng.uniform(*thresholds)), 1), round(float(rng.uniform(*ratios)), 1)
        chain.append(
            pb.Compressor(threshold, ratio, float(rng.uniform(*attacks)), float(rng.uniform(*releases)))
        )
        info.update(threshold_db=threshold, ratio=ratio)
    if stem == "other":
        low_db, mid_db = round(float(rng.uniform(3, 11)), 1), round(float(rng.uniform(-2, 2)), 1)
        chain += [
            pb.LowShelfFilter(float(rng.uniform(150, 300)), low_db),
            pb.PeakFilter(float(np.exp(rng.uniform(np.log(1500), np.log(4000)))), mid_db, 0.7),
        ]
        info.update(low_shelf_db=low_db, upper_mid_db=mid_db)
    return apply(audio, chain), info


def compressor_gain(mix: np.ndarray, threshold_db: float, ratio: float, attack_s: float, release_s: float):
    """Gain `(nb_samples,)` of a feed-forward RMS compressor on `mix` `(nb_samples, 2)`, in BLOCK steps."""
    nb_blocks = mix.shape[0] // BLOCK + 1
    power = np.zeros(nb_blocks * BLOCK)
    power[: mix.shape[0]] = 0.5 * (mix[:, 0].astype(np.float64) ** 2 + mix[:, 1].astype(np.float64) ** 2)
    smooth = np.exp(-BLOCK / (0.01 * SAMPLE_RATE))  # 10 ms RMS window
    power = scipy.signal.lfilter([1 - smooth], [1, -smooth], power.reshape(nb_blocks, BLOCK).mean(axis=1))
    level = 10 * np.log10(power + 1e-12)
    target = -np.maximum(0.0, level - threshold_db) * (1 - 1 / ratio)
    attack, release = np.exp(-BLOCK / (attack_s * SAMPLE_RATE)), np.exp(-BLOCK / (release_s * SAMPLE_RATE))
    gain_db = np.empty(nb_blocks)
    state = 0.0
    for index, want in enumerate(target.tolist()):  # 14k steps for 20 s: cheap, and attack != release
        coeff = attack if want < state else release
        state = coeff * state + (1 - coeff) * want
        gain_db[index] = state
    positions = (np.arange(nb_blocks) + 0.5) * BLOCK
    return (10 ** (np.interp(np.arange(mix.shape[0]), positions, gain_db) / 20)).astype(np.float32)


def master(stems: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """Mastering decisions taken on the mix, applied to every stem alike. Returns the stems and meta."""
    mix = sum(stems[s] for s in STEMS)
    info: dict = {}
    # tilt EQ: real mixes hold 35 % of their energy below 150 Hz and 0.42 % above 8 kHz (ours: 23-30 %, 1 %)
    low_target, high_target = (
        float(rng.uniform(0.2, 0.55)),
        float(np.exp(rng.uniform(np.log(1.5e-3), np.log(1.5e-2)))),
    )
    low_share, high_share = band_shares(mix, ((0, 150), (8000, 22050)))
    low_db = float(np.clip(10 * np.log10(low_target / max(low_share, 1e-6)), -4, 8))
    high_db = float(np.clip(10 * np.log10(high_target / max(high_share, 1e-9)), -12, 3))
    chain: list[pb.Plugin] = [pb.LowShelfFilter(150, low_db), pb.HighShelfFilter(8000, high_db)]
    info["tilt_db"] = {"low": round(low_db, 1), "high": round(high_db, 1)}
    lowpass = None
    if rng.random() < 0.25:  # as lossy codecs and some masters do; linear (pedalboard's ladder filter is not)
        cutoff = float(rng.uniform(14000, 18000))
        lowpass = scipy.signal.butter(8, cutoff, fs=SAMPLE_RATE, output="sos")
        info["lowpass_hz"] = round(cutoff)
    stems = {s: apply(stems[s], chain) for s in STEMS}
    if lowpass is not None:
        stems = {s: scipy.signal.sosfilt(lowpass, stems[s], axis=0).astype(np.float32) for s in STEMS}
    if rng.random() < 0.7:  # bus compression, glue: a few dB on the loud parts
        mix = sum(stems[s] for s in STEMS)
        levels = (
            10
            * np.log10(  # 100 ms blocks
                (mix[: mix.shape[0] // 4410 * 4410] ** 2).reshape(-1, 8820).mean(axis=1) + 1e-12
            )
        )
        threshold = float(np.percentile(levels, 90) - rng.uniform(3, 12))
        ratio = float(rng.uniform(1.5, 4))
        gain = compressor_gain(
            mix, threshold, ratio, float(rng.uniform(0.005, 0.03)), float(rng.uniform(0.1, 0.4))
        )
        stems = {s: stems[s] * gain[:, None] for s in STEMS}
        info["bus_compressor"] = {
            "ratio": round(ratio, 1),
            "max_reduction_db": round(float(-20 * np.log10(gain.min())), 1),
        }
    if rng.random() < MONO_ODDS:
        for s in STEMS:
            mid = 0.5 * (stems[s][:, 0] + stems[s][:, 1])
            stems[s] = np.stack([mid, mid], axis=1)
        info["mono"] = True
    return stems, info

"""Descriptive statistics of one stem or mix, to hold generated songs beside real ones (`data stats`).

Input: float audio `(nb_samples, 2)` at 44.1 kHz, full scale 1.0. It is cut into frames of FRAME = 2048
samples (46 ms) every HOP = 1024 samples (23 ms). A frame's level is its RMS over both channels in dBFS; a
frame is *active* when that level is above ACTIVE_DB = -60 dBFS. A frame's power spectrum is |rfft|^2 of the
Hann-windowed left channel plus that of the right (bins of 21.5 Hz); the *long-term spectrum* is the sum of
the active frames' power spectra. A signal without an active frame has no statistics (NaN; a silent stem is
left out of the medians).

| key             | unit | definition                                                                    |
|-----------------|------|-------------------------------------------------------------------------------|
| active          | %    | share of frames that are active                                               |
| level_spread    | dB   | 90th minus 10th percentile of the active frames' levels                       |
| crest           | dB   | peak / RMS of the active frames' samples, peak = 99.9th percentile of |sample| |
|                 |      | (a sine: 3.0, white noise: 10.3)                                              |
| centroid        | Hz   | power-weighted mean frequency of the long-term spectrum                       |
| below_150       | %    | share of the long-term spectrum's power below 150 Hz                          |
| band_2k_8k      | %    | share between 2 and 8 kHz                                                     |
| above_8k        | %    | share above 8 kHz                                                             |
| above_16k       | dB   | share above 16 kHz, in dB (floored at -120)                                   |
| flatness        | 1    | geometric / arithmetic mean of the long-term spectrum, 30 Hz-16 kHz           |
|                 |      | (near 0 for a sine, near 1 for white noise)                                   |
| side_mid        | dB   | energy of the side (L-R)/2 over the mid (L+R)/2, clipped to [-60, 60]          |
|                 |      | (-60: mono)                                                                   |
| spectral_change | dB   | mean |level change| of BANDS between consecutive active frames, each band      |
|                 |      | floored at the frame's loudest band - 40 dB                                   |
| onsets          | 1/s  | onsets per active second: active frames where the spectral flux (mean over   |
|                 |      | bands of the rises, dB) is the maximum over +-2 frames and above ONSET_DB = 2 |
|                 |      | and the frame level rises by more than 1 dB. Counts depend on ONSET_DB: for   |
|                 |      | comparing folders, not an absolute syllable rate                              |

BANDS: about third-octave bands from 100 Hz to 16 kHz, each at least 4 bins wide. The cost is a few FFTs of
the signal: a 30 s stem takes about 50 ms.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

SAMPLE_RATE = 44100
FRAME = 2048
HOP = 1024
ACTIVE_DB = -60.0
BAND_FLOOR_DB = 40.0  # a band's level counts down to this far below the frame's loudest band
BAND_MIN_DB = ACTIVE_DB - 20  # and down to this level (dBFS), so that silence has a steady spectrum
ONSET_DB = 2.0  # spectral flux (mean level rise over bands, dB) an onset must exceed
ONSET_RISE_DB = 1.0  # and where the frame's level rises by more than this (not a note's end)
ONSET_RADIUS = 2  # an onset is the flux maximum over +-2 frames (+-46 ms)
SIDE_MID_LIMIT_DB = 60.0
CREST_PERCENTILE = 99.9  # the crest factor's "peak": robust to a lone click, and to the track's length
CHUNK = 2048  # frames per FFT batch (bounds memory on long songs)
KEYS = ("active", "level_spread", "crest", "centroid", "below_150", "band_2k_8k", "above_8k", "above_16k",
        "flatness", "side_mid", "spectral_change", "onsets")

_FREQS = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
_WINDOW = np.hanning(FRAME).astype(np.float32)


def band_edges(low_hz: float = 100.0, high_hz: float = 16000.0, per_octave: int = 3, min_bins: int = 4):
    """Bin indices of the BANDS' edges: `per_octave` bands per octave, merged until each has `min_bins`."""
    nb = int(round(np.log2(high_hz / low_hz) * per_octave))
    edges = np.round(np.geomspace(low_hz, high_hz, nb + 1) / (SAMPLE_RATE / FRAME)).astype(int)
    kept = [edges[0]]
    for edge in edges[1:-1]:
        if edge - kept[-1] >= min_bins:
            kept.append(edge)
    if edges[-1] - kept[-1] < min_bins:
        kept.pop()
    kept.append(edges[-1])
    return np.array(kept)


BANDS = band_edges()


def frame_levels(audio: np.ndarray) -> np.ndarray:
    """The level (dBFS RMS over both channels) of each frame, `(nb_frames,)`, from HOP-sized blocks."""
    nb_samples, nb_channels = audio.shape
    assert nb_channels == 2, audio.shape
    nb_blocks = nb_samples // HOP
    blocks = audio[: nb_blocks * HOP].reshape(nb_blocks, HOP * 2)
    energy = np.einsum("bs,bs->b", blocks, blocks, dtype=np.float64)
    nb_frames = max(0, nb_blocks - FRAME // HOP + 1)
    power = sum(energy[i:i + nb_frames] for i in range(FRAME // HOP)) / (2 * FRAME)
    return 10 * np.log10(power + 1e-20)


def crest_db(audio: np.ndarray, active: np.ndarray) -> float:
    """Peak over RMS (dB) of the samples of the active frames, the peak being their CREST_PERCENTILE."""
    nb_blocks = len(active) + FRAME // HOP - 1
    in_active = np.zeros(nb_blocks, dtype=bool)
    for i in range(FRAME // HOP):
        in_active[i:i + len(active)] |= active
    samples = np.abs(audio[: nb_blocks * HOP].reshape(nb_blocks, HOP * 2)[in_active]).ravel()
    rms = np.sqrt(np.dot(samples, samples) / samples.size)
    rank = int(round(CREST_PERCENTILE / 100 * (samples.size - 1)))
    peak = np.partition(samples, rank)[rank]
    return float(20 * np.log10(peak / rms))


def frame_spectra(audio: np.ndarray, nb_frames: int):
    """Yield the power spectra `(nb, FRAME // 2 + 1)` of all frames in order, in batches, scaled so that a
    frame's bins sum to about its mean square (dBFS when summed over a band)."""
    scale = 1.0 / (FRAME * float(_WINDOW @ _WINDOW))  # Parseval, Hann, one-sided and two channels
    channels = [np.lib.stride_tricks.sliding_window_view(audio[:, c], FRAME)[::HOP] for c in range(2)]
    for start in range(0, nb_frames, CHUNK):
        power = np.zeros((min(CHUNK, nb_frames - start), FRAME // 2 + 1), dtype=np.float32)
        for frames in channels:
            spectrum = scipy.fft.rfft(frames[start:start + CHUNK] * _WINDOW, axis=1)
            power += spectrum.real**2
            power += spectrum.imag**2
        power *= scale
        yield power


def band_levels(power: np.ndarray) -> np.ndarray:
    """`(nb_frames, nb_bands)` band levels in dBFS, floored BAND_FLOOR_DB below the frame's loudest band
    and at BAND_MIN_DB."""
    sums = np.add.reduceat(power[:, :BANDS[-1]], BANDS[:-1], axis=1)
    level = 10 * np.log10(sums + 1e-20)
    floor = np.maximum(level.max(axis=1, keepdims=True) - BAND_FLOOR_DB, BAND_MIN_DB)
    return np.maximum(level, floor)


def onset_count(flux: np.ndarray, candidate: np.ndarray) -> int:
    """Number of `candidate` frames where `flux` (dB, `(nb_frames,)`) is above ONSET_DB and the first maximum
    over +-ONSET_RADIUS frames."""
    padded = np.pad(flux, ONSET_RADIUS)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * ONSET_RADIUS + 1)
    centre = windows[:, ONSET_RADIUS]
    first_max = (centre >= windows.max(axis=1)) & (centre > windows[:, :ONSET_RADIUS].max(axis=1))
    return int(np.sum(first_max & (centre > ONSET_DB) & candidate))


def signal_features(audio: np.ndarray) -> dict[str, float]:
    """The statistics of the table above for `(nb_samples, 2)` audio, keyed as in KEYS (NaN when silent)."""
    audio = np.asarray(audio, dtype=np.float32)
    level = frame_levels(audio)
    active = level > ACTIVE_DB
    out = dict.fromkeys(KEYS, float("nan"))
    out["active"] = float(active.mean()) if len(active) else float("nan")
    if not active.any():
        return out
    spread = np.percentile(level[active], [10, 90])
    out["level_spread"] = float(spread[1] - spread[0])
    out["crest"] = crest_db(audio, active)

    spectrum = np.zeros(len(_FREQS))
    bands = []
    for index, power in enumerate(frame_spectra(audio, len(level))):
        spectrum += active[index * CHUNK:index * CHUNK + len(power)] @ power
        bands.append(band_levels(power))
    total = spectrum.sum() + 1e-30
    out["centroid"] = float((spectrum * _FREQS).sum() / total)
    out["below_150"] = float(spectrum[_FREQS < 150].sum() / total)
    out["band_2k_8k"] = float(spectrum[(_FREQS >= 2000) & (_FREQS < 8000)].sum() / total)
    out["above_8k"] = float(spectrum[_FREQS >= 8000].sum() / total)
    out["above_16k"] = float(max(-120.0, 10 * np.log10(spectrum[_FREQS >= 16000].sum() / total + 1e-30)))
    flat = spectrum[(_FREQS >= 30) & (_FREQS <= 16000)] + 1e-30
    out["flatness"] = float(np.exp(np.mean(np.log(flat))) / np.mean(flat))

    mid = audio[:, 0] + audio[:, 1]
    side = audio[:, 0] - audio[:, 1]
    ratio = 10 * np.log10((float(side @ side) + 1e-30) / (float(mid @ mid) + 1e-30))
    out["side_mid"] = float(np.clip(ratio, -SIDE_MID_LIMIT_DB, SIDE_MID_LIMIT_DB))

    change = np.diff(np.concatenate(bands), axis=0)  # (nb_frames - 1, nb_bands): frame t+1 minus frame t
    both = active[1:] & active[:-1]
    if both.any():
        out["spectral_change"] = float(np.abs(change[both]).mean())
    flux = np.concatenate([[0.0], np.maximum(change, 0).mean(axis=1)])
    rising = np.concatenate([[False], np.diff(level) > ONSET_RISE_DB])
    out["onsets"] = onset_count(flux, active & rising) / (active.sum() * HOP / SAMPLE_RATE)
    return out

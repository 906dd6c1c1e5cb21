"""A fast source-filter vocoder for WORLD-style parameters (f0, spectral envelope, aperiodicity).

pyworld's own synthesis costs about a tenth of real time; this one is vectorised STFT filtering, some 50x
faster, and close enough for training data: a band-limited-enough pulse train (one pulse per period, placed
with sub-sample precision) and white noise are mixed per bin by the aperiodicity and filtered, frame by
frame, by the minimum-phase filter of the envelope (cepstral method), then overlap-added. The filters are
computed per envelope frame (`filters`), so a singer reuses those of a word wherever it is sung
(`synthesize_filtered`: a row of the tables and a gain per frame).
"""

from __future__ import annotations

import numpy as np

N_FFT = 1024  # at 44.1 kHz: 23 ms frames
HOP = 256
# Above the analysed band the envelope is extended flat (AIR_SLOPE_DB per octave), AIR_GAIN_DB above the
# level of the band's top octave, then falls AIR_TOP_SLOPE_DB per octave above AIR_TOP_HZ: real vocal stems
# keep their sibilance up to 16 kHz (above 8 kHz: 0.48 % of the energy, median of the MUSDB18 previews) but
# little above (-47 dB); a 6 dB/octave fall from 8.8 kHz gave them 0.18 % and -40 dB
AIR_SLOPE_DB = 0.0
AIR_GAIN_DB = 3.0
AIR_TOP_HZ = 11500.0
AIR_TOP_SLOPE_DB = 36.0


def _frames(signal: np.ndarray, nb_frames: int) -> np.ndarray:
    """Hann-windowed frames `(nb_frames, N_FFT)` of `signal` (already padded by N_FFT // 2 on the left)."""
    shape = (nb_frames, N_FFT)
    strides = (signal.strides[0] * HOP, signal.strides[0])
    window = np.hanning(N_FFT + 1)[:-1]
    return np.lib.stride_tricks.as_strided(signal, shape, strides, writeable=False) * window


def _minimum_phase(amplitude: np.ndarray) -> np.ndarray:
    """Minimum-phase spectra `(nb_frames, N_FFT//2+1)` with the given magnitudes (real cepstrum folding)."""
    cepstrum = np.fft.irfft(np.log(np.maximum(amplitude, 1e-10)), n=N_FFT, axis=1)
    fold = np.zeros(N_FFT)
    fold[0] = 1
    fold[1 : N_FFT // 2] = 2
    fold[N_FFT // 2] = 1
    return np.exp(np.fft.rfft(cepstrum * fold, axis=1))


def _envelope_on_bins(sp: np.ndarray, ap: np.ndarray, envelope_rate: int, rate: int) -> tuple:
    """Envelope and aperiodicity `(nb_frames, N_FFT//2+1)` on the output's bins. Above 80% of the analysed
    band (speech at 22.05 kHz stops near 10 kHz) the envelope is extended with a gentle slope and mostly
    noise, so the voice has the air and sibilance a 44.1 kHz recording has."""
    nb_bins = sp.shape[1]
    freqs = np.arange(N_FFT // 2 + 1) * rate / N_FFT
    edge = 0.8 * envelope_rate / 2
    source = np.clip(np.round(freqs / (envelope_rate / 2) * (nb_bins - 1)).astype(int), 0, nb_bins - 1)
    power = sp[:, source]
    aperiodic = ap[:, source]
    high = freqs > edge
    if high.any():
        band = (np.arange(nb_bins) * (envelope_rate / 2) / (nb_bins - 1) > edge / 2) & (
            np.arange(nb_bins) * (envelope_rate / 2) / (nb_bins - 1) <= edge
        )
        level = np.exp(np.log(np.maximum(sp[:, band], 1e-20)).mean(axis=1))
        octaves = np.log2(freqs[high] / edge)
        top = np.maximum(0.0, np.log2(freqs[high] / AIR_TOP_HZ))
        fall = 10 ** ((AIR_GAIN_DB - AIR_SLOPE_DB * octaves - AIR_TOP_SLOPE_DB * top) / 10)
        power[:, high] = level[:, None] * fall[None, :]
        aperiodic[:, high] = np.maximum(aperiodic[:, high], 0.85)
    return power, aperiodic


def filters(sp: np.ndarray, ap: np.ndarray, envelope_rate: int, rate: int = 44100) -> tuple:
    """The voiced and noise filters `(nb_frames, N_FFT//2+1)` complex64 of envelope frames `sp`, `ap`: the
    envelope's minimum-phase filter times sqrt(1 - aperiodicity) and sqrt(aperiodicity), on the output's bins.

    A frame's filters depend on that frame alone, and a power gain g on the frame scales both by sqrt(g), so
    the filters of a word's frames are computed once and reused wherever the word is sung (vocals.py)."""
    power, aperiodic = _envelope_on_bins(sp, ap, envelope_rate, rate)
    # WORLD's envelope is per analysis sample rate: scale so the output level does not depend on `rate`
    filt = _minimum_phase(np.sqrt(power * envelope_rate / rate))
    voiced = (filt * np.sqrt(1 - aperiodic)).astype(np.complex64)
    noise = (filt * np.sqrt(aperiodic)).astype(np.complex64)
    return voiced, noise


def synthesize(
    f0: np.ndarray,
    sp: np.ndarray,
    ap: np.ndarray,
    envelope_rate: int,
    frame_period_ms: float,
    rng: np.random.Generator,
    rate: int = 44100,
) -> np.ndarray:
    """float64 `(nb_samples,)` at `rate` from `f0 (nb_frames,)` Hz (0 = unvoiced), power envelope
    `sp (nb_frames, nb_bins)` and aperiodicity `ap (nb_frames, nb_bins)` analysed at `envelope_rate`, on
    frames `frame_period_ms` apart (WORLD's conventions)."""
    voiced, noise = filters(sp, ap, envelope_rate, rate)
    rows = np.arange(len(f0))
    return synthesize_filtered(f0, voiced, noise, rows, np.ones(len(f0)), frame_period_ms, rng, rate)


def synthesize_filtered(
    f0: np.ndarray,
    voiced_filters: np.ndarray,
    noise_filters: np.ndarray,
    rows: np.ndarray,
    gains: np.ndarray,
    frame_period_ms: float,
    rng: np.random.Generator,
    rate: int = 44100,
) -> np.ndarray:
    """As `synthesize`, with envelope frame j given by row `rows[j]` of the `filters` tables and a power gain
    `gains[j]` (>= 0)."""
    nb_frames_in = len(f0)
    nb_samples = int(nb_frames_in * frame_period_ms / 1000 * rate)
    times = np.arange(nb_samples) / rate
    frame_times = np.arange(nb_frames_in) * frame_period_ms / 1000
    f0_samples = np.interp(times, frame_times, f0)
    voiced_samples = np.interp(times, frame_times, (f0 > 0).astype(float)) > 0.5
    # one pulse per period, split between two samples for sub-sample timing; sqrt(period) gives unit power
    phase = np.cumsum(np.where(voiced_samples, f0_samples, 0.0) / rate)
    crossings = np.nonzero(np.diff(np.floor(phase)) > 0)[0] + 1
    pulses = np.zeros(nb_samples + 2)
    if len(crossings):
        step = np.maximum(f0_samples[crossings] / rate, 1e-9)
        frac = np.clip((phase[crossings] - np.floor(phase[crossings])) / step, 0, 1)
        height = np.sqrt(rate / np.maximum(f0_samples[crossings], 30.0))
        np.add.at(pulses, crossings - 1, height * frac)
        np.add.at(pulses, crossings, height * (1 - frac))
    noise = rng.standard_normal(nb_samples + 2)
    pad = N_FFT // 2
    nb_frames = nb_samples // HOP + 1
    padded_pulses = np.pad(pulses[:nb_samples], (pad, N_FFT))
    padded_noise = np.pad(noise[:nb_samples], (pad, N_FFT))
    voiced_spec = np.fft.rfft(_frames(padded_pulses, nb_frames), axis=1)
    noise_spec = np.fft.rfft(_frames(padded_noise, nb_frames), axis=1)
    # the envelope frame nearest each STFT frame
    centre = np.arange(nb_frames) * HOP / rate
    index = np.clip(np.round(centre / (frame_period_ms / 1000)).astype(int), 0, nb_frames_in - 1)
    row = rows[index]
    spectrum = voiced_filters[row] * voiced_spec
    spectrum += noise_filters[row] * noise_spec
    spectrum *= np.sqrt(np.maximum(gains[index], 0.0))[:, None]
    frames = np.fft.irfft(spectrum, n=N_FFT, axis=1) * np.hanning(N_FFT + 1)[:-1]
    out = np.zeros(nb_frames * HOP + N_FFT)
    window_power = np.zeros_like(out)
    w2 = np.hanning(N_FFT + 1)[:-1] ** 2
    for start in range(0, N_FFT, HOP):  # overlap-add in N_FFT/HOP vectorised passes
        chunk = frames[start // HOP :: N_FFT // HOP]
        offsets = np.arange(len(chunk)) * N_FFT + start
        out[offsets[0] : offsets[0] + len(chunk) * N_FFT] += chunk.reshape(-1)
        window_power[offsets[0] : offsets[0] + len(chunk) * N_FFT] += np.tile(w2, len(chunk))
    out = out / np.maximum(window_power, 1e-3)
    return out[pad : pad + nb_samples]

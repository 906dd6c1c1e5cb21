"""Mixing: per-part effects (pedalboard), panning and stereo width as on real records, and levels.

Conventions: lead vocal, bass, kick and snare in the centre; guitars, keys and backing vocals spread; doubled
distorted guitars hard left and right; reverb and delay to taste per instrument family. Every choice
comes from the song's random generator and is recorded in meta.json.
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb

SAMPLE_RATE = 44100


def _db(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), 1)


def stem_reverb(rng: np.random.Generator) -> pb.Reverb:
    """A stem's reverb bus (wet only): the parts of a stem send to one reverb, as on a mixing desk."""
    return pb.Reverb(
        room_size=float(rng.uniform(0.2, 0.85)),
        damping=float(rng.uniform(0.3, 0.7)),
        wet_level=1.0,
        dry_level=0.0,
        width=float(rng.uniform(0.6, 1)),
    )


class _Send:
    """Stands in the chain for the reverb send; `effects_for` returns its level separately."""

    def __init__(self, wet_level: float):
        self.wet_level = wet_level


def effects_for(
    family: str, genre: str, tempo: float, rng: np.random.Generator, role: str = ""
) -> tuple[list[pb.Plugin], float]:
    """The effect chain of one part, chosen for its instrument family, role (and genre), and its reverb
    send."""
    beat = 60.0 / tempo
    reverb = _Send(float(rng.uniform(0.05, 0.25)))
    chain: list = []
    if family == "lead_vocal":
        low_cut = float(rng.uniform(90, 160))
        chain = [  # 12 dB/octave (real vocal stems: 0.08 % of the energy below 150 Hz)
            pb.HighpassFilter(low_cut),
            pb.HighpassFilter(low_cut),
            pb.PeakFilter(float(rng.uniform(2000, 5000)), _db(rng, 0, 4), 1.0),
            pb.Compressor(_db(rng, -28, -16), float(rng.uniform(2.5, 6)), 5, 80),
            *vocal_tone(rng),
        ]
        if rng.random() < 0.15:  # grit: a saturated vocal
            chain.append(pb.Distortion(_db(rng, 4, 14)))
        if rng.random() < 0.08:  # a "telephone" or lo-fi vocal
            chain += [
                pb.HighpassFilter(float(rng.uniform(300, 600))),
                pb.LowpassFilter(float(rng.uniform(3000, 5000))),
            ]
        if rng.random() < 0.4:
            chain.append(
                pb.Delay(
                    beat * float(rng.choice([0.5, 0.75, 1.0])),
                    float(rng.uniform(0.1, 0.35)),
                    float(rng.uniform(0.06, 0.18)),
                )
            )
        chain.append(reverb)
    elif family in ("backing_vocal", "choir"):
        chain = [
            pb.HighpassFilter(float(rng.uniform(120, 250))),
            pb.Compressor(-24, 4, 5, 100),
            *vocal_tone(rng),
            reverb,
        ]
        reverb.wet_level = float(rng.uniform(0.15, 0.35))
    elif family == "kit":
        chain = drum_bus(genre, rng)
        reverb.wet_level = float(rng.uniform(0.0, 0.12))
        chain.append(reverb)
    elif family == "bass":
        chain = bass_chain(genre, rng)
        # a little room on most (real bass stems: side/mid -21.7 dB; ours were -28.5 with 0.02-0.08 on 75 %)
        reverb.wet_level = float(rng.uniform(0.05, 0.18)) if rng.random() < 0.85 else 0.0
        chain.append(reverb)
    else:
        chain = other_highpass(rng)
        if family == "guitar_dist":
            if role == "palm":  # the palm on the strings damps their upper harmonics before the amp
                cutoff = _log_uniform(rng, 500, 1200)
                chain += [pb.LowpassFilter(cutoff), pb.LowpassFilter(cutoff)]
            chain += guitar_amp(rng, 8, 28)
            chain.append(pb.Compressor(-18, 4, 10, 100))
        elif family == "guitar_clean" and rng.random() < 0.6:
            chain += guitar_amp(rng, 0, 8)
        elif family == "guitar_acoustic":
            chain += acoustic_body(rng)
        if family in ("epiano", "guitar_clean", "synth_pad", "organ") and rng.random() < 0.5:
            chain.append(
                pb.Chorus(
                    float(rng.uniform(0.3, 1.5)),
                    float(rng.uniform(0.2, 0.5)),
                    7.0,
                    0.0,
                    float(rng.uniform(0.3, 0.6)),
                )
            )
        if family in ("epiano", "synth_pad", "guitar_clean") and rng.random() < 0.2:
            chain.append(pb.Phaser(float(rng.uniform(0.2, 1.0)), 0.5, 1300, 0.3, 0.5))
        if family in ("synth_lead", "guitar_clean", "mallets") and rng.random() < 0.4:
            chain.append(
                pb.Delay(
                    beat * float(rng.choice([0.5, 0.75])),
                    float(rng.uniform(0.2, 0.45)),
                    float(rng.uniform(0.1, 0.3)),
                )
            )
        if family == "synth_lead" and rng.random() < 0.3:
            chain.append(pb.Distortion(_db(rng, 4, 12)))
        if family in ("strings", "synth_pad"):
            reverb.wet_level = float(rng.uniform(0.2, 0.4))
        chain.append(reverb)
    send = reverb.wet_level if reverb in chain else 0.0
    return [plugin for plugin in chain if not isinstance(plugin, _Send)], send


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def vocal_tone(rng: np.random.Generator) -> list[pb.Plugin]:
    """Real vocal stems are darker than our vocoder's voices (2-8 kHz: 6.7 % of the energy against 12 %;
    above 16 kHz: -47 dB against -37): low-mid body, the upper mids mostly down, the air cut on most."""
    chain: list[pb.Plugin] = [
        pb.PeakFilter(float(rng.uniform(180, 350)), _db(rng, 0, 4), 0.8),
        # a broad dip rather than a shelf: real vocals keep their sibilance above 8 kHz (0.48 %)
        pb.PeakFilter(_log_uniform(rng, 2500, 5000), _db(rng, -6, 1), 0.7),
    ]
    if rng.random() < 0.6:
        chain.append(pb.LowpassFilter(_log_uniform(rng, 12000, 18000)))
    return chain


def other_highpass(rng: np.random.Generator) -> list[pb.Plugin]:
    """Keys, pads and strings keep their low end on records (real "other" stems: 6 % of the energy below 150
    Hz): no high-pass on 45 % of the parts, a low one on another 35 %."""
    draw = rng.random()
    if draw < 0.45:
        return []
    return [pb.HighpassFilter(_log_uniform(rng, 20, 60) if draw < 0.8 else _log_uniform(rng, 60, 200))]


def guitar_amp(rng: np.random.Generator, low_drive: float, high_drive: float) -> list[pb.Plugin]:
    """An amp (drive, dB; none below 1) into a 4x12 cabinet's response: no lows under 80 Hz, a low
    resonance, a mid scoop, a presence peak, and a steep roll-off above 3.5-6.5 kHz."""
    drive = _db(rng, low_drive, high_drive)
    chain: list[pb.Plugin] = [pb.Distortion(drive)] if drive >= 1 else []
    rolloff = _log_uniform(rng, 3500, 6500)
    low_cut = float(rng.uniform(70, 110))
    chain += [  # pedalboard's high- and low-pass filters are first order: a ladder filter for the steep top
        pb.HighpassFilter(low_cut),
        pb.HighpassFilter(low_cut),
        pb.PeakFilter(float(rng.uniform(90, 160)), _db(rng, 1, 5), 1.0),
        pb.PeakFilter(_log_uniform(rng, 350, 800), _db(rng, -6, -1), 1.2),
        pb.PeakFilter(_log_uniform(rng, 1800, 3500), _db(rng, 1, 5), 1.5),
        pb.LadderFilter(pb.LadderFilter.Mode.LPF24, rolloff, 0.0, 1.0),
    ]
    return chain


def acoustic_body(rng: np.random.Generator) -> list[pb.Plugin]:
    """A miked steel- or nylon-string guitar: low cut, the body's boom trimmed or kept, some sparkle, and a
    compressor that evens the strums."""
    return [
        pb.HighpassFilter(float(rng.uniform(60, 110))),
        pb.PeakFilter(float(rng.uniform(150, 260)), _db(rng, -5, 2), 1.0),
        pb.PeakFilter(_log_uniform(rng, 2500, 6000), _db(rng, 0, 5), 0.8),
        pb.Compressor(_db(rng, -26, -14), float(rng.uniform(2, 4)), float(rng.uniform(5, 20)), 120),
    ]


def second_take_tone(chain: list[pb.Plugin], rng: np.random.Generator) -> list[pb.Plugin]:
    """`chain`'s settings moved a little, in place (returned too), for a doubled part's second take: another
    guitar or amp setting on the same sound, not a different one (drive +-2 dB, EQ +-1.5 dB and +-12 %)."""
    for plugin in chain:
        if isinstance(plugin, pb.Distortion):
            plugin.drive_db = max(0.0, plugin.drive_db + float(rng.uniform(-2, 2)))
        elif isinstance(plugin, pb.PeakFilter):
            plugin.gain_db = plugin.gain_db + float(rng.uniform(-1.5, 1.5))
            plugin.cutoff_frequency_hz = plugin.cutoff_frequency_hz * float(np.exp(rng.uniform(-0.12, 0.12)))
        elif isinstance(plugin, pb.LadderFilter):
            plugin.cutoff_hz = plugin.cutoff_hz * float(np.exp(rng.uniform(-0.12, 0.12)))
    return chain


def bass_chain(genre: str, rng: np.random.Generator) -> list[pb.Plugin]:
    """Real bass stems are dark (2-8 kHz: 0.004 % of the energy) and level (frame level spread 6 dB, median of
    the MUSDB18 previews): a low-pass on most, and two compressors, the second fast and hard."""
    chain: list[pb.Plugin] = [pb.HighpassFilter(float(rng.uniform(25, 40)))]
    if genre in ("rock", "metal", "funk") and rng.random() < 0.4:
        chain.append(pb.Distortion(_db(rng, 3, 12)))
    chain.append(pb.Compressor(_db(rng, -30, -18), float(rng.uniform(3, 8)), float(rng.uniform(5, 20)), 150))
    fast = pb.Compressor(_db(rng, -14, -6), float(rng.uniform(8, 20)), 1.0, float(rng.uniform(40, 120)))
    chain.append(fast)
    if rng.random() < 0.9:  # after the compressors, whose fast attack adds harmonics; 12 dB/octave
        cutoff = _log_uniform(rng, 150, 1000)  # real bass: 83 % of the energy below 150 Hz, centroid 112 Hz
        chain += [pb.LowpassFilter(cutoff), pb.LowpassFilter(cutoff)]
    chain.append(pb.LowShelfFilter(float(rng.uniform(80, 150)), _db(rng, 2, 8)))
    return chain


def drum_bus(genre: str, rng: np.random.Generator) -> list[pb.Plugin]:
    """Room ambience, bus compression and EQ of a kit. Real drum stems are dark and kick-heavy (median
    spectral centroid 483 Hz on the MUSDB18 previews): a high shelf cuts down to -12 dB, a low shelf or peak
    booms."""
    chain: list[pb.Plugin] = []
    if rng.random() < 0.7:  # the room the kit was recorded in, mixed under the close sound
        chain.append(
            pb.Reverb(
                room_size=float(rng.uniform(0.05, 0.4)),
                damping=float(rng.uniform(0.4, 0.9)),
                wet_level=float(rng.uniform(0.05, 0.3)),
                dry_level=1.0,
                width=float(rng.uniform(0.5, 1.0)),
            )
        )
    chain.append(pb.Compressor(_db(rng, -20, -6), float(rng.uniform(2, 5)), float(rng.uniform(5, 30)), 120))
    if rng.random() < 0.5:
        chain.append(pb.LowShelfFilter(float(rng.uniform(60, 120)), _db(rng, 0, 6)))
    else:
        chain.append(pb.PeakFilter(float(rng.uniform(45, 80)), _db(rng, 0, 6), float(rng.uniform(0.7, 1.5))))
    chain.append(pb.HighShelfFilter(float(rng.uniform(3000, 8000)), _db(rng, -12, 3)))
    if rng.random() < 0.15:
        chain.append(pb.LowpassFilter(float(rng.uniform(6000, 14000))))
    if genre in ("electronic", "hiphop") and rng.random() < 0.5:
        chain.append(pb.Distortion(_db(rng, 2, 8)))
    return chain


def describe(chain: list[pb.Plugin]) -> list[str]:
    return [type(plugin).__name__ for plugin in chain]


def apply(audio: np.ndarray, chain: list[pb.Plugin]) -> np.ndarray:
    """`audio` float32 (nb_samples, 2) through the chain; same shape out (a transposed view of pedalboard's
    channels-first output: one copy fewer, and its columns are contiguous)."""
    if not chain:
        return audio
    board = pb.Pedalboard(chain)
    out = board(np.ascontiguousarray(audio.T, dtype=np.float32), SAMPLE_RATE, reset=True)
    return out.T[: audio.shape[0]]


def place(audio: np.ndarray, pan: float, width: float) -> np.ndarray:
    """Stereo width (mid/side) then constant-power balance; `pan` in [-1, 1], `width` in [0, 1.5]."""
    mid = 0.5 * (audio[:, 0] + audio[:, 1])
    side = 0.5 * (audio[:, 0] - audio[:, 1]) * width
    angle = (pan + 1) * np.pi / 4
    out = np.empty((audio.shape[0], 2), dtype=np.float32)
    out[:, 0] = (mid + side) * np.cos(angle) * np.sqrt(2)  # float64 products, rounded once on assignment
    out[:, 1] = (mid - side) * np.sin(angle) * np.sqrt(2)
    return out


def double_track(audio: np.ndarray, delay_ms: float, spread: float) -> np.ndarray:
    """A mono-ish part spread wide: the part on one side, a slightly later copy on the other (Haas effect)."""
    mono = audio.mean(axis=1)
    shift = int(delay_ms * SAMPLE_RATE / 1000)
    late = np.zeros_like(mono)
    late[shift:] = mono[: len(mono) - shift]
    left = mono * (1 + spread) / 2 + late * (1 - spread) / 2
    right = late * (1 + spread) / 2 + mono * (1 - spread) / 2
    return np.stack([left, right], axis=1).astype(np.float32)


def active_rms(audio: np.ndarray, threshold_db: float = -50.0) -> float:
    """RMS over the 100 ms blocks that are not near-silent (a part playing half the song is not boosted)."""
    block = SAMPLE_RATE // 10
    nb = audio.shape[0] // block
    if nb == 0:
        return float(np.sqrt(np.mean(audio**2)) + 1e-12)
    power = (audio[: nb * block] ** 2).reshape(nb, -1).mean(axis=1)
    peak = power.max()
    if peak <= 0:
        return 0.0
    keep = power > peak * 10 ** (threshold_db / 10)
    return float(np.sqrt(power[keep].mean()))


def normalise(audio: np.ndarray, target_db: float) -> np.ndarray:
    rms = active_rms(audio)
    if rms <= 1e-9:
        return audio
    return (audio * (10 ** (target_db / 20) / rms)).astype(np.float32)


def master_gain(mixture: np.ndarray, reduction_db: float, block: int = 64) -> np.ndarray:
    """A look-ahead limiter's gain curve `(nb_samples,)` computed from the mixture `(nb_samples, 2)`.

    Applied to every stem alike, it makes the mix loud the way mastering does while the mixture stays exactly
    the sum of the stems (a common time-varying gain is still linear across stems). `reduction_db` is how far
    the peaks are pulled down; attack is the look-ahead (one block either side), release about 100 ms.
    """
    import scipy.ndimage
    import scipy.signal

    nb_samples = mixture.shape[0]
    nb_blocks = -(-nb_samples // block)
    level = np.zeros(nb_blocks * block)
    level[:nb_samples] = np.abs(mixture).max(axis=1)
    peaks = level.reshape(nb_blocks, block).max(axis=1)
    threshold = peaks.max() * 10 ** (-reduction_db / 20)
    need = np.minimum(1.0, threshold / np.maximum(peaks, 1e-9))
    need = scipy.ndimage.minimum_filter1d(need, size=3)
    release = np.exp(-block / (0.1 * SAMPLE_RATE))
    smooth = 1 - scipy.signal.lfilter([1 - release], [1, -release], 1 - need)  # decays back to 1 slowly
    gain_blocks = np.minimum(smooth, need)
    positions = (np.arange(nb_blocks) + 0.5) * block
    return np.interp(np.arange(nb_samples), positions, gain_blocks).astype(np.float32)


def sidechain_gain(kick_times: list[float], nb_samples: int, depth_db: float, release_s: float) -> np.ndarray:
    """Gain `(nb_samples,)` dipping by `depth_db` at each kick and recovering over about `release_s` s."""
    import scipy.signal

    impulses = np.zeros(nb_samples)
    for time in kick_times:
        index = int(time * SAMPLE_RATE)
        if 0 <= index < nb_samples:
            impulses[index] = 1.0
    decay = np.exp(-1.0 / (release_s * SAMPLE_RATE))
    envelope = np.minimum(1.0, scipy.signal.lfilter([1.0], [1.0, -decay], impulses))
    attack = max(1, int(0.004 * SAMPLE_RATE))  # a 4 ms dip, not a click
    envelope = np.convolve(envelope, np.ones(attack) / attack)[:nb_samples]
    return (1.0 - (1.0 - 10 ** (-depth_db / 20)) * envelope).astype(np.float32)

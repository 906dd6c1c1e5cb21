"""Random training chunks from MUSDB18-HQ-layout folders, with the usual source-separation augmentations.

A chunk is a time-aligned excerpt of one track, except that each stem is replaced (with probability
`remix`) by the same stem from another random excerpt, so the network sees stem combinations no song had
("stems remixed across tracks"). Each stem then gets a random gain, a random left/right swap and a random
polarity flip; the mixture is the sum of the augmented stems, so mixture == sum(stems) holds exactly, as
the masks assume.

Realistic-mix augmentations (issue 13: real records are often narrow or mono and darker than ours, their drums
much darker), off in `Augmentation()` and on in `AUGMENTATIONS["real"]` (`demixui train --augment real`):
- the whole chunk's stereo image narrowed (side scaled by a random factor in [0, 1], sometimes exactly mono),
- a random tilt (low and high shelves) and sometimes a low-pass (a codec's 12-19 kHz) on the whole chunk,
- the drums stem alone darkened by a high-shelf cut and sometimes a low-pass (the target changes with it).
Mix-wide ones are linear and applied identically to every stem, so they commute with the sum: the mixture
(always computed as the sum of the returned stems) is exactly what the same processing would make of it.

Excerpts are read from disk with `demixui.data.musdb.load_excerpt` (only the samples needed; the OS page cache
keeps a corpus of a few hours in memory after the first pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from demixui.data.musdb import STEMS, load_excerpt, track_length
from demixui.errors import DemixError


@dataclass(frozen=True)
class Augmentation:
    gain_db: tuple[float, float] = (-6.0, 3.0)  # uniform per stem
    swap_probability: float = 0.5  # swap left and right channels of a stem
    flip_probability: float = 0.5  # invert a stem's polarity
    remix: float = 0.5  # probability that a stem comes from another track than the chunk's own
    # Realistic mixes (off by default; each probability is per chunk):
    narrow_probability: float = 0.0  # scale the whole chunk's side signal by a uniform factor in [0, 1]
    mono_probability: float = 0.0  # of the narrowed chunks, the share made exactly mono (factor 0)
    mix_eq_probability: float = 0.0  # random tilt / low-pass on every stem alike (`mix_eq_sos`)
    drums_darken_probability: float = 0.0  # high-shelf cut / low-pass on the drums alone (`drums_darken_sos`)


# `demixui train --augment NAME`. "real": the measured gaps of issue 13 (side/mid -17.4 dB real vs -10.2 dB
# ours; real mixes darker; real drums' centroid 438 Hz vs 1322 Hz ours) pull these towards records.
AUGMENTATIONS: dict[str, Augmentation] = {
    "standard": Augmentation(),
    "real": Augmentation(narrow_probability=0.5, mono_probability=0.25, mix_eq_probability=0.5,
                         drums_darken_probability=0.6),
    # For generator v2 corpora (GENERATOR_VERSION 9+), whose songs are already mastered, 20 % mono and carry
    # dark sampled kits (drums centroid 550 Hz vs 483 real): "real" would darken drums far below records.
    "records": Augmentation(narrow_probability=0.3, mono_probability=0.25, mix_eq_probability=0.5,
                            drums_darken_probability=0.2),
}
SAMPLE_RATE = 44100
DRUMS = STEMS.index("drums")


def shelf_sos(kind: str, freq_hz: float, gain_db: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """One biquad (1, 6) shelf, "low" or "high", of `gain_db` below / above `freq_hz` (RBJ cookbook, S=1)."""
    if kind not in ("low", "high"):
        raise ValueError(f"shelf kind must be 'low' or 'high', got {kind!r}")
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / rate
    cos, alpha2 = np.cos(w0), np.sin(w0) * np.sqrt(2.0) * np.sqrt(a)  # 2 sqrt(A) alpha with S = 1
    sign = 1.0 if kind == "low" else -1.0  # the high shelf is the low one with the cos terms' signs flipped
    b = [a * ((a + 1) - sign * (a - 1) * cos + alpha2), sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
         a * ((a + 1) - sign * (a - 1) * cos - alpha2)]
    den = [(a + 1) + sign * (a - 1) * cos + alpha2, -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
           (a + 1) + sign * (a - 1) * cos - alpha2]
    return np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])


def mix_eq_sos(rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A random mastering / playback-chain colour, mostly darker: low shelf at 100-250 Hz of -2..+5 dB, high
    shelf at 2.5-8 kHz of -9..+2 dB, and half the time a 4th-order low-pass at 12-19 kHz. (sections, 6)."""
    low = shelf_sos("low", rng.uniform(100.0, 250.0), rng.uniform(-2.0, 5.0), rate)
    high = shelf_sos("high", rng.uniform(2500.0, 8000.0), rng.uniform(-9.0, 2.0), rate)
    cutoff, lowpass = rng.uniform(12000.0, 19000.0), rng.random() < 0.5
    sections = [low, high] + ([signal.butter(4, cutoff, fs=rate, output="sos")] if lowpass else [])
    return np.concatenate(sections)


def drums_darken_sos(rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A random darkening of a drum kit: high shelf at 1-4 kHz of -15..-3 dB and half the time a 2nd-order
    low-pass at 3-12 kHz (log-uniform). (sections, 6)."""
    high = shelf_sos("high", rng.uniform(1000.0, 4000.0), rng.uniform(-15.0, -3.0), rate)
    cutoff, lowpass = float(np.exp(rng.uniform(np.log(3000.0), np.log(12000.0)))), rng.random() < 0.5
    return np.concatenate([high] + ([signal.butter(2, cutoff, fs=rate, output="sos")] if lowpass else []))


def filter_audio(sos: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """`audio` (..., nb_samples, 2) float32 through the `sos` cascade along time, from rest; float32.
    Filtered in float64 (15% slower): a float32 state drifts by ~1e-4 of the signal through a 100 Hz shelf."""
    return signal.sosfilt(sos, audio, axis=-2).astype(np.float32)


def narrow_stereo(stems: np.ndarray, side_gain: float) -> np.ndarray:
    """(..., nb_samples, 2) with the side (L - R) / 2 scaled by `side_gain`, the mid kept; 0: exactly mono."""
    mid = 0.5 * (stems[..., 0] + stems[..., 1])
    if side_gain == 0.0:
        return np.repeat(mid[..., None], 2, axis=-1)
    side = np.float32(0.5 * side_gain) * (stems[..., 0] - stems[..., 1])
    return np.stack([mid + side, mid - side], axis=-1)


def realistic_mix(stems: np.ndarray, rng: np.random.Generator, aug: Augmentation) -> np.ndarray:
    """Apply the realistic-mix augmentations of `aug` to `stems` (nb_stems, nb_samples, 2) float32: drums
    darkened alone, then the mix-wide EQ and narrowing on all stems alike. No rng draw for one that is off."""
    if aug.drums_darken_probability and rng.random() < aug.drums_darken_probability:
        stems[DRUMS] = filter_audio(drums_darken_sos(rng), stems[DRUMS])
    if aug.mix_eq_probability and rng.random() < aug.mix_eq_probability:
        stems = filter_audio(mix_eq_sos(rng), stems)
    if aug.narrow_probability and rng.random() < aug.narrow_probability:
        side_gain = 0.0 if rng.random() < aug.mono_probability else float(rng.uniform(0.0, 1.0))
        stems = narrow_stereo(stems, side_gain)
    return stems


class ChunkSampler:
    """Draws `(nb_stems, nb_samples, 2)` float32 stem chunks from the tracks under one or more folders."""

    def __init__(self, tracks: list[Path], nb_samples: int, augmentation: Augmentation | None = None):
        if not tracks:
            raise DemixError("no training tracks")
        self.tracks = list(tracks)
        self.lengths = np.array([track_length(track) for track in self.tracks])
        if not np.any(self.lengths > 0):
            raise DemixError(f"{tracks[0].parent}: every training track is empty")
        self.nb_samples = nb_samples
        self.augmentation = augmentation

    @property
    def total_samples(self) -> int:
        return int(self.lengths.sum())

    def _random_excerpt(self, rng: np.random.Generator, track_index: int) -> tuple[Path, int]:
        length = int(self.lengths[track_index])
        start = int(rng.integers(0, max(1, length - self.nb_samples + 1)))
        return self.tracks[track_index], start

    def _pick_track(self, rng: np.random.Generator) -> int:
        # Longer tracks are drawn more often, so every second of audio is equally likely.
        return int(rng.choice(len(self.tracks), p=self.lengths / self.lengths.sum()))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One chunk of stems `(nb_stems, nb_samples, 2)`, augmented when the sampler has an Augmentation."""
        stems = load_excerpt(*self._random_excerpt(rng, self._pick_track(rng)), self.nb_samples)
        aug = self.augmentation
        if aug is None:
            return stems
        for index in range(len(STEMS)):
            stem = stems[index]
            if rng.random() < aug.remix:
                stem = load_excerpt(*self._random_excerpt(rng, self._pick_track(rng)), self.nb_samples)[index]
            gain = 10.0 ** (rng.uniform(*aug.gain_db) / 20.0)
            if rng.random() < aug.flip_probability:
                gain = -gain
            if rng.random() < aug.swap_probability:
                stem = stem[:, ::-1]
            stems[index] = stem * np.float32(gain)
        return realistic_mix(stems, rng, aug)

    def batch(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """`(batch, nb_stems, nb_samples, 2)` float32."""
        return np.stack([self.sample(rng) for _ in range(batch_size)])

"""Random training chunks from MUSDB18-HQ-layout folders, with the usual source-separation augmentations.

A chunk is a time-aligned excerpt of one track, except that each stem is replaced (with probability
`remix`) by the same stem from another random excerpt, so the network sees stem combinations no song had
("stems remixed across tracks"). Each stem then gets a random gain, a random left/right swap and a random
polarity flip; the mixture is the sum of the augmented stems, so mixture == sum(stems) holds exactly, as
the masks assume.

Excerpts are read from disk with `demixui.data.musdb.load_excerpt` (only the samples needed; the OS page cache
keeps a corpus of a few hours in memory after the first pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demixui.data.musdb import STEMS, load_excerpt, track_length
from demixui.errors import DemixError


@dataclass(frozen=True)
class Augmentation:
    gain_db: tuple[float, float] = (-6.0, 3.0)  # uniform per stem
    swap_probability: float = 0.5  # swap left and right channels of a stem
    flip_probability: float = 0.5  # invert a stem's polarity
    remix: float = 0.5  # probability that a stem comes from another track than the chunk's own


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
        return stems

    def batch(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """`(batch, nb_stems, nb_samples, 2)` float32."""
        return np.stack([self.sample(rng) for _ in range(batch_size)])

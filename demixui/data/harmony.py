"""Keys, modes, chords and chord progressions, in MIDI note numbers.

A chord is a tuple of pitch classes relative to C (0-11) with its root first;
voicings place them in a register.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Scale-degree progressions (0 = tonic) that sound like real songs in major-like and minor-like modes.
PROGRESSIONS_MAJOR = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (0, 3, 4, 4),
    (5, 3, 0, 4),
    (0, 3, 5, 4),
    (0, 1, 4, 0),
    (0, 3, 0, 4),
    (0, 5, 1, 4),
    (3, 4, 0, 5),
    (0, 2, 3, 4),
    (0, 4, 3, 3),
)
PROGRESSIONS_MINOR = (
    (0, 5, 2, 6),
    (0, 3, 4, 0),
    (0, 6, 5, 6),
    (0, 3, 6, 2),
    (0, 5, 6, 0),
    (0, 0, 5, 4),
    (0, 6, 5, 4),
    (5, 6, 0, 0),
    (0, 3, 0, 4),
    (0, 2, 5, 6),
)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0-11
    mode: str

    @property
    def scale(self) -> tuple[int, ...]:
        return tuple((self.tonic + step) % 12 for step in MODES[self.mode])

    @property
    def is_minor(self) -> bool:
        return MODES[self.mode][2] == 3

    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def chord(self, degree: int, sevenths: bool = False) -> tuple[int, ...]:
        """Pitch classes of the diatonic chord on `degree` (root, third, fifth[, seventh])."""
        scale = self.scale
        steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
        return tuple(scale[(degree + s) % 7] for s in steps)

    def scale_pitches(self, low: int, high: int) -> list[int]:
        """All MIDI pitches of the scale within [low, high]."""
        pcs = set(self.scale)
        return [p for p in range(low, high + 1) if p % 12 in pcs]


def random_key(rng: np.random.Generator, minor_share: float = 0.45) -> Key:
    if rng.random() < minor_share:
        mode = str(rng.choice(["minor", "minor", "minor", "dorian", "phrygian", "harmonic_minor"]))
    else:
        mode = str(rng.choice(["major", "major", "major", "mixolydian", "lydian"]))
    return Key(int(rng.integers(12)), mode)


def random_progression(rng: np.random.Generator, key: Key) -> tuple[int, ...]:
    table = PROGRESSIONS_MINOR if key.is_minor else PROGRESSIONS_MAJOR
    return table[int(rng.integers(len(table)))]


def pitch_in_range(pc: int, low: int, high: int, near: int | None = None) -> int:
    """The MIDI pitch of pitch class `pc` within [low, high], closest to `near` (default: the middle)."""
    target = (low + high) // 2 if near is None else near
    candidates = [p for p in range(low, high + 1) if p % 12 == pc % 12]
    if not candidates:
        return low + (pc - low) % 12
    return min(candidates, key=lambda p: abs(p - target))


def voice_chord(chord: tuple[int, ...], low: int, high: int, previous: list[int] | None = None) -> list[int]:
    """A close voicing of `chord` in [low, high], moving little from `previous` (voice leading)."""
    centre = int(np.mean(previous)) if previous else (low + high) // 2
    root = pitch_in_range(chord[0], low, high, centre - 4)
    notes = [root]
    for pc in chord[1:]:
        p = root + (pc - root) % 12
        while p > high:
            p -= 12
        notes.append(p)
    return sorted(set(notes))

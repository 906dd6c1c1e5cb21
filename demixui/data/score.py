"""Notes and parts: what the composers write and the renderers play. Times in seconds from the start."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class Note:
    start: float  # seconds
    duration: float  # seconds
    pitch: int  # MIDI note number
    velocity: int  # 1-127
    word: str | None = None  # sung syllable (vocals only); None continues the previous vowel
    spoken: bool = False  # rapped: the word keeps its spoken intonation around `pitch`


@dataclass
class Part:
    """One instrument's notes, rendered alone so that it gets its own effects and place in the stereo."""

    name: str  # unique within a song, e.g. "drums", "bass", "piano_chords"
    stem: str  # vocals, drums, bass or other
    family: str  # e.g. "piano", "guitar_dist", "kit", "lead_vocal"
    program: int = 0  # General MIDI program (0-127)
    bank: int = 0  # 128 for drum kits
    role: str = ""  # chords, arpeggio, riff, pad, counter, ...
    notes: list[Note] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # what meta.json records about the part
    pans: dict[int, float] = field(default_factory=dict)  # drum kits: pitch -> pan in [-1, 1]


def in_window(notes: list[Note], seconds: float) -> list[Note]:
    """Notes that sound inside [0, seconds), clipped to start at or after 0."""
    out = []
    for note in notes:
        end = note.start + note.duration
        if end <= 0 or note.start >= seconds:
            continue
        if note.start < 0:
            note = dataclasses.replace(note, start=0.0, duration=end)
        out.append(note)
    return out


def clip(value: float, low: float, high: float) -> float:
    """`value` limited to [low, high]; np.clip costs microseconds per scalar, composing calls it often."""
    return min(max(value, low), high)

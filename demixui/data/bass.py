"""Bass lines that follow the harmony: roots and fifths, eighths, octaves, syncopated, walking and sustained.

Every style is written per beat against `Song.chord_at`, in the bass register (E1-G3, MIDI 28-55).
"""

from __future__ import annotations

import numpy as np

from demixui.data.arrangement import Song
from demixui.data.harmony import pitch_in_range
from demixui.data.score import Note, Part, clip

LOW, HIGH = 28, 55
PROGRAM_NAMES = {
    32: "acoustic",
    33: "finger",
    34: "pick",
    35: "fretless",
    36: "slap",
    37: "slap2",
    38: "synth",
    39: "synth2",
    81: "saw_lead_bass",
    87: "bass_lead",
    29: "overdriven",
}
SYNCOPATED = ("X--x--x---X-x---", "X-x---xX--x--x--", "X--X--x-x-x--x--", "X---x-xx-X--x-x-")


def _root(chord: tuple[int, ...], previous: int | None) -> int:
    return pitch_in_range(chord[0], LOW, LOW + 19, previous if previous is not None else 38)


def _events(style: str, song: Song, bar: int, rng: np.random.Generator, pattern: str) -> list[tuple]:
    """(beat, length in beats, interval choice, accent) for one bar; interval choice: root/fifth/octave/..."""
    b0 = bar * song.beats_per_bar
    if style == "root8":
        return [
            (b0 + i / 2, 0.45, "root" if i != 7 or rng.random() < 0.6 else "fifth", i % 2 == 0)
            for i in range(8)
        ]
    if style == "octave":
        return [(b0 + i / 2, 0.4, "octave" if i % 2 else "root", i % 2 == 0) for i in range(8)]
    if style == "rootfifth":
        return [
            (b0, 1.5, "root", True),
            (b0 + 1.5, 0.5, "root", False),
            (b0 + 2, 1.5, "fifth", True),
            (b0 + 3.5, 0.5, "approach", False),
        ]
    if style == "sustained":
        if rng.random() < 0.5:
            return [(b0, 3.8, "root", True)]
        return [(b0, 1.8, "root", True), (b0 + 2, 1.8, "root" if rng.random() < 0.6 else "fifth", True)]
    if style == "walking":
        return [
            (b0, 0.9, "root", True),
            (b0 + 1, 0.9, "third", False),
            (b0 + 2, 0.9, "fifth", True),
            (b0 + 3, 0.9, "approach", False),
        ]
    events = []
    for step, char in enumerate(pattern):
        if char != "-":
            choice = (
                "root"
                if char == "X" or rng.random() < 0.55
                else str(rng.choice(["octave", "fifth", "seventh"]))
            )
            events.append((b0 + step / 4, 0.22 if char == "x" else 0.4, choice, char == "X"))
    return events


def bass_part(song: Song, rng: np.random.Generator) -> Part:
    genre = song.genre
    style = str(rng.choice(genre.bass_styles))
    program = int(rng.choice(genre.bass_programs))
    part = Part("bass", "bass", "bass", program, 0, style)
    part.info = {"style": style, "bass": PROGRAM_NAMES.get(program, str(program))}
    pattern = SYNCOPATED[int(rng.integers(len(SYNCOPATED)))]
    previous = None
    legato = float(rng.uniform(0.9, 1.0))
    tied = rng.random() < 0.6  # notes held until the next one: real bass sustains
    for section in song.sections:
        if "bass" not in section.stems:
            continue
        for bar in range(section.start_bar, section.end_bar):
            for beat, length, choice, accent in _events(style, song, bar, rng, pattern):
                chord = song.chord_at(beat)
                root = _root(chord, previous)
                next_chord = song.chord_at(beat + 1)
                pitch = {
                    "root": root,
                    "fifth": root + 7,
                    "octave": root + 12,
                    "third": root + (chord[1] - chord[0]) % 12,
                    "seventh": root + (10 if len(chord) < 4 else (chord[3] - chord[0]) % 12),
                    "approach": _root(next_chord, root) + int(rng.choice([-1, 1, -2])),
                }[choice]
                while pitch > HIGH:
                    pitch -= 12
                while pitch < LOW:
                    pitch += 12
                velocity = (100 if accent else 82) * (0.8 + 0.3 * section.energy) + rng.normal(0, 6)
                start = song.seconds_at(beat) + rng.normal(0, 0.006)
                duration = length * legato * song.seconds_per_beat
                part.notes.append(Note(start, duration, int(pitch), int(clip(velocity, 30, 127))))
                previous = root
    if tied:
        beat = song.seconds_per_beat
        for note, following in zip(part.notes, part.notes[1:], strict=False):
            gap = following.start - note.start
            if note.duration < gap < note.duration + 2 * beat:
                note.duration = gap * legato
    return part

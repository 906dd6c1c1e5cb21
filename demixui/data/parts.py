"""The "other" stem: keys, guitars, strings, brass, synths and mallets as chords, arpeggios, riffs, pads and
counter-melodies, several at once, all following the song's chords. Guitars strum six-string shapes up and
down, chug palm-muted low power chords, and can be played twice (`retake`) for a doubled rhythm part."""

from __future__ import annotations

import dataclasses

import numpy as np

from demixui.data.arrangement import Song
from demixui.data.harmony import pitch_in_range, voice_chord
from demixui.data.score import Note, Part, clip

# family -> (GM programs, roles it plays, register low, register high)
FAMILIES: dict[str, tuple[tuple[int, ...], tuple[str, ...], int, int]] = {
    "piano": ((0, 1, 2, 3), ("chords", "arpeggio", "chords", "riff"), 48, 79),
    "epiano": ((4, 5), ("chords", "chords", "arpeggio"), 50, 76),
    "organ": ((16, 17, 18, 19), ("pad", "chords"), 50, 76),
    "guitar_clean": ((24, 25, 26, 27), ("strum", "arpeggio", "chords"), 48, 74),
    "guitar_acoustic": ((25, 24), ("strum", "strum", "arpeggio"), 40, 72),
    "guitar_dist": ((29, 30), ("power", "palm", "palm", "riff"), 40, 64),
    "strings": ((48, 49, 50, 44, 45), ("pad", "counter", "pad"), 48, 79),
    "brass": ((61, 56, 57, 62, 65, 66), ("stabs", "counter"), 52, 76),
    "synth_pad": ((88, 89, 90, 92, 94, 95), ("pad",), 48, 76),
    "synth_lead": ((80, 81, 84, 87), ("riff", "counter", "arpeggio"), 60, 84),
    "mallets": ((11, 12, 8, 9, 13), ("arpeggio", "riff"), 60, 88),
}
LOW_ROOT_FAMILIES = ("piano", "epiano", "organ", "strings", "synth_pad")
GUITARS = ("guitar_dist", "guitar_clean", "guitar_acoustic")
# strums per bar on the eighths: D down (every string, low to high), U up (the top strings, high to low)
STRUMS = ("D-DU-UDU", "D-D-D-D-", "D-DUDUDU", "D--UDUD-", "D---D-DU")
# palm-muted chugs per bar on the sixteenths: eighths, gallops, straight sixteenths (slower songs only)
CHUGS = ("x-x-x-x-x-x-x-x-", "x-xxx-xxx-xxx-xx", "x-x-x-xxx-x-x-xx", "xxxxxxxxxxxxxxxx")
COMPING = {
    "rock": ("X-x-X-x-X-x-X-x-", "X-------X-------"),
    "pop": ("X---x---X---x---", "X-----x---x-----"),
    "funk": ("--x--x----x--x--", "-x-x--x--x-x--x-"),
    "hiphop": ("X-------x-------", "X-----x---------"),
    "electronic": ("--x---x---x---x-", "X--x--x---x--x--"),
    "reggae": ("--x---x---x---x-", "----x-------x---"),
    "swing": ("---x----x--x----", "x-----x-----x---"),
    "metal": ("X-x-X-x-X-x-X-x-", "X-------X-------"),
    "ballad": ("X---------------", "X-------X-------"),
}


def choose_others(
    rng: np.random.Generator, song_genre_others: tuple[str, ...], count: int, guitar_odds: float = 0.0
) -> list[tuple[str, str]]:
    """`count` distinct (family, role) pairs, each family at most once. With `guitar_odds` the song is a
    guitar band, whose first part is one of the genre's guitars; otherwise it has no guitar."""
    families = list(dict.fromkeys(song_genre_others))
    guitars = [index for index, family in enumerate(families) if family in GUITARS]
    if guitars and rng.random() < guitar_odds:
        weighted = [
            family for family in song_genre_others if family in GUITARS
        ]  # listed twice: twice as likely
        first = families.index(weighted[int(rng.integers(len(weighted)))])
        rest = [index for index in range(len(families)) if index != first]
        picked = [first, *rng.choice(rest, size=min(count, len(families)) - 1, replace=False)]
    else:
        rest = [index for index in range(len(families)) if index not in guitars]
        picked = list(rng.choice(rest, size=min(count, len(rest)), replace=False))
    out = []
    for index in picked:
        family = families[int(index)]
        roles = FAMILIES[family][1]
        out.append((family, str(roles[int(rng.integers(len(roles)))])))
    return out


def other_part(song: Song, rng: np.random.Generator, name: str, family: str, role: str) -> Part:
    programs, _, low, high = FAMILIES[family]
    program = int(rng.choice(programs))
    part = Part(name, "other", family, program, 0, role)
    part.info = {"family": family, "role": role, "program": program}
    comp = COMPING[song.genre.name][int(rng.integers(2))]
    motif = [int(x) for x in rng.integers(0, 4, size=8)]  # chord-tone indices for riffs and arpeggios
    arp_rate = int(rng.choice([2, 4])) if song.tempo < 130 else 2  # notes per beat
    strums = STRUMS[int(rng.integers(len(STRUMS)))]
    chugs = CHUGS[int(rng.integers(len(CHUGS) if song.tempo < 140 else len(CHUGS) - 1))]
    stroke_s = float(rng.uniform(0.006, 0.014))  # a strum's time from one string to the next
    previous: list[int] | None = None
    line = (low + high) // 2 + 5  # counter-melodies sit in the upper half of the register
    # a left hand (or pad) doubling the root an octave or two down: real "other" stems have 6 % of their
    # energy below 150 Hz (median of the MUSDB18 previews), which chords above C3 alone never reach
    # (half the parts, read off the riff motif, which chords and pads do not use, rather than a new draw that
    # would change every later choice of the song)
    low_root = family in LOW_ROOT_FAMILIES and motif[0] < 2
    for section in song.sections:
        if name not in section.others:
            continue
        for bar in range(section.start_bar, section.end_bar):
            b0 = bar * song.beats_per_bar
            energy = section.energy
            for beat_in_bar in range(song.beats_per_bar):
                beat = b0 + beat_in_bar
                chord = song.chord_at(beat)
                voicing = voice_chord(chord, low, high, previous)
                previous = voicing
                if role == "strum":
                    _strum(part, song, rng, chord, b0, beat_in_bar, strums, energy, stroke_s)
                elif role == "palm":
                    _chug(part, song, rng, chord, beat, chugs[beat_in_bar * 4 : beat_in_bar * 4 + 4], energy)
                elif role in ("chords", "stabs", "power"):
                    pattern = comp if role != "stabs" else "--x---x---x---x-"
                    for sub in range(4):
                        char = pattern[beat_in_bar * 4 + sub]
                        if char == "-":
                            continue
                        start_beat = beat + sub / 4
                        length = _until_next(pattern, beat_in_bar * 4 + sub) / 4
                        notes = voicing
                        if role == "power":
                            root = voicing[0] if voicing[0] < low + 12 else voicing[0] - 12
                            notes = [root, root + 7, root + 12]
                            length = min(length, 0.45) if rng.random() < 0.7 else length
                        if role == "stabs":
                            length = 0.3
                        if low_root and role == "chords":
                            notes = [pitch_in_range(chord[0], 33, 47), *voicing]
                        _chord_notes(
                            part,
                            song,
                            rng,
                            notes,
                            start_beat,
                            length * 0.95,
                            char,
                            energy,
                        )
                elif role == "pad" and beat_in_bar % 2 == 0:
                    notes = [pitch_in_range(chord[0], 33, 47), *voicing] if low_root else voicing
                    _chord_notes(part, song, rng, notes, beat, 2.0, "x", energy * 0.8)
                elif role in ("arpeggio", "riff"):
                    tones = voicing + [v + 12 for v in voicing]
                    for sub in range(arp_rate):
                        index = (beat_in_bar * arp_rate + sub) % 8
                        step = motif[index] if role == "riff" else index % len(tones)
                        if role == "riff" and (index * 3 + bar) % 5 == 4:
                            continue  # rests make a riff a riff
                        pitch = tones[step % len(tones)]
                        _chord_notes(
                            part, song, rng, [pitch], beat + sub / arp_rate, 0.9 / arp_rate, "x", energy
                        )
                elif role == "counter" and beat_in_bar % 2 == 0:
                    line = _counter_step(song, rng, line, beat, low, high)
                    length = 2.0 if rng.random() < 0.6 else 1.0
                    _chord_notes(part, song, rng, [line], beat, length * 0.95, "x", energy * 0.9)
                    if length == 1.0:  # a passing note on the off-beat
                        line = _counter_step(song, rng, line, beat + 1, low, high)
                        _chord_notes(part, song, rng, [line], beat + 1, 0.95, "x", energy * 0.8)
    return part


def guitar_shape(chord: tuple[int, ...]) -> list[int]:
    """Six strings of an open-position chord: root on E2-D#3, fifth, octave, third, fifth, double octave."""
    root = pitch_in_range(chord[0], 40, 51)
    third, fifth = chord[1], chord[2]
    return [
        root,
        root + (fifth - root) % 12,
        root + 12,
        root + 12 + (third - root) % 12,
        root + 12 + (fifth - root) % 12,
        root + 24,
    ]


def _strum(
    part: Part,
    song: Song,
    rng: np.random.Generator,
    chord: tuple[int, ...],
    bar_beat: int,
    beat_in_bar: int,
    strokes: str,
    energy: float,
    stroke_s: float,
) -> None:
    """One beat of strumming (`strokes`: the bar's eighths); strings ring until the next stroke."""
    shape = guitar_shape(chord)
    for index in (2 * beat_in_bar, 2 * beat_in_bar + 1):
        char = strokes[index]
        if char == "-":
            continue
        start_beat = bar_beat + index / 2
        down = char == "D"
        strings = shape if down else shape[: -int(rng.integers(3, 5)) - 1 : -1]  # up: the top 3-4, high first
        base = (96 if down else 78) * (0.7 + 0.4 * energy)
        start = song.seconds_at(start_beat) + rng.normal(0, 0.005)
        end = song.seconds_at(start_beat + _until_next(strokes, index) / 2) - 0.01
        speed = stroke_s * (1.0 if down else 0.7)
        for order, pitch in enumerate(strings):
            onset = start + order * speed
            velocity = int(clip(base - 2 * order + rng.normal(0, 5), 25, 127))
            part.notes.append(Note(onset, max(0.05, end - onset), int(pitch), velocity))


def _chug(
    part: Part,
    song: Song,
    rng: np.random.Generator,
    chord: tuple[int, ...],
    beat: int,
    steps: str,
    energy: float,
) -> None:
    """One beat of palm-muted power chords (root and fifth on the low strings): the palm on the bridge stops
    each chug within about a tenth of a second, whatever the tempo."""
    root = pitch_in_range(chord[0], 40, 51)  # E2-D#3: the low E and A strings
    for sixteenth, char in enumerate(steps):
        if char == "-":
            continue
        start = song.seconds_at(beat + sixteenth / 4) + rng.normal(0, 0.004)
        length = min(0.9 * song.seconds_per_beat / 4, float(rng.uniform(0.07, 0.12)))
        base = (88 if sixteenth == 0 else 78) * (0.75 + 0.3 * energy)
        for pitch in (root, root + 7):
            velocity = int(clip(base + rng.normal(0, 5), 25, 127))
            part.notes.append(Note(start, length, pitch, velocity))


def retake(part: Part, rng: np.random.Generator) -> Part:
    """The same part played again, as for a doubled rhythm guitar: every note a few ms early or late (a
    slow drift plus per-note scatter), a little louder or softer, held a little longer or shorter."""
    drift = float(rng.uniform(-0.008, 0.008))
    notes = [
        dataclasses.replace(
            note,
            start=note.start + drift + float(rng.normal(0, 0.007)),
            duration=max(0.04, note.duration * float(rng.uniform(0.9, 1.1))),
            velocity=int(clip(note.velocity + rng.normal(0, 7), 25, 127)),
        )
        for note in part.notes
    ]
    return dataclasses.replace(part, notes=notes, info=dict(part.info))


def _counter_step(
    song: Song, rng: np.random.Generator, current: int, beat: float, low: int, high: int
) -> int:
    """The next note of a slow counter-melody: mostly steps in the scale, on a chord tone at each half bar."""
    scale = song.key.scale_pitches(low, high)
    index = min(range(len(scale)), key=lambda i: abs(scale[i] - current))
    index = int(clip(index + int(rng.choice([-2, -1, -1, 1, 1, 2, 0])), 0, len(scale) - 1))
    pitch = scale[index]
    chord = song.chord_at(beat)
    if abs(beat - round(beat)) < 1e-6 and int(round(beat)) % 2 == 0:
        tones = [p for p in scale if p % 12 in chord]
        pitch = min(tones, key=lambda p: abs(p - pitch)) if tones else pitch
    if pitch < low + 7:  # keep it above the chords
        pitch += 12 if pitch + 12 <= high else 0
    return pitch


def _until_next(pattern: str, step: int) -> int:
    """Steps from `step` to the pattern's next hit, or to its end."""
    for offset in range(1, len(pattern) - step):
        if pattern[step + offset] != "-":
            return offset
    return len(pattern) - step


def _chord_notes(
    part: Part,
    song: Song,
    rng: np.random.Generator,
    pitches: list[int],
    beat: float,
    length: float,
    char: str,
    energy: float,
) -> None:
    base = (104 if char == "X" else 86) * (0.7 + 0.4 * energy)
    start = song.seconds_at(beat) + rng.normal(0, 0.006)
    end = song.seconds_at(beat + length)
    for pitch in pitches:
        velocity = int(clip(base + rng.normal(0, 6), 25, 127))
        part.notes.append(Note(start, max(0.05, end - start), int(pitch), velocity))

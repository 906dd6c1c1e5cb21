"""The sung lead melody: phrases with rests for breath, chord tones on strong beats, steps between, words.

Phrases repeat inside a section (as verses and choruses do) and choruses sit higher than verses.
"""

from __future__ import annotations

import numpy as np

from demixui.data.arrangement import Song
from demixui.data.harmony import Key
from demixui.data.score import Note, clip

# Lyrics: one-syllable-ish words per espeak-ng language (the singer's language decides the vowels).
WORDS = {
    "en": tuple(
        "love night heart fire light dream home time rain free run fall blue sky day way hold go stay down "
        "high soul gold wild cold young lost find burn shine town road sea true pain baby tonight forever "
        "alone again away believe yeah oh la na mine know feel need want see".split()
    ),
    "es": tuple("amor noche vida cielo sol luna mar fuego siempre nunca corazón baila quiero tú yo".split()),
    "it": tuple("amore cuore notte sole mare vita cielo luna sempre ancora bella vieni dove".split()),
    "fr": tuple("amour nuit coeur ciel soleil encore toujours belle viens danse rêve".split()),
    "de": tuple("liebe nacht herz feuer licht traum himmel immer wieder komm hier".split()),
}
RAP_WORDS = tuple(
    "yo check it I got the flow on the beat all day we in the city money make it move "
    "back then now you know what I said straight up real talk hands up let's go".split()
)
# (low, high) MIDI range of each voice type
RANGES = {
    "bass": (40, 60),
    "baritone": (43, 64),
    "tenor": (48, 69),
    "alto": (53, 74),
    "mezzo": (57, 77),
    "soprano": (60, 81),
}


def vocabulary(rng: np.random.Generator, language: str = "en", size: int = 10) -> list[str]:
    """A song's words: a small set, because lyrics repeat."""
    words = WORDS[language]
    return [str(w) for w in rng.choice(words, size=min(size, len(words)), replace=False)]


def _rap_phrase(rng: np.random.Generator) -> list[tuple[float, float]]:
    """(onset, length) in beats of a rapped two-bar line on the sixteenth grid."""
    out = []
    step = int(rng.integers(0, 3))
    end = int(rng.integers(26, 31))
    while step < end:
        length = int(rng.choice([1, 1, 2, 2, 2, 3, 4]))
        out.append((step / 4, min(length, end - step) / 4))
        step += length + (1 if rng.random() < 0.08 else 0)
    return out


def _rhythm(rng: np.random.Generator) -> list[tuple[float, float]]:
    """(onset, length) in beats inside a two-bar phrase, ending with a held note and a rest."""
    onsets = []
    beat = float(rng.choice([0.0, 0.0, 0.5, 1.0]))
    end = float(rng.choice([5.0, 6.0, 6.5, 7.0]))
    while beat < end:
        onsets.append(beat)
        beat += float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 0.25 if rng.random() < 0.2 else 0.5]))
    out = []
    for i, onset in enumerate(onsets):
        nxt = (
            onsets[i + 1]
            if i + 1 < len(onsets)
            else min(8.0 - 0.5, onset + float(rng.choice([1.0, 1.5, 2.0])))
        )
        out.append((onset, nxt - onset))
    return out


def _pitches(
    rng: np.random.Generator, song: Song, key: Key, beats: list[float], low: int, high: int, start_near: int
) -> list[int]:
    scale = key.scale_pitches(low, high)
    out = []
    current = min(scale, key=lambda p: abs(p - start_near))
    for i, beat in enumerate(beats):
        chord = song.chord_at(beat)
        strong = abs(beat - round(beat)) < 1e-6 and int(round(beat)) % 2 == 0
        index = scale.index(current)
        step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2])) if i else 0
        index = int(clip(index + step, 0, len(scale) - 1))
        current = scale[index]
        if strong or i == len(beats) - 1:
            tones = [p for p in scale if p % 12 in chord]
            if tones:
                current = min(tones, key=lambda p: abs(p - current))
        # pull back towards the middle of the range so the melody does not drift away
        if current > high - 3 and rng.random() < 0.6:
            current = scale[max(0, scale.index(current) - 2)]
        if current < low + 3 and rng.random() < 0.6:
            current = scale[min(len(scale) - 1, scale.index(current) + 2)]
        out.append(current)
    return out


def lead_melody(
    song: Song,
    rng: np.random.Generator,
    voice_range: tuple[int, int],
    words: list[str],
    rap_sections: tuple[str, ...] = (),
) -> list[Note]:
    """The lead vocal's notes. Sections whose kind is in `rap_sections` are rapped (spoken notes)."""
    low, high = voice_range
    notes: list[Note] = []
    phrase_cache: dict[str, list] = {}
    for section in song.sections:
        if "vocals" not in section.stems:
            continue
        rap = section.kind in rap_sections
        shift = 3 if section.kind == "chorus" else 0
        for phrase_bar in range(section.start_bar, section.end_bar - 1, 2):
            slot = (phrase_bar - section.start_bar) // 2
            cache_key = f"{section.kind}{slot % 2}"
            if rap:
                rhythm = _rap_phrase(rng)
                lyric = [str(rng.choice(RAP_WORDS if rng.random() < 0.6 else words)) for _ in rhythm]
                melisma = [False] * len(rhythm)
            else:
                if cache_key not in phrase_cache or rng.random() < 0.25:
                    rhythm = _rhythm(rng)
                    lyric = [str(rng.choice(words)) for _ in rhythm]
                    melisma = [i > 0 and rng.random() < 0.15 for i in range(len(rhythm))]
                    phrase_cache[cache_key] = [rhythm, lyric, melisma]
                rhythm, lyric, melisma = phrase_cache[cache_key]
            b0 = phrase_bar * song.beats_per_bar
            beats = [b0 + onset for onset, _ in rhythm]
            if rap:  # the speaking register: a little below the middle, the words' own intonation on top
                pitches = [(low + high) // 2 - 3] * len(rhythm)
            else:
                pitches = _pitches(rng, song, song.key, beats, low + shift, high, (low + high) // 2 + shift)
            for (onset, length), word, tie, pitch in zip(rhythm, lyric, melisma, pitches, strict=True):
                start = song.seconds_at(b0 + onset) + rng.normal(0, 0.012)
                end = song.seconds_at(b0 + onset + length)
                velocity = int(clip(90 + 20 * section.energy + rng.normal(0, 6), 50, 127))
                notes.append(
                    Note(start, max(0.08, end - start), pitch, velocity, None if tie else word, spoken=rap)
                )
    return notes


def harmony_line(notes: list[Note], key: Key, steps: int) -> list[Note]:
    """The melody moved `steps` scale degrees (2 = a third above, -2 = a third below), for backing vocals."""
    scale = key.scale_pitches(20, 110)
    out = []
    for note in notes:
        index = min(range(len(scale)), key=lambda i: abs(scale[i] - note.pitch))
        pitch = scale[int(clip(index + steps, 0, len(scale) - 1))]
        out.append(Note(note.start, note.duration, pitch, int(note.velocity * 0.8), note.word))
    return out

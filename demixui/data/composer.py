"""Composition of one song from its seed: plan, instrument parts, lead melody with words, voices.

No audio here: `compose` is cheap, so tests can check the music over many seeds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from demixui.data.arrangement import GENRES, Song, plan_song
from demixui.data.bass import bass_part
from demixui.data.drums import drum_part
from demixui.data.melody import RANGES, harmony_line, lead_melody, vocabulary
from demixui.data.parts import GUITARS, choose_others, other_part
from demixui.data.score import Note, Part, in_window
from demixui.data.vocals import Voice

MALE = tuple(f"en+m{i}" for i in range(1, 8))
FEMALE = tuple(f"en+f{i}" for i in range(1, 6))


def track_seed(corpus_seed: int, index: int) -> int:
    """Track `index`'s seed in corpus `corpus_seed` (independent of how tracks are spread over processes)."""
    return int(np.random.SeedSequence([int(corpus_seed), int(index)]).generate_state(1)[0])


LANGUAGES = ("en",) * 15 + ("es", "es", "it", "fr", "de")


def choose_voice(rng: np.random.Generator, language: str = "en", genre: str = "pop") -> tuple[Voice, str]:
    """An espeak-ng voice variant with a formant warp, vibrato, breathiness and style, and its range."""
    female = rng.random() < 0.5
    variant = str(rng.choice(FEMALE if female else MALE))
    voice_type = str(
        rng.choice(["alto", "mezzo", "soprano"] if female else ["bass", "baritone", "tenor", "tenor"])
    )
    formant = float(rng.uniform(1.0, 1.12) if female else rng.uniform(0.9, 1.04))
    tuned = genre in ("hiphop", "electronic", "pop") and rng.random() < 0.3
    voice = Voice(
        f"{language}{variant[2:]}",  # "en+f3" -> "es+f3"
        round(formant, 3),
        round(float(rng.uniform(15, 60)), 1),
        round(float(rng.uniform(4.8, 6.6)), 2),
        round(float(rng.uniform(0.0, 0.4)), 2),
        "tuned" if tuned else "sung",
        round(float(rng.uniform(3, 15)), 1),
    )
    return voice, voice_type


def compose(seed: int, seconds: float, presets: set[tuple[int, int]]) -> tuple[Song, list[Part], dict]:
    """The song plan, its instrument parts, and the vocal plan (lead notes, voices)."""
    rng = np.random.default_rng(seed)
    genre_name = str(
        rng.choice(["rock", "pop", "funk", "hiphop", "electronic", "reggae", "swing", "metal", "ballad"])
    )
    nb_others = int(rng.integers(2, 5))
    genre = GENRES[genre_name]
    others = choose_others(rng, genre.others, nb_others, genre.guitar_odds)
    names = [f"{family}_{role}" for family, role in others]
    anchor = names[0] if others[0][0] in GUITARS and others[0][1] in ("strum", "palm", "power") else None
    song = plan_song(rng, seconds, names, genre_name, anchor)
    parts = [drum_part(song, rng, presets), bass_part(song, rng)]
    parts += [
        other_part(song, rng, name, family, role) for name, (family, role) in zip(names, others, strict=True)
    ]
    language = str(rng.choice(LANGUAGES))
    lead_voice, voice_type = choose_voice(rng, language, genre_name)
    words = vocabulary(rng, language, int(rng.integers(6, 14)))
    rap_odds = {"hiphop": 0.7, "funk": 0.15, "electronic": 0.15, "pop": 0.08}.get(genre_name, 0.0)
    rap_sections = ("verse", "bridge") if language == "en" and rng.random() < rap_odds else ()
    lead = lead_melody(song, rng, RANGES[voice_type], words, rap_sections)
    vocal = {
        "lead": lead,
        "voice": lead_voice,
        "voice_type": voice_type,
        "words": words,
        "language": language,
        "rap": list(rap_sections),
        "backing": None,
    }
    chorus_notes = [n for n in lead if song.section_at(_beat(song, n.start)).kind == "chorus"]
    if chorus_notes and rng.random() < 0.6:
        backing_voice, _ = choose_voice(rng, language, genre_name)
        line = harmony_line(chorus_notes, song.key, int(rng.choice([2, -2, 4])))
        if rng.random() < 0.5:  # "oohs": one held vowel per phrase, gliding through the harmony
            vowel = str(rng.choice(["ooh", "ah", "oh"]))
            line = [
                dataclasses.replace(n, word=vowel if i == 0 or n.start - _end(line[i - 1]) > 0.15 else None)
                for i, n in enumerate(line)
            ]
        vocal["backing"] = (line, backing_voice)
    if rng.random() < 0.25:  # a choir patch behind the chorus, in the vocals stem
        choir = Part("choir", "vocals", "choir", int(rng.choice([52, 53, 54])), 0, "pad")
        for section in song.sections:
            if section.kind == "chorus":
                for bar in range(section.start_bar, section.end_bar):
                    for half in (0, 2):
                        beat = bar * 4 + half
                        for pitch in sorted({60 + (pc - 60) % 12 for pc in song.chord_at(beat)}):
                            choir.notes.append(
                                Note(song.seconds_at(beat), 2 * song.seconds_per_beat, pitch, 70)
                            )
        parts.append(choir)
    for part in parts:
        part.notes = in_window(part.notes, seconds)
    vocal["lead"] = in_window(vocal["lead"], seconds)
    return song, parts, vocal


def _end(note: Note) -> float:
    return note.start + note.duration


def _beat(song: Song, seconds: float) -> float:
    return seconds / song.seconds_per_beat + song.offset_beats

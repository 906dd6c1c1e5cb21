"""Song plans: genre, tempo, key, chord progression per section, and which parts play in each section.

Times are in beats inside a plan; `Song.seconds_at(beat)` maps them to seconds (with swing for the off-beats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from demixui.data.harmony import Key, random_key, random_progression


@dataclass(frozen=True)
class Genre:
    name: str
    tempo: tuple[int, int]  # BPM range
    swing: float  # 0.5 = straight; 0.6-0.67 = swung eighths
    kits: tuple[str, ...]
    bass_styles: tuple[str, ...]
    bass_programs: tuple[int, ...]
    others: tuple[str, ...]  # instrument families that suit the genre
    # share of songs that are guitar bands (a guitar among the "other" parts, playing in most sections): on
    # records guitars are everywhere in rock and metal and common in pop, funk, reggae and ballads
    guitar_odds: float = 0.0


GENRES: dict[str, Genre] = {
    g.name: g
    for g in (
        Genre(
            "rock",
            (96, 150),
            0.5,
            ("standard", "room", "power"),
            ("root8", "rootfifth", "octave"),
            (33, 34, 34, 29),
            (
                "guitar_dist",
                "guitar_dist",
                "guitar_clean",
                "guitar_acoustic",
                "piano",
                "organ",
                "strings",
                "synth_lead",
            ),
            0.92,
        ),
        Genre(
            "pop",
            (86, 128),
            0.5,
            ("standard", "room", "electronic"),
            ("root8", "rootfifth", "syncopated", "sustained"),
            (33, 34, 38, 39),
            (
                "piano",
                "epiano",
                "guitar_clean",
                "guitar_acoustic",
                "guitar_dist",
                "synth_pad",
                "strings",
                "mallets",
                "synth_lead",
            ),
            0.65,
        ),
        Genre(
            "funk",
            (92, 118),
            0.54,
            ("standard", "room"),
            ("syncopated", "octave"),
            (36, 37, 33, 38),
            ("epiano", "guitar_clean", "brass", "organ", "synth_lead"),
            0.75,
        ),
        Genre(
            "hiphop",
            (78, 100),
            0.56,
            ("808", "standard", "electronic"),
            ("sustained", "syncopated"),
            (38, 39, 33, 87),
            ("piano", "epiano", "guitar_clean", "synth_pad", "strings", "mallets", "brass"),
            0.15,
        ),
        Genre(
            "electronic",
            (116, 136),
            0.5,
            ("electronic", "808"),
            ("octave", "root8", "syncopated"),
            (38, 39, 81, 87),
            ("synth_pad", "synth_lead", "piano", "mallets", "strings", "guitar_clean"),
            0.1,
        ),
        Genre(
            "reggae",
            (68, 92),
            0.55,
            ("standard", "room"),
            ("rootfifth", "syncopated"),
            (33, 32, 38),
            ("organ", "guitar_clean", "piano", "brass"),
            0.7,
        ),
        Genre(
            "swing",
            (100, 180),
            0.64,
            ("jazz", "brush"),
            ("walking",),
            (32, 32, 33, 35),
            ("piano", "brass", "guitar_clean", "mallets", "strings"),
            0.45,
        ),
        Genre(
            "metal",
            (110, 180),
            0.5,
            ("power", "standard", "room"),
            ("root8", "octave"),
            (34, 33, 29),
            (
                "guitar_dist",
                "guitar_dist",
                "guitar_dist",
                "guitar_clean",
                "guitar_acoustic",
                "strings",
                "synth_pad",
                "organ",
            ),
            1.0,
        ),
        Genre(
            "ballad",
            (60, 84),
            0.5,
            ("brush", "standard", "room", "jazz"),
            ("sustained", "rootfifth"),
            (35, 33, 32),
            ("piano", "strings", "epiano", "guitar_clean", "guitar_acoustic", "synth_pad", "mallets"),
            0.6,
        ),
    )
}

SECTION_KINDS = ("intro", "verse", "chorus", "bridge", "breakdown", "outro")
FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "breakdown", "chorus", "chorus", "outro")
# Probability that each stem plays in a section of each kind (stems enter and leave as in real songs). Real
# bass plays almost throughout (active in 100 % of frames, median of the MUSDB18 previews).
STEM_ODDS = {
    "intro": {"drums": 0.55, "bass": 0.75, "vocals": 0.1},
    "verse": {"drums": 0.9, "bass": 0.98, "vocals": 0.95},
    "chorus": {"drums": 1.0, "bass": 1.0, "vocals": 1.0},
    "bridge": {"drums": 0.7, "bass": 0.95, "vocals": 0.7},
    "breakdown": {"drums": 0.35, "bass": 0.6, "vocals": 0.5},
    "outro": {"drums": 0.6, "bass": 0.8, "vocals": 0.3},
}
ENERGY = {"intro": 0.4, "verse": 0.6, "chorus": 0.9, "bridge": 0.65, "breakdown": 0.35, "outro": 0.5}


@dataclass
class Section:
    kind: str
    start_bar: int
    bars: int
    progression: tuple[int, ...]  # scale degrees, one per chord slot
    bars_per_chord: float
    stems: set[str]  # which of vocals/drums/bass play
    others: list[str]  # names of the "other" parts playing
    energy: float

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars


@dataclass
class Song:
    genre: Genre
    tempo: float  # BPM
    key: Key
    beats_per_bar: int
    swing: float
    sections: list[Section]
    seconds: float
    offset_beats: float = 0.0  # the excerpt starts this many beats into the first section
    chord_sevenths: bool = False
    drift_seconds: float = 0.0  # a live band's tempo wander: the time map moves this far either way
    drift_beats: float = 16.0  # ... over this period
    extra: dict = field(default_factory=dict)

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo

    def seconds_at(self, beat: float) -> float:
        """Seconds from the start of the excerpt for a beat position, with swung eighths and tempo wander."""
        beat = beat - self.offset_beats
        whole = math.floor(beat)
        frac = beat - whole
        if self.swing != 0.5:
            if frac < 0.5:
                frac = frac * self.swing / 0.5
            else:
                frac = self.swing + (frac - 0.5) * (1 - self.swing) / 0.5
        drift = self.drift_seconds * math.sin(2 * math.pi * (beat + self.offset_beats) / self.drift_beats)
        return (whole + frac) * self.seconds_per_beat + drift

    @property
    def total_bars(self) -> int:
        return self.sections[-1].end_bar

    def chord_at(self, beat: float) -> tuple[int, ...]:
        section = self.section_at(beat)
        bar = beat / self.beats_per_bar - section.start_bar
        slot = int(bar / section.bars_per_chord) % len(section.progression)
        return self.key.chord(section.progression[slot], self.chord_sevenths)

    def section_at(self, beat: float) -> Section:
        bar = beat / self.beats_per_bar
        for section in self.sections:
            if bar < section.end_bar:
                return section
        return self.sections[-1]


def plan_song(
    rng: np.random.Generator,
    seconds: float,
    other_parts: list[str],
    genre: str | None = None,
    anchor: str | None = None,
) -> Song:
    """A song long enough to cover `seconds`, starting at a random point of a typical form. The `anchor` part
    (a guitar band's rhythm guitar) plays in every section but intros and breakdowns."""
    genre_obj = GENRES[genre] if genre else GENRES[str(rng.choice(list(GENRES)))]
    tempo = float(rng.uniform(*genre_obj.tempo))
    key = random_key(rng, 0.7 if genre_obj.name in ("metal", "hiphop") else 0.45)
    song = Song(
        genre_obj,
        tempo,
        key,
        4,
        genre_obj.swing,
        [],
        seconds,
        chord_sevenths=genre_obj.name in ("swing", "funk") or rng.random() < 0.15,
    )
    if genre_obj.name not in ("electronic", "hiphop"):  # programmed genres keep machine time
        song.drift_seconds = float(rng.uniform(0.0, 0.02))
        song.drift_beats = float(rng.choice([8.0, 16.0, 32.0]))
    bar_seconds = 4 * song.seconds_per_beat
    # the excerpt starts somewhere in the first section, not always on its downbeat
    offset_bars = int(rng.integers(0, 3))
    song.offset_beats = 4.0 * offset_bars + float(rng.choice([0.0, 0.0, 2.0]))
    need_bars = int(np.ceil(seconds / bar_seconds)) + 2 + offset_bars
    progressions = {kind: random_progression(rng, key) for kind in SECTION_KINDS}
    form_index = int(rng.integers(0, 4))
    bar = 0
    while bar < need_bars:
        kind = FORM[form_index % len(FORM)]
        form_index += 1
        bars = int(rng.choice([4, 8, 8])) if bar_seconds < 3 else int(rng.choice([2, 4, 4]))
        if kind in ("intro", "outro", "breakdown"):
            bars = max(2, bars // 2)
        stems = {stem for stem, odds in STEM_ODDS[kind].items() if rng.random() < odds}
        nb_others = {"intro": 1, "breakdown": 1, "verse": 2, "bridge": 2, "chorus": 3, "outro": 2}[kind]
        nb_others = int(np.clip(nb_others + rng.integers(-1, 2), 1, len(other_parts)))
        others = [str(p) for p in rng.choice(other_parts, size=nb_others, replace=False)]
        if anchor is not None and anchor not in others and kind not in ("intro", "breakdown"):
            others.append(anchor)
        bars_per_chord = float(rng.choice([1, 1, 2, 0.5])) if kind != "breakdown" else 2.0
        song.sections.append(
            Section(
                kind,
                bar,
                bars,
                progressions[kind],
                bars_per_chord,
                stems,
                others,
                ENERGY[kind] + float(rng.uniform(-0.1, 0.1)),
            )
        )
        bar += bars
    return song

"""Drum parts: General MIDI kits playing genre patterns with fills, crashes and human timing and velocity.

A pattern is a 16-step bar per drum piece; each step character is an accent (`X`), a normal hit (`x`), a ghost
note (`.`) or a rest (`-`). Swing comes from the song's time map.
"""

from __future__ import annotations

import numpy as np

from demixui.data.arrangement import Song
from demixui.data.score import Note, Part, clip

KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "808": 25, "jazz": 32, "brush": 40}
KICK, SIDE, SNARE, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE, BELL, TAMB, SHAKER = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
    53,
    54,
    70,
)
TOMS = (50, 48, 47, 45, 43, 41)
LEVEL = {"X": 118, "x": 92, ".": 45}

# genre -> list of (verse pattern, chorus pattern); each pattern maps a GM drum note to 16 steps.
PATTERNS: dict[str, list[tuple[dict[int, str], dict[int, str]]]] = {
    "rock": [
        (
            {KICK: "X-------X-x-----", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "X-------X-x-----", SNARE: "----X-------X---", OPEN: "x-x-x-x-x-x-x-x-"},
        ),
        (
            {KICK: "X-----x-X-------", SNARE: "----X-------X--.", HAT: "xxxxxxxxxxxxxxxx"},
            {KICK: "X-----x-X-x-----", SNARE: "----X-------X---", RIDE: "x-x-x-x-x-x-x-x-"},
        ),
    ],
    "pop": [
        (
            {KICK: "X-----x---x-----", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {
                KICK: "X-----x-X-x-----",
                CLAP: "----X-------X---",
                SNARE: "----X-------X---",
                HAT: "xxxxxxxxxxxxxxxx",
            },
        ),
        (
            {KICK: "X---X---X---X---", SNARE: "----X-------X---", HAT: "--x---x---x---x-"},
            {
                KICK: "X---X---X---X---",
                SNARE: "----X-------X---",
                OPEN: "--x---x---x---x-",
                TAMB: "x-x-x-x-x-x-x-x-",
            },
        ),
    ],
    "funk": [
        (
            {KICK: "X-----x-x--x----", SNARE: "----X--.-.--X--.", HAT: "xxxxxxxxxxxxxxxx"},
            {
                KICK: "X--x--x-x--x--x-",
                SNARE: "----X--.-.--X-.-",
                HAT: "xxxxxxxxxxxxxx-x",
                OPEN: "--------------x-",
            },
        ),
    ],
    "hiphop": [
        (
            {KICK: "X------x-x------", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "X------x-xX-----", CLAP: "----X-------X---", HAT: "xxx-x-xxx-x-xxxx"},
        ),
        (
            {KICK: "X--X------X-----", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "X--X---X--X-----", SNARE: "----X-------X---", HAT: "xxxxxxxxxxxxxxxx"},
        ),
    ],
    "electronic": [
        (
            {
                KICK: "X---X---X---X---",
                CLAP: "----X-------X---",
                HAT: "xxxxxxxxxxxxxxxx",
                OPEN: "--x---x---x---x-",
            },
            {
                KICK: "X---X---X---X---",
                CLAP: "----X-------X---",
                SNARE: "----x-------x---",
                OPEN: "--X---X---X---X-",
                HAT: "x-x-x-x-x-x-x-x-",
            },
        ),
    ],
    "reggae": [
        (
            {KICK: "--------X-------", SIDE: "--------X-------", HAT: "x-x-x-x-x-x-x-x-"},
            {
                KICK: "X-------X-------",
                SNARE: "--------X-------",
                HAT: "x-x-x-x-x-x-x-x-",
                OPEN: "------x-------x-",
            },
        ),
    ],
    "swing": [
        (
            {
                RIDE: "X---x-x-X---x-x-",
                PEDAL: "----x-------x---",
                KICK: ".---.---.---.---",
                SNARE: "-------.-----.--",
            },
            {
                RIDE: "X---x-x-X---x-x-",
                PEDAL: "----x-------x---",
                KICK: "x---.---.-----x-",
                SNARE: "---.---x-.---.-.",
            },
        ),
    ],
    "metal": [
        (
            {KICK: "XxXxXxXxXxXxXxXx", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "XxXxXxXxXxXxXxXx", SNARE: "----X-------X---", CRASH: "x---x---x---x---"},
        ),
        (
            {KICK: "X-X-----X-X-----", SNARE: "----X-------X---", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "X-X-X-X-X-X-X-X-", SNARE: "----X-------X---", RIDE: "x-x-x-x-x-x-x-x-"},
        ),
    ],
    "ballad": [
        (
            {KICK: "X---------x-----", SIDE: "--------X-------", HAT: "x-x-x-x-x-x-x-x-"},
            {KICK: "X-----x---x-----", SNARE: "--------X-------", HAT: "x-x-x-x-x-x-x-x-"},
        ),
        (
            {KICK: "X-------X-------", SNARE: "----x-------x---", SHAKER: "x.x.x.x.x.x.x.x."},
            {KICK: "X-----x-X-------", SNARE: "----X-------X---", RIDE: "x-x-x-x-x-x-x-x-"},
        ),
    ],
}


def available_kit(name: str, presets: set[tuple[int, int]]) -> int:
    """The bank-128 preset of kit `name`, or the standard kit where the SoundFont lacks it."""
    preset = KITS[name]
    return preset if (128, preset) in presets else 0


def vary(pattern: dict[int, str], rng: np.random.Generator) -> dict[int, str]:
    """A song's own version of a genre pattern: an extra kick, snare ghost notes, busier or sparser hats."""
    out = dict(pattern)

    def put(pitch: int, step: int, char: str) -> None:
        steps = out.get(pitch, "-" * 16)
        if steps[step] == "-":
            out[pitch] = steps[:step] + char + steps[step + 1 :]

    if KICK in out and rng.random() < 0.5:
        put(KICK, int(rng.choice([3, 7, 10, 11, 14, 15])), "x")
    if SNARE in out and rng.random() < 0.4:
        for step in rng.choice([1, 3, 6, 7, 9, 14, 15], size=int(rng.integers(1, 3)), replace=False):
            put(SNARE, int(step), ".")
    if HAT in out and rng.random() < 0.3:
        out[HAT] = "xxxxxxxxxxxxxxxx" if out[HAT].count("x") <= 8 else "x-x-x-x-x-x-x-x-"
    if HAT in out and rng.random() < 0.25:
        put(OPEN, int(rng.choice([6, 14])), "x")
        out[HAT] = "".join("-" if out.get(OPEN, "-" * 16)[i] != "-" else c for i, c in enumerate(out[HAT]))
    return out


def kit_pans(rng: np.random.Generator) -> dict[int, float]:
    """Where each piece sits, as on records: kick and snare centred, hi-hat to one side, toms across the image
    from high to low, crash and ride on opposite sides; drummer's or audience's view at random."""
    side = float(rng.choice([-1.0, 1.0]))
    # FluidSynth adds these to the SoundFont's own pans, which centre most pieces: hence the wide values
    spread = float(rng.uniform(0.6, 1.0))
    hat = round(side * float(rng.uniform(0.4, 0.9)), 2)
    pans = {HAT: hat, PEDAL: hat, OPEN: hat, TAMB: -hat, SHAKER: -hat}
    for index, tom in enumerate(TOMS):
        pans[tom] = round(side * spread * (1 - 2 * index / (len(TOMS) - 1)), 2)
    pans[CRASH] = round(side * spread, 2)
    pans[RIDE] = pans[BELL] = round(-side * spread * 0.9, 2)
    return pans


def _fill(rng: np.random.Generator, beats: int) -> dict[int, str]:
    """A fill over the last `beats` beats of a bar: snare and tom runs in sixteenths."""
    steps = ["-"] * 16
    toms = ["-"] * 16
    kind = rng.integers(3)
    for step in range(16 - 4 * beats, 16):
        if kind == 0 or (kind == 2 and step % 2):
            steps[step] = "x"
        else:
            toms[step] = "x"
    pattern = {SNARE: "".join(steps)}
    tom_steps = [i for i, c in enumerate(toms) if c == "x"]
    for order, step in enumerate(tom_steps):
        tom = TOMS[min(len(TOMS) - 1, order * len(TOMS) // max(1, len(tom_steps)))]
        pattern.setdefault(tom, "-" * 16)
        pattern[tom] = pattern[tom][:step] + "x" + pattern[tom][step + 1 :]
    return pattern


def drum_part(song: Song, rng: np.random.Generator, presets: set[tuple[int, int]]) -> Part:
    genre = song.genre
    kit = str(rng.choice(genre.kits))
    choices = PATTERNS[genre.name]
    verse, chorus = choices[int(rng.integers(len(choices)))]
    verse, chorus = vary(verse, rng), vary(chorus, rng)
    timing_ms = float(rng.uniform(3, 12)) if kit not in ("electronic", "808") else float(rng.uniform(0, 3))
    part = Part("drums", "drums", "kit", 0, 128, "groove")
    part.program = available_kit(kit, presets)
    part.pans = kit_pans(rng)
    part.info = {"kit": kit, "timing_jitter_ms": round(timing_ms, 1)}
    notes = part.notes
    spb = song.beats_per_bar
    for section in song.sections:
        if "drums" not in section.stems:
            continue
        pattern = chorus if section.energy > 0.75 else verse
        sparse = section.kind in ("intro", "breakdown") and rng.random() < 0.5
        for bar in range(section.start_bar, section.end_bar):
            bar_pattern = dict(pattern)
            if sparse:
                bar_pattern = {k: v for k, v in bar_pattern.items() if k in (KICK, HAT, RIDE, SHAKER, PEDAL)}
            last = bar == section.end_bar - 1
            if last and section.bars >= 2 and rng.random() < 0.7:
                beats = int(rng.choice([1, 1, 2]))
                cut = 16 - 4 * beats
                bar_pattern = {k: v[:cut] + "-" * (16 - cut) for k, v in bar_pattern.items() if k != CRASH}
                bar_pattern.update({k: v for k, v in _fill(rng, beats).items()})
            if (
                bar == section.start_bar
                and section.kind in ("chorus", "verse", "bridge")
                and rng.random() < 0.8
            ):
                bar_pattern[CRASH] = "X" + bar_pattern.get(CRASH, "-" * 16)[1:]
            for pitch, steps in bar_pattern.items():
                for step, char in enumerate(steps):
                    if char == "-":
                        continue
                    beat = bar * spb + step / 4
                    velocity = LEVEL[char] * (0.75 + 0.35 * section.energy) + rng.normal(0, 7)
                    if pitch in (HAT, RIDE, SHAKER) and step % 4:
                        velocity *= 0.8  # off-beat hats softer, as a drummer plays them
                    start = song.seconds_at(beat) + rng.normal(0, timing_ms / 1000)
                    notes.append(
                        Note(start, 0.25 * song.seconds_per_beat, pitch, int(clip(velocity, 20, 127)))
                    )
    notes.sort(key=lambda n: n.start)
    return part

"""One procedural track: compose (plan, parts, melody), render every part, mix, write MUSDB18-HQ's layout.

The track's seed comes from the corpus seed and the track index only, so `--jobs` never changes a track.
The mixture is the sum of the four 16-bit stems, computed in integers: it equals the sum of the stems exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from demixui.audiofile import write_wav_atomic
from demixui.data import production
from demixui.data.arrangement import Song, plan_song
from demixui.data.bass import bass_part
from demixui.data.drums import drum_part
from demixui.data.melody import RANGES, harmony_line, lead_melody, vocabulary
from demixui.data.parts import choose_others, other_part
from demixui.data.render import SAMPLE_RATE, fresh_renderer
from demixui.data.score import Note, Part, in_window
from demixui.data.vocals import Voice, sing

STEMS = ("vocals", "drums", "bass", "other")
MALE = tuple(f"en+m{i}" for i in range(1, 8))
FEMALE = tuple(f"en+f{i}" for i in range(1, 6))


def track_seed(corpus_seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(corpus_seed), int(index)]).generate_state(1)[0])


def choose_voice(rng: np.random.Generator) -> tuple[Voice, str]:
    female = rng.random() < 0.5
    espeak = str(rng.choice(FEMALE if female else MALE))
    voice_type = str(
        rng.choice(["alto", "mezzo", "soprano"] if female else ["bass", "baritone", "tenor", "tenor"])
    )
    formant = float(rng.uniform(1.0, 1.12) if female else rng.uniform(0.9, 1.04))
    voice = Voice(
        espeak,
        round(formant, 3),
        round(float(rng.uniform(15, 60)), 1),
        round(float(rng.uniform(4.8, 6.6)), 2),
        round(float(rng.uniform(0.0, 0.4)), 2),
    )
    return voice, voice_type


def compose(seed: int, seconds: float, presets: set[tuple[int, int]]) -> tuple[Song, list[Part], dict]:
    """The song plan, its instrument parts, and the vocal plan (lead notes, voices)."""
    rng = np.random.default_rng(seed)
    genre_name = str(
        rng.choice(["rock", "pop", "funk", "hiphop", "electronic", "reggae", "swing", "metal", "ballad"])
    )
    from demixui.data.arrangement import GENRES

    nb_others = int(rng.integers(2, 5))
    others = choose_others(rng, GENRES[genre_name].others, nb_others)
    names = [f"{family}_{role}" for family, role in others]
    song = plan_song(rng, seconds, names, genre_name)
    parts = [drum_part(song, rng, presets), bass_part(song, rng)]
    parts += [
        other_part(song, rng, name, family, role) for name, (family, role) in zip(names, others, strict=True)
    ]
    lead_voice, voice_type = choose_voice(rng)
    words = vocabulary(rng, int(rng.integers(6, 14)))
    lead = lead_melody(song, rng, RANGES[voice_type], words)
    vocal = {"lead": lead, "voice": lead_voice, "voice_type": voice_type, "words": words, "backing": None}
    chorus_notes = [n for n in lead if song.section_at(_beat(song, n.start)).kind == "chorus"]
    if chorus_notes and rng.random() < 0.6:
        backing_voice, _ = choose_voice(rng)
        vocal["backing"] = (harmony_line(chorus_notes, song.key, int(rng.choice([2, -2, 4]))), backing_voice)
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


def _beat(song: Song, seconds: float) -> float:
    return seconds / song.seconds_per_beat


def render_stems(seed: int, seconds: float, soundfont: str) -> tuple[dict[str, np.ndarray], dict]:
    """float32 stems {name: (nb_samples, 2)} and the track's metadata."""
    renderer = fresh_renderer(str(soundfont))
    song, parts, vocal = compose(seed, seconds, renderer.presets)
    rng = np.random.default_rng([seed, 1])  # mixing decisions, apart from composition
    nb_samples = int(round(seconds * SAMPLE_RATE))
    stems = {stem: np.zeros((nb_samples, 2), dtype=np.float32) for stem in STEMS}
    part_info = []
    sends = {stem: np.zeros((nb_samples, 2), dtype=np.float32) for stem in STEMS}
    other_pans = list(rng.permutation([-0.7, -0.45, -0.2, 0.2, 0.45, 0.7]))
    for part in parts:
        if not part.notes:
            continue
        audio = renderer.render(part, nb_samples)
        chain, send = production.effects_for(part.family, song.genre.name, song.tempo, rng)
        audio = production.apply(audio, chain)
        pan, width = 0.0, 1.0
        if part.stem == "other":
            pan = float(other_pans.pop()) if other_pans else float(rng.uniform(-0.8, 0.8))
            width = float(rng.uniform(0.3, 1.0))
            if part.family == "guitar_dist" or (part.family == "guitar_clean" and rng.random() < 0.3):
                audio = production.double_track(audio, float(rng.uniform(8, 25)), 0.9)
                pan = 0.0
        elif part.stem == "bass":
            width = float(rng.uniform(0.0, 0.3))
        elif part.stem == "vocals":
            width = 1.0
        audio = production.place(audio, pan, width)
        level = {"drums": -16.0, "bass": -18.0, "vocals": -20.0, "other": -21.0}[part.stem]
        gain = level + float(rng.uniform(-3, 3))
        audio = production.normalise(audio, gain)
        stems[part.stem] += audio
        sends[part.stem] += audio * send
        part_info.append(
            {
                **part.info,
                "name": part.name,
                "stem": part.stem,
                "program": part.program,
                "bank": part.bank,
                "effects": production.describe(chain),
                "reverb_send": round(send, 3),
                "pan": round(pan, 2),
                "gain_db": round(gain, 1),
                "notes": len(part.notes),
            }
        )
    vocals_info = {}
    if vocal["lead"]:
        lead = sing(vocal["lead"], vocal["voice"], seconds, rng)
        lead = np.stack([lead, lead], axis=1)
        chain, send = production.effects_for("lead_vocal", song.genre.name, song.tempo, rng)
        lead = production.normalise(production.apply(lead, chain), -17.0 + float(rng.uniform(-2, 3)))
        stems["vocals"] += lead
        sends["vocals"] += lead * send
        vocals_info = {
            "voice": vocal["voice"].__dict__,
            "range": vocal["voice_type"],
            "words": vocal["words"],
            "notes": len(vocal["lead"]),
            "effects": production.describe(chain),
        }
        if vocal["backing"] is not None:
            notes, voice = vocal["backing"]
            notes = in_window(notes, seconds)
            if notes:
                backing = sing(notes, voice, seconds, rng, breaths=False)
                backing = production.double_track(
                    np.stack([backing, backing], axis=1),
                    float(rng.uniform(10, 30)),
                    float(rng.uniform(0.5, 0.9)),
                )
                chain, send = production.effects_for("backing_vocal", song.genre.name, song.tempo, rng)
                backing = production.normalise(production.apply(backing, chain), -25.0)
                stems["vocals"] += backing
                sends["vocals"] += backing * send
                vocals_info["backing"] = {"voice": voice.__dict__, "notes": len(notes)}
    reverbs = {}
    for stem in STEMS:
        if np.any(sends[stem]):
            reverb = production.stem_reverb(rng)
            stems[stem] += production.apply(sends[stem], [reverb])
            reverbs[stem] = {"room_size": round(reverb.room_size, 2), "damping": round(reverb.damping, 2)}
    meta = {
        "seed": int(seed),
        "seconds": seconds,
        "sample_rate": SAMPLE_RATE,
        "genre": song.genre.name,
        "tempo": round(song.tempo, 2),
        "key": song.key.name(),
        "swing": song.swing,
        "sections": [
            {
                "kind": s.kind,
                "start": round(song.seconds_at(s.start_bar * 4), 3),
                "end": round(song.seconds_at(s.end_bar * 4), 3),
                "stems": sorted(s.stems),
                "others": s.others,
            }
            for s in song.sections
            if song.seconds_at(s.start_bar * 4) < seconds
        ],
        "parts": part_info,
        "vocals": vocals_info,
        "reverbs": reverbs,
    }
    return stems, meta


def mix_to_int16(
    stems: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict]:
    """Stem levels vary between songs; a mastering limiter's gain curve and one bus gain, both applied to
    every stem alike, set the loudness and peak. Returns int16 stems and mixture (their exact sum)."""
    for stem in STEMS:
        stems[stem] = stems[stem] * 10 ** (float(rng.uniform(-3, 3)) / 20)
    mixture = sum(stems[s] for s in STEMS)
    reduction = float(rng.choice([0.0, rng.uniform(2, 6), rng.uniform(4, 10)]))
    if reduction > 0:
        gain = production.master_gain(mixture, reduction)[:, None]
        stems = {stem: stems[stem] * gain for stem in STEMS}
        mixture = mixture * gain
    peak = float(np.max(np.abs(mixture))) + 1e-9
    bus = float(rng.uniform(0.5, 0.97)) / peak
    out = {
        stem: np.clip(np.round(stems[stem] * bus * 32767), -32767, 32767).astype(np.int32) for stem in STEMS
    }
    total = sum(out[s] for s in STEMS)
    out["mixture"] = np.clip(total, -32768, 32767)
    return {k: v.astype(np.int16) for k, v in out.items()}, {
        "limiter_db": round(reduction, 1),
        "bus_gain": round(bus, 4),
    }


def write_track(out_dir: Path, index: int, corpus_seed: int, seconds: float, soundfont: str) -> dict:
    """Render track `index` into `out_dir/<name>/` (temporary folder, then rename). Returns its metadata."""
    seed = track_seed(corpus_seed, index)
    stems, meta = render_stems(seed, seconds, soundfont)
    int_stems, master = mix_to_int16(stems, np.random.default_rng([seed, 2]))
    meta["master"] = master
    meta["index"] = index
    meta["corpus_seed"] = corpus_seed
    name = f"{index:04d}_{meta['genre']}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=out_dir))
    try:
        for stem, audio in int_stems.items():
            write_wav_atomic(tmp / f"{stem}.wav", audio, SAMPLE_RATE)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        os.replace(tmp, out_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta

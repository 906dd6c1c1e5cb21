"""Rendering and mixing one composed song into four float stems, then to 16-bit stems and mixture.

Each part is rendered alone (FluidSynth or the singing voice), gets its effects, place in the stereo image and
level (rhythm guitars often as two takes, one each side); parts send to one reverb per stem; each stem has
its bus (`mastering.stem_bus`); mastering, a limiter's gain curve and a bus gain, applied to every stem
alike, set tone, loudness and peak. The mixture is the sum of the 16-bit stems, computed in integers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from demixui import __version__
from demixui.data import production
from demixui.data.composer import compose
from demixui.data.drumsampler import render_drums
from demixui.data.mastering import master, stem_bus
from demixui.data.parts import retake
from demixui.data.render import SAMPLE_RATE, fresh_renderer
from demixui.data.score import in_window
from demixui.data.vocals import sing

STEMS = ("vocals", "drums", "bass", "other")
# Bumped whenever the same seed stops giving the same audio (1: first corpus; 2: + rap, languages, drum
# stereo, vocal air and doubles, sidechain; the train2 corpus; 3: multisampled drum kits, drum bus; 4: bass
# sustained, compressed, dark, plays in more sections; 5: "other" keeps its low end, guitar amp and cabinet;
# 6: "other" bus compressor, mastering on the mix: tilt EQ, low-pass, bus compressor, dual-mono songs;
# 7: wider "other" and drums, more bass reverb; 8: bass low-pass 12 dB/octave at 200-1500 Hz; 9: darker
# vocals; 10: the vocoder's filters computed once per word and scaled per frame, complex64 (the same
# sound to float rounding, a few LSB apart); 11: bass and voices meet their compressors at a set level, bass
# darker and roomier, vocal air flat to 11.5 kHz then falling fast, the "other" bus darker; 12: guitar bands
# far more often, acoustic strums, palm-muted power chords, rhythm guitars doubled by a second take, a bus
# compressor on the vocals (drums and bass: none, their chains compress them already; mastering.stem_bus)).
GENERATOR_VERSION = 12
# (family, role) -> share of such parts doubled by a second take panned to the other side
DOUBLE_ODDS = {
    ("guitar_dist", "power"): 0.9,
    ("guitar_dist", "palm"): 0.9,
    ("guitar_dist", "riff"): 0.5,
    ("guitar_acoustic", "strum"): 0.5,
    ("guitar_clean", "strum"): 0.4,
    ("guitar_clean", "chords"): 0.3,
}
GM_KIT_ODDS = 0.1  # songs whose drums stay on the General MIDI SoundFont's kits
BASS_DRIVE_DB = -20.0  # active RMS (dBFS) of a bass part going into its effects
VOCAL_DRIVE_DB = -20.0  # and of a voice (lead, backing) going into its compressor and saturation


def render_stems(seed: int, seconds: float, soundfont: str) -> tuple[dict[str, np.ndarray], dict]:
    """float32 stems {name: (nb_samples, 2)} and the track's metadata."""
    renderer = fresh_renderer(str(soundfont))
    song, parts, vocal = compose(seed, seconds, renderer.presets)
    rng = np.random.default_rng([seed, 1])  # mixing decisions, apart from composition
    kit_rng = np.random.default_rng([seed, 3])  # the drum kit and its hits
    bus_rng = np.random.default_rng([seed, 5])  # stem buses (the master draws from [seed, 4])
    nb_samples = int(round(seconds * SAMPLE_RATE))
    stems = {stem: np.zeros((nb_samples, 2), dtype=np.float32) for stem in STEMS}
    part_info = []
    sends = {stem: np.zeros((nb_samples, 2), dtype=np.float32) for stem in STEMS}
    other_pans = list(rng.permutation([-0.7, -0.45, -0.2, 0.2, 0.45, 0.7]))
    duck_odds = {"electronic": 0.6, "hiphop": 0.25, "pop": 0.2}.get(song.genre.name, 0.0)
    ducking = None
    if rng.random() < duck_odds:  # sidechain "pumping": bass and other duck under the kick
        kicks = [n.start for n in parts[0].notes if n.pitch in (35, 36)]
        depth_db = float(rng.uniform(3, 10))
        ducking = production.sidechain_gain(kicks, nb_samples, depth_db, float(rng.uniform(0.08, 0.25)))
    for part in parts:
        if not part.notes:
            continue
        instrument = renderer.preset_name(part.bank, part.program)
        if part.stem == "drums" and kit_rng.random() >= GM_KIT_ODDS:
            audio, kit_info = render_drums(part, song.genre.name, nb_samples, kit_rng)
            part.info.update(kit_info)
            instrument = kit_info["sampled_kit"]
        else:
            audio = renderer.render(part, nb_samples)
        doubled = rng.random() < DOUBLE_ODDS.get((part.family, part.role), 0.0)
        tone_seed = int(rng.integers(2**32))  # a double's two takes draw the same chain; the second's moves
        chain, send = production.effects_for(
            part.family, song.genre.name, song.tempo, np.random.default_rng(tone_seed), part.role
        )
        if part.stem == "bass":  # the compressors (thresholds in dBFS) then meet the same level in every song
            audio = production.normalise(audio, BASS_DRIVE_DB)  # FluidSynth's basses come out near -30 dBFS
        audio = production.apply(audio, chain)
        pan, width = 0.0, 1.0
        if doubled:  # a real double: the part played and amped again, each take to one side
            second, _ = production.effects_for(
                part.family, song.genre.name, song.tempo, np.random.default_rng(tone_seed), part.role
            )
            take = production.apply(
                renderer.render(retake(part, rng), nb_samples), production.second_take_tone(second, rng)
            )
            spread = float(rng.uniform(0.7, 1.0))
            width = float(rng.uniform(0.2, 0.6))
            balance_db = float(rng.uniform(-2, 2))
            audio = production.place(audio, -spread, width) + production.place(
                take, spread, width
            ) * np.float32(10 ** (balance_db / 20))
            part.info["doubled"] = {"spread": round(spread, 2), "balance_db": round(balance_db, 1)}
        elif part.stem == "other":
            pan = float(other_pans.pop()) if other_pans else float(rng.uniform(-0.8, 0.8))
            width = float(rng.uniform(0.5, 1.4))  # real mixes: side/mid -9.3 dB, ours were -13
        elif part.stem == "bass":
            width = float(rng.uniform(0.0, 0.3))
        elif part.stem == "vocals":
            width = 1.0
        elif part.stem == "drums":
            width = float(rng.uniform(1.0, 1.4))  # real drum stems: side/mid -11.9 dB, ours were -15.5
        if not doubled:
            audio = production.place(audio, pan, width)
        level = {"drums": -16.0, "bass": -18.0, "vocals": -20.0, "other": -21.0}[part.stem]
        gain = level + float(rng.uniform(-3, 3))
        audio = production.normalise(audio, gain)
        if ducking is not None and part.stem in ("bass", "other"):
            audio = audio * ducking[:, None]
        stems[part.stem] += audio
        sends[part.stem] += audio * send
        part_info.append(
            {
                **part.info,
                "name": part.name,
                "stem": part.stem,
                "program": part.program,
                "bank": part.bank,
                "instrument": instrument,
                "effects": production.describe(chain),
                "reverb_send": round(send, 3),
                "pan": round(pan, 2),
                "gain_db": round(gain, 1),
                "notes": len(part.notes),
            }
        )
    vocals_info = _mix_vocals(song, vocal, seconds, rng, stems, sends)
    reverbs = {}
    for stem in STEMS:
        if np.any(sends[stem]):
            reverb = production.stem_reverb(rng)
            stems[stem] += production.apply(sends[stem], [reverb])
            reverbs[stem] = {"room_size": round(reverb.room_size, 2), "damping": round(reverb.damping, 2)}
    buses = {}
    for stem in STEMS:
        stems[stem], buses[stem] = stem_bus(stem, stems[stem], bus_rng)
    meta = {
        "generator": {
            "version": GENERATOR_VERSION,
            "demixui": __version__,
            "soundfont": Path(soundfont).name,
        },
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
                "start": round(max(0.0, song.seconds_at(s.start_bar * 4)), 3),
                "end": round(min(seconds, song.seconds_at(s.end_bar * 4)), 3),
                "stems": sorted(s.stems),
                "others": s.others,
            }
            for s in song.sections
            if song.seconds_at(s.start_bar * 4) < seconds and song.seconds_at(s.end_bar * 4) > 0
        ],
        "sidechain_db": round(depth_db, 1) if ducking is not None else 0.0,
        "instruments": sorted({info["instrument"] for info in part_info}),
        "parts": part_info,
        "vocals": vocals_info,
        "reverbs": reverbs,
        "stem_buses": {stem: bus for stem, bus in buses.items() if bus},
    }
    return stems, meta


def mix_to_int16(
    stems: dict[str, np.ndarray], rng: np.random.Generator, master_rng: np.random.Generator | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Stem levels vary between songs; mastering (`demixui.data.mastering`, drawn from `master_rng`), a
    limiter's gain curve and one bus gain, all applied to every stem alike, set the sound, loudness and peak.
    Returns int16 stems and mixture (their exact sum)."""
    for stem in STEMS:
        stems[stem] = stems[stem] * 10 ** (float(rng.uniform(-3, 3)) / 20)
    mastering = {}
    if master_rng is not None:
        stems, mastering = master(stems, master_rng)
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
        **mastering,
        "limiter_db": round(reduction, 1),
        "bus_gain": round(bus, 4),
    }


def _mix_vocals(
    song, vocal: dict, seconds: float, rng: np.random.Generator, stems: dict, sends: dict
) -> dict:
    """The sung lead (sometimes double-tracked in choruses) and the backing harmony into the vocals stem."""
    if not vocal["lead"]:
        return {}
    lead = sing(vocal["lead"], vocal["voice"], seconds, rng)
    lead = np.stack([lead, lead], axis=1)
    info = {
        "voice": vocal["voice"].__dict__,
        "range": vocal["voice_type"],
        "words": vocal["words"],
        "language": vocal["language"],
        "rapped_sections": vocal["rap"],
        "notes": len(vocal["lead"]),
    }
    chorus = [
        n
        for n in vocal["lead"]
        if song.section_at(n.start / song.seconds_per_beat + song.offset_beats).kind == "chorus"
    ]
    if chorus and rng.random() < 0.35:  # a second take, a little late or early, under the first
        take = [dataclasses.replace(n, start=n.start + float(rng.normal(0, 0.012))) for n in chorus]
        double = sing(in_window(take, seconds), vocal["voice"], seconds, rng, breaths=False)
        level = 10 ** (float(rng.uniform(-9, -4)) / 20)
        lead += production.double_track(np.stack([double, double], axis=1), 12.0, 0.2) * level
        info["double_tracked"] = round(20 * np.log10(level), 1)
    chain, send = production.effects_for("lead_vocal", song.genre.name, song.tempo, rng)
    lead = production.normalise(lead, VOCAL_DRIVE_DB)  # the singer comes out of the vocoder near -52 dBFS
    lead = production.normalise(production.apply(lead, chain), -17.0 + float(rng.uniform(-2, 3)))
    stems["vocals"] += lead
    sends["vocals"] += lead * send
    info["effects"] = production.describe(chain)
    if vocal["backing"] is not None:
        notes, voice = vocal["backing"]
        notes = in_window(notes, seconds)
        if notes:
            backing = sing(notes, voice, seconds, rng, breaths=False)
            backing = production.double_track(
                np.stack([backing, backing], axis=1), float(rng.uniform(10, 30)), float(rng.uniform(0.5, 0.9))
            )
            chain, send = production.effects_for("backing_vocal", song.genre.name, song.tempo, rng)
            level = float(rng.uniform(-29, -21))
            backing = production.normalise(backing, VOCAL_DRIVE_DB)
            backing = production.normalise(production.apply(backing, chain), level)
            stems["vocals"] += backing
            sends["vocals"] += backing * send
            info["backing"] = {"voice": voice.__dict__, "notes": len(notes), "level_db": round(level, 1)}
    return info

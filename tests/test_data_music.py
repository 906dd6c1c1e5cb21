"""The generator's music: the sung pitch follows the melody, bass follows the chords, and every instrument
family, drum kit, bass style, genre and voice range turns up over a batch of seeds. Composition only (no
rendering) except the singing test."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from demixui.data.composer import compose, track_seed
from demixui.data.drums import KITS
from demixui.data.harmony import MODES, Key
from demixui.data.parts import FAMILIES
from tests.conftest import require_executable

ALL_PRESETS = {(bank, program) for bank in (0, 128) for program in range(128)}


@pytest.fixture(scope="module")
def songs():
    return [compose(track_seed(77, i), 30.0, ALL_PRESETS) for i in range(80)]


def test_every_family_kit_bass_style_genre_and_range_appears(songs):
    families, kits, styles, genres, ranges, roles, modes = set(), set(), set(), set(), set(), set(), set()
    for song, parts, vocal in songs:
        genres.add(song.genre.name)
        modes.add(song.key.mode)
        ranges.add(vocal["voice_type"])
        for part in parts:
            if part.stem == "other":
                families.add(part.family)
                roles.add(part.role)
            elif part.stem == "drums":
                kits.add(part.info["kit"])
            elif part.stem == "bass":
                styles.add(part.info["style"])
    assert families == set(FAMILIES), set(FAMILIES) - families
    assert kits == set(KITS), set(KITS) - kits
    assert styles == {"root8", "rootfifth", "octave", "syncopated", "walking", "sustained"}, styles
    assert genres == {"rock", "pop", "funk", "hiphop", "electronic", "reggae", "swing", "metal", "ballad"}
    assert ranges == {"bass", "baritone", "tenor", "alto", "mezzo", "soprano"}
    assert {"chords", "arpeggio", "riff", "pad", "counter"} <= roles, roles
    assert modes == set(MODES), set(MODES) - modes


def test_tempi_span_sixty_to_one_eighty(songs):
    tempi = [song.tempo for song, _, _ in songs]
    assert min(tempi) < 75 and max(tempi) > 150, (min(tempi), max(tempi))


def test_sections_vary_and_stems_enter_and_leave(songs):
    kinds = {s.kind for song, _, _ in songs for s in song.sections}
    assert {"intro", "verse", "chorus", "bridge", "breakdown"} <= kinds, kinds
    changes = 0
    for song, _, _ in songs:
        for a, b in zip(song.sections, song.sections[1:], strict=False):
            changes += a.stems != b.stems or a.others != b.others
    assert changes > len(songs) // 2


def test_bass_plays_the_chord_roots_on_strong_beats(songs):
    on_root = total = 0
    for song, parts, _ in songs[:30]:
        bass = next(p for p in parts if p.stem == "bass")
        for note in bass.notes:
            beat = note.start / song.seconds_per_beat + song.offset_beats
            if abs(beat - round(beat)) > 0.05 or round(beat) % 4 != 0:
                continue
            chord = song.chord_at(round(beat) + 0.01)
            total += 1
            on_root += note.pitch % 12 == chord[0]
    assert total > 100 and on_root / total > 0.8, (on_root, total)


def test_every_song_has_drums_bass_other_and_sung_words(songs):
    for song, parts, _ in songs:
        stems = {p.stem for p in parts if p.notes}
        assert {"drums", "bass", "other"} <= stems, (song.genre.name, stems)
        assert len({p.name for p in parts}) == len(parts)
    sung = [v for _, _, v in songs if v["lead"]]
    assert len(sung) > 0.8 * len(songs)
    words = {n.word for v in sung for n in v["lead"] if n.word}
    assert len(words) > 20


def test_keys_and_chords_are_diatonic():
    key = Key(2, "dorian")  # D dorian: D E F G A B C
    assert key.scale == (2, 4, 5, 7, 9, 11, 0)
    assert key.chord(0) == (2, 5, 9)  # D minor
    assert key.chord(3) == (7, 11, 2)  # G major
    assert key.is_minor and not Key(0, "lydian").is_minor


def test_sung_pitch_follows_the_melody(songs):
    """An f0 estimate (WORLD's DIO + StoneMask) of the dry lead vocal, against the melody's notes."""
    require_executable("espeak-ng")
    from demixui.data.vocals import pw, sing

    seconds = 12.0
    sung = [v for _, _, v in songs if sum(not n.spoken and n.start < seconds - 1 for n in v["lead"]) > 12]
    vocal = sung[0]
    notes = [n for n in vocal["lead"] if n.start + n.duration < seconds and not n.spoken]
    audio = sing(notes, vocal["voice"], seconds, np.random.default_rng(0))
    assert audio.shape == (int(seconds * 44100),)
    x = soxr.resample(audio.astype(np.float64), 44100, 16000)
    f0, times = pw.dio(x, 16000, f0_floor=60.0, f0_ceil=900.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, times, 16000)
    errors = []
    for note in notes:
        if note.duration < 0.2:
            continue
        mask = (times > note.start + 0.08) & (times < note.start + note.duration - 0.04) & (f0 > 0)
        if mask.sum() < 5:
            continue
        sung = 69 + 12 * np.log2(np.median(f0[mask]) / 440)
        errors.append(sung - note.pitch)
    errors = np.abs(np.array(errors))
    assert len(errors) >= 5, len(errors)
    # vibrato (up to 60 cents) and glides move the median a little; octave errors would be 12
    assert np.mean(errors < 0.6) > 0.8, np.round(errors, 2)


def test_singing_is_silent_between_phrases_and_varies_in_pitch(songs):
    require_executable("espeak-ng")
    from demixui.data.score import Note
    from demixui.data.vocals import Voice, sing

    voice = Voice("en+m3", 1.0, 40.0, 5.5, 0.1)
    notes = [
        Note(0.5, 0.5, 57, 100, "love"),
        Note(1.0, 0.5, 60, 100, "night"),
        Note(1.5, 1.0, 64, 100, None),
        Note(4.0, 0.8, 62, 100, "fire"),
    ]
    audio = sing(notes, voice, 6.0, np.random.default_rng(1))
    rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * 44100) : int(b * 44100)] ** 2)))  # noqa: E731
    assert rms(0.6, 2.3) > 30 * rms(3.0, 3.6) + 1e-6  # a rest is a rest (breath noise is quiet)
    assert rms(4.0, 4.7) > 0
    assert rms(5.2, 6.0) < rms(4.0, 4.7) / 30


def test_bass_plays_in_almost_every_section_and_often_holds_its_notes(songs):
    sections = [s for song, _, _ in songs for s in song.sections if s.kind != "breakdown"]
    assert np.mean(["bass" in s.stems for s in sections]) > 0.88
    tied = 0
    for _, parts, _ in songs:
        bass = next(part for part in parts if part.stem == "bass")
        pairs = zip(bass.notes, bass.notes[1:], strict=False)
        held = [b.start - a.start - a.duration < 0.05 for a, b in pairs]
        tied += bool(held) and np.mean(held) > 0.9
    assert 0.4 < tied / len(songs) < 0.9, tied


def test_keys_and_pads_sometimes_play_a_low_root(songs):
    from demixui.data.parts import LOW_ROOT_FAMILIES

    low, eligible = 0, 0
    for _, parts, _ in songs:
        for part in parts:
            if part.family in LOW_ROOT_FAMILIES and part.role in ("chords", "pad") and part.notes:
                eligible += 1
                low += min(note.pitch for note in part.notes) < 48  # below C3 (131 Hz)
    assert 0.3 < low / eligible < 0.8, (low, eligible)


def test_guitar_bands_follow_each_genres_odds():
    from demixui.data.arrangement import GENRES
    from demixui.data.parts import GUITARS, choose_others

    for name, genre in GENRES.items():
        rng = np.random.default_rng(len(name))
        bands = [choose_others(rng, genre.others, 3, genre.guitar_odds) for _ in range(400)]
        share = np.mean([any(family in GUITARS for family, _ in band) for band in bands])
        assert abs(share - genre.guitar_odds) < 0.07, (name, share, genre.guitar_odds)
        assert all(len({family for family, _ in band}) == len(band) for band in bands)
    # guitar bands far more often than the two genres in nine of generator 11 (rock and metal alone)
    assert all(GENRES[name].guitar_odds >= 0.9 for name in ("rock", "metal"))
    assert all(GENRES[name].guitar_odds >= 0.6 for name in ("pop", "funk", "reggae", "ballad"))
    assert all(GENRES[name].guitar_odds <= 0.15 for name in ("hiphop", "electronic"))


def test_a_guitar_bands_rhythm_guitar_plays_in_most_sections(songs):
    from demixui.data.parts import GUITARS

    checked = 0
    for song, parts, _ in songs:
        rhythm = parts[2]  # the first "other" part: a guitar band's guitar
        if rhythm.family in GUITARS and rhythm.role in ("strum", "palm", "power"):
            for section in song.sections:
                if section.kind not in ("intro", "breakdown"):
                    assert rhythm.name in section.others, (rhythm.name, section)
                    checked += 1
    assert checked > 50, checked


def test_palm_muted_chugs_are_short_and_low_and_open_power_chords_ring():
    from demixui.data.arrangement import plan_song
    from demixui.data.parts import other_part

    palm_lengths, open_lengths, palm_pitches = [], [], []
    for seed in range(6):
        song = plan_song(np.random.default_rng(seed), 20.0, ["guitar"], "metal")
        for role, lengths in (("palm", palm_lengths), ("power", open_lengths)):
            part = other_part(song, np.random.default_rng(seed), "guitar", "guitar_dist", role)
            lengths += [note.duration for note in part.notes]
            if role == "palm":
                palm_pitches += [note.pitch for note in part.notes]
    assert np.median(palm_lengths) < 0.13 and max(palm_lengths) < 0.13, np.median(palm_lengths)
    assert np.median(open_lengths) > 2 * np.median(palm_lengths), (np.median(open_lengths), palm_lengths[:5])
    assert max(palm_pitches) <= 58 and min(palm_pitches) >= 40  # root E2-D#3 and its fifth


def test_strums_sweep_down_all_strings_and_up_the_top_ones():
    from demixui.data.arrangement import plan_song
    from demixui.data.parts import other_part

    downs = ups = 0
    for seed in range(4):
        song = plan_song(np.random.default_rng(seed), 20.0, ["guitar"], "pop")
        part = other_part(song, np.random.default_rng(seed), "guitar", "guitar_acoustic", "strum")
        strokes: list[list] = []
        for note in sorted(part.notes, key=lambda n: n.start):
            if strokes and note.start - strokes[-1][-1].start < 0.03:
                strokes[-1].append(note)
            else:
                strokes.append([note])
        for stroke in strokes:
            pitches = [note.pitch for note in stroke]
            if len(stroke) == 6 and pitches == sorted(pitches) and pitches[-1] - pitches[0] == 24:
                downs += 1
            elif len(stroke) in (3, 4) and pitches == sorted(pitches, reverse=True):
                ups += 1
    assert downs > 20 and ups > 10, (downs, ups)


def test_a_retake_plays_the_same_notes_a_little_off():
    from demixui.data.parts import retake
    from demixui.data.score import Note, Part

    part = Part("g", "other", "guitar_dist", 29, 0, "power")
    part.notes = [Note(0.25 * i, 0.2, 40 + i % 5, 90) for i in range(80)]
    take = retake(part, np.random.default_rng(0))
    assert [n.pitch for n in take.notes] == [n.pitch for n in part.notes]
    shifts = np.array([b.start - a.start for a, b in zip(part.notes, take.notes, strict=True)])
    assert 0.002 < np.median(np.abs(shifts)) and np.max(np.abs(shifts)) < 0.04, shifts
    assert np.std(shifts) > 0.003  # scattered note by note, not one offset (a copy, delayed)
    assert any(a.velocity != b.velocity for a, b in zip(part.notes, take.notes, strict=True))
    assert part.notes[0].start == 0.0  # the original is untouched

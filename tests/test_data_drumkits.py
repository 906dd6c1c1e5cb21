"""Multisampled drum kits: every catalogue kit loads from its system package and plays every piece, velocity
layers are really used, the open hi-hat is choked, Hydrogen kits are read in both drumkit.xml formats, and the
drum bus keeps its promised range. A kit package that is missing fails here (in CI, DEMIXUI_REQUIRE_ALL=1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.data import drumkits
from demixui.data.drums import HAT, KICK, OPEN, PEDAL, SNARE, TOMS
from demixui.data.drumsampler import choose_kit, play
from demixui.data.score import Note, Part
from tests.conftest import missing_tool

SR = 44100


def part_of(*notes: tuple[float, int, int]) -> Part:
    part = Part("drums", "drums", "kit", 0, 128)
    part.notes = [Note(start, 0.1, pitch, velocity) for start, pitch, velocity in notes]
    return part


def low_share(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    return float(power[freqs < 150].sum() / power.sum())


@pytest.fixture(scope="module")
def installed():
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as error:
        missing_tool(f"FluidSynth is not available: {error}")
    if drumkits.missing_kits():
        missing_tool(f"drum kits missing: {drumkits.missing_kits()} (install {drumkits.KIT_PACKAGES})")


@pytest.mark.parametrize("name", sorted(drumkits.CATALOGUE))
def test_every_kit_plays_kick_snare_and_hats(installed, name):
    kit = drumkits.load_kit(name)
    part = part_of((0.0, KICK, 110), (0.5, SNARE, 110), (1.0, HAT, 100), (1.5, TOMS[-1], 100))
    audio = play(kit, part, 2 * SR, np.random.default_rng(0), {})
    assert audio.shape == (2 * SR, 2) and audio.dtype == np.float32
    pieces = {KICK: audio[: SR // 4], SNARE: audio[SR // 2 : 3 * SR // 4], "hat": audio[SR : SR + SR // 4]}
    for piece, clip in pieces.items():
        assert np.sqrt(np.mean(clip**2)) > 1e-3, (name, piece)
    # a kick is a kick: more of its energy is low than the hi-hat's
    assert low_share(pieces[KICK]) > low_share(pieces["hat"]) + 0.1, (name, low_share(pieces[KICK]))


@pytest.mark.parametrize("name", ["avl-black-pearl", "h2-bja-pacific", "ms-standard"])
def test_soft_and_hard_hits_are_different_samples_not_a_gain(installed, name):
    kit = drumkits.load_kit(name)
    soft = play(kit, part_of((0.0, SNARE, 35)), SR // 2, np.random.default_rng(0), {})
    hard = play(kit, part_of((0.0, SNARE, 120)), SR // 2, np.random.default_rng(0), {})
    assert np.sqrt(np.mean(hard**2)) > 2 * np.sqrt(np.mean(soft**2))
    # the same sample scaled would correlate perfectly; another layer does not
    a, b = soft.mean(axis=1), hard.mean(axis=1)
    correlation = abs(np.dot(a, b)) / np.sqrt(np.dot(a, a) * np.dot(b, b))
    assert correlation < 0.98, (name, correlation)


def test_open_hat_is_choked_by_the_next_closed_hat(installed):
    kit = drumkits.load_kit("h2-black-pearl")
    rng = np.random.default_rng
    ringing = play(kit, part_of((0.0, OPEN, 110)), SR, rng(0), {})
    pedal = play(kit, part_of((0.3, PEDAL, 80)), SR, rng(0), {})
    both = play(kit, part_of((0.0, OPEN, 110), (0.3, PEDAL, 80)), SR, rng(0), {})
    cut = int(0.3 * SR)
    assert np.sqrt(np.mean(ringing[cut : cut + SR // 10] ** 2)) > 1e-3  # it would still ring
    np.testing.assert_allclose(both[cut:], pedal[cut:], atol=1e-6)  # only the pedal hat is left
    np.testing.assert_allclose(both[: cut - 700], ringing[: cut - 700], atol=1e-6)  # untouched before


def test_same_rng_same_audio_and_genres_get_their_kits(installed):
    kit = drumkits.load_kit("h2-millo-2")
    part = part_of(*[(i * 0.125, (KICK, HAT, SNARE, HAT)[i % 4], 60 + i) for i in range(16)])
    a = play(kit, part, 2 * SR, np.random.default_rng(5), {KICK: 3.0})
    b = play(kit, part, 2 * SR, np.random.default_rng(5), {KICK: 3.0})
    assert np.array_equal(a, b)
    styles = {
        genre: {drumkits.CATALOGUE[choose_kit(genre, np.random.default_rng(i))][4] for i in range(40)}
        for genre in ("swing", "electronic", "metal")
    }
    assert "jazz" in styles["swing"] and "electronic" in styles["electronic"], styles
    assert styles["metal"] == {"acoustic"}, styles


def write_kit(folder: Path, xml: str, files: dict[str, float]) -> None:
    folder.mkdir()
    (folder / "drumkit.xml").write_text(xml)
    for name, freq in files.items():
        t = np.arange(SR // 5) / SR
        sf.write(str(folder / name), 0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t * 20), SR)


def test_hydrogen_kits_in_both_formats_map_names_to_pieces(tmp_path):
    layered = """<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit"><instrumentList>
      <instrument><name>Kick (Tama 22")</name><volume>1</volume>
        <layer><filename>k1.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer>
        <layer><filename>k2.wav</filename><min>0.5</min><max>1</max><gain>1</gain></layer></instrument>
      <instrument><name>Snare Roll</name><layer><filename>s.wav</filename></layer></instrument>
      <instrument><name>Snare</name><layer><filename>s.wav</filename></layer></instrument>
      <instrument><name>Hi-Hat Open</name><layer><filename>h.wav</filename></layer></instrument>
      <instrument><name>Hi Hat Closed</name><layer><filename>h.wav</filename></layer></instrument>
      <instrument><name>Floor Tom</name><layer><filename>t1.wav</filename></layer></instrument>
      <instrument><name>Tom Hi</name><layer><filename>t2.wav</filename></layer></instrument>
    </instrumentList></drumkit_info>"""
    tones = {"k1.wav": 50, "k2.wav": 60, "s.wav": 200, "h.wav": 6000, "t1.wav": 80, "t2.wav": 180}
    write_kit(tmp_path / "a", layered, tones)
    kit = drumkits.load_hydrogen("a", tmp_path / "a", "acoustic")
    assert len(kit.pieces[KICK]) == 1 and len(kit.pieces[KICK][0]) == 2  # one kick, two velocity layers
    assert len(kit.pieces[SNARE]) == 1  # the roll is left out
    assert OPEN in kit.pieces and HAT in kit.pieces
    assert kit.pieces[TOMS[-1]][0][0].source.endswith("t1.wav")  # GM low floor tom: the floor tom
    assert kit.pieces[TOMS[0]][0][0].source.endswith("t2.wav")  # GM high tom: the high tom
    old = """<drumkit_info><instrumentList>
      <instrument><name>bass drum 1</name><filename>k1.wav</filename><volume>0.5</volume></instrument>
      <instrument><name>snare 1</name><filename>s.wav</filename></instrument>
      <instrument><name>hi-hat closed</name><filename>h.wav</filename></instrument>
    </instrumentList></drumkit_info>"""
    write_kit(tmp_path / "b", old, {"k1.wav": 50, "s.wav": 200, "h.wav": 6000})
    kit = drumkits.load_hydrogen("b", tmp_path / "b", "acoustic")
    assert kit.pieces[KICK][0][0].gain == 0.5 and SNARE in kit.pieces and HAT in kit.pieces

"""`demixui data import`: grouping by name, resampling, exact mixture, one song gain against clipping, silence
trimmed and split, the below-150 Hz report and one-line errors. Stems are short tones made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.audiofile import resample
from demixui.cli import main
from demixui.data.importer import (
    DEFAULT_GROUPING,
    LOW_BAND_HZ,
    MARGIN_SECONDS,
    group_of,
    low_band_energy,
    stem_name,
)

RATE = 48000
STEMS = ("vocals", "drums", "bass", "other")


def tone(freq: float, seconds: float, amp: float = 0.2, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    left = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


def write_song(folder: Path, stems: dict[str, np.ndarray], rate: int = RATE, song: str | None = None) -> Path:
    """`folder/<song>_Stem_<NAME>.wav` per stem (NAME may end in `_mobile`), float WAV."""
    folder.mkdir(parents=True, exist_ok=True)
    song = song or folder.name
    for name, audio in stems.items():
        sf.write(str(folder / f"{song}_Stem_{name}.wav"), audio, rate, subtype="FLOAT")
    return folder


def read(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == 44100 and audio.shape[1] == 2, (path, rate, audio.shape)
    assert sf.info(str(path)).subtype == "PCM_16"
    return audio


def run_import(src: Path, out: Path, *extra: str) -> int:
    return main(["data", "import", str(src), "--out", str(out), *extra])


@pytest.mark.parametrize("name, group", [
    ("VOX LEAD", "vocals"), ("BGVOX AAAAAHHHH", "vocals"), ("KICK", "drums"), ("HATS", "drums"),
    ("HH GLITCH", "drums"), ("ALT HH", "drums"), ("K & SN", "drums"), ("BUILD PRC", "drums"),
    ("GARAGE BEAT", "drums"), ("DRUMS BREAK 1", "drums"), ("SY BASS", "bass"), ("PAD + BASS", "bass"),
    ("BASS STAB", "bass"), ("MELODY BREAK", "other"), ("FILL PIANO", "other"), ("BEEP", "other"),
    ("MINILOGUE_SYNTH", "other"), ("ECHO PAD", "other"), ("Master", "skip"),
])
def test_default_grouping(name, group):
    assert group_of(name, DEFAULT_GROUPING, "2.Lithium") == group


def test_song_scoped_patterns():
    assert group_of("MINILOGUE_SYNTH", DEFAULT_GROUPING, "5.Rubidium") == "bass"  # a bass line, by its energy
    assert group_of("MINILOGUE_SYNTH", DEFAULT_GROUPING, "2.Lithium") == "other"
    assert group_of("TEXTURE", DEFAULT_GROUPING, "7.Francium") == "bass"
    assert group_of("TEXTURE", DEFAULT_GROUPING, "x") == "other"


def test_stem_names():
    assert stem_name(Path("2.Lithium/2.Lithium_Stem_BGVOX 1_mobile.m4a")) == ("BGVOX 1", True)
    assert stem_name(Path("2.Lithium/2.Lithium_Stem_PAD + BASS.wav")) == ("PAD + BASS", False)
    assert stem_name(Path("6.Caesium/6.Caesium_Master_mobile.m4a")) == ("Master", True)
    assert stem_name(Path("song/kick.flac")) == ("kick", False)


def test_low_band_energy_of_tones():
    low, total = low_band_energy(tone(60, 2.0, rate=44100), 44100)
    assert low / total > 0.99
    low, total = low_band_energy(tone(1000, 2.0, rate=44100), 44100)
    assert low / total < 0.01
    mixed = tone(60, 2.0, rate=44100) + tone(1000, 2.0, rate=44100)  # equal amplitudes: half each
    low, total = low_band_energy(mixed, 44100)
    assert abs(low / total - 0.5) < 0.02
    assert LOW_BAND_HZ == 150.0


def test_import_groups_resamples_and_sums_exactly(tmp_path, capsys):
    seconds = 6.0
    stems = {
        "VOX LEAD": tone(440, seconds), "BGVOX 1": tone(660, seconds, 0.1), "KICK": tone(3000, seconds, 0.1),
        "SY BASS": tone(55, seconds), "PAD": tone(1000, seconds, 0.1),
        "PAD_mobile": tone(2000, seconds, 0.1),  # full quality exists: this copy must not be used
        "SWEEP_mobile": tone(5000, seconds, 0.05),  # only a mobile copy: used, and reported
        "Master": tone(100, seconds, 0.9),  # not a stem
    }
    write_song(tmp_path / "src" / "1.Song", stems)
    out = tmp_path / "out"
    assert run_import(tmp_path / "src", out) == 0
    track = out / "1.Song"
    audio = {stem: read(track / f"{stem}.wav") for stem in (*STEMS, "mixture")}
    assert all(a.shape == (int(seconds * 44100), 2) for a in audio.values())  # 48 kHz -> 44.1 kHz
    total = sum(audio[s].astype(np.int32) for s in STEMS)
    np.testing.assert_array_equal(audio["mixture"], total)  # exact sum, bit for bit

    def expected(*names):
        return resample(sum(stems[n] for n in names), RATE, 44100)

    # Each group holds the (resampled) sum of its stems, within 16-bit rounding; no song gain was needed.
    # Away from the edges (soxr's filter has a few ms of transient at a hard start and stop).
    inner = slice(2000, -2000)
    for stem, names in [("vocals", ["VOX LEAD", "BGVOX 1"]), ("drums", ["KICK"]), ("bass", ["SY BASS"]),
                        ("other", ["PAD", "SWEEP_mobile"])]:
        got = audio[stem][inner] / 32767
        np.testing.assert_allclose(got, expected(*names)[inner], atol=2e-4, err_msg=stem)
    assert track.stat().st_mode & 0o755 == 0o755  # not mkdtemp's 0700
    meta = json.loads((track / "meta.json").read_text())
    assert meta["gain_db"] == 0.0
    assert {s["name"]: s["group"] for s in meta["stems"]}["Master"] == "skip"
    printed = capsys.readouterr().out
    assert "from _mobile copies (1): 1.Song/SWEEP" in printed
    assert "! low-band energy outside bass" not in printed


def test_one_gain_for_every_stem_when_the_sum_would_clip(tmp_path):
    seconds = 6.0
    stems = {"VOX": tone(440, seconds, 0.8), "SY BASS": tone(440, seconds, 0.8),
             "PAD": tone(880, seconds, 0.3)}
    write_song(tmp_path / "src" / "song", stems)
    assert run_import(tmp_path / "src", tmp_path / "out") == 0
    track = tmp_path / "out" / "song"
    mixture = read(track / "mixture.wav")
    assert 32000 < np.max(np.abs(mixture.astype(np.int32))) <= 32767
    gain_db = json.loads((track / "meta.json").read_text())["gain_db"]
    peak = np.max(np.abs(resample(sum(stems.values()), RATE, 44100)))  # about 1.7
    assert abs(gain_db - 20 * np.log10(1 / peak)) < 0.01
    gain = 10 ** (gain_db / 20)
    inner = slice(2000, -2000)
    for stem, name in [("vocals", "VOX"), ("bass", "SY BASS"), ("other", "PAD")]:
        got = read(track / f"{stem}.wav")[inner] / 32767
        np.testing.assert_allclose(got, gain * resample(stems[name], RATE, 44100)[inner], atol=3e-3)


def test_silence_trimmed_at_the_ends_and_splits_inside(tmp_path):
    def song(*pieces):  # (seconds, sounding?) pieces -> one stem
        return np.concatenate([tone(300, s) if on else np.zeros((int(s * RATE), 2), np.float32)
                               for s, on in pieces])

    # 2 s silence, 6 s sound, 4 s silence (all stems), 7 s sound, 1 s silence. The bass is silent for 2 s
    # inside the first part while the vocals play: not a silence of the song.
    vocals = song((2, False), (6, True), (4, False), (7, True), (1, False))
    bass = song((2, False), (2, True), (2, False), (2, True), (4, False), (7, True), (1, False))
    write_song(tmp_path / "src" / "s", {"VOX": vocals, "SY BASS": bass})
    assert run_import(tmp_path / "src", tmp_path / "out") == 0
    parts = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert parts == ["s - part 1", "s - part 2"]
    lengths = [read(tmp_path / "out" / p / "mixture.wav").shape[0] / 44100 for p in parts]
    margin = MARGIN_SECONDS
    np.testing.assert_allclose(lengths, [6 + 2 * margin, 7 + 2 * margin], atol=0.11)  # 0.1 s blocks
    starts = [json.loads((tmp_path / "out" / p / "meta.json").read_text())["start_seconds"] for p in parts]
    np.testing.assert_allclose(starts, [2 - margin, 12 - margin], atol=0.11)
    # A longer --min-silence-seconds keeps one track, still trimmed at both ends.
    assert run_import(tmp_path / "src", tmp_path / "out2", "--min-silence-seconds", "5") == 0
    (track,) = (tmp_path / "out2").iterdir()
    assert track.name == "s"
    assert abs(read(track / "mixture.wav").shape[0] / 44100 - (17 + 2 * margin)) < 0.11


def test_low_band_report_flags_sub_bass_outside_bass(tmp_path, capsys):
    seconds = 6.0
    stems = {"VOX": tone(440, seconds), "SINE": tone(50, seconds, 0.3), "SY BASS": tone(900, seconds, 0.2),
             "KICK": tone(60, seconds, 0.2)}
    write_song(tmp_path / "src" / "song", stems)
    assert run_import(tmp_path / "src", tmp_path / "out") == 0
    lines = capsys.readouterr().out.splitlines()
    (sine,) = [line for line in lines if line.strip().startswith("SINE")]
    assert "other" in sine and "! low-band energy outside bass" in sine
    assert " 100%" in sine
    (bass,) = [line for line in lines if line.strip().startswith("SY BASS")]
    assert "! bass stem mostly above the low band" in bass
    (kick,) = [line for line in lines if line.strip().startswith("KICK")]
    assert "? kick, or an 808" in kick
    (vox,) = [line for line in lines if line.strip().startswith("VOX")]
    assert "!" not in vox and "  0%" in vox
    # A table that says SINE is bass moves it; the report then flags nothing for it.
    table = tmp_path / "table.json"
    table.write_text(json.dumps([["SINE", "bass"], *[list(row) for row in DEFAULT_GROUPING]]))
    assert run_import(tmp_path / "src", tmp_path / "out2", "--grouping", str(table)) == 0
    (sine,) = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("SINE")]
    assert " bass " in sine and "!" not in sine
    bass = read(tmp_path / "out2" / "song" / "bass.wav") / 32767
    low, total = low_band_energy(bass, 44100)
    assert 0.6 < low / total < 0.8  # 50 Hz at 0.3 and 900 Hz at 0.2: 0.09 / 0.13 of the energy


def test_low_rate_stems_left_out_on_request(tmp_path, capsys):
    seconds = 6.0
    write_song(tmp_path / "src" / "a", {"VOX": tone(440, seconds), "PAD": tone(1000, seconds, 0.1)})
    write_song(tmp_path / "src" / "a", {"SYNTH_mobile": tone(700, seconds, 0.1, rate=24000)}, rate=24000)
    write_song(tmp_path / "src" / "b", {"VOX_mobile": tone(440, seconds, rate=24000),
                                        "KICK_mobile": tone(80, seconds, rate=24000)}, rate=24000)
    write_song(tmp_path / "src" / "b", {"HH": tone(8000, seconds, 0.05)})
    assert run_import(tmp_path / "src", tmp_path / "out0", "--exclude", "b*") == 0
    assert sorted(p.name for p in (tmp_path / "out0").iterdir()) == ["a"]
    assert "b: left out: --exclude" in capsys.readouterr().out
    assert run_import(tmp_path / "src", tmp_path / "out", "--min-source-rate", "44100") == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a"]
    assert "left out: 24000 Hz source" in printed
    assert "b: left out: more than half of its stems were left out" in printed
    other = read(tmp_path / "out" / "a" / "other.wav") / 32767
    expected = resample(tone(1000, seconds, 0.1), RATE, 44100)
    np.testing.assert_allclose(other[2000:-2000], expected[2000:-2000], atol=2e-4)  # SYNTH left out


def one_line_error(capsys, needle: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("demixui: error:") and needle in err and "\n" not in err, err


def test_errors_are_one_line(tmp_path, capsys):
    src = write_song(tmp_path / "src" / "song", {"VOX": tone(440, 6.0)}).parent
    assert run_import(tmp_path / "missing", tmp_path / "out") == 1
    one_line_error(capsys, "no such folder")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert run_import(src, full) == 1
    one_line_error(capsys, "not empty")
    assert run_import(tmp_path / "full", tmp_path / "o1") == 1
    one_line_error(capsys, "no song folders with audio files")
    for text, needle in [("{", "not valid JSON"), ('{"VOX": "vocals"}', "list of [pattern, group]"),
                         ('[["VOX", "voice"]]', "groups are vocals")]:
        (tmp_path / "t.json").write_text(text)
        assert run_import(src, tmp_path / "o2", "--grouping", str(tmp_path / "t.json")) == 1
        one_line_error(capsys, needle)
    (tmp_path / "t.json").write_text('[["VOX", "vocals"]]')
    write_song(tmp_path / "src" / "song", {"PAD": tone(1000, 6.0)})
    assert run_import(src, tmp_path / "o3", "--grouping", str(tmp_path / "t.json")) == 1
    one_line_error(capsys, "matches no pattern")
    assert run_import(src, tmp_path / "o4", "--min-silence-seconds", "0") == 1
    one_line_error(capsys, "--min-silence-seconds")
    (tmp_path / "src" / "song" / "song_Stem_KICK.wav").write_bytes(b"RIFF....WAVEjunk" * 10)
    assert run_import(src, tmp_path / "o5") == 1
    one_line_error(capsys, "song_Stem_KICK.wav")


def test_silent_song_writes_nothing_and_fails(tmp_path, capsys):
    write_song(tmp_path / "src" / "quiet", {"VOX": np.zeros((RATE * 6, 2), np.float32)})
    assert run_import(tmp_path / "src", tmp_path / "out") == 1
    one_line_error(capsys, "no track was written")
    assert not any((tmp_path / "out").iterdir())


def test_m4a_stems(tmp_path):
    """AAC stems (the album's format) beside WAV ones: same length, aligned, once audiofile reads .m4a."""
    from demixui import audiofile

    if ".m4a" not in audiofile.SUPPORTED_EXTENSIONS:
        pytest.skip("audiofile does not read .m4a yet")
    aac_files = pytest.importorskip("tests.aac_files")
    seconds = 6.0
    song = tmp_path / "src" / "song"
    write_song(song, {"VOX": tone(440, seconds)})
    aac_files.write_aac(song / "song_Stem_SY BASS.m4a", tone(110, seconds, 0.3), RATE)
    assert main(["data", "import", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 0
    bass = read(tmp_path / "out" / "song" / "bass.wav")
    assert bass.shape == (int(seconds * 44100), 2)
    expected = resample(tone(110, seconds, 0.3), RATE, 44100)[4000:-4000]
    got = bass[4000:-4000] / 32767
    assert np.corrcoef(got[:, 0], expected[:, 0])[0, 1] > 0.99  # aligned to the sample: no priming offset

"""The procedural multitrack generator: layout, exact mixture, determinism, bad input, and `data stats`.

Renders with the small TimGM6mb SoundFont and 4-second tracks to stay fast.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.cli import main
from tests.conftest import missing_tool, require_executable

SMALL_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
STEMS = ("vocals", "drums", "bass", "other")
SECONDS = 4.0


@pytest.fixture(scope="module")
def soundfont() -> Path:
    require_executable("espeak-ng")
    if not SMALL_SF2.is_file():
        missing_tool(f"{SMALL_SF2} is missing (install timgm6mb-soundfont)")
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as error:
        missing_tool(f"FluidSynth is not available: {error}")
    from demixui.data.drumkits import KIT_PACKAGES, missing_kits

    if missing_kits():
        missing_tool(f"drum kits missing: {missing_kits()} (install {KIT_PACKAGES})")
    return SMALL_SF2


def synth_args(out: Path, soundfont: Path, tracks: int = 3, seed: int = 3, jobs: int = 1) -> list[str]:
    return [
        "data",
        "synth",
        "--out",
        str(out),
        "--tracks",
        str(tracks),
        "--seconds",
        str(SECONDS),
        "--seed",
        str(seed),
        "--jobs",
        str(jobs),
        "--soundfont",
        str(soundfont),
        "--quiet",
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, soundfont) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    assert main(synth_args(out, soundfont)) == 0
    return out


def read_int16(path: Path) -> np.ndarray:
    audio, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == 44100
    return audio


def test_layout_and_format(corpus):
    tracks = sorted(p for p in corpus.iterdir())
    assert len(tracks) == 3, tracks
    for track in tracks:
        names = sorted(p.name for p in track.iterdir())
        assert names == sorted([f"{s}.wav" for s in ("mixture", *STEMS)] + ["meta.json"]), names
        for stem in ("mixture", *STEMS):
            info = sf.info(str(track / f"{stem}.wav"))
            assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16"), (track, stem, info)
            assert info.frames == int(SECONDS * 44100)
        meta = json.loads((track / "meta.json").read_text())
        for key in ("seed", "tempo", "key", "genre", "parts", "vocals", "sections"):
            assert key in meta, key
        assert 55 <= meta["tempo"] <= 185


def test_mixture_is_exactly_the_sum_of_the_stems(corpus):
    for track in corpus.iterdir():
        mixture = read_int16(track / "mixture.wav").astype(np.int32)
        total = sum(read_int16(track / f"{stem}.wav").astype(np.int32) for stem in STEMS)
        assert np.array_equal(mixture, total), track
        assert np.abs(mixture).max() > 3000, "a mixture should not be near-silent"


def test_stems_play_where_the_arrangement_says(corpus):
    checked = 0
    for track in corpus.iterdir():
        meta = json.loads((track / "meta.json").read_text())
        stems = {stem: read_int16(track / f"{stem}.wav").astype(np.float64) / 32768 for stem in STEMS}
        for section in meta["sections"]:
            start, end = section["start"], min(section["end"], SECONDS)
            if end - start < 1.0:
                continue
            span = slice(int(start * 44100), int(end * 44100))
            for stem in ["other", *section["stems"]]:
                rms = float(np.sqrt(np.mean(stems[stem][span] ** 2)))
                assert rms > 10 ** (-55 / 20), (track.name, section, stem, rms)
                checked += 1
    assert checked >= 5


def test_same_seed_same_bytes_whatever_the_jobs(corpus, soundfont, tmp_path):
    again = tmp_path / "again"
    assert main(synth_args(again, soundfont, jobs=2)) == 0
    for track in corpus.iterdir():
        for name in ("mixture.wav", "vocals.wav", "drums.wav", "bass.wav", "other.wav", "meta.json"):
            assert (track / name).read_bytes() == (again / track.name / name).read_bytes(), (track.name, name)


def test_another_seed_gives_other_music(corpus, soundfont, tmp_path):
    other = tmp_path / "other"
    assert main(synth_args(other, soundfont, tracks=1, seed=4)) == 0
    first = sorted(corpus.iterdir())[0]
    track = next(other.iterdir())
    assert (first / "mixture.wav").read_bytes() != (track / "mixture.wav").read_bytes()


def test_stats_reports_and_checks_the_sum(corpus, tmp_path, capsys):
    assert main(["data", "stats", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "3 of 3" in out and "silent" in out and "vocals" in out
    broken = tmp_path / "broken"
    shutil.copytree(corpus, broken)
    track = sorted(broken.iterdir())[0]
    mixture = read_int16(track / "mixture.wav")
    mixture[1000:1100] //= 2
    sf.write(str(track / "mixture.wav"), mixture, 44100, subtype="PCM_16")
    assert main(["data", "stats", str(broken)]) == 0  # real MUSDB18-HQ is like this: a warning
    assert "warning: mixture is not the sum of the stems in " + track.name in capsys.readouterr().out
    assert main(["data", "stats", "--strict", str(broken)]) == 1
    assert "not equal: " + track.name in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tracks", "0"], "--tracks"),
        (["--seconds", "-3"], "--seconds"),
        (["--jobs", "0"], "--jobs"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_nonsense_arguments_are_one_line_errors(soundfont, tmp_path, capsys, extra, message):
    assert main(synth_args(tmp_path / "out", soundfont) + extra) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("demixui: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_non_empty_or_unwritable_output_is_refused(soundfont, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something.txt").write_text("mine")
    assert main(synth_args(busy, soundfont)) == 1
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in busy.iterdir()) == ["something.txt"]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(synth_args(blocker / "sub", soundfont)) == 1
    assert "cannot write" in capsys.readouterr().err
    assert main(synth_args(blocker, soundfont)) == 1
    assert "not a folder" in capsys.readouterr().err


def test_missing_soundfont_or_espeak_is_one_line(soundfont, tmp_path, capsys, monkeypatch):
    assert main(synth_args(tmp_path / "out", tmp_path / "none.sf2")) == 1
    assert "SoundFont not found" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(synth_args(tmp_path / "out2", soundfont)) == 1
    assert "espeak-ng is not installed" in capsys.readouterr().err
    assert not any((tmp_path / "out2").iterdir())
    monkeypatch.undo()
    monkeypatch.setattr("demixui.data.drumkits.HYDROGEN", tmp_path / "no-kits")
    assert main(synth_args(tmp_path / "out3", soundfont)) == 1
    assert "drum kit not found (install hydrogen-drumkits" in capsys.readouterr().err
    assert not any((tmp_path / "out3").iterdir())


def test_drums_play_sampled_kits_and_the_meta_says_which(corpus):
    from demixui.data.drumkits import CATALOGUE

    kits = []
    for track in sorted(corpus.iterdir()):
        meta = json.loads((track / "meta.json").read_text())
        assert meta["generator"]["version"] >= 3
        drums = [part for part in meta["parts"] if part["stem"] == "drums"]
        kits += [part["sampled_kit"] for part in drums if "sampled_kit" in part]
    assert kits and all(kit in CATALOGUE for kit in kits), kits


def test_a_failed_track_leaves_nothing_half_written(soundfont, tmp_path, monkeypatch):
    # a full disk cannot be arranged portably: fail the third file write of the track instead
    import demixui.data.synth as synth

    calls = {"n": 0}
    real_write = synth.write_wav_atomic

    def failing_write(path, audio, rate):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_write(path, audio, rate)

    monkeypatch.setattr(synth, "write_wav_atomic", failing_write)
    out = tmp_path / "out"
    assert main(synth_args(out, soundfont, tracks=1)) == 1
    assert list(out.iterdir()) == [], list(out.iterdir())
    assert calls["n"] == 3


def test_help_names_both_actions(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    out = capsys.readouterr().out
    assert "synth" in out and "stats" in out
    assert os.environ.get("PATH")


def envelope(audio: np.ndarray, hop: int = 441) -> np.ndarray:
    mono = audio.mean(axis=1)
    return np.sqrt((mono[: len(mono) // hop * hop] ** 2).reshape(-1, hop).mean(axis=1))


def test_a_doubled_guitar_is_a_second_take_not_a_copy(soundfont):
    from demixui.data.parts import retake
    from demixui.data.render import FluidRenderer
    from demixui.data.score import Note, Part

    renderer = FluidRenderer(soundfont)
    part = Part("g", "other", "guitar_dist", 29, 0, "power")
    part.notes = [Note(0.25 * i, 0.2, pitch, 100) for i in range(12) for pitch in (40 + i % 3, 47 + i % 3)]
    first = renderer.render(part, 44100 * 3)
    second = renderer.render(retake(part, np.random.default_rng(1)), 44100 * 3)
    assert np.corrcoef(envelope(first), envelope(second))[0, 1] > 0.7  # the same part, played again
    assert np.corrcoef(first[:, 0], second[:, 0])[0, 1] < 0.9  # but not the same waveform, nor a delayed one
    lags = np.correlate(first[:44100, 0], second[:44100, 0], "full")
    assert lags.max() < 0.9 * np.sqrt((first[:44100, 0] ** 2).sum() * (second[:44100, 0] ** 2).sum())


def test_a_song_with_doubled_guitars_renders_the_same_bytes_twice(soundfont):
    from demixui.data.composer import compose, track_seed
    from demixui.data.mixdown import mix_to_int16, render_stems

    everything = {(bank, program) for bank in (0, 128) for program in range(128)}
    seed = next(
        track_seed(21, i)
        for i in range(200)
        if any(
            p.family == "guitar_dist" and p.role == "palm"
            for p in compose(track_seed(21, i), 3.0, everything)[1]
        )
    )
    runs = []
    for _ in range(2):
        stems, meta = render_stems(seed, 3.0, str(soundfont))
        rng = np.random.default_rng
        runs.append((mix_to_int16(stems, rng([seed, 2]), master_rng=rng([seed, 4]))[0], meta))
    (first, meta), (second, _) = runs
    guitar = next(p for p in meta["parts"] if p.get("family") == "guitar_dist")
    assert guitar["doubled"]["spread"] >= 0.7, guitar  # (90 % of palm-muted parts are doubled)
    for name in (*STEMS, "mixture"):
        assert first[name].tobytes() == second[name].tobytes(), name
    total = sum(first[s].astype(np.int32) for s in STEMS)
    assert np.array_equal(first["mixture"].astype(np.int32), np.clip(total, -32768, 32767))

"""The audio-file policy on real files of every format we claim, and every kind of bad file we can make."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from demixui.audiofile import (
    SUPPORTED_EXTENSIONS,
    audio_info,
    open_audio,
    read_audio,
    read_audio_blocks,
    write_wav_atomic,
)
from demixui.errors import AudioFileError
from tests.conftest import require_executable

RATE = 44100


def _tone(nb_samples: int, nb_channels: int = 2, rate: int = RATE, frequency: float = 441.0) -> np.ndarray:
    """float32 `(nb_samples, nb_channels)` sine, a different phase per channel, peak 0.5."""
    t = np.arange(nb_samples)[:, None] / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t + np.arange(nb_channels) * 0.7)).astype(np.float32)


def _write_mp3(path: Path, audio: np.ndarray, rate: int) -> None:
    """libsndfile >= 1.1 writes MP3 (through LAME); older ones cannot, so ffmpeg makes it from a WAV."""
    if "MP3" in sf.available_formats():
        sf.write(path, audio, rate, format="MP3", subtype="MPEG_LAYER_III")
        return
    ffmpeg = require_executable("ffmpeg")
    wav = path.with_suffix(".src.wav")
    sf.write(wav, audio, rate)
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(wav), str(path)], check=True)


def _write(path: Path, audio: np.ndarray, rate: int = RATE, subtype: str | None = None) -> Path:
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        _write_mp3(path, audio, rate)
    elif suffix == ".ogg":
        sf.write(path, audio, rate, format="OGG", subtype="VORBIS")
    else:
        sf.write(path, audio, rate, subtype=subtype)
    return path


def _bad(path: Path, *parts: str) -> str:
    """The AudioFileError message for `path`, checked to be one line naming the file and holding `parts`."""
    with pytest.raises(AudioFileError) as caught:
        read_audio(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    for part in parts:
        assert part in message, message
    with pytest.raises(AudioFileError) as caught:  # the block reader `separate` uses refuses it too
        for _ in read_audio_blocks(path, 1000):
            pass
    assert "\n" not in str(caught.value) and str(path) in str(caught.value), caught.value
    return message


@pytest.mark.parametrize("name, nb_channels", [("a.flac", 2), ("a.ogg", 1), ("a.mp3", 2), ("a.wav", 6)])
def test_blocks_are_the_whole_file_in_pieces(tmp_path: Path, name: str, nb_channels: int) -> None:
    path = _write(tmp_path / name, _tone(22050, nb_channels))
    blocks = list(read_audio_blocks(path, 1000))
    assert {block.shape[0] for block in blocks[:-1]} == {1000} and all(b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), read_audio(path)[0])


@pytest.mark.parametrize("name", ["tone.mp3", "tone.flac"])
def test_reading_in_pieces_after_a_seek_gives_the_whole_files_samples(tmp_path: Path, name: str) -> None:
    """The engine's reader seeks and reads in blocks. libsndfile 1.2.2 decodes a tonal MP3 read in pieces
    wrongly (garbage at the start of every read after the second); `open_audio` must not."""
    path = _write(tmp_path / name, _tone(3 * RATE))
    whole, _ = sf.read(str(path), dtype="float32", always_2d=True)
    with open_audio(path) as handle:
        handle.seek(1000)
        pieces = [handle.read(4096, dtype="float32", always_2d=True) for _ in range(20)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole[1000:1000 + 20 * 4096])


@pytest.mark.parametrize(
    "name, subtype, tolerance",
    [("a.wav", "PCM_16", 1e-4), ("a.flac", "PCM_24", 1e-6), ("a.aiff", "PCM_16", 1e-4), ("a.ogg", None, None),
     ("a.mp3", None, None)],
)
def test_every_claimed_format_reads_as_float32_stereo(
    tmp_path: Path, name: str, subtype: str | None, tolerance: float | None
) -> None:
    source = _tone(RATE)
    path = _write(tmp_path / name, source, subtype=subtype)
    assert path.suffix in SUPPORTED_EXTENSIONS
    audio, rate = read_audio(path)
    assert rate == RATE and audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    if tolerance is not None:  # lossless: the samples themselves
        assert audio.shape == source.shape
        np.testing.assert_allclose(audio, source, rtol=0, atol=tolerance)
    else:  # lossy codecs add encoder delay and padding: same length within 0.1 s and the same loudness
        assert abs(audio.shape[0] - RATE) < RATE // 10, audio.shape
        rms = np.sqrt(np.mean(audio[RATE // 10 : -RATE // 10] ** 2))
        assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_mono_is_duplicated_to_both_channels(tmp_path: Path) -> None:
    source = _tone(4000, nb_channels=1)
    audio, _ = read_audio(_write(tmp_path / "mono.wav", source, subtype="FLOAT"))
    assert audio.shape == (4000, 2)
    np.testing.assert_array_equal(audio[:, 0], source[:, 0])
    np.testing.assert_array_equal(audio[:, 1], source[:, 0])


def test_six_channels_downmix_odd_to_left_and_even_to_right(tmp_path: Path) -> None:
    source = np.tile(np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], np.float32), (1000, 1))
    audio, _ = read_audio(_write(tmp_path / "six.wav", source, subtype="FLOAT"))
    assert audio.shape == (1000, 2)
    np.testing.assert_allclose(audio[:, 0], (0.1 + 0.3 + 0.5) / 3, rtol=1e-6)
    np.testing.assert_allclose(audio[:, 1], (0.2 + 0.4 + 0.6) / 3, rtol=1e-6)


def test_48_khz_is_resampled_to_44_1_khz_keeping_pitch(tmp_path: Path) -> None:
    source = _tone(48000, rate=48000, frequency=1000.0)
    path = _write(tmp_path / "a48.flac", source, rate=48000)
    audio, rate = read_audio(path, sample_rate=RATE)
    assert rate == RATE and audio.dtype == np.float32
    assert abs(audio.shape[0] - RATE) <= 1
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    assert np.argmax(spectrum) * RATE / audio.shape[0] == pytest.approx(1000.0, abs=2.0)
    assert read_audio(path)[1] == 48000  # without a target rate the file's own rate is kept


@pytest.mark.parametrize("subtype, step", [("PCM_U8", 1 / 128), ("PCM_24", 1 / 2**23)])
def test_8_and_24_bit_files_scale_to_plus_minus_one(tmp_path: Path, subtype: str, step: float) -> None:
    source = _tone(2000)
    audio, _ = read_audio(_write(tmp_path / f"{subtype}.wav", source, subtype=subtype))
    np.testing.assert_allclose(audio, source, rtol=0, atol=step)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    _bad(tmp_path / "nothing-here.wav", "no such file")
    _bad(tmp_path, "is a folder")


def test_empty_and_zero_frame_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _bad(empty, "not a readable audio file")
    _bad(_write(tmp_path / "zero.wav", np.zeros((0, 2), np.float32)), "holds no audio")


@pytest.mark.parametrize("name", ["cut.wav", "cut.flac", "cut.ogg", "cut.mp3"])
def test_truncated_files_are_errors_not_shorter_audio(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, _tone(2 * RATE), subtype="PCM_16" if name.endswith(".wav") else None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = _bad(path)
    assert "truncated" in message, message


@pytest.mark.parametrize("name", ["noise.wav", "noise.flac", "noise.ogg", "noise.mp3", "text.wav"])
def test_corrupt_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.startswith("text"):
        path.write_text("this is not audio\n" * 100)
    else:
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    _bad(path, "not a readable audio file")


def test_wav_header_whose_data_is_garbage_after_a_valid_start(tmp_path: Path) -> None:
    path = _write(tmp_path / "half.flac", _tone(2 * RATE))
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = np.random.default_rng(1).integers(0, 256, len(data) - len(data) // 2,
                                                                 dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    _bad(path, "corrupt or truncated")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_and_infinite_samples_are_refused(tmp_path: Path, bad_value: float) -> None:
    source = _tone(1000)
    source[500, 1] = bad_value
    path = _write(tmp_path / "nan.wav", source, subtype="FLOAT")
    _bad(path, "holds 1 NaN or infinite samples")


def test_audio_info_reports_without_decoding(tmp_path: Path) -> None:
    info = audio_info(_write(tmp_path / "info.flac", _tone(3000, nb_channels=1)))
    assert (info.frames, info.channels, info.samplerate) == (3000, 1, RATE)


def test_write_wav_atomic_writes_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "mix.wav"
    write_wav_atomic(target, _tone(1000), RATE, subtype="FLOAT")
    np.testing.assert_array_equal(sf.read(target, dtype="float32")[0], _tone(1000))
    assert sorted(p.name for p in target.parent.iterdir()) == ["mix.wav"]


def test_write_wav_atomic_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "keep.wav"
    write_wav_atomic(target, _tone(100), RATE)
    before = target.read_bytes()
    with pytest.raises(ValueError):  # a failure inside libsndfile's write, after the temp file exists
        write_wav_atomic(target, _tone(200), RATE, subtype="NOT_A_SUBTYPE")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_write_wav_atomic_onto_a_folder_fails_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "taken.wav"
    folder.mkdir()
    with pytest.raises(OSError):  # the final rename cannot replace a folder
        write_wav_atomic(folder, _tone(100), RATE)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["taken.wav"]


def test_written_wav_gets_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    import os
    import stat

    from demixui.audiofile import write_wav_atomic

    out = tmp_path / "x.wav"
    write_wav_atomic(out, np.zeros((10, 2), np.float32), 44100)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask

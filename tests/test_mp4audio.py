"""AAC in MP4 (.m4a, .mp4, NI .stem.mp4) and ADTS (.aac) through PyAV: exact lengths, streaming, seeking, the
channel and resampling policy, and every kind of bad file, on files encoded in the test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from demixui.audiofile import audio_info, open_audio, read_audio, read_audio_blocks
from demixui.errors import AudioFileError
from demixui.mp4audio import Mp4AudioFile, read_stem_streams
from tests.aac_files import chirp, write_aac
from tests.test_audiofile import _bad

RATE = 44100


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2)))


@pytest.mark.parametrize("suffix", [".m4a", ".mp4"])
def test_mp4_reads_exact_length_without_priming(tmp_path: Path, suffix: str) -> None:
    audio = chirp(54321)
    path = write_aac(tmp_path / f"song{suffix}", audio)
    info = audio_info(path)
    assert (info.frames, info.samplerate, info.channels) == (54321, RATE, 2)
    decoded, rate = read_audio(path)
    assert rate == RATE and decoded.shape == audio.shape, decoded.shape
    # No priming left at the start and no padding at the end: aligned to the sample, so the coding noise
    # is all that differs (an offset of one sample would bring the SNR of this sweep near 0 dB).
    assert _snr_db(audio, decoded) > 15
    assert _snr_db(audio[1:], decoded[:-1]) < _snr_db(audio, decoded) - 3


def test_default_muxer_length_within_one_millisecond(tmp_path: Path) -> None:
    """FFmpeg records the length in milliseconds by default: we cut at that, never keeping the padding."""
    path = write_aac(tmp_path / "song.m4a", chirp(30000), exact=False)
    frames = audio_info(path).frames
    assert 30000 - 44 <= frames <= 30000, frames
    assert read_audio(path)[0].shape[0] == frames


def test_adts_keeps_its_priming_and_decodes_whole(tmp_path: Path) -> None:
    audio = chirp(20000)
    path = write_aac(tmp_path / "song.aac", audio)
    decoded, _ = read_audio(path)
    assert decoded.shape[0] == audio_info(path).frames
    # Raw ADTS has no edit list: FFmpeg's encoder's 1024 priming samples stay in front.
    assert decoded.shape[0] >= 20000 + 1024
    assert _snr_db(audio[:18000], decoded[1024:19024]) > 15


def test_streaming_blocks_equal_the_whole_file(tmp_path: Path) -> None:
    path = write_aac(tmp_path / "song.m4a", chirp(40000))
    whole, _ = read_audio(path)
    for block_frames in (1, 777, 1024, 4096, 100000):
        blocks = list(read_audio_blocks(path, block_frames))
        assert all(b.shape[0] == block_frames for b in blocks[:-1])
        np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_seek_lands_on_the_sample(tmp_path: Path) -> None:
    path = write_aac(tmp_path / "song.m4a", chirp(60000))
    whole, _ = read_audio(path)
    with open_audio(path) as handle:
        for target in (30000, 0, 4095, 4096, 12345, 1):
            handle.seek(target)
            block = handle.read(2000)
            # Seeking decodes from a little before the target; AAC frames then match to float rounding.
            np.testing.assert_allclose(block, whole[target:target + 2000], atol=1e-4, err_msg=str(target))
        handle.seek(59000)
        assert handle.read(5000).shape[0] == 1000  # the end is where the file says, after a seek too


def test_mono_and_48k_follow_the_policy(tmp_path: Path) -> None:
    mono = chirp(48000, rate=48000, nb_channels=1)
    path = write_aac(tmp_path / "mono.m4a", mono, rate=48000)
    info = audio_info(path)
    assert (info.frames, info.samplerate, info.channels) == (48000, 48000, 1)
    decoded, rate = read_audio(path, 44100)
    assert rate == 44100 and decoded.shape == (44100, 2)
    np.testing.assert_array_equal(decoded[:, 0], decoded[:, 1])  # mono is duplicated


def test_stem_file_plays_its_mixture_and_reads_every_stem(tmp_path: Path) -> None:
    nb = 30000
    parts = [chirp(nb) * gain for gain in (0.2, 0.3, 0.4, 0.5)]  # drums, bass, other, vocals
    mixture = np.sum(parts, axis=0)
    path = write_aac(tmp_path / "Artist - Song.stem.mp4", [mixture, *parts])
    info = audio_info(path)
    assert info.frames == nb and info.audio_streams == 5
    played, _ = read_audio(path)
    assert _snr_db(mixture, played) > 15  # stream 0, the mixture
    stems, rate = read_stem_streams(path)
    assert rate == RATE and list(stems) == ["mixture", "drums", "bass", "other", "vocals"]
    for name, part in zip(["drums", "bass", "other", "vocals"], parts, strict=True):
        assert stems[name].shape == (nb, 2)
        assert _snr_db(part, stems[name]) > 15, name


def test_stem_file_needs_five_streams(tmp_path: Path) -> None:
    path = write_aac(tmp_path / "short.stem.mp4", [chirp(5000), chirp(5000)])
    with pytest.raises(AudioFileError, match="needs 5 audio streams"):
        read_stem_streams(path)


def test_bad_files_give_one_line(tmp_path: Path) -> None:
    good = write_aac(tmp_path / "good.m4a", chirp(44100)).read_bytes()
    (tmp_path / "empty.m4a").write_bytes(b"")
    _bad(tmp_path / "empty.m4a", "empty")
    (tmp_path / "noise.m4a").write_bytes(np.random.default_rng(0).bytes(20000))
    _bad(tmp_path / "noise.m4a", "not a readable audio file")
    # Cut in half: the index (written after the audio) is gone.
    (tmp_path / "cut.m4a").write_bytes(good[: len(good) // 2])
    _bad(tmp_path / "cut.m4a", "truncated")
    (tmp_path / "text.aac").write_text("not audio at all\n" * 100)
    _bad(tmp_path / "text.aac")


def test_truncated_faststart_file_is_an_error(tmp_path: Path) -> None:
    """With the index first (streamed files), a cut file opens but holds fewer samples than it says."""
    good = write_aac(tmp_path / "good.mp4", chirp(88200), faststart=True).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) * 2 // 3])
    _bad(tmp_path / "cut.mp4", "truncated")


def test_truncated_adts_is_an_error(tmp_path: Path) -> None:
    good = write_aac(tmp_path / "good.aac", chirp(44100)).read_bytes()
    (tmp_path / "cut.aac").write_bytes(good[: len(good) // 2 + 7])  # mid-frame
    _bad(tmp_path / "cut.aac")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_says_permission_denied(tmp_path: Path) -> None:
    path = write_aac(tmp_path / "locked.m4a", chirp(4410))
    path.chmod(0)
    _bad(path, "ermission denied")


def test_memory_is_one_frame_not_the_file(tmp_path: Path) -> None:
    """Blocks come from a decoder that holds about one AAC frame beyond the block asked for."""
    path = write_aac(tmp_path / "song.m4a", chirp(200000))
    with Mp4AudioFile(path) as handle:
        handle.read(100)
        assert handle._pending.shape[0] < 1024  # the rest of one decoded frame, no more


def test_m4a_separates_and_plays(tiny_model_path: str, tmp_path: Path) -> None:
    """`separate` writes stems at the file's length that sum to what it decoded; `play` plays it through."""
    from demixui.cli import main

    audio = chirp(3 * 4410)
    path = write_aac(tmp_path / "song.m4a", audio)
    assert main(["separate", "--no-progress", str(path), "-o", str(tmp_path / "out"), "--model",
                 tiny_model_path]) == 0
    import soundfile as sf

    stems = [sf.read(tmp_path / "out" / "song" / f"{s}.wav", dtype="float32")[0]
             for s in ("vocals", "drums", "bass", "other")]
    decoded, _ = read_audio(path)
    assert all(s.shape == decoded.shape for s in stems)
    np.testing.assert_allclose(np.sum(stems, axis=0), decoded, atol=1e-4)
    stats = tmp_path / "stats.json"
    assert main(["play", str(path), "--backend", "null-fast", "--model", tiny_model_path, "--quiet",
                 "--stats-json", str(stats)]) == 0
    import json

    snapshot = json.loads(stats.read_text())
    assert snapshot["state"] == "ended" and snapshot["app_underruns"] == 0
    assert snapshot["played_seconds"] == pytest.approx(len(decoded) / RATE)

"""The MUSDB18-HQ folder layout, read by training, `evaluate` and `data stats`, and folders of NI stem files.

`ROOT/<track>/mixture.wav` plus one WAV per stem (`vocals.wav`, `drums.wav`, `bass.wav`, `other.wav`),
44.1 kHz stereo. The real MUSDB18-HQ has `train/` and `test/` subfolders of such tracks; `list_tracks`
accepts either a folder of tracks or a folder whose subfolders are folders of tracks.

A track may also be a Native Instruments stem file (`<name>.stem.mp4`, as MUSDB18 itself is distributed):
its four stems are decoded (AAC) and the mixture is taken as their sum, not the coded mixture stream, which
differs from that sum by about 27 dB of AAC noise. `STEM_FILE_TRIM` samples are cut at each end, where the
decoder's priming and padding leave clicks in some stems.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import read_audio, resample, to_stereo
from demixui.errors import AudioFileError, DemixError
from demixui.mp4audio import STEM_SUFFIX, is_stem_file, mp4_info, read_stem_streams

STEMS = ("vocals", "drums", "bass", "other")
SAMPLE_RATE = 44100
STEM_FILE_TRIM = 2048  # samples cut at each end of a stem file's decoded stems (AAC edge clicks)


def is_track_folder(path: Path) -> bool:
    return path.is_dir() and (path / "mixture.wav").is_file() and all(
        (path / f"{stem}.wav").is_file() for stem in STEMS
    )


def is_track(path: Path) -> bool:
    """A MUSDB18-HQ track folder or an NI stem file."""
    return is_track_folder(path) or (path.is_file() and is_stem_file(path))


def list_tracks(root: str | Path) -> list[Path]:
    """Sorted tracks under `root`: track folders or `.stem.mp4` files (one level, or two for MUSDB18-HQ's
    train/test split); `root` may itself be one track."""
    root = Path(root)
    if is_track(root):
        return [root]
    if not root.is_dir():
        raise DemixError(f"{root}: no such folder")
    tracks = sorted(p for p in root.iterdir() if is_track(p))
    if not tracks:
        subfolders = [sub for sub in root.iterdir() if sub.is_dir()]
        tracks = sorted(p for sub in subfolders for p in sub.iterdir() if is_track_folder(p))
    if not tracks:
        raise DemixError(
            f"{root}: no tracks found "
            f"(expected <track>/mixture.wav and {', '.join(s + '.wav' for s in STEMS)}, or <name>.stem.mp4)"
        )
    return tracks


def track_name(track: Path) -> str:
    """A track's name: its folder's, or its stem file's without `.stem.mp4`."""
    return track.name[: -len(STEM_SUFFIX)] if is_stem_file(track) else track.name


def track_length(track: Path) -> int:
    """Number of samples of the track's mixture (after the stem-file trim), read from the header only."""
    if is_stem_file(track):
        return max(0, mp4_info(track).frames - 2 * STEM_FILE_TRIM)
    return int(sf.info(str(track / "mixture.wav")).frames)


def load_stem_file(track: Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """An NI stem file as `load_track` gives a folder: the mixture is the sum of the decoded stems."""
    decoded, rate = read_stem_streams(track)

    stems = np.stack([to_stereo(decoded[stem]) for stem in STEMS])[:, STEM_FILE_TRIM:-STEM_FILE_TRIM]
    if stems.shape[1] == 0:
        raise AudioFileError(f"{track}: shorter than the {2 * STEM_FILE_TRIM} samples trimmed at its ends")
    if rate != sample_rate:
        stems = np.stack([resample(stem, rate, sample_rate) for stem in stems])
    return stems.sum(axis=0), np.ascontiguousarray(stems)


def load_track(track: Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """`(mixture (nb_samples, 2), stems (nb_stems, nb_samples, 2))` float32, stems in STEMS order."""
    if is_stem_file(track):
        return load_stem_file(track, sample_rate)
    mixture, _ = read_audio(track / "mixture.wav", sample_rate)
    stems = []
    for stem in STEMS:
        audio, _ = read_audio(track / f"{stem}.wav", sample_rate)
        if audio.shape != mixture.shape:
            raise AudioFileError(f"{track}: {stem}.wav has shape {audio.shape}, mixture has {mixture.shape}")
        stems.append(audio)
    return mixture, np.stack(stems)


def load_excerpt(track: Path, start: int, nb_samples: int) -> np.ndarray:
    """Stems only, `(nb_stems, nb_samples, 2)` float32 from sample `start`, for random training chunks.

    Reads just the excerpt from disk (no resampling: training data must already be 44.1 kHz stereo); a stem
    file is decoded whole (it is meant for validation, not for training).
    """
    out = np.zeros((len(STEMS), nb_samples, 2), dtype=np.float32)
    if is_stem_file(track):
        stems = load_stem_file(track)[1][:, start:start + nb_samples]
        out[:, :stems.shape[1]] = stems
        return out
    for index, stem in enumerate(STEMS):
        audio, rate = sf.read(str(track / f"{stem}.wav"), start=start, frames=nb_samples, dtype="float32",
                              always_2d=True)
        if rate != SAMPLE_RATE:
            raise AudioFileError(f"{track}/{stem}.wav: {rate} Hz, training needs {SAMPLE_RATE} Hz")
        n = audio.shape[0]
        if audio.shape[1] == 1:
            out[index, :n] = audio
        else:
            out[index, :n] = audio[:, :2]
    return out

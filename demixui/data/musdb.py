"""The MUSDB18-HQ folder layout, read by training, `evaluate` and `data stats`.

`ROOT/<track>/mixture.wav` plus one WAV per stem (`vocals.wav`, `drums.wav`, `bass.wav`, `other.wav`),
44.1 kHz stereo. The real MUSDB18-HQ has `train/` and `test/` subfolders of such tracks; `list_tracks`
accepts either a folder of tracks or a folder whose subfolders are folders of tracks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import read_audio
from demixui.errors import AudioFileError, DemixError

STEMS = ("vocals", "drums", "bass", "other")
SAMPLE_RATE = 44100


def is_track_folder(path: Path) -> bool:
    return path.is_dir() and (path / "mixture.wav").is_file() and all(
        (path / f"{stem}.wav").is_file() for stem in STEMS
    )


def list_tracks(root: str | Path) -> list[Path]:
    """Sorted track folders under `root` (one level, or two for MUSDB18-HQ's train/test split)."""
    root = Path(root)
    if not root.is_dir():
        raise DemixError(f"{root}: no such folder")
    if is_track_folder(root):
        return [root]
    tracks = sorted(p for p in root.iterdir() if is_track_folder(p))
    if not tracks:
        subfolders = [sub for sub in root.iterdir() if sub.is_dir()]
        tracks = sorted(p for sub in subfolders for p in sub.iterdir() if is_track_folder(p))
    if not tracks:
        raise DemixError(
            f"{root}: no tracks found "
            f"(expected <track>/mixture.wav and {', '.join(s + '.wav' for s in STEMS)})"
        )
    return tracks


def track_length(track: Path) -> int:
    """Number of samples of the track's mixture, read from the header only."""
    return int(sf.info(str(track / "mixture.wav")).frames)


def load_track(track: Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """`(mixture (nb_samples, 2), stems (nb_stems, nb_samples, 2))` float32, stems in STEMS order."""
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

    Reads just the excerpt from disk (no resampling: training data must already be 44.1 kHz stereo).
    """
    out = np.zeros((len(STEMS), nb_samples, 2), dtype=np.float32)
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

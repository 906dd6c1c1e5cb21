"""Where `separate` writes: one stem at a time, resampled to the output rate and cut to the input's exact
length (`AlignedStem`), as a WAV file (`StemWriter`) or a stream of an NI stem file (`StemStream`); then the
finished temporary file or folder renamed into place, never over something it may not replace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import StreamResampler
from demixui.errors import AudioFileError
from demixui.outputs import os_cause, temporary_prefix, usual_permissions


class AlignedStem:
    """One stem at the output rate and exactly the input's length, as the stream produces it: resampled
    from the model's rate, then handed to `_emit` (a subclass's: a WAV file, a stream of a stem file).

    The last `HOLD` samples are held back until `finish(length)`: resampling there and back may end a
    sample or two off the input's length, which is only known once the input has been read to its end.
    """

    HOLD = 64

    def __init__(self, rate: int, file_rate: int):
        self._resampler = StreamResampler(rate, file_rate)
        self._held = np.zeros((0, 2), np.float32)
        self.written = 0
        self.clipped = 0  # samples beyond full scale written to an integer format

    def write(self, audio: np.ndarray) -> None:
        audio = np.concatenate([self._held, self._resampler.process(audio)])
        keep = min(self.HOLD, audio.shape[0])
        self._write(audio[:audio.shape[0] - keep])
        self._held = audio[audio.shape[0] - keep:]

    def finish(self, length: int) -> None:
        rest = np.concatenate([self._held, self._resampler.process(np.zeros((0, 2), np.float32), last=True)])
        self._held = rest[:0]
        assert self.written <= length, (self.written, length)
        rest = rest[:length - self.written]
        self._write(rest)
        if self.written < length:
            self._write(np.zeros((length - self.written, 2), np.float32))

    def _write(self, audio: np.ndarray) -> None:
        if audio.shape[0]:
            self._emit(audio)
            self.written += audio.shape[0]

    def _emit(self, audio: np.ndarray) -> None:
        raise NotImplementedError


class StemStream(AlignedStem):
    """One stem as a stream of a stem file: `emit(audio)` encodes it (a `StemFileWriter.write`)."""

    def __init__(self, rate: int, file_rate: int, emit: Callable[[np.ndarray], None]):
        super().__init__(rate, file_rate)
        self._emit = emit


class StemWriter(AlignedStem):
    """One stem's WAV file, written as the stream produces it, at the input's rate and exactly its length."""

    def __init__(self, path: Path, rate: int, file_rate: int, subtype: str, expected_frames: int,
                 name: Path | None = None):
        super().__init__(rate, file_rate)
        self._name = name or path  # the final name, for messages (`path` is in the temporary folder)
        bytes_per_frame = 2 * {"FLOAT": 4, "PCM_24": 3, "PCM_16": 2}[subtype]
        self._integer = subtype != "FLOAT"
        # Plain WAV stops at 4 GiB (over three hours of float stereo at 44.1 kHz); RF64 lifts that limit.
        big = expected_frames * bytes_per_frame >= 2**32 - 2**24
        try:
            self._file = sf.SoundFile(str(path), "w", samplerate=file_rate, channels=2, subtype=subtype,
                                      format="RF64" if big else "WAV")
        except (sf.LibsndfileError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_write_cause(error)})") from None

    def __enter__(self) -> StemWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._file.close()
        except (sf.LibsndfileError, OSError) as error:
            if exc[0] is None:  # the header update failed (full disk); else the first error is the one
                raise AudioFileError(f"{self._name}: could not write ({_write_cause(error)})") from None

    def _emit(self, audio: np.ndarray) -> None:
        if self._integer:
            self.clipped += int(np.count_nonzero(np.abs(audio) > 1.0))
        try:
            self._file.write(audio)
        except (sf.LibsndfileError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_write_cause(error, self._file)})"
                                 ) from None


def _write_cause(error: Exception, handle: sf.SoundFile | None = None) -> str:
    """Why a write failed, in words: libsndfile's generic "System error" carries the OS's reason (no space
    left on device, permission denied, ...) only in the file's own error string."""
    if isinstance(error, OSError):
        return os_cause(error)
    text = ""
    if handle is not None:
        try:
            text = sf._ffi.string(sf._snd.sf_strerror(handle._file)).decode(errors="replace")
        except Exception:  # noqa: BLE001 - soundfile internals: fall back to the generic text
            text = ""
    if not text or text.lower().startswith("no error"):
        text = str(error)
    return text.removeprefix("System error").lstrip(" :.").rstrip(".").strip() or "input/output error"


def give_usual_permissions(folder: Path) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give the folder and its files the permissions a
    plain mkdir/open would have under the user's umask."""
    usual_permissions(folder, folder=True)
    for path in folder.iterdir():
        usual_permissions(path)


def move_file_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished file `tmp` to `target`. Without `overwrite`, a hard link then an unlink, which
    fails rather than replaces if someone created `target` meanwhile (a plain rename where the file system
    has no hard links)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)") from None
    except OSError:  # no hard links here (some FAT or network file systems)
        if target.exists() or target.is_symlink():
            raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def move_dir_into_place(tmp_dir: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished `tmp_dir` to `target`; an existing target (only with overwrite) is swapped out."""
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp_dir, target)  # fails rather than merges if someone created target meanwhile
        return
    if not overwrite:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)")
    old = Path(tempfile.mkdtemp(prefix=temporary_prefix(target.name), suffix=".old", dir=target.parent))
    os.rename(target, old / target.name)
    os.rename(tmp_dir, target)
    shutil.rmtree(old, ignore_errors=True)

"""Reading and writing audio files with one channel policy, and atomic writes.

Policy (the same for playback, `separate`, `evaluate` and training): audio is float32 `(nb_samples, 2)`;
mono is duplicated to both channels; more than two channels are downmixed to stereo by averaging the
odd-numbered channels into the left and the even-numbered into the right (1-based: 1,3,5.. -> L;
2,4,6.. -> R), which keeps a 5.1/quad file's left/right sides apart. NaN or infinite samples, empty or
truncated files are errors, not silence.
"""

from __future__ import annotations

import functools
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.errors import AudioFileError
from demixui.mp4audio import MP4_EXTENSIONS, Mp4AudioFile, Mp4Info, is_mp4_audio, mp4_info

# Formats we claim to read: what libsndfile >= 1.1 decodes, and AAC in MP4 or ADTS (NI Stems included)
# through PyAV (`demixui.mp4audio`). Writing is always WAV.
SOUNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
SUPPORTED_EXTENSIONS = SOUNDFILE_EXTENSIONS + MP4_EXTENSIONS


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """`(nb_samples, nb_channels)` of any channel count -> float32 `(nb_samples, 2)` by the policy above."""
    if audio.ndim != 2:
        raise AudioFileError(f"expected audio of shape (nb_samples, nb_channels), got {audio.shape}")
    nb_samples, nb_channels = audio.shape
    if nb_channels == 0:
        raise AudioFileError("audio has no channels")
    if nb_channels == 1:
        return np.repeat(audio.astype(np.float32, copy=False), 2, axis=1)
    if nb_channels == 2:
        return np.ascontiguousarray(audio, dtype=np.float32)
    left = audio[:, 0::2].mean(axis=1)
    right = audio[:, 1::2].mean(axis=1)
    return np.stack([left, right], axis=1).astype(np.float32)


def audio_info(path: str | Path) -> sf._SoundFileInfo | Mp4Info:
    """soundfile's info for `path` (`frames`, `samplerate`, `channels`; PyAV's for AAC/MP4), or an
    AudioFileError with one clear line."""
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    try:  # libsndfile says only "System error" for a file it may not open
        open(path, "rb").close()
    except OSError as error:
        raise AudioFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if is_mp4_audio(path):
        return mp4_info(path)  # (an NI Stems file plays its first stream, the mixture)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioFileError(f"{path}: not a readable audio file ({_short(error)})") from None
    if info.frames <= 0:
        # An Ogg file cut before its last page also reports 0 frames (its length is read from that page).
        raise AudioFileError(f"{path}: the file holds no audio (empty, or truncated)")
    missing = _wav_missing_bytes(path)
    if missing is not None:
        declared, present = missing
        # libsndfile quietly plays what is there; we call it an error like every other truncated file.
        raise AudioFileError(f"{path}: truncated ({present} of {declared} bytes of audio data present)")
    return info


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a whole file as float32 `(nb_samples, 2)`; resample with soxr when `sample_rate` is given.

    Returns `(audio, rate)` where `rate` is `sample_rate` if given, else the file's own rate. The checks are
    `read_audio_blocks`'s, over one block the size of the whole file.
    """
    info = audio_info(path)
    blocks = list(read_audio_blocks(path, info.frames + 1, info))
    audio = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)  # (an MP3 header may undercount)
    file_rate = int(info.samplerate)
    if sample_rate is not None and sample_rate != file_rate:
        audio = resample(audio, file_rate, sample_rate)
        file_rate = sample_rate
    return audio, file_rate


class _DecodedFile:
    """A file decoded whole into memory, read like a `soundfile.SoundFile` (read, seek, name, close).

    Why: libsndfile 1.2.2's MP3 decoder returns wrong samples when a file is read in pieces (runs of garbage
    at the start of every read after the second, on tonal test signals, whatever the piece size, multiples
    of the 1152-sample MPEG frame included), while reading the whole file at once is right. So MP3s are
    decoded in one call; an hour of stereo costs 1.3 GB, a song 40 MB.
    """

    def __init__(self, path: Path):
        self.name = str(path)
        self._data, self.samplerate = sf.read(self.name, dtype="float32", always_2d=True)
        self.frames, self.channels = self._data.shape
        self._position = 0

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        assert dtype == "float32" and always_2d, (dtype, always_2d)
        block = self._data[self._position:self._position + frames]
        self._position += block.shape[0]
        return block.copy()

    def seek(self, frame: int) -> int:
        self._position = min(max(0, frame), self.frames)
        return self._position

    def close(self) -> None:
        self._data = self._data[:0]

    def __enter__(self) -> _DecodedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_audio(path: str | Path) -> sf.SoundFile | _DecodedFile | Mp4AudioFile:
    """An open file to read in blocks (`read(n, dtype="float32", always_2d=True)`, `seek`, `close`): a
    SoundFile, except for MP3, decoded whole (see `_DecodedFile`), and AAC/MP4, decoded by PyAV in blocks
    (its first audio stream: an NI Stems file's mixture). Decoding errors raise libsndfile's, or
    AudioFileError for AAC/MP4."""
    path = Path(path)
    if is_mp4_audio(path):
        return Mp4AudioFile(path)
    if sf.info(str(path)).format in ("MP3", "MPEG"):
        return _DecodedFile(path)
    return sf.SoundFile(str(path))


def read_audio_blocks(path: str | Path, block_frames: int, info: sf._SoundFileInfo | Mp4Info | None = None
                      ) -> Iterator[np.ndarray]:
    """The file as float32 `(n, 2)` blocks of `block_frames` (the last one shorter), with `read_audio`'s
    checks made as the blocks arrive: a corrupt or truncated file or a NaN raises AudioFileError mid-way, so
    a caller writes its output somewhere temporary until the last block is through. `info`: from
    `audio_info(path)` when the caller already has it."""
    path = Path(path)
    info = info or audio_info(path)
    read = 0
    try:
        handle = open_audio(path)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError(f"{path}: corrupt or truncated, could not decode ({_short(error)})") from None
    with handle:
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as error:
                reason = _short(error)
                raise AudioFileError(f"{path}: corrupt or truncated, could not decode ({reason})") from None
            if block.shape[0] == 0:
                break
            first = first_non_finite(block)
            if first is not None:
                count = int(np.count_nonzero(~np.isfinite(block)))
                first += read
                # A full block may have more after it, unread: the count is then a lower bound.
                count_text = str(count) if block.shape[0] < block_frames else f"at least {count}"
                raise AudioFileError(f"{path}: holds {count_text} NaN or infinite samples (the first at "
                                     f"{first / info.samplerate:.3f} s)")
            read += block.shape[0]
            yield to_stereo(block)
    if read == 0:
        raise AudioFileError(f"{path}: the file holds no audio")
    if read < info.frames * 0.99:
        raise AudioFileError(f"{path}: truncated ({read} of {info.frames} frames could be read)")


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """soxr high-quality resampling of `(nb_samples, nb_channels)` float32."""
    import soxr

    if from_rate <= 0 or to_rate <= 0:
        raise AudioFileError(f"invalid sample rate {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return audio
    return np.ascontiguousarray(soxr.resample(audio, from_rate, to_rate, quality="HQ"), dtype=np.float32)


def first_non_finite(block: np.ndarray) -> int | None:
    """The index of the first frame of `block` `(n, c)` holding a NaN or infinite sample, or None."""
    bad = ~np.isfinite(block).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


class StreamResampler:
    """soxr HQ resampling of a stream of float32 `(n, nb_channels)` blocks; the identity when the rates are
    equal. Block by block it gives the same samples as `resample` of the whole signal."""

    def __init__(self, from_rate: int, to_rate: int, nb_channels: int = 2):
        self._stream = None
        if from_rate != to_rate:
            import soxr

            self._stream = soxr.ResampleStream(from_rate, to_rate, nb_channels, dtype="float32", quality="HQ")

    def process(self, audio: np.ndarray, last: bool = False) -> np.ndarray:
        """The output that became ready; `last=True` (with the final block, or an empty one) flushes."""
        if self._stream is None:
            return audio
        return self._stream.resample_chunk(np.ascontiguousarray(audio, dtype=np.float32), last=last)


def write_wav_atomic(path: str | Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write `(nb_samples, nb_channels)` to `path` via a temporary file in the same folder, then rename.

    A crash or a full disk never leaves a half-written file under the final name.
    """
    path = Path(path)
    if audio.ndim != 2:
        raise ValueError(f"expected (nb_samples, nb_channels), got {audio.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".wav.part", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp_name, audio, sample_rate, subtype=subtype, format="WAV")
        os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp makes 0600; the user's file should not be
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _wav_missing_bytes(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose `data` chunk declares more bytes than the file holds: (declared, present).

    None for other formats, complete files, and writers that leave the size unknown (0 or 0xFFFFFFFF).
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        file_size = os.fstat(handle.fileno()).st_size
        position = 12
        while position + 8 <= file_size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                present = file_size - position - 8
                if chunk_size in (0, 0xFFFFFFFF) or present >= chunk_size:
                    return None
                return chunk_size, present
            position += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    return None


@functools.cache
def current_umask() -> int:
    # Read once: os.umask can only be read by setting it, which must not race with other threads' writes.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0].removeprefix("Error : ").rstrip(".") if text else type(error).__name__
    # libsndfile's MP3 probe says this about any existing file it cannot parse; it misleads the user.
    if "File does not exist or is not a regular file" in line:
        return "format not recognised"
    return line

"""AAC-family audio through PyAV (FFmpeg in its wheels): `.m4a`, `.mp4`, `.aac` and NI Stems (`.stem.mp4`).

libsndfile cannot read AAC, so these files go through FFmpeg's demuxers and decoders, in-process (PyAV), not
through an `ffmpeg` binary. `Mp4AudioFile` reads one audio stream in blocks with the same interface as a
`soundfile.SoundFile` (`read`, `seek`, `frames`, `samplerate`, `channels`, `close`), so the rest of the app
(reader thread, `separate`, `evaluate`) treats it like any other file.

Exact lengths: an AAC encoder adds priming samples at the start (1024 for FFmpeg's, 2112 for Apple's) and
pads the last frame. In MP4 the edit list says what to drop: FFmpeg's demuxer marks the priming to skip, and
the stream's duration gives the true length, so we cut the tail at that duration. (FFmpeg's own muxer rounds
the edit list to its movie timescale, 1 ms by default, so files it writes are exact only to within 44
samples unless written with `movie_timescale` = the sample rate.) A raw ADTS `.aac` stream has no container
to say either: its priming stays in (it plays 23-48 ms late) and its length is what the decoder gives.

NI Stems: one MP4 with five stereo AAC streams in a fixed order (0 mixture, 1 drums, 2 bass, 3 other, 4
vocals). Played or separated, such a file is its mixture, the first audio stream; `read_stem_streams` decodes
all five for `evaluate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demixui.errors import AudioFileError

MP4_EXTENSIONS = (".m4a", ".mp4", ".aac")
STEM_SUFFIX = ".stem.mp4"
# NI Stems stream order after the mixture (stream 0).
NI_STEM_ORDER = ("drums", "bass", "other", "vocals")
_PREROLL = 4096  # samples decoded and dropped before a seek target: the AAC decoder needs a frame to settle


@dataclass(frozen=True)
class Mp4Info:
    """What `soundfile.info` says of a file, for a PyAV-decoded one."""

    name: str
    frames: int
    samplerate: int
    channels: int
    format: str  # container, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "aac"
    audio_streams: int

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate


def is_mp4_audio(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MP4_EXTENSIONS


def is_stem_file(path: str | Path) -> bool:
    return Path(path).name.lower().endswith(STEM_SUFFIX)


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a run-time dependency
        raise AudioFileError("reading AAC/MP4 audio needs PyAV: pip install av") from None
    return av


def _open_container(path: Path):
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except PermissionError:
        raise AudioFileError(f"{path}: permission denied") from None
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        # An MP4 cut short loses its index (written last by most encoders): it reads as invalid data.
        raise AudioFileError(f"{path}: not a readable audio file, or corrupt or truncated ({_short(error)})"
                             ) from None
    if not container.streams.audio:
        container.close()
        raise AudioFileError(f"{path}: the file holds no audio stream")
    return container


def mp4_info(path: str | Path) -> Mp4Info:
    """The file's length (samples, priming and padding excluded where the container says), rate, channels."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: the file holds no audio (empty)")
    container = _open_container(path)
    try:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)
        if rate <= 0 or channels <= 0:
            raise AudioFileError(f"{path}: not a readable audio file (no sample rate or channel count)")
        frames = _declared_frames(stream, rate)
        if frames is None:  # raw ADTS: no header length; count the decoded samples (fast, no resampling)
            frames = _decoded_frames(path, 0)
        info = Mp4Info(str(path), frames, rate, channels, container.format.name, len(container.streams.audio))
    finally:
        container.close()
    if info.frames <= 0:
        raise AudioFileError(f"{path}: the file holds no audio (empty, or truncated)")
    return info


def _declared_frames(stream, rate: int) -> int | None:
    """The stream's length in samples from the container (MP4: the edit list), or None when it has none."""
    if stream.container.format.name in ("aac", "adts") or stream.duration is None or stream.time_base is None:
        return None
    return int(round(stream.duration * stream.time_base * rate))


def _decoded_frames(path: Path, stream_index: int) -> int:
    with Mp4AudioFile(path, stream_index, frames=None) as handle:
        total = 0
        while True:
            block = handle.read(1 << 16)
            if block.shape[0] == 0:
                return total
            total += block.shape[0]


class Mp4AudioFile:
    """One audio stream of an MP4/ADTS file, decoded block by block; reads like a `soundfile.SoundFile`.

    `frames`: the length to cut the stream at (from the container), or None to give all the decoder does.
    Memory is one decoded AAC frame plus the caller's block, whatever the file's length.
    """

    def __init__(self, path: str | Path, stream_index: int = 0, frames: int | None = -1):
        self.name = str(path)
        self._path = Path(path)
        self._stream_index = stream_index
        self._container = _open_container(self._path)
        if stream_index >= len(self._container.streams.audio):
            self._container.close()
            raise AudioFileError(f"{path}: has no audio stream {stream_index}")
        stream = self._container.streams.audio[stream_index]
        self.samplerate = int(stream.codec_context.sample_rate)
        self.channels = int(stream.codec_context.channels)
        self.frames = _declared_frames(stream, self.samplerate) if frames == -1 else frames
        self._frames = None  # the decoding generator; None before the first read
        self._start(0)

    def _start(self, target: int) -> None:
        """Position the decoder so that the next sample given out is sample `target`."""
        stream = self._container.streams.audio[self._stream_index]
        if target >= _PREROLL:
            # Seek a little before the target: the first frame decoded after a seek lacks its overlap with
            # the one before and is wrong. Frames carry their sample position (pts), so the excess is dropped
            # exactly.
            seconds = (target - _PREROLL) / self.samplerate
            self._container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        elif self._frames is not None:
            # Near the start, open afresh: the demuxer applies the priming skip only to a fresh read.
            self._container.close()
            self._container = _open_container(self._path)
            stream = self._container.streams.audio[self._stream_index]
        self._frames = self._container.decode(stream)
        self._pending = np.zeros((0, self.channels), np.float32)  # decoded, not yet given out
        self._next_decoded = None  # sample index of the next decoded frame; None until a frame's pts says
        self._given = target  # sample index of the next sample given out

    def _decode_frame(self) -> np.ndarray | None:
        """The next decoded frame's samples at or after `_given` (pre-roll dropped), or None at the end."""
        av = _av()
        stream = self._container.streams.audio[self._stream_index]
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise AudioFileError(f"{self._path}: corrupt or truncated, could not decode ({_short(error)})"
                                 ) from None
        samples = _frame_samples(frame)
        if self._next_decoded is None:
            pts = frame.pts
            self._next_decoded = 0 if pts is None else max(0, round(pts * stream.time_base * self.samplerate))
            if self._next_decoded > self._given:  # a seek landed late (no pts before it): start there
                self._given = self._next_decoded
        skip = min(max(0, self._given + self._pending.shape[0] - self._next_decoded), samples.shape[0])
        self._next_decoded += samples.shape[0]
        return samples[skip:]

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        """Up to `frames` samples `(n, channels)` float32; fewer only at the end of the stream."""
        assert dtype == "float32" and always_2d, (dtype, always_2d)
        if self.frames is not None:  # cut the encoder's padding at the declared length
            frames = max(0, min(frames, self.frames - self._given))
        parts = [self._pending]
        have = self._pending.shape[0]
        while have < frames:
            samples = self._decode_frame()
            if samples is None:
                break
            parts.append(samples)
            have += samples.shape[0]
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        out, self._pending = block[:frames], block[frames:]
        self._given += out.shape[0]
        return np.ascontiguousarray(out, dtype=np.float32)

    def seek(self, frame: int) -> int:
        frame = max(0, int(frame))
        if self.frames is not None:
            frame = min(frame, self.frames)
        self._start(frame)
        return frame

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> Mp4AudioFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _frame_samples(frame) -> np.ndarray:
    """A decoded PyAV frame as float32 `(n, channels)`, whatever its sample format."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        data = data.T  # (channels, n) -> (n, channels)
    else:
        data = data.reshape(-1, channels)
    if data.dtype == np.uint8:
        return ((data.astype(np.float32) - 128.0) / 128.0)
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    return data.astype(np.float32, copy=False)


def read_stem_streams(path: str | Path) -> tuple[dict[str, np.ndarray], int]:
    """Every stem of an NI Stems file, decoded whole: ({"mixture", "drums", "bass", "other", "vocals":
    float32 `(nb_samples, nb_channels)`}, rate). Streams are cut to one common length (the shortest)."""
    path = Path(path)
    info = mp4_info(path)
    names = ("mixture", *NI_STEM_ORDER)
    if info.audio_streams < len(names):
        raise AudioFileError(f"{path}: an NI Stems file needs {len(names)} audio streams "
                             f"(mixture, {', '.join(NI_STEM_ORDER)}), it has {info.audio_streams}")
    stems: dict[str, np.ndarray] = {}
    for index, name in enumerate(names):
        with Mp4AudioFile(path, index) as handle:
            if handle.samplerate != info.samplerate:
                raise AudioFileError(f"{path}: stream {index} is at {handle.samplerate} Hz, "
                                     f"stream 0 at {info.samplerate} Hz")
            stems[name] = handle.read(info.frames + (1 << 20))
    length = min(audio.shape[0] for audio in stems.values())
    if length < info.frames * 0.99:
        raise AudioFileError(f"{path}: truncated ({length} of {info.frames} frames could be read)")
    return {name: audio[:length] for name, audio in stems.items()}, info.samplerate


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    # PyAV says "[Errno N] reason: 'path'"; the caller's message already starts with the path.
    line = re.sub(r"^\[Errno -?\d+\]\s*", "", line.split(": '", 1)[0]).rstrip(":").strip()
    return line or type(error).__name__

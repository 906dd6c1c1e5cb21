"""Native Instruments Stems files (`.stem.mp4`): writing one, and reading its `stem` metadata box back.

A stem file is an MP4 with five stereo AAC streams in a fixed order (0 mixture, 1 drums, 2 bass, 3 other,
4 vocals, as `mp4audio.NI_STEM_ORDER`) and a JSON document in a `stem` box at `moov/udta/stem`: `version`
(1), `mastering_dsp` (the compressor and limiter a player may apply to the stems' sum; ours are off) and
`stems`, a list of `{"name", "color": "#RRGGBB"}` for streams 1-4 in order. The box holds the JSON bytes
right after its 8-byte header (no version/flags field). Only the mixture track is enabled (FFmpeg's MP4
muxer enables the first track of each kind), so an ordinary player plays the mixture, as in NI's own files.

PyAV (FFmpeg's AAC encoder and MP4 muxer) encodes the streams block by block; the muxer writes the index
(`moov`) after the audio (`mdat`) and with `movie_timescale` = the sample rate, so the recorded length is
exact to the sample. The `stem` box is then inserted into `moov/udta` and the sizes of its parents fixed;
when `moov` precedes audio (a "faststart" file) the chunk offsets (`stco`/`co64`) are shifted too.
"""

from __future__ import annotations

import fractions
import json
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from demixui.errors import AudioFileError
from demixui.mp4audio import NI_STEM_ORDER, STEM_SUFFIX

# Sample rates AAC (MPEG-4 audio) has an index for; other rates cannot be stored.
AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
                       7350})
BIT_RATE = 256_000  # bits/s per stereo stream, what NI's own tools use for AAC stems
# The colours NI's stem creator gives the four stems by default (also Mixxx's fallbacks), and their labels.
STEM_COLORS = {"drums": "#009E73", "bass": "#D55E00", "other": "#CC79A7", "vocals": "#56B4E9"}
STEM_LABELS = {"drums": "Drums", "bass": "Bass", "other": "Other", "vocals": "Vocals"}
STREAM_NAMES = ("mixture", *NI_STEM_ORDER)  # audio stream index -> what it holds

_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")
_MOVE_BLOCK = 1 << 20  # bytes moved at a time when the audio after `moov` has to shift


def stem_manifest() -> dict:
    """The `stem` box's JSON document for our four stems, in stream order (1 drums ... 4 vocals). The
    mastering DSP is NI's default settings with both processors off: our stems sum to the mixture as is."""
    return {
        "version": 1,
        "mastering_dsp": {
            "compressor": {"enabled": False, "ratio": 3, "attack": 0.003, "release": 0.3, "threshold": 0,
                           "input_gain": 0.5, "output_gain": 0.5, "hp_cutoff": 300, "dry_wet": 50},
            "limiter": {"enabled": False, "threshold": 0, "ceiling": -0.35, "release": 0.05},
        },
        "stems": [{"name": STEM_LABELS[name], "color": STEM_COLORS[name]} for name in NI_STEM_ORDER],
    }


def stem_file_name(input_path: str | Path) -> str:
    """`<name>.stem.mp4` for an input `<name>.<ext>` (an input `<name>.stem.mp4` keeps its own name)."""
    name = Path(input_path).name
    base = name[:-len(STEM_SUFFIX)] if name.lower().endswith(STEM_SUFFIX) else Path(name).stem
    return base + STEM_SUFFIX


class StemFileWriter:
    """Encode a stem file at `path` stream by stream, block by block: `write(index, audio)` appends float32
    `(n, 2)` audio at `rate` to stream `index` (0 mixture, 1 drums, 2 bass, 3 other, 4 vocals; see
    `STREAM_NAMES`); `close()` flushes the encoders, ends the MP4 and adds the `stem` box. Each stream's
    recorded length is the number of samples written to it. Memory: a block of audio and the muxer's
    interleaving queue (the streams should be written in step, within a few blocks of each other).
    Failures raise AudioFileError naming `name` (the final file name; `path` may be a temporary).
    `write` may be called from several threads (separate's pipeline writes the mixture from its reading
    thread and the stems from another): a lock keeps the muxer to one at a time."""

    def __init__(self, path: str | Path, rate: int, bit_rate: int = BIT_RATE, name: str | Path | None = None):
        import av

        if rate not in AAC_RATES:
            raise AudioFileError(f"{name or path}: AAC cannot store {rate} Hz audio")
        self._av = av
        self.path = Path(path)
        self._name = name or self.path
        self.rate = rate
        try:
            self._container = av.open(str(path), "w", format="mp4",
                                      options={"movie_timescale": str(rate)})
            self._streams = []
            for _ in STREAM_NAMES:
                stream = self._container.add_stream("aac", rate=rate, layout="stereo")
                stream.bit_rate = bit_rate
                self._streams.append(stream)
        except (av.error.FFmpegError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_cause(error)})") from None
        self.written = [0] * len(STREAM_NAMES)  # samples per stream
        self._closed = False
        self._lock = threading.Lock()  # FFmpeg's muxer (av_interleaved_write_frame) is not thread-safe

    def write(self, index: int, audio: np.ndarray) -> None:
        nb_samples, nb_channels = audio.shape
        assert nb_channels == 2, audio.shape
        if nb_samples == 0:
            return
        frame = self._av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T, dtype=np.float32),
                                                 format="fltp", layout="stereo")
        frame.sample_rate = self.rate
        frame.time_base = fractions.Fraction(1, self.rate)
        with self._lock:
            frame.pts = self.written[index]
            self._encode(index, frame)
            self.written[index] += nb_samples

    def close(self) -> None:
        """Flush, end the MP4 and insert the `stem` box. Every stream should have the same length."""
        if self._closed:
            return
        assert len(set(self.written)) == 1, self.written
        for index in range(len(self._streams)):
            self._encode(index, None)
        self._finish_container()
        try:
            insert_stem_box(self.path, json.dumps(stem_manifest()).encode())
        except OSError as error:
            raise AudioFileError(f"{self._name}: could not write ({_cause(error)})") from None

    def abandon(self) -> None:
        """Close without finishing (after an error): the file is incomplete and the caller removes it."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except (self._av.error.FFmpegError, OSError):
                pass

    def __enter__(self) -> StemFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abandon()

    def _encode(self, index: int, frame) -> None:
        try:
            for packet in self._streams[index].encode(frame):
                self._container.mux(packet)
        except (self._av.error.FFmpegError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_cause(error)})") from None

    def _finish_container(self) -> None:
        self._closed = True
        try:
            self._container.close()
        except (self._av.error.FFmpegError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_cause(error)})") from None


def read_stem_manifest(path: str | Path) -> dict:
    """The JSON document of a stem file's `moov/udta/stem` box; AudioFileError when it has none or it is
    not a JSON object."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            box = _find_path(handle, 0, size, (b"moov", b"udta", b"stem"))
            if box is None:
                raise AudioFileError(f"{path}: not an NI stem file (no moov/udta/stem box)")
            handle.seek(box[1] + box[2])
            payload = handle.read(box[3] - box[2])
    except OSError as error:
        raise AudioFileError(f"{path}: could not read ({_cause(error)})") from None
    try:
        manifest = json.loads(payload.rstrip(b"\0").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        manifest = None
    if not isinstance(manifest, dict):
        raise AudioFileError(f"{path}: the stem box does not hold a JSON object")
    return manifest


def insert_stem_box(path: str | Path, payload: bytes) -> None:
    """Put `payload` into the MP4 at `path` as `moov/udta/stem` (creating `udta`, replacing an old `stem`),
    in place. The boxes after `moov` move by the size change; chunk offsets that point past `moov` are
    shifted by as much, so the audio still decodes whatever the box order."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        moov = next((box for box in _children(handle, 0, size) if box[0] == b"moov"), None)
        if moov is None:
            raise AudioFileError(f"{path}: not an MP4 file (no moov box)")
        _, offset, _, moov_size = moov
        handle.seek(offset)
        old = handle.read(moov_size)
        new = bytearray(_moov_with_stem(old, payload))
        delta = len(new) - len(old)
        _shift_chunk_offsets(new, offset + moov_size, delta)
        _move_tail(handle, offset + moov_size, size, delta)
        handle.seek(offset)
        handle.write(new)
        handle.truncate(size + delta)


def _moov_with_stem(moov: bytes, payload: bytes) -> bytes:
    """`moov` (whole box) with `udta/stem` set to `payload`."""
    header = _header_size(moov)
    stem = _box(b"stem", payload)
    parts, found = [], False
    for kind, start, _, end in _children_of(moov, header, len(moov)):
        child = moov[start:end]
        if kind == b"udta" and not found:
            found = True
            inner = _header_size(child)
            kept = [child[s:e] for k, s, _, e in _children_of(child, inner, len(child)) if k != b"stem"]
            child = _box(b"udta", b"".join(kept) + stem)
        parts.append(child)
    if not found:
        parts.append(_box(b"udta", stem))
    return _box(b"moov", b"".join(parts), large=header == 16)


def _shift_chunk_offsets(moov: bytearray, after: int, delta: int) -> None:
    """Add `delta` to every `stco`/`co64` entry in `moov` that points at or past file offset `after`."""
    if delta == 0:
        return
    for table in _find_all(moov, _header_size(moov), len(moov),
                           (b"trak", b"mdia", b"minf", b"stbl"), (b"stco", b"co64")):
        kind, start, header, _ = table
        count = struct.unpack_from(">I", moov, start + header + 4)[0]
        form = ">I" if kind == b"stco" else ">Q"
        width = struct.calcsize(form)
        first = start + header + 8
        for entry in range(first, first + count * width, width):
            value = struct.unpack_from(form, moov, entry)[0]
            if value >= after:
                if value + delta >= 1 << (8 * width):
                    raise AudioFileError("a chunk offset no longer fits its 32-bit table (stco)")
                struct.pack_into(form, moov, entry, value + delta)


def _move_tail(handle: BinaryIO, start: int, end: int, delta: int) -> None:
    """Move bytes [start, end) of the file by `delta`, a block at a time (from the end when moving up)."""
    if delta == 0 or start >= end:
        return
    positions = range(end, start, -_MOVE_BLOCK) if delta > 0 else range(start, end, _MOVE_BLOCK)
    for position in positions:
        lo, hi = (max(start, position - _MOVE_BLOCK), position) if delta > 0 else \
            (position, min(end, position + _MOVE_BLOCK))
        handle.seek(lo)
        block = handle.read(hi - lo)
        handle.seek(lo + delta)
        handle.write(block)


def _box(kind: bytes, body: bytes, large: bool = False) -> bytes:
    if large or len(body) + 8 >= 1 << 32:
        return _HEADER.pack(1, kind) + _LARGE.pack(len(body) + 16) + body
    return _HEADER.pack(len(body) + 8, kind) + body


def _header_size(box: bytes) -> int:
    return 16 if _HEADER.unpack_from(box, 0)[0] == 1 else 8


def _children_of(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, start, header size, end) of each box in `data[start:end]`."""
    while start + 8 <= end:
        size, kind = _HEADER.unpack_from(data, start)
        header = 8
        if size == 1:
            size, header = _LARGE.unpack_from(data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise AudioFileError(f"corrupt MP4: box {kind!r} at byte {start} runs past its parent")
        yield kind, start, header, start + size
        start += size


def _find_all(data: bytearray, start: int, end: int, path: Sequence[bytes], kinds: Sequence[bytes]
              ) -> Iterator[tuple[bytes, int, int, int]]:
    """Boxes of one of `kinds` under `path` (a chain of container types) in `data[start:end]`."""
    for kind, box_start, header, box_end in _children_of(data, start, end):
        if path and kind == path[0]:
            yield from _find_all(data, box_start + header, box_end, path[1:], kinds)
        elif not path and kind in kinds:
            yield kind, box_start, header, box_end


def _children(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, header size, size) of each box in the file between offsets `start` and `end`."""
    while start + 8 <= end:
        handle.seek(start)
        head = handle.read(16)
        size, kind = _HEADER.unpack_from(head, 0)
        header = 8
        if size == 1 and len(head) == 16:
            size, header = _LARGE.unpack_from(head, 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            raise AudioFileError(f"corrupt or truncated MP4: box {kind!r} at byte {start} runs past its "
                                 "parent")
        yield kind, start, header, size
        start += size


def _find_path(handle: BinaryIO, start: int, end: int, path: Sequence[bytes]) -> tuple | None:
    """The first box at `path` (types from the top), as (type, offset, header size, size), or None."""
    for box in _children(handle, start, end):
        if box[0] == path[0]:
            if len(path) == 1:
                return box
            return _find_path(handle, box[1] + box[2], box[1] + box[3], path[1:])
    return None


def _cause(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

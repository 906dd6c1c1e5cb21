"""File sources: validating a file when it is opened, and the reader thread that decodes it into the session.

The reader thread decodes with soundfile in blocks, maps any channel count to stereo (the project's policy in
`demixui/audiofile.py`), resamples to the model rate with a streaming soxr resampler, and writes into the
current session's source ring as far ahead as the ring allows. At the end of the file it either wraps to the
start (loop; the model keeps its state, so the loop point is seamless) or publishes `source_end`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import (
    SUPPORTED_EXTENSIONS,
    StreamResampler,
    audio_info,
    first_non_finite,
    open_audio,
    to_stereo,
)
from demixui.engine.priority import raise_thread_priority
from demixui.engine.session import Session, SourceInfo
from demixui.errors import AudioFileError

READ_BLOCK = 4096  # samples at the model rate per decode step


def probe_file(path: str | Path) -> SourceInfo:
    """Check that `path` is an audio file we can play; raise AudioFileError with one line if not."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS and path.exists() and not path.is_dir():
        raise AudioFileError(f"{path}: unsupported file type '{path.suffix}' "
                             f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})")
    info = audio_info(path)
    return SourceInfo(name=path.name, live=False, duration_s=info.frames / info.samplerate, path=str(path),
                      file_rate=int(info.samplerate), file_frames=int(info.frames))


class _Decoder:
    """An open file positioned at the session's start, with its resampler."""

    def __init__(self, session: Session, sample_rate: int):
        info = session.info
        self.handle = open_audio(info.path)  # MP3s decoded whole: see demixui.audiofile._DecodedFile
        self.sample_rate = sample_rate
        self.file_rate = info.file_rate
        self.file_frames = info.file_frames
        start_frame = min(int(round(session.start_s * info.file_rate)), max(info.file_frames - 1, 0))
        if start_frame > 0:
            self.handle.seek(start_frame)
        self.position = start_frame  # file frames read so far, to say where a bad sample is
        self.file_block = max(1, int(np.ceil(READ_BLOCK * self.file_rate / sample_rate)))
        self.resampler: StreamResampler | None = StreamResampler(self.file_rate, sample_rate)  # None: flushed

    def read(self) -> np.ndarray | None:
        """The next block at the model rate `(n, 2)`, or None at the end of the file (after the flush)."""
        block = self.handle.read(self.file_block, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            if self.resampler is None:
                return None
            if self.position < 0.99 * self.file_frames:  # the same rule as audiofile.read_audio_blocks
                raise AudioFileError(f"truncated ({self.position} of {self.file_frames} frames readable)")
            tail = self.resampler.process(np.zeros((0, 2), np.float32), last=True)
            self.resampler = None  # flushed; rewind() makes a new one
            return tail if tail.shape[0] else None
        first = first_non_finite(block)
        if first is not None:
            seconds = (self.position + first) / self.file_rate
            raise AudioFileError(f"NaN or infinite samples from {seconds:.3f} s")
        self.position += block.shape[0]
        return self.resampler.process(to_stereo(block))

    def rewind(self) -> None:
        self.handle.seek(0)
        self.position = 0
        self.resampler = StreamResampler(self.file_rate, self.sample_rate)

    def close(self) -> None:
        self.handle.close()


class FileReader:
    """The reader thread: keeps the current file session's source ring filled ahead of the callback."""

    def __init__(self, engine):
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demixui-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        engine = self._engine
        raise_thread_priority()
        current: Session | None = None
        decoder: _Decoder | None = None
        finished = False
        pending: np.ndarray | None = None  # a decoded block waiting for ring space
        try:
            while not self._stop.is_set():
                session = engine._session
                if session is not current:
                    if decoder is not None:
                        decoder.close()
                    current, decoder, finished, pending = session, None, False, None
                    if session is not None and not session.info.live:
                        try:
                            decoder = _Decoder(session, engine.sample_rate)
                        except (AudioFileError, sf.LibsndfileError, RuntimeError, OSError) as error:
                            self._fail(session, f"{session.info.name}: could not open ({error})")
                            finished = True
                if decoder is None or finished:
                    self._stop.wait(0.01)
                    continue
                if pending is None:
                    try:
                        pending = decoder.read()
                    except (AudioFileError, sf.LibsndfileError, RuntimeError) as error:
                        self._fail(current, f"{current.info.name}: decoding failed ({error})")
                        finished = True
                        continue
                    if pending is None:  # end of file
                        if current.loop:
                            decoder.rewind()
                        else:
                            current.source_end = current.source.written
                            finished = True
                        continue
                space = current.source_space()
                if space < pending.shape[0]:
                    # Sleep until the callback has played about half of what we need; never spin.
                    need = pending.shape[0] - space
                    self._stop.wait(min(0.02, max(0.001, need / engine.sample_rate / 2)))
                    continue
                current.source.write(pending)
                pending = None
        finally:
            if decoder is not None:
                decoder.close()

    def _fail(self, session: Session, message: str) -> None:
        session.source_error = message
        session.source_end = session.source.written
        self._engine._report_error(message)

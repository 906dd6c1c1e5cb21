"""The analysis thread (not real-time): what was played -> spectrogram columns, levels, and the recording.

It drains the monitor ring the audio callback writes (output, dry input and the stems before gains, exactly
what was played, sample for sample), so everything here lines up with what is heard (up to the device's
output latency). Spectrogram: mono (L+R)/2, Hann frames of `SPEC_FFT` samples every `SPEC_HOP` samples,
the loudest bin's power in each of `NB_BANDS` log-spaced bands from 30 Hz to 20 kHz, in dB where a full-scale
sine reads 0 dB (within the Hann window's 1.4 dB scalloping), floored at `DB_FLOOR`. Column k covers the
played samples `[k*SPEC_HOP, k*SPEC_HOP + SPEC_FFT)`.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.engine.priority import raise_thread_priority
from demixui.errors import AudioFileError
from demixui.outputs import os_cause, temporary_prefix, usual_permissions

SPEC_FFT = 2048
SPEC_HOP = 1024
NB_BANDS = 128
DB_FLOOR = -120.0
COLUMNS = 4096  # history per source (~95 s)
LEVEL_WINDOW = 2048  # samples (~46 ms) over which levels are measured


def band_bins(sample_rate: int, n_fft: int = SPEC_FFT, nb_bands: int = NB_BANDS) -> np.ndarray:
    """`(nb_bands, width)` FFT-bin indices of log-spaced bands (each at least its nearest bin; short bands
    repeat their last bin). A band's value is the loudest bin in it, so a sine reads its level in its band."""
    nb_bins = n_fft // 2 + 1
    edges = np.geomspace(30.0, min(20000.0, sample_rate / 2), nb_bands + 1) * n_fft / sample_rate
    bands = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        first = min(int(math.ceil(lo)), nb_bins - 1)
        last = max(first, min(int(math.ceil(hi)) - 1, nb_bins - 1))
        if int(math.ceil(lo)) > hi:  # narrower than a bin: the nearest one
            first = last = min(int(round((lo + hi) / 2)), nb_bins - 1)
        bands.append(list(range(first, last + 1)))
    width = max(len(b) for b in bands)
    return np.array([b + [b[-1]] * (width - len(b)) for b in bands], dtype=np.intp)


def db(power: np.ndarray) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), DB_FLOOR).astype(np.float32)


class Recorder:
    """A WAV being written (32-bit float, so nothing clips or rounds) under a temporary name, renamed at the
    end: an interrupted recording never leaves a half-written file under the final name."""

    def __init__(self, path: str | Path, sample_rate: int):
        self.path = Path(path)
        if self.path.suffix.lower() != ".wav":
            raise AudioFileError(f"{self.path}: recordings are WAV files; use a .wav name")
        if self.path.is_dir():
            raise AudioFileError(f"{self.path}: is a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(self.path.name), suffix=".part",
                                       dir=self.path.parent)
            os.close(fd)
            usual_permissions(tmp)  # mkstemp makes 0600; a recording is an ordinary file of the user's
            self._tmp = tmp
            self._file = sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=2, subtype="FLOAT",
                                      format="WAV")
        except OSError as error:
            raise AudioFileError(f"{self.path}: cannot record there ({os_cause(error)})") from None
        self._lock = threading.Lock()  # the analysis thread writes, the control thread finishes
        self.frames = 0
        self.stop_at: int | None = None  # monitor position to record up to (set by stop_recording)
        self.done = threading.Event()

    def write(self, frames: np.ndarray) -> None:
        with self._lock:
            if not self.done.is_set():
                self._file.write(frames)
                self.frames += frames.shape[0]

    def finish(self) -> None:
        with self._lock:
            if self.done.is_set():
                return
            self._file.close()
            os.replace(self._tmp, self.path)
            self.done.set()


class Analysis:
    """Drains the monitor ring on its own thread; `spectrogram()` and `levels` are read by the UI/CLI."""

    def __init__(self, engine, playback, stems: tuple[str, ...], sample_rate: int):
        self._engine = engine
        self._playback = playback
        self.sources = ("output", "input", *stems)
        self._bands = band_bins(sample_rate)
        # Each band is the bins [first, last]: its loudest bin by one np.maximum.reduceat over the pairs
        # (first, last + 1) (the odd results are discarded), a tenth of the time of gathering (bands, width).
        # The power spectrum gets one spare bin so that last + 1 is always a valid index.
        self._band_edges = np.stack([self._bands[:, 0], self._bands.max(axis=1) + 1], axis=1).ravel()
        self._window = np.hanning(SPEC_FFT + 1)[:-1].astype(np.float32)
        self._ref_power = (SPEC_FFT / 4) ** 2  # |X| of a full-scale sine centred on a bin, Hann window
        self._columns = np.full((len(self.sources), COLUMNS, NB_BANDS), DB_FLOOR, np.float32)
        self.column_count = 0  # written by this thread after the column is in place
        self._pending = np.zeros((0, len(self.sources)), np.float32)
        # The last LEVEL_WINDOW monitor frames, in a circle (written at `_recent_at`): levels are means and
        # maxima, which do not depend on the order of the samples, so nothing is rolled or reallocated.
        self._recent = np.zeros((LEVEL_WINDOW, 12), np.float32)
        self._recent_at = 0
        self._scratch = np.zeros_like(self._recent)
        nb_stems = len(stems)
        # Latest levels (dB), replaced whole: (stem_rms, stem_peak, output_peak).
        self.levels = ((DB_FLOOR,) * nb_stems, (DB_FLOOR,) * nb_stems, (DB_FLOOR, DB_FLOOR))
        self.recorder: Recorder | None = None  # set/cleared by the control thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demixui-analysis", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def spectrogram(self, source: str, since: int) -> tuple[np.ndarray, int]:
        """New columns `(k, NB_BANDS)` float32 dB of `source` from column `since` on, and the next index."""
        try:
            index = self.sources.index(source)
        except ValueError:
            raise ValueError(f"unknown spectrogram source {source!r}; one of {self.sources}") from None
        count = self.column_count
        first = max(since, count - (COLUMNS - 64), 0)  # leave a margin the writer may be overwriting
        if first >= count:
            return np.zeros((0, NB_BANDS), np.float32), count
        rows = np.arange(first, count) % COLUMNS
        return self._columns[index, rows], count

    def _run(self) -> None:
        playback = self._playback
        raise_thread_priority()
        ring = playback.monitor
        buf = np.zeros((8192, ring.nb_channels), np.float32)
        position = 0
        while not self._stop.is_set():
            self._engine._watchdog()
            recorder = self.recorder
            available = ring.written - position
            if available <= 0:
                if recorder is not None and recorder.stop_at is not None and position >= recorder.stop_at:
                    recorder.finish()
                self._stop.wait(0.01)
                continue
            n = min(available, buf.shape[0])
            chunk = buf[:n]
            ring.read_into(position, chunk)
            position += n
            playback.monitor_read = position  # frees the ring space for the callback
            if recorder is not None and not recorder.done.is_set():
                stop_at = recorder.stop_at
                keep = n if stop_at is None else max(0, min(n, stop_at - (position - n)))
                if keep:
                    recorder.write(chunk[:keep, 0:2])
                if stop_at is not None and position >= stop_at:
                    recorder.finish()
            self._update_levels(chunk)
            self._update_spectrogram(chunk)

    def _update_levels(self, chunk: np.ndarray) -> None:
        """Levels over the last LEVEL_WINDOW frames: per stem the RMS and the peak of both channels, and the
        output's peak per channel. In place (this ran at ~1 ms a 10-ms chunk with a roll and float64 copies,
        a tenth of a core beside the window)."""
        n = min(chunk.shape[0], LEVEL_WINDOW)
        at = self._recent_at
        first = min(n, LEVEL_WINDOW - at)
        self._recent[at:at + first] = chunk[chunk.shape[0] - n:chunk.shape[0] - n + first]
        self._recent[:n - first] = chunk[chunk.shape[0] - n + first:]
        self._recent_at = (at + n) % LEVEL_WINDOW
        scratch = self._scratch
        np.abs(self._recent, out=scratch)
        peaks = scratch.max(axis=0).astype(np.float64)  # (12,) channels
        np.square(self._recent, out=scratch)
        energy = scratch[:, 4:].sum(axis=0, dtype=np.float64).reshape(-1, 2).sum(axis=1)  # (nb_stems,)
        rms = db(energy / (2 * LEVEL_WINDOW))
        peak = db(np.maximum(peaks[4::2], peaks[5::2]) ** 2)
        out_peak = db(peaks[0:2] ** 2)
        self.levels = (tuple(float(v) for v in rms), tuple(float(v) for v in peak),
                       (float(out_peak[0]), float(out_peak[1])))

    def _update_spectrogram(self, chunk: np.ndarray) -> None:
        nb_stems = (chunk.shape[1] - 4) // 2
        mono = np.empty((chunk.shape[0], 2 + nb_stems), np.float32)
        mono[:, 0] = chunk[:, 0] + chunk[:, 1]
        mono[:, 1] = chunk[:, 2] + chunk[:, 3]
        mono[:, 2:] = chunk[:, 4::2] + chunk[:, 5::2]
        mono *= 0.5
        self._pending = np.concatenate([self._pending, mono])
        while self._pending.shape[0] >= SPEC_FFT:
            frame = self._pending[:SPEC_FFT].T * self._window  # (nb_sources, SPEC_FFT)
            spectrum = np.fft.rfft(frame, axis=1)
            power = np.zeros((spectrum.shape[0], spectrum.shape[1] + 1), spectrum.real.dtype)  # + spare bin
            np.abs(spectrum, out=power[:, :-1])
            power[:, :-1] **= 2
            power[:, :-1] /= self._ref_power
            columns = db(np.maximum.reduceat(power, self._band_edges, axis=1)[:, ::2])
            self._columns[:, self.column_count % COLUMNS] = columns
            self.column_count += 1
            self._pending = self._pending[SPEC_HOP:]

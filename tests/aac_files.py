"""Making AAC test files with PyAV's own encoder (CI gets no audio from outside): `.m4a`/`.mp4`, raw ADTS
`.aac` and NI Stems-layout `.stem.mp4` (several AAC streams in one MP4)."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np


def write_aac(path: Path, streams: list[np.ndarray] | np.ndarray, rate: int = 44100, *,
              container: str | None = None, exact: bool = True, faststart: bool = False,
              bit_rate: int = 256_000) -> Path:
    """Encode float32 `(nb_samples, nb_channels)` audio (a list: one AAC stream each) into `path`.

    `exact`: FFmpeg's MP4 muxer rounds the recorded length to its movie timescale (1 ms by default); at the
    sample rate the length is exact. `faststart`: the index before the audio (as streaming encoders write).
    """
    streams = [streams] if isinstance(streams, np.ndarray) else streams
    options = {"movie_timescale": str(rate)} if exact else {}
    if faststart:
        options["movflags"] = "+faststart"
    fmt = container or ("adts" if path.suffix == ".aac" else "ipod" if path.suffix == ".m4a" else "mp4")
    if fmt == "adts":
        options = {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        encoders = []
        for audio in streams:
            layout = "mono" if audio.shape[1] == 1 else "stereo"
            encoder = out.add_stream("aac", rate=rate, layout=layout)
            encoder.bit_rate = bit_rate
            encoders.append(encoder)
        for encoder, audio in zip(encoders, streams, strict=True):
            layout = "mono" if audio.shape[1] == 1 else "stereo"
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.T, dtype=np.float32), format="fltp",
                                               layout=layout)
            frame.sample_rate = rate
            frame.pts = 0
            frame.time_base = fractions.Fraction(1, rate)
            for packet in encoder.encode(frame):
                out.mux(packet)
            for packet in encoder.encode(None):
                out.mux(packet)
    return path


def chirp(nb_samples: int, rate: int = 44100, nb_channels: int = 2) -> np.ndarray:
    """A sweep 100 Hz -> 2 kHz, a different one per channel, peak 0.4: no two stretches alike, so an offset
    by any number of samples shows."""
    t = np.arange(nb_samples)[:, None] / rate
    sweep = 100 * t + (1900 / (2 * t[-1, 0] + 1e-9)) * t * t
    return (0.4 * np.sin(2 * np.pi * sweep * (1 + 0.1 * np.arange(nb_channels)))).astype(np.float32)

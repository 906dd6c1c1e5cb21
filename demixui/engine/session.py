"""One playback session: the audio of one source from one start point, and the positions the threads share.

A session begins at every open, seek and live start; the threads notice a new `Engine._session` object and
switch to it, so no buffer is ever flushed while another thread reads it. Positions are samples at the model
rate counted from the session start, on two axes:

- source position s: the s-th sample of the source audio since the start point (file frame or live input).
- output position p: the p-th sample the audio callback plays in this session. The dry mix at p is source
  p - L (L = the model latency, silence for p < L), and the stems at p are the separation of that same sample,
  so dry and stems line up exactly and the callback can crossfade between them at any sample.

Rings and who owns what (each field has exactly one writer thread; readers tolerate a stale value because
every field only grows or is replaced whole):

- `source` (2 ch): written by the reader thread (file) or the input callback (live) up to `source.written`;
  the writer never overwrites a position the callback still needs, i.e. it keeps
  `source.written <= (play_position - L) + capacity`. The inference worker reads the model input from it and
  the callback reads the dry mix from it, so the dry mix never depends on the model.
- `stems` (4 stems x 2 ch): written by the inference worker at output positions; `stem_span = (start, end)`
  (one tuple, replaced atomically) says which positions hold valid stems. The worker only writes at positions
  >= the published `end` (or a new `start` >= it after a resync) and publishes the new span after the copy, so
  the callback, which reads only inside the span it saw at the start of its block, never reads a half-written
  frame.
- `play_position` (int): written by the callback only; the worker and the reader pace themselves on it.
- `source_end` (int or None): written by the reader when a non-looping file ends.

The positions and flags the audio callback uses live in `cells`, an int64 array (layout in `shared.py`), so
the native callback reads and writes them without the GIL; the attributes below are views of those cells.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from demixui.engine import shared
from demixui.engine.shared import (
    NB_SESSION_CELLS,
    S_ENDED,
    S_LATENCY,
    S_LIVE,
    S_OUTPUT_OFFSET,
    S_PLAY_POSITION,
    S_SOURCE_CAPACITY,
    S_SOURCE_DATA,
    S_SOURCE_END,
    S_SOURCE_ERROR,
    S_SOURCE_WRITTEN,
    S_STARTED,
    S_STEM_END,
    S_STEM_START,
    S_STEMS_CAPACITY,
    S_STEMS_DATA,
    SharedRing,
)
from dsp.ring import PositionalRing

NB_STEM_CHANNELS = 8  # 4 stems x 2 channels, stem-major: channel = stem * 2 + side
SOURCE_CAPACITY = 1 << 17  # ~3 s of read-ahead at 44.1 kHz
# ~1.5 s (2 MB a session); the worker keeps at most its lead and a hop separated ahead of the callback
# (a file: about 0.5 s, worker.FILE_LEAD_SECONDS); the callback reads up to a block from its play position.
STEM_CAPACITY = 1 << 16

_session_ids = itertools.count(1)


@dataclass
class SourceInfo:
    """What is playing: a file (path, its own rate, duration) or live input (infinite duration)."""

    name: str
    live: bool
    duration_s: float = math.inf
    path: str | None = None
    file_rate: int = 0
    file_frames: int = 0


class Session:
    """The shared state of one source from one start point (see the module docstring for the ownership)."""

    def __init__(self, info: SourceInfo, latency: int, start_s: float = 0.0, loop: bool = False):
        self.info = info
        self.latency = latency  # model latency L in samples
        self.start_s = start_s  # source time of source position 0 (seek target), seconds
        self.loop = loop  # read by the reader at the end of the file
        self.session_id = next(_session_ids)
        self.source_error: str | None = None  # reader writes: a decode error ended the source early
        cells = self.cells = np.zeros(NB_SESSION_CELLS, np.int64)
        self.source = SharedRing(SOURCE_CAPACITY, 2, cells, S_SOURCE_WRITTEN)
        self.stems = PositionalRing(STEM_CAPACITY, NB_STEM_CHANNELS)  # valid positions: `stem_span`
        cells[S_SOURCE_DATA], cells[S_SOURCE_CAPACITY] = self.source.data_address, SOURCE_CAPACITY
        cells[S_STEMS_DATA], cells[S_STEMS_CAPACITY] = shared.address(self.stems._data), STEM_CAPACITY
        cells[S_LATENCY], cells[S_LIVE] = latency, int(info.live)
        cells[S_SOURCE_END] = -1
        cells[S_OUTPUT_OFFSET] = -1

    @property
    def address(self) -> int:
        """The address of `cells`, which the engine publishes to the callback."""
        return shared.address(self.cells)

    @property
    def stem_span(self) -> tuple[int, int]:
        """Output positions [start, end) holding valid stems (worker writes). The end is loaded first: the
        worker stores the start first, so a reader never pairs an old start with a new end (a resync's new
        start is past the old end, so the mix of a new start and an old end is an empty span)."""
        end = int(self.cells[S_STEM_END])
        return int(self.cells[S_STEM_START]), end

    @stem_span.setter
    def stem_span(self, span: tuple[int, int]) -> None:
        start, end = span
        shared.store(self.cells, S_STEM_START, start)
        shared.store(self.cells, S_STEM_END, end)

    @property
    def play_position(self) -> int:  # callback writes
        return int(self.cells[S_PLAY_POSITION])

    @play_position.setter
    def play_position(self, value: int) -> None:
        shared.store(self.cells, S_PLAY_POSITION, value)

    @property
    def started(self) -> bool:  # callback writes: the prefill was reached and playback began
        return bool(self.cells[S_STARTED])

    @started.setter
    def started(self, value: bool) -> None:
        self.cells[S_STARTED] = int(value)

    @property
    def output_offset(self) -> int:  # callback writes: device sample index at which position 0 was output
        return int(self.cells[S_OUTPUT_OFFSET])

    @output_offset.setter
    def output_offset(self, value: int) -> None:
        self.cells[S_OUTPUT_OFFSET] = value

    @property
    def ended(self) -> bool:  # callback writes: a non-looping source has been played to its end
        return bool(self.cells[S_ENDED])

    @ended.setter
    def ended(self, value: bool) -> None:
        self.cells[S_ENDED] = int(value)

    @property
    def source_end(self) -> int | None:  # reader writes (file end; None while unknown or looping)
        end = int(self.cells[S_SOURCE_END])
        return None if end < 0 else end

    @source_end.setter
    def source_end(self, value: int | None) -> None:
        if self.source_error is not None:
            self.cells[S_SOURCE_ERROR] = 1  # before the end, which the callback loads first
        shared.store(self.cells, S_SOURCE_END, -1 if value is None else value)

    @property
    def output_end(self) -> int | None:
        """Output positions [0, output_end) are the whole session: the source plus the model's tail."""
        end = self.source_end
        return None if end is None else end + self.latency

    def source_space(self) -> int:
        """How many more source samples the writer may add without overwriting unplayed dry audio."""
        needed_from = self.play_position - self.latency
        return needed_from + self.source.capacity - self.source.written

    def position_s(self, sample_rate: int, device_latency: int = 0) -> float:
        """The source time being heard now, in seconds (file time, wrapped when looping)."""
        heard = max(0, self.play_position - self.latency - device_latency)
        t = self.start_s + heard / sample_rate
        if not self.info.live and self.info.duration_s > 0 and t >= self.info.duration_s:
            t = t % self.info.duration_s if self.loop or self.source_end is None else self.info.duration_s
        return t

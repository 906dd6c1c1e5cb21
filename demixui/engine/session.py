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
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from dsp.ring import PositionalRing

NB_STEM_CHANNELS = 8  # 4 stems x 2 channels, stem-major: channel = stem * 2 + side
SOURCE_CAPACITY = 1 << 17  # ~3 s of read-ahead at 44.1 kHz
STEM_CAPACITY = 1 << 15  # ~0.74 s; the worker keeps at most `lead` (<< this) separated ahead of the callback

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


@dataclass
class Session:
    """The shared state of one source from one start point (see the module docstring for the ownership)."""

    info: SourceInfo
    latency: int  # model latency L in samples
    start_s: float = 0.0  # source time of source position 0 (seek target), seconds
    loop: bool = False  # read by the reader at the end of the file
    session_id: int = field(default_factory=lambda: next(_session_ids))
    source: PositionalRing = field(default_factory=lambda: PositionalRing(SOURCE_CAPACITY, 2))
    stems: PositionalRing = field(default_factory=lambda: PositionalRing(STEM_CAPACITY, NB_STEM_CHANNELS))
    stem_span: tuple[int, int] = (0, 0)  # worker writes
    play_position: int = 0  # callback writes
    started: bool = False  # callback writes: the prefill was reached and playback began
    output_offset: int = -1  # callback writes: device sample index at which play position 0 was output
    ended: bool = False  # callback writes: a non-looping source has been played to its end
    source_end: int | None = None  # reader writes (file end; None while unknown or looping)
    source_error: str | None = None  # reader writes: a decode error ended the source early

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

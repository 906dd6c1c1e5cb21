"""The memory the audio callback shares with the Python threads: flat arrays of cells, no Python objects.

The native callback (`native.py`) runs without the GIL, so it cannot look at Python attributes: every value
it reads or writes lives in a numpy array whose address it knows. There are three kinds:

- the control block `ctl` (int64, one per `Playback`): its address is PortAudio's `userData`; it holds the
  settings the control thread publishes, the callback's own state and counters, and the addresses of
  everything else (the float cells, the scratch buffers, the monitor ring, the current session's cells);
- the float cells (float32, one per `Playback`): wet and transport gains, the per-stem gain ramp, and the
  gain targets the control thread publishes in `GAIN_SLOTS` slots;
- the session cells (int64, one per `Session`): the addresses of its two rings and the positions the threads
  share (see `session.py`).

Why this is safe without a lock: each cell has exactly one writer thread (named beside it below); a cell is
one aligned 64-bit (or 32-bit) word, so a reader sees the old or the new value, never a torn one; and a writer
stores a position only after the samples (or the other cells) it covers are in place (`store()` below: a
release fence where the native code is loaded), so a reader that reads the position first sees complete
data. Pairs that must agree are ordered: the worker stores a stem span's start before its end and the
callback reads the end first (see `Session.stem_span`); gain targets go into a fresh slot before the version
that names it is stored.
"""

from __future__ import annotations

import numpy as np

from dsp.ring import PositionalRing

GAIN_SLOTS = 4  # gain target slots: the control thread may publish 3 more before a slot is reused

# -- control block (int64), written by the control thread (engine) -------------------------------------------
C_SESSION = 0  # address of the current session's cells, 0 for none (Engine._session's setter)
C_PLAYING = 1  # 1 while playing (Engine._playing's setter)
C_GAIN_VERSION = 2  # gain targets published so far; the latest are in slot version % GAIN_SLOTS
C_HOP = 3  # the model hop in samples (live buffer sizes)
C_MONITOR_READ = 4  # analysis thread: monitor positions below this have been read
# constants, set before the stream starts
C_RAMP = 5  # ramp length in samples (gains, crossfades, transport fades)
C_PREFILL_TIMEOUT = 6  # samples to wait for the first stems before starting on the dry mix
C_NB_STEMS = 7
C_FLOATS = 8  # address of the float cells
C_DRY = 9  # scratch (MAX_CHUNK, 2) float32: the aligned dry mix of the chunk
C_STEMS = 10  # scratch (MAX_CHUNK, nb_stems * 2) float32: the stems of the chunk, before gains
C_FADE = 11  # scratch (MAX_CHUNK, 2) float32: the old session's fade-out after a switch
C_MONITOR = 12  # address of the monitor ring's samples (MONITOR_CAPACITY, NB_MONITOR_CHANNELS) float32
C_MONITOR_CAPACITY = 13
C_MAX_CHUNK = 14
# callback-owned: state and counters (read by snapshot() and the null clock)
C_CB_SESSION = 15  # address of the session the callback plays (Engine keeps it alive while it is set)
C_CALLBACKS = 16
C_APP_UNDERRUNS = 17
C_DEVICE_UNDERRUNS = 18
C_MONITOR_DROPS = 19
C_FRAMES_OUT = 20  # samples given to the device so far (all sessions)
C_STEM_FILL = 21  # separated samples ahead of the play position at the last chunk
C_SOURCE_LEAD = 22  # source samples written minus the play position at the last chunk
C_PREFILL_WAITED = 23
C_DRIFT = 24  # live clock drift being corrected: 1 jump ahead, 2 hold
C_LIVE_TARGET = 25  # live buffer kept (input written minus play position), set at the session start
C_DRIFT_CORRECTIONS = 26
C_RAMP_POS = 27  # samples into the current gain ramp (>= C_RAMP: done)
C_GAIN_SEEN = 28  # the gain version the current ramp heads to
C_MONITOR_WRITTEN = 29  # monitor positions below this are written
C_CALLBACK_ERRORS = 30  # Python callback only: exceptions caught (the native one cannot raise)
# live input: the input callback (native, or Engine._live_write) appends to the live session's source ring
C_INPUT_OVERFLOWS = 31  # input callback: blocks dropped because the output was not consuming
C_INPUT_CHANNELS = 32  # control thread, before the input stream starts: the device's channel count
# output layout (routing.py), set by the control thread while no stream runs (before one opens)
C_OUT_CHANNELS = 33  # channels of the output buffer: 2 (the remix) plus the stem outputs and the cue bus
C_STEM_OUTS = 34  # first channel of the per-stem outputs (post-fader), 0 for none
C_CUE_OUT = 35  # first channel of the cue bus (the cued stems, pre-fader), 0 for none
# live latency (live.py): the control thread sizes the buffer from hop and block; the callback keeps it
C_LIVE_SHORT = 36  # callback: the last live block's stems were short (an app underrun): grow the buffer
C_LIVE_MAX = 37  # control thread: the most the live buffer grows to after underruns
C_LIVE_QUIET = 38  # callback: live samples played since the last late block
C_SHRINK_AFTER = 39  # constant: quiet samples after which a grown live buffer gives a block back
C_LIVE_BUFFER = 40  # control thread: input samples ahead of the play position to start with and to keep
C_LIVE_FLOOR = 41  # control thread: below this lead some block's stems cannot exist: hold and refill
C_DRIFT_WINDOW = 42  # constant: samples over which the smallest lead is taken (drift correction)
C_LEAD_MIN = 43  # callback: the smallest live lead seen in the current window
C_LEAD_SEEN = 44  # callback: samples played in the current window
C_DRIFT_EXCESS = 45  # callback: how far the pending jump ahead moves the play position
C_WAKE_FD = 46  # constant: the worker's wake-up pipe (write end), -1 where there is none
C_WAKE_WRITE = 47  # constant: the address of libc's write(), 0 where there is none
NB_CONTROL_CELLS = 48

# -- float cells (float32); all callback-owned except the target slots (control thread) ----------------------
F_WET = 0  # 1 while separated stems play, 0 on the dry mix, between during a crossfade
F_TRANSPORT = 1  # the transport gain (play/pause and session switch fades)
F_GAINS = 2  # the current ramped gains (nb_ramped(nb_stems) cells); then F_GAINS + k * nb_ramped for:
RAMP_FROM, RAMP_STEP, RAMP_TARGET = 1, 2, 3  # ... the ramp (callback)
TARGET_READ = 4  # ... a published slot as the callback copied it (callback)
TARGET_SLOTS = 5  # ... GAIN_SLOTS slots of published targets (control thread)


def nb_ramped(nb_stems: int) -> int:
    """Gains ramped together: the faders (one per stem), then the cue bus weights (1 cued, 0 not), so a cue
    switched on or off fades like a fader instead of clicking in the headphones."""
    return 2 * nb_stems


def max_out_channels(nb_stems: int) -> int:
    """The widest output buffer: the remix, a pair per stem and the cue bus (routing.py)."""
    return 2 + 2 * nb_stems + 2


def nb_float_cells(nb_stems: int) -> int:
    return F_GAINS + (TARGET_SLOTS + GAIN_SLOTS) * 2 * nb_stems  # (not nb_ramped: native.py compiles this)


# -- session cells (int64) -----------------------------------------------------------------------------------
S_SOURCE_DATA, S_SOURCE_CAPACITY = 0, 1  # constants: the source ring (capacity, 2) float32
S_STEMS_DATA, S_STEMS_CAPACITY = 2, 3  # constants: the stem ring (capacity, nb_stems * 2) float32
S_LATENCY, S_LIVE = 4, 5  # constants
S_SOURCE_WRITTEN = 6  # reader thread (file) or input callback (live)
S_STEM_START, S_STEM_END = 7, 8  # worker: start stored before end; readers load end first
S_SOURCE_END = 9  # reader: -1 while unknown (or looping)
S_SOURCE_ERROR = 10  # reader: 1 once the source failed (stored before S_SOURCE_END)
S_PLAY_POSITION = 11  # callback
S_STARTED = 12  # callback
S_OUTPUT_OFFSET = 13  # callback
S_ENDED = 14  # callback
NB_SESSION_CELLS = 16


def _plain_store(cells: np.ndarray, index: int, value) -> None:
    cells[index] = value


store = _plain_store  # native.load() replaces it with a release store (a fence, then the store)


def address(array: np.ndarray) -> int:
    """The address of a C-contiguous array's first element (the array must outlive every reader)."""
    assert array.flags.c_contiguous, array.flags
    return int(array.ctypes.data)


class SharedRing(PositionalRing):
    """A `PositionalRing` whose `written` position lives in a shared int64 cell, so native code can read it
    (and, for the monitor ring, write it)."""

    def __init__(self, capacity: int, nb_channels: int, cells: np.ndarray, index: int):
        self._cells, self._index = cells, index
        super().__init__(capacity, nb_channels)

    @property
    def written(self) -> int:  # type: ignore[override]
        return int(self._cells[self._index])

    @written.setter
    def written(self, value: int) -> None:
        store(self._cells, self._index, value)

    @property
    def data_address(self) -> int:
        return address(self._data)

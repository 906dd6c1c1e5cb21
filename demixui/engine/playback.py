"""The audio callback: stems -> per-stem gains -> output, with the dry-mix fallback and smooth transitions.

Two implementations of one algorithm: the native one (`native.py`, numba-compiled, called by PortAudio
without the GIL, so no Python thread can delay it) and this module's Python one, the fallback where numba
cannot be loaded (or DEMIXUI_AUDIO_CALLBACK=python). Both keep all their state in the shared cells of
`shared.py` (one writer per cell), so the engine, telemetry and tests see the same fields either way;
`Playback.audio_callback` says which one runs.

Real-time rules (DESIGN.md section 3): the callback fills the whole buffer in place, never waits, locks,
allocates arrays, logs or touches Qt. Every buffer is preallocated here; the hot path uses slices and `out=`.
It reads control values that other threads publish in cells (a gain target slot and its version, a flag, a
session's address), so a read is never torn. It renders in chunks of at most `MAX_CHUNK` frames, so any
device block size works.

Per output sample p of the current session the callback plays
    out[p] = x[p] * sum_s g_s[p] * stems_s[p] + (1 - x[p]) * min_s g_s[p] * dry[p]
where g_s ramps linearly to its target over `ramp` samples whenever a gain, mute, solo or karaoke setting
changes, and the wet weight x is 1 while the stem ring holds the next block plus a ramp's worth (live input:
the next block only, see live.py), else it ramps to 0 within the stems still held (the stem ring running
short: an app underrun) and back to 1 when they return.
Because dry[p] is the source sample p - L, the same sample the stems separate, the crossfade is aligned.
The dry mix stands in scaled by the smallest stem gain: exactly the remix when all gains are equal, and
otherwise the loudest stand-in in which no stem is louder than its slider, so a muted stem (karaoke vocals)
never comes back during an underrun; with one muted, the stand-in is silence.
A transport gain ramps in and out on play/pause and when a seek or open switches sessions (the old session is
rendered for one ramp more and faded out), so no transport action clicks.
The stem outputs and the cue bus (`routing.py`: channels after the remix) follow the same formula with their
own weights: stem s post-fader (weights g_s on s, 0 elsewhere: stand-in silence), the cue pre-fader (ramped
weights c_s, 1 cued and 0 not, which ramp with the gains: stand-in the dry mix times the smallest c_s).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from demixui.engine import shared
from demixui.engine.live import (
    DRIFT_WINDOW_SECONDS,
    SHRINK_AFTER_SECONDS,
    Wakeup,
    live_buffer,
    live_buffer_max,
    stem_floor,
)
from demixui.engine.routing import OutputLayout
from demixui.engine.session import NB_STEM_CHANNELS, Session
from demixui.engine.shared import (
    C_APP_UNDERRUNS,
    C_CALLBACK_ERRORS,
    C_CALLBACKS,
    C_CB_SESSION,
    C_CUE_OUT,
    C_DEVICE_UNDERRUNS,
    C_DRIFT,
    C_DRIFT_CORRECTIONS,
    C_DRIFT_EXCESS,
    C_DRIFT_WINDOW,
    C_DRY,
    C_FADE,
    C_FLOATS,
    C_FRAMES_OUT,
    C_GAIN_SEEN,
    C_GAIN_VERSION,
    C_HOP,
    C_INPUT_CHANNELS,
    C_INPUT_OVERFLOWS,
    C_LEAD_MIN,
    C_LEAD_SEEN,
    C_LIVE_BUFFER,
    C_LIVE_FLOOR,
    C_LIVE_MAX,
    C_LIVE_QUIET,
    C_LIVE_SHORT,
    C_LIVE_TARGET,
    C_MAX_CHUNK,
    C_MONITOR,
    C_MONITOR_CAPACITY,
    C_MONITOR_DROPS,
    C_MONITOR_READ,
    C_MONITOR_WRITTEN,
    C_NB_STEMS,
    C_OUT_CHANNELS,
    C_PLAYING,
    C_PREFILL_TIMEOUT,
    C_PREFILL_WAITED,
    C_RAMP,
    C_RAMP_POS,
    C_SESSION,
    C_SHRINK_AFTER,
    C_SOURCE_LEAD,
    C_STEM_FILL,
    C_STEM_OUTS,
    C_STEMS,
    C_WAKE_FD,
    C_WAKE_WRITE,
    F_GAINS,
    F_TRANSPORT,
    F_WET,
    GAIN_SLOTS,
    NB_CONTROL_CELLS,
    RAMP_FROM,
    RAMP_STEP,
    RAMP_TARGET,
    TARGET_READ,
    TARGET_SLOTS,
    SharedRing,
    max_out_channels,
    nb_float_cells,
    nb_ramped,
)

MAX_CHUNK = 4096
NO_LEAD = 1 << 62  # the smallest lead of a window in which none was seen
RAMP_SECONDS = 0.005  # gains, crossfades, transport fades: 5 ms (220 samples at 44.1 kHz), no audible click
PREFILL_TIMEOUT_SECONDS = 0.5  # start on the dry mix if the stems have not arrived by then
NB_MONITOR_CHANNELS = 2 + 2 + NB_STEM_CHANNELS  # output, dry input, stems (before gains)
MONITOR_CAPACITY = 1 << 17
CALLBACK_ENV = "DEMIXUI_AUDIO_CALLBACK"  # "python" forces the fallback (tests, comparisons)

log = logging.getLogger("demixui.engine")


class _Cell:
    """An attribute that is a view of one cell: `_Cell(index)` of the control block, `_Cell(index, True)` of
    the float cells (read by telemetry and tests; the one writer is named in shared.py)."""

    def __init__(self, index: int, floats: bool = False):
        self.index, self.floats = index, floats

    def __get__(self, playback, owner=None):
        if playback is None:
            return self
        if self.floats:
            return float(playback._floats[self.index])
        return int(playback._ctl[self.index])

    def __set__(self, playback, value) -> None:
        (playback._floats if self.floats else playback._ctl)[self.index] = value


def _scratch(buffer: np.ndarray, m: int, width: int) -> np.ndarray:
    """A contiguous `(m, width)` view at the start of a preallocated scratch buffer."""
    return buffer.reshape(-1)[:m * width].reshape(m, width)


class Playback:
    """The callback's state. `callback` is what the null backend's clock thread calls (Python signature);
    `native_stream()` is what PortAudio calls directly when the native callback is loaded."""

    app_underruns = _Cell(C_APP_UNDERRUNS)
    device_underruns = _Cell(C_DEVICE_UNDERRUNS)
    monitor_drops = _Cell(C_MONITOR_DROPS)
    callbacks = _Cell(C_CALLBACKS)
    callback_errors = _Cell(C_CALLBACK_ERRORS)
    frames_out = _Cell(C_FRAMES_OUT)  # samples given to the device so far (all sessions)
    stem_fill = _Cell(C_STEM_FILL)  # samples of separated audio ahead of the play position at the last block
    source_lead = _Cell(C_SOURCE_LEAD)  # source samples written minus the play position at the last block
    live_target = _Cell(C_LIVE_TARGET)  # live buffer (input written minus play position) kept, set at start
    drift_corrections = _Cell(C_DRIFT_CORRECTIONS)
    monitor_read = _Cell(C_MONITOR_READ)  # analysis thread writes: the monitor is read up to here
    input_overflows = _Cell(C_INPUT_OVERFLOWS)  # input callback writes
    wet = _Cell(F_WET, floats=True)
    transport = _Cell(F_TRANSPORT, floats=True)
    _prefill_waited = _Cell(C_PREFILL_WAITED)
    _drift = _Cell(C_DRIFT)  # live clock drift being corrected: 1 jump ahead, 2 hold (see _live_hold)
    _lead_min = _Cell(C_LEAD_MIN)
    _lead_seen = _Cell(C_LEAD_SEEN)
    _drift_excess = _Cell(C_DRIFT_EXCESS)
    live_buffer = _Cell(C_LIVE_BUFFER)  # live input held ahead of the play position (live.py), samples
    live_floor = _Cell(C_LIVE_FLOOR)  # the least live lead with which every block's stems can exist
    _ramp_pos = _Cell(C_RAMP_POS)

    def __init__(self, engine, nb_stems: int, sample_rate: int):
        self._engine = engine
        self.nb_stems = nb_stems
        self.sample_rate = sample_rate
        ng = self.nb_ramped = nb_ramped(nb_stems)  # faders, then cue weights
        width = max_out_channels(nb_stems)  # the widest output buffer (every output on)
        self.ramp = max(1, int(round(RAMP_SECONDS * sample_rate)))
        self.prefill_timeout = int(PREFILL_TIMEOUT_SECONDS * sample_rate)
        m = MAX_CHUNK
        # Every value the callback shares lives in these cells (layout and writers: shared.py).
        ctl = self._ctl = np.zeros(NB_CONTROL_CELLS, np.int64)
        floats = self._floats = np.zeros(nb_float_cells(nb_stems), np.float32)
        self.monitor = SharedRing(MONITOR_CAPACITY, NB_MONITOR_CHANNELS, ctl, C_MONITOR_WRITTEN)
        # Ramps are built from these 1..m counters in the shapes they are used in: numpy allocates buffers in
        # proportion to the block for broadcasting operands, not for same-shaped ones or scalars.
        counter = np.arange(1, m + 1, dtype=np.float32)
        self._ar2 = np.repeat(counter[:, None], 2, axis=1)  # (m, 2)
        self._ar3 = np.repeat(self._ar2[:, None, :], ng, axis=1)  # (m, nb_ramped, 2)
        # (m, w) for every output width w: a column slice of one wide array is strided, and numpy buffers
        # (allocates) for strided operands too; the scratch below is used through contiguous views (_scratch).
        self._arw = {w: np.repeat(counter[:, None], w, axis=1) for w in range(1, width + 1)}
        self._dry = np.zeros((m, 2), np.float32)  # the source, aligned (also what the monitor shows)
        self._dry_gain = np.zeros((m, 2), np.float32)
        self._dry_out = np.zeros((m, 2), np.float32)  # the dry mix as played: times the smallest gain
        self._stems = np.zeros((m, nb_stems, 2), np.float32)
        self._stems_flat = self._stems.reshape(m, nb_stems * 2)  # a view of the same memory
        self._weighted = np.zeros((m, nb_stems, 2), np.float32)  # the stems times their faders
        self._weighted_flat = self._weighted.reshape(m, nb_stems * 2)  # = the stem outputs, when wet
        self._wet = np.zeros((m, 2), np.float32)
        self._diff = np.zeros((m, 2), np.float32)
        self._cue_weighted = np.zeros((m, nb_stems, 2), np.float32)  # the cue bus: as the remix, own weights
        self._faders = np.zeros((m, nb_stems, 2), np.float32)  # the per-sample gains, fader and cue parts
        self._x2 = np.zeros((m, 2), np.float32)  # the wet weight, stereo
        self._direct = np.zeros((m, 2 * nb_stems), np.float32)  # the stem outputs, crossfaded
        self._cue = np.zeros((m, nb_stems, 2), np.float32)
        self._cue_wet = np.zeros((m, 2), np.float32)
        self._cue_gain = np.zeros((m, 2), np.float32)
        self._cue_dry = np.zeros((m, 2), np.float32)
        self._cue_diff = np.zeros((m, 2), np.float32)
        self._xramp = np.zeros((m, width), np.float32)  # the wet weight, over every channel it scales
        self._tramp = np.zeros((m, width), np.float32)
        self._gain_buf = np.zeros((m, ng, 2), np.float32)
        self._steps = np.zeros((m, ng, 2), np.float32)
        self._fade = np.zeros((m, width), np.float32)  # the native kernel's too (C_FADE)
        self._monitor_frame = np.zeros((m, NB_MONITOR_CHANNELS), np.float32)
        ctl[C_RAMP], ctl[C_PREFILL_TIMEOUT], ctl[C_NB_STEMS] = self.ramp, self.prefill_timeout, nb_stems
        ctl[C_MAX_CHUNK] = m
        ctl[C_DRIFT_WINDOW] = int(DRIFT_WINDOW_SECONDS * sample_rate)
        ctl[C_SHRINK_AFTER] = int(SHRINK_AFTER_SECONDS * sample_rate)
        self.publish_live(engine.hop, engine.blocksize)
        # The worker sleeps on this until live input arrives (the input callbacks signal it, see live.py).
        self.wakeup = Wakeup()
        ctl[C_WAKE_FD], ctl[C_WAKE_WRITE] = self.wakeup.write_fd, self.wakeup.write_address
        ctl[C_FLOATS], ctl[C_DRY] = shared.address(floats), shared.address(self._dry)
        ctl[C_STEMS], ctl[C_FADE] = shared.address(self._stems), shared.address(self._fade)
        ctl[C_MONITOR], ctl[C_MONITOR_CAPACITY] = shared.address(self.monitor._data), MONITOR_CAPACITY
        # Gain ramp state (callback only): views of the float cells.
        self.gains = self._stem_cells(0)
        self._ramp_from, self._ramp_step = self._stem_cells(RAMP_FROM), self._stem_cells(RAMP_STEP)
        self._ramp_target = self._stem_cells(RAMP_TARGET)
        self._target_read = self._stem_cells(TARGET_READ)
        self._gains3 = self.gains[None, :, None]  # views that broadcast over samples and channels
        self._from3 = self._ramp_from[None, :, None]
        self._step3 = self._ramp_step[None, :, None]
        self._cue_targets = np.zeros(nb_stems, np.float32)  # nothing cued
        self._stem_cells(TARGET_SLOTS)[:nb_stems] = engine._gain_targets  # version 0
        self.gains[:nb_stems] = self._ramp_target[:nb_stems] = engine._gain_targets
        ctl[C_RAMP_POS] = self.ramp
        self.layout = OutputLayout()
        self.set_layout(self.layout)
        self.session: Session | None = None  # Python callback only (the native one keeps C_CB_SESSION)
        self.last_callback_error: str | None = None
        self._native = None
        self.audio_callback = "python"
        if os.environ.get(CALLBACK_ENV, "native") == "python":
            self.audio_callback = f"python ({CALLBACK_ENV}=python)"
        else:
            try:
                from demixui.engine import native

                self._native, why = native.load()
            except Exception as error:  # noqa: BLE001 - numba broken at import: the fallback, with why
                self._native, why = None, f"native callback unavailable: {type(error).__name__}: {error}"
            self.audio_callback = "native (numba)" if self._native else f"python ({why})"
        if self._native is not None:
            self.callback = self._native_callback
        else:
            self.callback = self._python_callback
            log.warning("demixui: audio callback in Python: %s; a busy Python thread can make it click",
                        self.audio_callback[len("python ("):-1])

    def _stem_cells(self, k: int) -> np.ndarray:
        """Float cells k (0: current gains; RAMP_FROM, RAMP_STEP, RAMP_TARGET; TARGET_SLOTS + slot)."""
        start = F_GAINS + k * self.nb_ramped
        return self._floats[start:start + self.nb_ramped]

    # -- what other threads call -----------------------------------------------------------------------------
    @property
    def native(self) -> bool:
        return self._native is not None

    def native_stream(self) -> tuple[int, int, object] | None:
        """(callback address, userData address, what must outlive the stream) for PortAudio, or None."""
        if self._native is None:
            return None
        return self._native.address, shared.address(self._ctl), self

    def native_input_stream(self, channels: int) -> tuple[int, int, object]:
        """(input callback address, userData address, what must outlive the stream) for a live input stream
        of `channels` channels (native callback only)."""
        shared.store(self._ctl, C_INPUT_CHANNELS, channels)
        return self._native.input_address, shared.address(self._ctl), self

    def capture(self, block: np.ndarray, frames: int) -> None:
        """Live input from a Python caller (the null backend's clock, the Python input callback): append
        `block[:frames]` `(frames, 2)` to the live session's source ring, or drop it and count an overflow
        when the output is not consuming. Native when loaded (the same code the input stream calls)."""
        if self._native is not None:
            assert block.flags.c_contiguous, block.flags
            self._native.capture(self._ctl, block, frames)
            return
        session = self._engine._session
        if session is None or not session.info.live:
            return
        if session.source_space() < frames:
            self._ctl[C_INPUT_OVERFLOWS] += 1  # the output is not consuming (stalled): drop, never overwrite
            return
        session.source.write(block[:frames])
        self.wakeup.signal()

    def publish_session(self, session: Session | None) -> None:
        """Control thread: the session the callback plays from its next block."""
        shared.store(self._ctl, C_SESSION, 0 if session is None else session.address)

    def callback_session_address(self) -> int:
        """The address of the session the callback last played (the engine keeps that session alive)."""
        return int(self._ctl[C_CB_SESSION])

    def publish_playing(self, playing: bool) -> None:
        shared.store(self._ctl, C_PLAYING, int(playing))

    def publish_gains(self, targets: np.ndarray, cue: np.ndarray | None = None) -> None:
        """Control thread: new gain targets `(nb_stems,)` and cue weights `(nb_stems,)` (None: as they were),
        into the next slot, then its version."""
        if cue is not None:
            self._cue_targets = np.asarray(cue, np.float32).copy()
        version = int(self._ctl[C_GAIN_VERSION]) + 1
        slot = self._stem_cells(TARGET_SLOTS + version % GAIN_SLOTS)
        slot[:self.nb_stems], slot[self.nb_stems:] = targets, self._cue_targets
        shared.store(self._ctl, C_GAIN_VERSION, version)

    def set_layout(self, layout: OutputLayout) -> None:
        """Control thread, while no output stream runs: the outputs the next stream's buffer carries."""
        self.layout = layout
        ctl = self._ctl
        ctl[C_OUT_CHANNELS], ctl[C_STEM_OUTS], ctl[C_CUE_OUT] = (layout.channels, layout.stem_channel,
                                                               layout.cue_channel)

    def publish_live(self, hop: int, blocksize: int) -> None:
        """Control thread: the model hop and the device block, and the live buffer sized from them (live.py);
        a live session started before keeps the buffer it started with until the next one."""
        shared.store(self._ctl, C_HOP, hop)
        shared.store(self._ctl, C_LIVE_FLOOR, stem_floor(blocksize, hop))
        shared.store(self._ctl, C_LIVE_BUFFER, live_buffer(blocksize, hop, self.sample_rate))
        shared.store(self._ctl, C_LIVE_MAX, live_buffer_max(blocksize, hop, self.sample_rate))

    def close_wakeup(self) -> None:
        """Control thread, after the streams stopped: no callback signals the worker any more."""
        shared.store(self._ctl, C_WAKE_FD, -1)
        self.wakeup.close()

    # -- the callbacks ---------------------------------------------------------------------------------------
    def _native_callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        """The null backend's entry to the native kernel (it releases the GIL while it renders)."""
        try:
            assert outdata.shape[0] >= frames and outdata.flags.c_contiguous, (outdata.shape, frames)
            assert outdata.shape[1] == self.layout.channels, (outdata.shape, self.layout)
            self._native.render(self._ctl, outdata, frames, bool(status.output_underflow))
        except Exception as error:  # noqa: BLE001 - as in _python_callback: silence and a report, not a dead clock
            outdata[:frames] = 0.0
            self._ctl[C_CALLBACK_ERRORS] += 1
            self.last_callback_error = f"{type(error).__name__}: {error}"

    def _python_callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        """sounddevice's output callback signature; `outdata` is `(frames, layout.channels)` float32, filled
        in place."""
        ctl = self._ctl
        if status.output_underflow:
            ctl[C_DEVICE_UNDERRUNS] += 1
        ctl[C_CALLBACKS] += 1
        pos = 0
        try:
            while pos < frames:
                n = min(MAX_CHUNK, frames - pos)
                self._render(outdata[pos:pos + n], n)
                pos += n
                ctl[C_FRAMES_OUT] += n
        except Exception as error:  # noqa: BLE001 - a bug must cost a block of silence, not the stream
            outdata[pos:] = 0.0
            ctl[C_CALLBACK_ERRORS] += 1
            self.last_callback_error = f"{type(error).__name__}: {error}"  # reported by the watchdog

    def _render(self, out: np.ndarray, n: int) -> None:
        engine = self._engine
        session = engine._session
        fade_n = 0
        if session is not self.session:
            old, self.session = self.session, session
            if old is not None and old.started and not old.ended and self.transport > 0.0:
                fade_n = min(n, self.ramp)  # the old session, faded out over one ramp
                width = out.shape[1]
                fade, t = _scratch(self._fade, fade_n, width), _scratch(self._tramp, fade_n, width)
                self._render_session(old, fade, fade_n)
                np.multiply(self._arw[width][:fade_n], -self.transport / fade_n, out=t)
                t += self.transport
                fade *= t
            self.transport = 0.0
            self.wet = 0.0
            self._prefill_waited = 0
            self._drift = 0
            self._ctl[C_LIVE_SHORT] = 0
            shared.store(self._ctl, C_CB_SESSION, 0 if session is None else session.address)
        playing = bool(self._ctl[C_PLAYING])
        if session is None or session.ended or not self._prefilled(session, n, playing):
            out[:] = 0.0
        elif not playing and self.transport == 0.0 and not session.info.live:
            out[:] = 0.0  # paused: the session does not advance
        elif session.info.live and self._live_hold(session, n):
            out[:] = 0.0  # live input slower than the output: wait (silent) until the buffer is refilled
        else:
            m = self._render_session(session, out, n)
            self._apply_transport(out, n, 1.0 if playing and not self._drift else 0.0)
            self._write_monitor(out, m)  # only the session's samples (not the silence after its end)
        if fade_n:
            out[:fade_n] += fade

    def _prefilled(self, session: Session, n: int, playing: bool) -> bool:
        """Wait (playing silence, never blocking) until the session can start with stems, or time out. A file
        starts at its first block played, not while paused before it (opened, or sought to, and its stems
        separated before play): the block that starts it plays position 0, the one `output_offset` names.
        `playing`: as the caller read it for this block (read again here it may differ)."""
        if session.started:
            return True
        if not playing and not session.info.live:
            return False
        written = session.source.written
        skip = max(0, written - self.live_buffer) if session.info.live else 0
        if session.info.live:  # the live buffer in, and the stems where it starts separated
            ready = written >= self.live_buffer
            waiting = ready and not self._stems_ready(session, n, skip)
        else:  # the timeout counts from the first decoded samples: opening a file (an MP3 is decoded
            # whole, an hour of it in about 10 s) is silence, not a run of underruns
            ready = self._stems_ready(session, n) or session.source_error is not None
            waiting = not ready and playing and session.source.written > 0
        if waiting:
            self._prefill_waited += n
            ready = self._prefill_waited >= self.prefill_timeout
        if ready:
            # Live: start the live buffer behind the input, however long the first stems took (position p is
            # still output at output_offset + p).
            session.play_position = skip
            self.wet = 1.0 if self._stems_ready(session, n) else 0.0
            session.output_offset = self.frames_out - skip
            session.started = True
            self.live_target = written - skip  # the live buffer we keep
            self._lead_min, self._lead_seen = NO_LEAD, 0
            self._ctl[C_LIVE_QUIET] = 0
        return ready

    def _live_hold(self, session: Session, n: int) -> bool:
        """Keep the live buffer at its target when the input and output clocks differ (two devices), and only
        then: if the smallest lead over a window (`C_DRIFT_WINDOW`) was above the target, the input runs
        fast: fade out, jump ahead by that excess and fade in (a momentary burst of input is not an excess,
        so steady state never gains latency); if the lead falls below the floor with which every block's
        stems exist, the input runs slow: fade out and hold (silence, not advancing) until refilled to the
        target. After a block whose stems came late the target grows by a block (up to `C_LIVE_MAX`) and
        is refilled the same way; after `C_SHRINK_AFTER` samples without one it gives a block back, taken
        by the next jump (live.py). Returns whether to hold this block. Each correction counts in
        `drift_corrections`."""
        ctl = self._ctl
        lead = session.source.written - session.play_position
        if ctl[C_LIVE_SHORT]:
            ctl[C_LIVE_SHORT], ctl[C_LIVE_QUIET] = 0, 0
            if self._drift == 0 and self.live_target + n <= ctl[C_LIVE_MAX]:
                self.live_target += n
                self._drift = 2
        if self._drift == 0:
            if lead < self.live_floor:
                self._drift = 2
            else:
                self._lead_min = min(self._lead_min, lead)
                self._lead_seen += n
                ctl[C_LIVE_QUIET] += n
                if self._lead_seen < ctl[C_DRIFT_WINDOW]:
                    return False
                if ctl[C_LIVE_QUIET] >= ctl[C_SHRINK_AFTER] and self.live_target - n >= self.live_buffer:
                    self.live_target -= n  # quiet for long: a grown block back (the jump below takes it)
                    ctl[C_LIVE_QUIET] = 0
                excess = self._lead_min - self.live_target
                self._lead_min, self._lead_seen = NO_LEAD, 0
                if excess <= 0:
                    return False
                self._drift, self._drift_excess = 1, excess
        if self.transport > 0.0:
            return False  # fading out first (the transport ramps to 0 while _drift is set)
        if self._drift == 1:
            session.play_position = session.play_position + max(0, min(self._drift_excess,
                                                                       lead - self.live_target))
        elif lead < self.live_target:
            return True
        self._drift = 0
        self._lead_min, self._lead_seen = NO_LEAD, 0
        self.drift_corrections += 1
        return False

    def ready_for_null_clock(self, frames: int) -> int:
        """For the null-fast clock: 1 if the next block can be rendered without a fallback, 0 if it should
        wait for the worker (or for the analysis thread to drain the monitor), -1 if nothing is playing."""
        engine = self._engine
        if self.monitor.written + frames - self.monitor_read > self.monitor.capacity:
            return 0
        session = engine._session
        if session is None or session.ended:
            return -1
        if not session.info.live and not self._ctl[C_PLAYING]:
            return 1 if self.transport > 0.0 else -1  # render the fade-out, then idle
        if session.source_error is not None or engine.worker.failed:
            # No stems will come: render the dry mix, once the reader has it (a fast clock must not outrun
            # the reader on a busy machine and play gaps).
            needed = session.play_position - session.latency + frames
            waiting = session.source_end is None and not session.info.live and session.source.written < needed
            return 0 if waiting else 1
        if session.info.live and not session.started and session.source.written < self.live_buffer:
            return 1  # the clock itself must feed more input first
        lead = session.source.written - session.play_position
        if session.info.live and (self._drift or lead < self.live_floor):
            return 1  # live input short: the callback holds while the clock feeds more
        return int(self._stems_ready(session, frames))

    def _stems_ready(self, session: Session, n: int, at: int | None = None) -> bool:
        """Whether the stems for the next `n` samples (from `at`, default the play position) plus one ramp
        (live: the `n` only, see live.py; a file: or up to the end) are held."""
        c = session.play_position if at is None else at
        start, end = session.stem_span
        if start > c:
            return False
        need = n if session.info.live else n + self.ramp
        out_end = session.output_end
        if out_end is not None:
            need = min(need, out_end - c)
        return end - c >= need

    def _render_session(self, session: Session, out: np.ndarray, n: int) -> int:
        """Render `n` samples of `session` into `out`; returns how many belong to it (fewer at its end)."""
        c = session.play_position
        latency = session.latency
        out_end = session.output_end
        m = n if out_end is None else max(0, min(n, out_end - c))
        source_end = session.source_end
        missing = session.source.read_clipped(c - latency, self._dry[:m],
                                              1 << 62 if source_end is None else source_end)
        start, end = session.stem_span
        avail = end - c if start <= c else 0
        self.stem_fill = max(avail, 0)
        self.source_lead = session.source.written - c
        gains = self._gain_ramp(m)
        if self._stems_ready(session, m):
            nwet, target = m, 1.0
        else:
            nwet, target = max(0, min(avail, m)), 0.0
        if m > 0 and session.started and (target == 0.0 or missing):
            # Stems short (playing the dry mix instead), or even the dry mix late (the reader fell behind).
            self.app_underruns += 1
            if session.info.live and target == 0.0:
                self._ctl[C_LIVE_SHORT] = 1  # grow the live buffer (_live_hold)
        wet_used = target == 1.0 or self.wet > 0.0
        nb, stem_outs, cue_out = self.nb_stems, self.layout.stem_channel, self.layout.cue_channel
        # Contiguous copies: gains[:, :nb] is strided, and numpy buffers (allocates) for a strided operand.
        faders, cue = self._faders[:m], self._cue[:m]
        faders[:] = gains[:, :nb]
        if cue_out:
            cue[:] = gains[:, nb:]
        if nwet > 0 and wet_used:
            session.stems.read_into(c, self._stems_flat[:nwet])
            np.multiply(self._stems[:nwet], faders[:nwet], out=self._weighted[:nwet])
            np.sum(self._weighted[:nwet], axis=1, out=self._wet[:nwet])
            if cue_out:
                np.multiply(self._stems[:nwet], cue[:nwet], out=self._cue_weighted[:nwet])
                np.sum(self._cue_weighted[:nwet], axis=1, out=self._cue_wet[:nwet])
        self._stems_flat[nwet if wet_used else 0:m] = 0.0  # the monitor shows no stems where none were used
        if m > 0:
            fade = not ((target == 1.0 and self.wet >= 1.0) or (target == 0.0 and self.wet <= 0.0))
            x = self._wet_weight(target, nwet, m, 2 * nb if stem_outs else 2) if fade else None
            x2 = x
            if x is not None and stem_outs:  # a contiguous stereo copy (a strided operand allocates)
                x2 = _scratch(self._x2, m, 2)
                x2[:] = x[:, :2]
            self._blend(out[:, :2], self._wet, faders, self._dry_out, self._dry_gain, self._diff,
                        target, x2, nwet, m)
            if cue_out:
                self._blend(out[:, cue_out:cue_out + 2], self._cue_wet, cue, self._cue_dry, self._cue_gain,
                            self._cue_diff, target, x2, nwet, m)
            if stem_outs:  # the stand-in is silence (one stem is never the dry mix)
                direct = out[:m, stem_outs:stem_outs + 2 * nb]
                if x is not None:  # into contiguous scratch, then copied: `direct` is strided
                    faded = _scratch(self._direct, nwet, 2 * nb)
                    np.multiply(self._weighted_flat[:nwet], x[:nwet], out=faded)
                    direct[:nwet] = faded
                    direct[nwet:] = 0.0
                elif target == 1.0:
                    direct[:] = self._weighted_flat[:m]
                else:
                    direct[:] = 0.0
        out[m:n] = 0.0
        session.play_position = c + m
        if out_end is not None and c + m >= out_end:
            session.ended = True
        return m

    def _wet_weight(self, target: float, nwet: int, m: int, width: int) -> np.ndarray:
        """The wet weight x `(m, width)` (every column alike) of a crossfade towards `target`; it becomes
        the current one (`wet`)."""
        x = _scratch(self._xramp, m, width)
        if target == 1.0:
            np.multiply(self._arw[width][:m], 1.0 / self.ramp, out=x)
            x += self.wet
            np.minimum(x, 1.0, out=x)
        else:  # reach 0 within the stems still held (a hard switch only if none are)
            length = max(1, min(self.ramp, nwet))
            np.multiply(self._arw[width][:m], -self.wet / length, out=x)
            x += self.wet
            np.maximum(x, 0.0, out=x)
        self.wet = float(x[m - 1, 0])
        return x

    def _blend(self, out: np.ndarray, wet: np.ndarray, weights: np.ndarray, dry_out: np.ndarray,
               dry_gain: np.ndarray, diff: np.ndarray, target: float, x: np.ndarray | None, nwet: int,
               m: int) -> None:
        """One stereo output `out[:m]`: the weighted stems `wet`, or the dry stand-in (the aligned dry mix
        times the smallest of `weights` `(m, nb_stems, 2)`, sample by sample; see the module docstring),
        or the crossfade between them by x (None: no crossfade). The stand-in is only computed when it
        plays, not on the all-separated path. `dry_out`, `dry_gain`, `diff`: this output's scratch."""
        if x is None and target == 1.0:
            out[:m] = wet[:m]
            return
        np.min(weights[:m], axis=1, out=dry_gain[:m])
        dry = np.multiply(self._dry[:m], dry_gain[:m], out=dry_out[:m])
        if x is None:
            out[:m] = dry
            return
        k = nwet
        np.subtract(wet[:k], dry[:k], out=diff[:k])
        diff[:k] *= x[:k]
        diff[:k] += dry[:k]
        out[:k] = diff[:k]  # a copy: `out` may be a strided pair of a wider buffer (an operand allocates)
        out[k:m] = dry[k:]

    def _gain_ramp(self, m: int) -> np.ndarray:
        """Per-sample gains `(m, nb_stems, 2)`: linear from the current value to the target in `ramp`
        samples."""
        gains = self._gain_buf[:m]
        ctl = self._ctl
        version = int(ctl[C_GAIN_VERSION])
        if version != ctl[C_GAIN_SEEN]:
            self._target_read[:] = self._stem_cells(TARGET_SLOTS + version % GAIN_SLOTS)
            if int(ctl[C_GAIN_VERSION]) - version < GAIN_SLOTS - 1:  # else the slot may have been reused
                ctl[C_GAIN_SEEN] = version
                self._ramp_target[:] = self._target_read
                self._ramp_from[:] = self.gains
                np.subtract(self._ramp_target, self.gains, out=self._ramp_step)
                self._ramp_step /= self.ramp
                self._ramp_pos = 0
        if self._ramp_pos >= self.ramp:
            gains[:] = self._gains3
            return gains
        steps = self._steps[:m]
        np.add(self._ar3[:m], self._ramp_pos, out=steps)  # samples into the ramp, capped at its end
        np.minimum(steps, self.ramp, out=steps)
        gains[:] = self._step3
        np.multiply(gains, steps, out=gains)
        steps[:] = self._from3
        np.add(gains, steps, out=gains)
        self._ramp_pos += m
        if self._ramp_pos >= self.ramp:
            self.gains[:] = self._ramp_target
            gains[max(0, m - (self._ramp_pos - self.ramp)):] = self._gains3  # exactly the target after it
        elif m:
            self.gains[:] = gains[m - 1, :, 0]
        return gains

    def _apply_transport(self, out: np.ndarray, n: int, target: float) -> None:
        if self.transport == target:
            if target == 0.0:
                out[:] = 0.0
            return
        t = _scratch(self._tramp, n, out.shape[1])  # every output channel alike
        np.multiply(self._arw[out.shape[1]][:n], (1.0 if target > self.transport else -1.0) / self.ramp,
                    out=t)
        t += self.transport
        np.clip(t, 0.0, 1.0, out=t)
        out *= t
        self.transport = float(t[n - 1, 0])

    def _write_monitor(self, out: np.ndarray, n: int) -> None:
        """Copy what was played (and its dry input and stems) for the analysis thread; drop if it is full."""
        ring = self.monitor
        if ring.written + n - self.monitor_read > ring.capacity:
            self.monitor_drops += 1
            return
        frame = self._monitor_frame[:n]
        frame[:, 0:2] = out[:n, :2]  # the remix
        frame[:, 2:4] = self._dry[:n]
        frame[:, 4:] = self._stems_flat[:n]
        ring.write(frame)

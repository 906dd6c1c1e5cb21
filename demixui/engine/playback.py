"""The audio callback: stems -> per-stem gains -> output, with the dry-mix fallback and smooth transitions.

Real-time rules (DESIGN.md section 3): the callback fills the whole buffer in place, never waits, locks,
allocates arrays, logs or touches Qt. Every buffer is preallocated here; the hot path uses slices and `out=`.
It reads control values that the control thread replaces whole (a new gain array, a bool), so a read is never
torn. It renders in chunks of at most `MAX_CHUNK` frames, so any device block size works.

Per output sample p of the current session the callback plays
    out[p] = x[p] * sum_s g_s[p] * stems_s[p] + (1 - x[p]) * min_s g_s[p] * dry[p]
where g_s ramps linearly to its target over `ramp` samples whenever a gain, mute, solo or karaoke setting
changes, and the wet weight x is 1 while the stem ring holds the next block plus a ramp's worth, else it
ramps to 0 within the stems still held (the stem ring running short: an app underrun) and back to 1 when they
return.
Because dry[p] is the source sample p - L, the same sample the stems separate, the crossfade is aligned.
The dry mix stands in scaled by the smallest stem gain: exactly the remix when all gains are equal, and
otherwise the loudest stand-in in which no stem is louder than its slider, so a muted stem (karaoke vocals)
never comes back during an underrun; with one muted, the stand-in is silence.
A transport gain ramps in and out on play/pause and when a seek or open switches sessions (the old session is
rendered for one ramp more and faded out), so no transport action clicks.
"""

from __future__ import annotations

import numpy as np

from demixui.engine.session import NB_STEM_CHANNELS, Session
from dsp.ring import PositionalRing

MAX_CHUNK = 4096
RAMP_SECONDS = 0.005  # gains, crossfades, transport fades: 5 ms (220 samples at 44.1 kHz), no audible click
PREFILL_TIMEOUT_SECONDS = 0.5  # start on the dry mix if the stems have not arrived by then
NB_MONITOR_CHANNELS = 2 + 2 + NB_STEM_CHANNELS  # output, dry input, stems (before gains)
MONITOR_CAPACITY = 1 << 17


class Playback:
    """The callback's state. `callback` is what sounddevice (or the null backend's clock thread) calls."""

    def __init__(self, engine, nb_stems: int, sample_rate: int):
        self._engine = engine
        self.nb_stems = nb_stems
        self.ramp = max(1, int(round(RAMP_SECONDS * sample_rate)))
        self.prefill_timeout = int(PREFILL_TIMEOUT_SECONDS * sample_rate)
        m = MAX_CHUNK
        # Ramps are built from these 1..m counters in the shapes they are used in: numpy allocates buffers in
        # proportion to the block for broadcasting operands, not for same-shaped ones or scalars.
        counter = np.arange(1, m + 1, dtype=np.float32)
        self._ar2 = np.repeat(counter[:, None], 2, axis=1)  # (m, 2)
        self._ar3 = np.repeat(self._ar2[:, None, :], nb_stems, axis=1)  # (m, nb_stems, 2)
        self._dry = np.zeros((m, 2), np.float32)  # the source, aligned (also what the monitor shows)
        self._dry_gain = np.zeros((m, 2), np.float32)
        self._dry_out = np.zeros((m, 2), np.float32)  # the dry mix as played: times the smallest gain
        self._stems = np.zeros((m, nb_stems, 2), np.float32)
        self._stems_flat = self._stems.reshape(m, nb_stems * 2)  # a view of the same memory
        self._weighted = np.zeros((m, nb_stems, 2), np.float32)
        self._wet = np.zeros((m, 2), np.float32)
        self._diff = np.zeros((m, 2), np.float32)
        self._xramp = np.zeros((m, 2), np.float32)
        self._tramp = np.zeros((m, 2), np.float32)
        self._gain_buf = np.zeros((m, nb_stems, 2), np.float32)
        self._steps = np.zeros((m, nb_stems, 2), np.float32)
        self._fade = np.zeros((m, 2), np.float32)
        self._monitor_frame = np.zeros((m, NB_MONITOR_CHANNELS), np.float32)
        # Gain ramp state (callback only).
        self.gains = np.array(engine._gain_targets, dtype=np.float32)
        self._ramp_from = self.gains.copy()
        self._ramp_step = np.zeros(nb_stems, np.float32)
        self._ramp_target = engine._gain_targets
        self._ramp_pos = self.ramp
        self._gains3 = self.gains[None, :, None]  # views that broadcast over samples and channels
        self._from3 = self._ramp_from[None, :, None]
        self._step3 = self._ramp_step[None, :, None]
        # Transitions (callback only).
        self.wet = 0.0
        self.transport = 0.0
        self.session: Session | None = None
        self._prefill_waited = 0
        self._drift = 0  # live clock drift being corrected: 1 jump ahead, 2 hold (see _live_hold)
        self.live_target = 0  # live buffer (input written minus play position) kept, set at the start
        self.drift_corrections = 0
        # Monitor ring: callback writes, the analysis thread reads up to `monitor_read` (it writes that).
        self.monitor = PositionalRing(MONITOR_CAPACITY, NB_MONITOR_CHANNELS)
        self.monitor_read = 0
        # Counters and latest values: written by the callback only, read by snapshot().
        self.app_underruns = 0
        self.device_underruns = 0
        self.monitor_drops = 0
        self.callbacks = 0
        self.callback_errors = 0
        self.last_callback_error: str | None = None
        self.frames_out = 0  # samples given to the device so far (all sessions)
        self.stem_fill = 0  # samples of separated audio ahead of the play position at the last block
        self.source_lead = 0  # source samples written minus the play position at the last block

    # -- the callback ----------------------------------------------------------------------------------------
    def callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        """sounddevice's output callback signature; `outdata` is `(frames, 2)` float32, filled in place."""
        if status.output_underflow:
            self.device_underruns += 1
        self.callbacks += 1
        pos = 0
        try:
            while pos < frames:
                n = min(MAX_CHUNK, frames - pos)
                self._render(outdata[pos:pos + n], n)
                pos += n
                self.frames_out += n
        except Exception as error:  # noqa: BLE001 - a bug must cost a block of silence, not the stream
            outdata[pos:] = 0.0
            self.callback_errors += 1
            self.last_callback_error = f"{type(error).__name__}: {error}"  # reported by the watchdog

    def _render(self, out: np.ndarray, n: int) -> None:
        engine = self._engine
        session = engine._session
        fade_n = 0
        if session is not self.session:
            old, self.session = self.session, session
            if old is not None and old.started and not old.ended and self.transport > 0.0:
                fade_n = min(n, self.ramp)  # the old session, faded out over one ramp
                self._render_session(old, self._fade[:fade_n], fade_n)
                np.multiply(self._ar2[:fade_n], -self.transport / fade_n, out=self._tramp[:fade_n])
                self._tramp[:fade_n] += self.transport
                self._fade[:fade_n] *= self._tramp[:fade_n]
            self.transport = 0.0
            self.wet = 0.0
            self._prefill_waited = 0
            self._drift = 0
        playing = engine._playing
        if session is None or session.ended or not self._prefilled(session, n):
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
            out[:fade_n] += self._fade[:fade_n]

    def _prefilled(self, session: Session, n: int) -> bool:
        """Wait (playing silence, never blocking) until the session can start with stems, or time out."""
        if session.started:
            return True
        if session.info.live:  # enough input for the look-ahead, and the first stems separated
            ready = session.source.written >= self.live_prefill(n)
            waiting = ready and not self._stems_ready(session, n)
        else:  # the timeout counts from the first decoded samples: opening a file (an MP3 is decoded
            # whole, an hour of it in about 10 s) is silence, not a run of underruns
            ready = self._stems_ready(session, n) or session.source_error is not None
            waiting = not ready and self._engine._playing and session.source.written > 0
        if waiting:
            self._prefill_waited += n
            ready = self._prefill_waited >= self.prefill_timeout
        if ready:
            self.wet = 1.0 if self._stems_ready(session, n) else 0.0
            session.output_offset = self.frames_out
            session.started = True
            self.live_target = session.source.written  # the live buffer we keep (play position is 0)
        return ready

    def _live_hold(self, session: Session, n: int) -> bool:
        """Keep live latency bounded when the input and output clocks differ (two devices): if the buffer has
        grown by more than a few blocks, fade out, jump ahead to the target buffer and fade in; if it has
        shrunk below what the next block needs, fade out and hold (silence, not advancing) until refilled.
        Returns whether to hold this block. Each correction counts in `drift_corrections`."""
        lead = session.source.written - session.play_position
        if self._drift == 0:
            if lead > self.live_target + max(4 * n, 2 * self._engine.hop):
                self._drift = 1
            elif lead < n + self.ramp + self._engine.hop:
                self._drift = 2
            else:
                return False
        if self.transport > 0.0:
            return False  # fading out first (the transport ramps to 0 while _drift is set)
        if self._drift == 1:
            session.play_position = session.source.written - self.live_target
        elif lead < self.live_target:
            return True
        self._drift = 0
        self.drift_corrections += 1
        return False

    def live_prefill(self, frames: int) -> int:
        """Input samples to collect before a live session starts playing: one output block plus a ramp (the
        callback's look-ahead), one hop (the model's granularity) and two hops of time to compute them in
        (23 ms at hop 512: the worker's slack against a busy machine). The callback starts at the first
        block boundary after that, so the live buffer is this rounded up to whole blocks."""
        return frames + self.ramp + 3 * self._engine.hop

    def ready_for_null_clock(self, frames: int) -> int:
        """For the null-fast clock: 1 if the next block can be rendered without a fallback, 0 if it should
        wait for the worker (or for the analysis thread to drain the monitor), -1 if nothing is playing."""
        engine = self._engine
        if self.monitor.written + frames - self.monitor_read > self.monitor.capacity:
            return 0
        session = engine._session
        if session is None or session.ended:
            return -1
        if not session.info.live and not engine._playing:
            return 1 if self.transport > 0.0 else -1  # render the fade-out, then idle
        if session.source_error is not None or engine.worker.failed:
            # No stems will come: render the dry mix, once the reader has it (a fast clock must not outrun
            # the reader on a busy machine and play gaps).
            needed = session.play_position - session.latency + frames
            waiting = session.source_end is None and not session.info.live and session.source.written < needed
            return 0 if waiting else 1
        if session.info.live and not session.started and session.source.written < self.live_prefill(frames):
            return 1  # the clock itself must feed more input first
        lead = session.source.written - session.play_position
        if session.info.live and (self._drift or lead < frames + self.ramp + self._engine.hop):
            return 1  # live input short: the callback holds while the clock feeds more
        return int(self._stems_ready(session, frames))

    def _stems_ready(self, session: Session, n: int) -> bool:
        """Whether the stems for the next `n` samples plus one ramp (or up to the end) are held."""
        c = session.play_position
        start, end = session.stem_span
        if start > c:
            return False
        need = n + self.ramp
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
        wet_used = target == 1.0 or self.wet > 0.0
        if nwet > 0 and wet_used:
            session.stems.read_into(c, self._stems_flat[:nwet])
            np.multiply(self._stems[:nwet], gains[:nwet], out=self._weighted[:nwet])
            np.sum(self._weighted[:nwet], axis=1, out=self._wet[:nwet])
        self._stems_flat[nwet if wet_used else 0:m] = 0.0  # the monitor shows no stems where none were used
        if m == 0:
            pass
        elif target == 1.0 and self.wet >= 1.0:
            out[:m] = self._wet[:m]
        elif target == 0.0 and self.wet <= 0.0:
            out[:m] = self._scaled_dry(gains, m)
        else:
            dry = self._scaled_dry(gains, m)
            x = self._xramp[:m]
            if target == 1.0:
                np.multiply(self._ar2[:m], 1.0 / self.ramp, out=x)
                x += self.wet
                np.minimum(x, 1.0, out=x)
            else:  # reach 0 within the stems still held (a hard switch only if none are)
                length = max(1, min(self.ramp, nwet))
                np.multiply(self._ar2[:m], -self.wet / length, out=x)
                x += self.wet
                np.maximum(x, 0.0, out=x)
            self.wet = float(x[m - 1, 0])
            k = nwet
            np.subtract(self._wet[:k], dry[:k], out=self._diff[:k])
            self._diff[:k] *= x[:k]
            np.add(dry[:k], self._diff[:k], out=out[:k])
            out[k:m] = dry[k:]
        out[m:n] = 0.0
        session.play_position = c + m
        if out_end is not None and c + m >= out_end:
            session.ended = True
        return m

    def _scaled_dry(self, gains: np.ndarray, m: int) -> np.ndarray:
        """The dry stand-in: the aligned dry mix times the smallest stem gain, sample by sample (see the
        module docstring). Only computed when it plays, not on the all-separated path."""
        np.min(gains, axis=1, out=self._dry_gain[:m])
        return np.multiply(self._dry[:m], self._dry_gain[:m], out=self._dry_out[:m])

    def _gain_ramp(self, m: int) -> np.ndarray:
        """Per-sample gains `(m, nb_stems, 2)`: linear from the current value to the target in `ramp`
        samples."""
        gains = self._gain_buf[:m]
        target = self._engine._gain_targets  # replaced whole by the control thread, never mutated
        if target is not self._ramp_target:
            self._ramp_target = target
            self._ramp_from[:] = self.gains
            np.subtract(target, self.gains, out=self._ramp_step)
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
            self.gains[:] = target
            gains[max(0, m - (self._ramp_pos - self.ramp)):] = self._gains3  # exactly the target after it
        elif m:
            self.gains[:] = gains[m - 1, :, 0]
        return gains

    def _apply_transport(self, out: np.ndarray, n: int, target: float) -> None:
        if self.transport == target:
            if target == 0.0:
                out[:] = 0.0
            return
        t = self._tramp[:n]
        np.multiply(self._ar2[:n], (1.0 if target > self.transport else -1.0) / self.ramp, out=t)
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
        frame[:, 0:2] = out[:n]
        frame[:, 2:4] = self._dry[:n]
        frame[:, 4:] = self._stems_flat[:n]
        ring.write(frame)

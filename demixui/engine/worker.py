"""The inference worker thread: source ring -> StreamingSeparator -> stem ring, ahead of the audio callback.

It keeps about `lead` samples separated ahead of the callback's play position, a few hops per onnxruntime
call, and sleeps in between (for roughly the time the callback needs to play what it is ahead by). For a
file the lead is deep, `FILE_LEAD_SECONDS` (about half a second): the mixer's gains act in the callback, so
the separated audio queued ahead costs no audible latency, and it lets the worker, a Python thread, stall
that long (another thread holding the GIL and descheduled on a busy machine) without the callback running
short. Waiting for live input it sleeps until the input callback signals that a block arrived
(`live.Wakeup`), so a hop is separated the moment its last samples are in. It never waits on the callback
and the callback never waits on it.

When it falls behind (a slow model, a busy machine) the callback is already playing the dry mix from the
source ring, so the worker does not try to separate audio that has been played: it resynchronises.
Output that is NaN or infinite is never written: the worker stops (as for a model that raised), reports the
error, and the callback plays the dry mix, counting app underruns, until another model is loaded. It
resets the separator, starts feeding the source L samples before a point `r0` ahead of the callback (so
the model's left padding falls on real audio), drops the first L outputs, and publishes the stem span
`(r0, r0)` before writing anything, so the callback keeps playing dry until valid stems arrive and then
crossfades back. The restart point is a short lead ahead (`near_lead`: 8 hops and 2 blocks, enough for a
fresh stream to get going), not the file's deep lead, so the dry mix stands in no longer than it must; the
worker then builds the deep lead up again, 8 hops per call. A swapped model takes over where the stems end
(live input) or, for a file, `near_lead` ahead of the callback, crossfaded from the old model's stems held
there, so a swap is heard about 0.1 s after it, not a deep lead after (see `_begin_crossfade`).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from demixui.engine.live import round_up
from demixui.engine.priority import raise_thread_priority
from demixui.engine.session import NB_STEM_CHANNELS, Session
from demixui.errors import DemixError, ModelOutputError

TIMING_HISTORY = 2048  # per-hop inference times kept for the percentiles
MAX_HOPS_PER_CALL = 8
MODEL_CROSSFADE = 1024  # samples over which a swapped-in model takes over from the old one (23 ms)
# How far ahead of the callback a file is separated. The callback plays the dry mix whenever the stems run
# short, so this is how long the worker may stall without an app underrun: on the loaded 2-core machine a
# thread that held the GIL and was descheduled stalled the worker for about 0.5 s (BENCHMARKS.md, "Clicks
# under load": 281 blocks of 64 played dry after the 96-ms lead ran out). Within the stem ring (session.py).
FILE_LEAD_SECONDS = 0.5


class InferenceTimes:
    """Per-hop inference times in seconds, latest `TIMING_HISTORY`; written by the worker only."""

    def __init__(self):
        self._times = np.zeros(TIMING_HISTORY, dtype=np.float64)
        self.count = 0  # total hops recorded; the worker stores it after the time (readers may be one behind)

    def add(self, seconds_per_hop: float, nb_hops: int) -> None:
        for _ in range(nb_hops):
            self._times[self.count % TIMING_HISTORY] = seconds_per_hop
            self.count += 1

    def recent(self) -> np.ndarray:
        """A copy of the recorded times (any order); empty before the first hop."""
        n = min(self.count, TIMING_HISTORY)
        return self._times[:n].copy()


class InferenceWorker:
    """Runs the separator for the engine's current session on its own thread."""

    def __init__(self, engine, model):
        self._engine = engine
        self._model = model
        self._stream = model.new_stream()
        self.times = InferenceTimes()
        self.resyncs = 0  # worker writes
        self._previous = None  # the replaced model's stream, during a crossfade to the new one
        self._held = None  # or its stems, read back from the ring, when the new one starts before they end
        self._crossfade_from = 0
        self.failed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demixui-inference", daemon=True)

    @property
    def model(self):
        return self._model

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._engine.playback.wakeup.signal()  # it may be waiting for input
        self._thread.join(timeout)

    def lead(self) -> int:
        """Output samples the worker keeps separated ahead of the callback. A file: `FILE_LEAD_SECONDS` in
        whole hops (at least `near_lead`), enough to ride out a stalled worker. Live input is separated as it
        arrives: there it is the live buffer and a hop (where a resync restarts)."""
        hop = self._stream.hop
        session = self._engine._session
        if session is not None and session.info.live:
            return self._engine.playback.live_buffer + hop
        deep = round_up(int(FILE_LEAD_SECONDS * self._engine.sample_rate), hop)
        return max(deep, self.near_lead())

    def near_lead(self) -> int:
        """The least lead a file restarts from (a resync): 8 hops (one onnxruntime call) and 2 blocks."""
        return MAX_HOPS_PER_CALL * self._stream.hop + 2 * self._engine.blocksize

    def _run(self) -> None:
        engine = self._engine
        raise_thread_priority(realtime=True)
        current: Session | None = None
        fed = out_pos = discard_until = 0  # next source position to feed; output position of the next output
        self.failed = False  # worker writes: the model raised; the callback plays the dry mix
        while not self._stop.is_set():
            session = engine._session
            new_model = engine._pending_model
            if new_model is not None and new_model is not self._model:
                previous = self._stream
                self._model, self._stream = new_model, new_model.new_stream()
                if session is None or session.latency != self._stream.latency_samples:
                    current = None
                # Same latency: continue the running session with the new model, crossfading if we can.
                if current is not None:
                    r0 = self._begin_crossfade(current, previous, fed, out_pos)
                    if r0 is not None:
                        fed = out_pos = r0
                    else:
                        fed, out_pos, discard_until = self._resync(current, contiguous=True)
                self.failed = False
            if session is not current:
                current = session
                self._previous = self._held = None
                if session is not None:
                    self._stream.reset()
                    fed = out_pos = discard_until = 0
            if current is None or self.failed or current.latency != self._stream.latency_samples:
                self._stop.wait(0.005)
                continue
            start, end = current.stem_span
            play = current.play_position
            hop = self._stream.hop
            if play - end > 4 * hop:
                fed, out_pos, discard_until = self._resync(current)
                continue
            output_end = current.output_end
            lead = self.lead()
            live = current.info.live
            if not live and (end >= play + lead or (output_end is not None and end >= output_end)):
                ahead = end - play - lead + hop
                self._stop.wait(min(0.01, max(0.0005, ahead / engine.sample_rate / 2)))
                continue
            # Live input: everything that has arrived, at once (also before the callback starts, so the first
            # stems are those of the live edge, where it starts).
            target = current.source.written if live else play + lead
            n = self._input_size(current, fed, out_pos, end, target, hop)
            if n == 0:  # waiting for the source: about until the next hop is in; live input wakes it sooner
                missing = fed + hop - current.source.written
                poll = min(0.01, max(0.0005, missing / engine.sample_rate))
                wakeup = engine.playback.wakeup
                if live and wakeup.read_fd >= 0:
                    wakeup.wait(0.05)  # each input block signals; the timeout is only a safety net
                elif live:
                    wakeup.wait(poll)  # no pipe (Windows): the native input callback cannot signal
                else:
                    self._stop.wait(poll)
                continue
            try:
                fed, out_pos = self._separate(current, fed, out_pos, n, discard_until)
            except Exception as error:  # noqa: BLE001 - a failing model must not kill the thread: play dry
                cause = str(error) if isinstance(error, DemixError) else f"{type(error).__name__}: {error}"
                engine._report_error(f"separation failed ({cause}); playing the mix")
                self.failed = True

    def _input_size(self, session: Session, fed: int, out_pos: int, end: int, target: int, hop: int) -> int:
        """Samples to feed now: whole hops, as many as the source has and the lead needs (at most 8 hops)."""
        if session.source_end is not None:
            available = MAX_HOPS_PER_CALL * hop  # at the end we feed zeros to flush the model's tail
        else:  # none yet where a resync starts past the live input's end (it waits for the input)
            available = max(0, session.source.written - fed)
        want = max(hop, target - max(end, out_pos))
        n = min(available, want, MAX_HOPS_PER_CALL * hop)
        # Whole hops only (after the end, the zero tail completes the last hop).
        return (n // hop) * hop

    def _separate(self, session: Session, fed: int, out_pos: int, n: int,
                  discard_until: int) -> tuple[int, int]:
        """Feed source `[fed, fed + n)`, write the stems that came out; returns the new (fed, out_pos)."""
        engine = self._engine
        mix = np.zeros((n, 2), dtype=np.float32)
        end = session.source_end
        limit = fed + n if end is None else min(fed + n, end)
        if limit > fed:
            if fed < session.source.oldest():
                raise RuntimeError("the source ring overran the worker")  # cannot happen: see _resync
            session.source.read_into(fed, mix[:limit - fed])
        t0 = time.perf_counter()
        stems = self._stream.process(mix)
        nb_out = stems.shape[0]
        if self._previous is not None or self._held is not None:  # a swapped model: crossfade from the old
            if self._previous is not None:  # model's stems to the new's
                old = self._previous.process(mix)
            else:  # the old model's stems held in the ring, from where the new one starts (zeros after)
                old = np.zeros_like(stems)
                k = max(0, min(nb_out, self._crossfade_from + MODEL_CROSSFADE - out_pos))
                old[:k] = self._held[out_pos - self._crossfade_from:][:k]
            ramp = (np.arange(out_pos, out_pos + nb_out) - self._crossfade_from + 1) / MODEL_CROSSFADE
            ramp = np.clip(ramp, 0.0, 1.0).astype(np.float32)[:, None, None]
            stems = old + ramp * (stems - old)
            if out_pos + nb_out >= self._crossfade_from + MODEL_CROSSFADE:
                self._previous = self._held = None
        elapsed = time.perf_counter() - t0
        self.times.add(elapsed / (n / self._stream.hop), n // self._stream.hop)
        if not np.isfinite(stems).all():  # never to the speakers: the callback plays the dry mix instead
            raise ModelOutputError("the model's output is NaN or infinite: the model file is broken "
                                   "(a diverged training run?)")
        if engine._session is not session:
            return fed + n, out_pos + nb_out
        skip = min(nb_out, max(0, discard_until - out_pos))
        if skip < nb_out:
            start, span_end = session.stem_span
            position = out_pos + skip
            assert position == span_end, (position, span_end)
            session.stems.write_at(position, stems[skip:].reshape(nb_out - skip, -1))
            session.stem_span = (start, out_pos + nb_out)
        return fed + n, out_pos + nb_out

    def _begin_crossfade(self, session: Session, previous, fed: int, out_pos: int) -> int | None:
        """Start the new model at a point r0, warmed up on the L samples before, and crossfade over
        `MODEL_CROSSFADE` samples from the old model (no click when gains are not unity). Returns r0, where
        the worker continues (None when it is not neatly caught up: then it resynchronises instead).

        Live input: r0 is where the stems end, and the old stream runs on for the crossfade. A file: the
        stems run a deep lead ahead, so that the swap is heard soon, r0 is `near_lead` ahead of the callback
        and the crossfade is from the old model's stems already held there; the span steps back to r0 (the
        worker rewrites from there). A callback that saw the old span reads at most a block past the play
        position, so the step back holds only if r0 is still two blocks ahead once published; else (the
        worker stalled meanwhile) the old span is restored, nothing having been written, and r0 is the end."""
        latency = self._stream.latency_samples
        hop = self._stream.hop
        start, end = session.stem_span
        play = session.play_position
        if not (out_pos == fed == end >= play and start <= play):
            return None
        if not (end >= latency and end - latency >= session.source.oldest()):
            return None
        r0 = end
        sooner = round_up(play + self.near_lead(), hop)
        if not session.info.live and sooner + MODEL_CROSSFADE <= end and sooner - latency >= max(
                0, session.source.oldest()):
            held = np.empty((MODEL_CROSSFADE, NB_STEM_CHANNELS), np.float32)
            session.stems.read_into(sooner, held)  # written by this thread: no race
            session.stem_span = (start, sooner)
            if sooner >= session.play_position + 2 * self._engine.blocksize:
                r0 = sooner
            else:
                session.stem_span = (start, end)
        warm_up = np.zeros((latency, 2), np.float32)
        source_end = session.source_end
        session.source.read_clipped(r0 - latency, warm_up, session.source.written if source_end is None
                                    else source_end)  # zeros past the end: the tail the old model was fed
        self._stream.process(warm_up)  # outputs for positions before r0: already played or held
        if r0 == end:
            self._previous, self._held = previous, None
        else:
            self._previous, self._held = None, held.reshape(MODEL_CROSSFADE, -1, 2)
        self._crossfade_from = r0
        return r0

    def _resync(self, session: Session, contiguous: bool = False) -> tuple[int, int, int]:
        """Restart the separator (fresh state) so that its first valid output lands at `r0`: ahead of the
        callback after falling behind, or (`contiguous`, a new model) right where the stems end now.
        Returns (fed, out_pos, discard_until)."""
        latency = self._stream.latency_samples
        hop = self._stream.hop
        start, end = session.stem_span
        play = session.play_position
        if contiguous and end >= play:
            r0 = end  # the stems held stay valid; the new model's continue them without a gap
        else:
            near = self.lead() if session.info.live else self.near_lead()  # a file: the deep lead regrows
            r0 = round_up(max(end, play + near), hop)
            start = r0
        q0 = max(0, r0 - latency)
        # The dry audio the callback still needs (from play - L) is held, and q0 >= play - L, so q0 is held.
        session.stem_span = (start, r0)  # published before anything is written at r0
        self._stream.reset()
        self._previous = self._held = None
        self.resyncs += 1
        return q0, q0, r0

"""The real-time engine: the control API the UI and `demixui play` share, wiring the threads together.

    reader thread (file) / input callback (live) -> source ring -> inference worker -> stem ring
    -> audio callback (gains, mute/solo, dry fallback) -> device; callback -> monitor ring -> analysis thread

Control methods run on the caller's thread (UI or CLI) under one lock; they never touch the audio thread's
state directly, they replace values it reads (a gain array, a session object, a bool) whole.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np

from demixui.engine.analysis import Analysis, Recorder
from demixui.engine.backends import NullOutput, PortAudioInput, PortAudioOutput
from demixui.engine.mix import STEMS, MixSettings
from demixui.engine.models import BUNDLED, checked, choose_models, load_live_model
from demixui.engine.playback import Playback
from demixui.engine.reader import FileReader, probe_file
from demixui.engine.routing import OutputLayout
from demixui.engine.session import Session, SourceInfo
from demixui.engine.snapshot import EngineSnapshot
from demixui.engine.telemetry import build_snapshot
from demixui.engine.worker import InferenceWorker
from demixui.errors import DemixError, DeviceError

BACKENDS = ("portaudio", "null", "null-fast")
RETIRED_KEPT = 7  # old sessions kept alive after a switch (the callback may be rendering one's fade-out)
# How long a thread running Python keeps the GIL from one that waits for it (Python's default: 5 ms). The
# inference worker gives up the GIL in every onnxruntime and numpy call and then waits to get it back, several
# times a hop, while the window's thread, the analysis thread or any plugin's pure-Python loop holds it.
# Measured beside a busy pure-Python thread at block 64 on the loaded 2-core machine (BENCHMARKS.md, "Clicks
# under load"): per-hop inference p99 19.7 ms at 1 ms, 11.5 ms at 0.2 ms (the hop's budget is 11.6 ms), with
# no change in the window's frame rate or the process's CPU use.
SWITCH_INTERVAL_S = 0.0002


def check_blocksize(frames: int) -> int:
    if not isinstance(frames, int | np.integer) or frames < 64 or frames > 4096 or frames & (frames - 1):
        raise DemixError(f"block size {frames} is not a power of two from 64 to 4096")
    return int(frames)


class Engine:
    """Plays a file or live input through the separator with a live remix. See `snapshot.py` for telemetry.

    `backend`: "portaudio" (a sound card), "null" (no device, paced by a clock) or "null-fast" (no device,
    as fast as the model allows; tests and benchmarks). `capture=True` keeps everything the null backend
    played (`captured()`). `model`: an already loaded `SeparatorModel` instead of `model_path`.
    Files play through that model (default: the bundled default model) and live input through
    `live_model_path` (default: the model named, else the bundled live model; see models.py); `model_note`
    says why live input does not use the live model, when it does not.
    `outputs`: stem outputs and a cue bus besides the remix (routing.py; default: the remix alone).
    """

    def __init__(self, model_path=None, backend: str = "portaudio", output_device=None, blocksize: int = 256,
                 input_device=None, *, capture: bool = False, model=None,
                 outputs: OutputLayout | None = None, live_model_path=None):
        if backend not in BACKENDS:
            raise DemixError(f"unknown audio backend {backend!r}; one of {', '.join(BACKENDS)}")
        self.blocksize = check_blocksize(blocksize)
        self.backend = backend
        self._capture = capture
        self._models = choose_models(model_path, live_model_path, model)
        self.model_note = self._models.note
        self._model = self._models.file  # the one running; open_live switches to the live model
        info = self._model.info
        self.stems: tuple[str, ...] = STEMS
        self.sample_rate = int(info.sample_rate)
        self.hop = int(info.hop)
        self._latency = int(info.latency_samples)
        self._lock = threading.RLock()
        self._error_lock = threading.Lock()
        self._error: str | None = None
        self._error_count = 0
        self._fatal = False
        self._closed = False
        # Values the audio thread reads; the control thread replaces them whole (see playback.py) and
        # publishes them to the callback's cells (the properties below).
        self._current: Session | None = None
        self._retired: list[Session] = []  # old sessions are freed here, never in the callback
        self._playing_flag = False
        self._loop = False
        self._mix = MixSettings()
        self._gain_targets = np.ones(len(STEMS), np.float32)
        self._cue = np.zeros(len(STEMS), bool)  # stems on the cue bus
        self._pending_model = None
        self._output_device = output_device
        self._input_device = input_device
        self._input = None
        self._last_callbacks = 0
        self._reported_callback_errors = 0
        self.playback = Playback(self, len(STEMS), self.sample_rate)  # loads the native callback: up to 15 s
        self.playback.set_layout(outputs or OutputLayout())
        # The watchdog's first look is half a second after the threads start (the output is opened and
        # started meanwhile), not after the Playback was built: loading numba may take longer than that.
        self._last_watch = time.monotonic()
        self.audio_callback = self.playback.audio_callback  # "native (numba)" or "python (why)"
        self.analysis = Analysis(self, self.playback, STEMS, self.sample_rate)
        self.worker = InferenceWorker(self, self._model)
        self.reader = FileReader(self)
        # The inference worker (and the Python fallback callback) need the GIL back soon whenever another
        # thread holds it: see SWITCH_INTERVAL_S. And keep the collector off the start-up objects (a full
        # collection would otherwise walk them in whichever thread triggers it).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        for part in (self.worker, self.reader, self.analysis):
            part.start()
        try:
            output = self._open_output(output_device, self.blocksize)
            output.start()
            self._output = output  # only once started: the watchdog takes an unstarted output for a dead one
        except BaseException:
            self._stop_threads()
            self.playback.close_wakeup()  # no stream ever ran: nothing can signal the pipe
            raise
        gc.freeze()

    # -- what the callback reads, published to its cells ----------------------------------------------------
    @property
    def _session(self) -> Session | None:
        return self._current

    @_session.setter
    def _session(self, session: Session | None) -> None:
        self._current = session
        self.playback.publish_session(session)

    @property
    def _playing(self) -> bool:
        return self._playing_flag

    @_playing.setter
    def _playing(self, playing: bool) -> None:
        self._playing_flag = bool(playing)
        self.playback.publish_playing(self._playing_flag)

    # -- context manager -------------------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sources and transport -------------------------------------------------------------------------------
    def open_file(self, path) -> None:
        info = probe_file(path)
        with self._lock:
            self._stop_input()
            self._playing = False
            self._use_model(self._models.file)
            self._publish(Session(info, self._latency, loop=self._loop))

    def open_live(self, input_device=None) -> None:
        """Play an input device through the separator. On the null backends `input_device` may be a float32
        `(nb_samples, 2)` array: the null input plays it (then silence)."""
        with self._lock:
            device = input_device if input_device is not None else self._input_device
            self._stop_input()
            self._use_model(self._models.live)
            info = SourceInfo(name="live input", live=True)
            if isinstance(self._output, NullOutput):
                signal = None if device is None else np.ascontiguousarray(device, dtype=np.float32)
                session = Session(info, self._latency)
                self._publish(session)
                self._output.set_input(self._live_write, signal)
            else:
                native = self.playback.native_input_stream if self.playback.native else None
                self._input = PortAudioInput(self._live_write, self.blocksize, self.sample_rate, device,
                                             native=native)
                info.name = f"live: {self._input.name}"
                self._publish(Session(info, self._latency))
                self._input.start()
            self._playing = True

    def play(self) -> None:
        with self._lock:
            session = self._session
            if session is None:
                return
            if session.ended:
                self._restart_at(0.0)
            self._playing = True

    def pause(self) -> None:
        with self._lock:
            self._playing = False

    def stop(self) -> None:
        with self._lock:
            self._playing = False
            if self._session is not None and not self._session.info.live:
                self._restart_at(0.0)

    def seek(self, seconds: float) -> None:
        with self._lock:
            session = self._session
            if session is None or session.info.live:
                return
            if not math.isfinite(seconds):
                raise DemixError(f"cannot seek to {seconds}")
            self._restart_at(min(max(0.0, float(seconds)), session.info.duration_s))

    def set_loop(self, on: bool) -> None:
        with self._lock:
            self._loop = bool(on)
            if self._session is not None:
                self._session.loop = self._loop

    # -- the mix ---------------------------------------------------------------------------------------------
    def set_gain_db(self, stem: str, gain_db: float) -> None:
        with self._lock:
            self._mix.set_gain_db(stem, gain_db)
            self._publish_gains()

    def set_mute(self, stem: str, on: bool) -> None:
        with self._lock:
            self._mix.muted[self._mix.index(stem)] = bool(on)
            self._publish_gains()

    def set_solo(self, stem: str, on: bool) -> None:
        with self._lock:
            self._mix.soloed[self._mix.index(stem)] = bool(on)
            self._publish_gains()

    def set_karaoke(self, on: bool, reduction_db: float = math.inf) -> None:
        with self._lock:
            self._mix.set_karaoke(on, reduction_db)
            self._publish_gains()

    def set_cue(self, stem: str, on: bool) -> None:
        """Put a stem on the cue bus (pre-fader: heard there even when muted) or take it off; the bus is
        heard once the output layout has one (set_outputs)."""
        with self._lock:
            self._cue[self._mix.index(stem)] = bool(on)
            self._publish_gains()

    def reset_mix(self) -> None:
        with self._lock:
            self._mix = MixSettings()
            self._publish_gains()

    def effective_gains(self) -> np.ndarray:
        """The linear gain each stem is heading to (see `mix.py` for the mute/solo/karaoke rules)."""
        return self._mix.gains()

    # -- devices, block size, model, recording ---------------------------------------------------------------
    def set_output_device(self, device) -> None:
        with self._lock:
            self._reopen_output(device, self.blocksize)

    def set_outputs(self, layout: OutputLayout) -> None:
        """Reopen the output with the channels of `layout` (stem outputs, cue bus); DeviceError, and the
        outputs as they were, when the device has too few channels."""
        with self._lock:
            if layout != self.playback.layout:
                self._reopen_output(self._output_device, self.blocksize, layout)

    @property
    def outputs(self) -> OutputLayout:
        return self.playback.layout

    def set_input_device(self, device) -> None:
        with self._lock:
            self._input_device = device
            if self._input is not None:
                self.open_live(device)

    def set_blocksize(self, frames: int) -> None:
        frames = check_blocksize(frames)
        with self._lock:
            if frames != self.blocksize:
                self._reopen_output(self._output_device, frames)
                if self._input is not None:
                    self.blocksize = frames
                    self.open_live(self._input_device)

    def load_model(self, path, live: bool | None = None) -> None:
        """Replace the file model (`live=False`) or the live model (`live=True`; None: the one for what
        plays now) with the file at `path` (None: the bundled one); if it is the one running, the worker
        crossfades to it (same latency) or the session restarts where it is (another latency)."""
        from demixui.model.runtime import load_model

        session = self._session
        if live is None:
            live = session is not None and session.info.live
        if live:
            # ModelFileError on a bad file: the old model keeps playing
            model, note = load_live_model(BUNDLED if path is None else path, self._models.file)
        else:
            model, note = checked(load_model(path), self.sample_rate), self.model_note
        with self._lock:
            if live:
                self._models.live = model
            else:
                self._models.file = model
            self.model_note = self._models.note = note
            session = self._session
            if session is not None and session.info.live == live:
                self._use_model(model, restart=True)

    def _use_model(self, model, restart: bool = False) -> None:
        """Under the lock: run `model` from the next session (`restart`: restart the current one, if the
        latency changes; the worker crossfades to a model of the same latency)."""
        if model is self._model:
            return
        self._model = model
        self._pending_model = model
        self.hop = int(model.info.hop)
        self.playback.publish_live(self.hop, self.blocksize)  # the live buffer follows the model's hop
        if int(model.info.latency_samples) == self._latency:
            return
        self._latency = int(model.info.latency_samples)
        session = self._session
        if not restart or session is None:
            return
        if session.info.live:
            self._publish(Session(session.info, self._latency))
        else:
            self._restart_at(session.position_s(self.sample_rate))

    def start_recording(self, path) -> None:
        """Record what is played to the WAV file `path`, which may not be the file playing or the model."""
        from demixui.outputs import refuse_inputs

        with self._lock:
            session = self._session
            refuse_inputs(path, [None if session is None else session.info.path, self._model.info.path],
                          "recording")
            self.stop_recording()
            self.analysis.recorder = Recorder(path, self.sample_rate)

    def stop_recording(self) -> Path | None:
        """Finish the recording (everything played until now) and return its path."""
        with self._lock:
            recorder = self.analysis.recorder
            if recorder is None:
                return None
            recorder.stop_at = self.playback.monitor.written
            if not recorder.done.wait(2.0):
                recorder.finish()  # the analysis thread is stuck; close what we have
            self.analysis.recorder = None
            return recorder.path

    # -- telemetry -------------------------------------------------------------------------------------------
    @property
    def source_path(self) -> str | None:
        """The file open now (None: nothing, or live input): what the window's export separates."""
        session = self._session
        return None if session is None or session.info.live else session.info.path

    @property
    def model_path(self) -> Path:
        """The model file playing now: an offline export uses the same one."""
        return Path(self._model.info.path)

    def snapshot(self) -> EngineSnapshot:
        return build_snapshot(self)

    def spectrogram(self, source: str, since: int) -> tuple[np.ndarray, int]:
        return self.analysis.spectrogram(source, since)

    def captured(self) -> np.ndarray:
        """What the null backend played `(nb_samples, channels)` (Engine(..., capture=True)): the remix, then
        the stem outputs and the cue bus when `outputs` has them."""
        if isinstance(self._output, NullOutput):
            return self._output.captured()
        return np.zeros((0, 2), np.float32)

    @property
    def output(self):
        return self._output

    @property
    def output_offset(self) -> int:
        """Device sample index (counted from the stream start) at which the current session's first sample
        (play position 0) was output; -1 before it starts (a file: before it is played, however long it was
        open). Position p is output at `output_offset + p` (until a pause)."""
        session = self._session
        return -1 if session is None else session.output_offset

    @property
    def played_seconds(self) -> float:
        """Seconds of the source heard in the current session (play position minus the model latency)."""
        session = self._session
        if session is None:
            return 0.0
        return max(0, session.play_position - session.latency) / self.sample_rate

    # -- shutdown --------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop sound and join every thread (each join is bounded; all together well under a second)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._playing = False
            try:
                self.stop_recording()
            finally:
                self._stop_input()
                try:
                    self._output.stop()
                finally:
                    self._stop_threads()
                    self.playback.close_wakeup()
                    self._retired.clear()
            gc.unfreeze()

    # -- internals -------------------------------------------------------------------------------------------
    def _publish_gains(self) -> None:
        self._gain_targets = self._mix.gains()
        # a fresh slot: never a half-written one
        self.playback.publish_gains(self._gain_targets, self._cue.astype(np.float32))

    def _publish(self, session: Session) -> None:
        old = self._session
        self._session = session
        if old is not None:
            # Freed here, never in the callback: the last few, and whichever the callback still plays (the
            # native callback knows sessions by address only, so the last one it played must stay alive).
            playing = self.playback.callback_session_address()
            recent = [*self._retired, old]
            kept = [s for s in recent[:-RETIRED_KEPT] if s.address == playing]
            self._retired = [*kept, *recent[-RETIRED_KEPT:]]

    def _restart_at(self, seconds: float) -> None:
        session = self._session
        self._publish(Session(session.info, self._latency, start_s=seconds, loop=self._loop))

    def _open_output(self, device, blocksize: int):
        if self.backend == "portaudio":
            return PortAudioOutput(self.playback.callback, blocksize, self.sample_rate, device,
                                   native=self.playback.native_stream(), layout=self.playback.layout)
        if device not in (None, "null"):
            raise DeviceError(f"no output device {device!r} on the null backend (it has one: 'null')")
        return NullOutput(self.playback.callback, blocksize, self.sample_rate,
                          realtime=self.backend == "null", ready=self.playback.ready_for_null_clock,
                          capture=self._capture, channels=self.playback.layout.channels)

    def _reopen_output(self, device, blocksize: int, layout: OutputLayout | None = None) -> None:
        old, old_layout = self._output, self.playback.layout
        old.stop()
        try:
            # The callback is stopped with its stream, so the buffer width it fills can change now.
            self.playback.set_layout(layout or old_layout)
            new = self._open_output(device, blocksize)
            new.start()
        except DemixError:
            self.playback.set_layout(old_layout)
            old_again = self._open_output(self._output_device, self.blocksize)  # back to what worked
            old_again.start()
            self._output = old_again
            raise
        if isinstance(old, NullOutput) and isinstance(new, NullOutput):
            new.adopt(old)
        self._output, self._output_device, self.blocksize = new, device, blocksize
        self.playback.publish_live(self.hop, blocksize)
        with self._error_lock:
            self._fatal = False  # a working device again (after one that vanished)

    def _stop_input(self) -> None:
        if self._input is not None:
            self._input.stop()
            self._input = None
        if isinstance(getattr(self, "_output", None), NullOutput):
            self._output.set_input(None, None)

    def _stop_threads(self) -> None:
        for part in (self.worker, self.reader, self.analysis):
            part.stop(timeout=1.0)

    def _live_write(self, block: np.ndarray, frames: int, time_info, status) -> None:
        """Input callback (real-time): append the stereo block to the live session's source ring (the
        native input stream does the same without Python; see Playback.capture)."""
        self.playback.capture(block, frames)

    def _report_error(self, message: str, fatal: bool = False) -> None:
        with self._error_lock:
            self._error = message
            self._error_count += 1
            self._fatal = self._fatal or fatal

    def _watchdog(self) -> None:
        """Called by the analysis thread: notice an output device that stopped (unplugged, server gone)."""
        now = time.monotonic()
        if now - self._last_watch < 0.5 or self._closed:
            return
        if self.playback.callback_errors != self._reported_callback_errors:
            self._reported_callback_errors = self.playback.callback_errors
            self._report_error(f"audio callback failed: {self.playback.last_callback_error}")
        callbacks = self.playback.callbacks
        # A sound card calls back all the time, playing or not (the null-fast clock may legitimately wait).
        stalled = (self.backend == "portaudio" and callbacks == self._last_callbacks
                   and now - self._last_watch < 5.0)
        self._last_watch, self._last_callbacks = now, callbacks
        output = getattr(self, "_output", None)
        if output is None or self._fatal or self._lock.acquire(blocking=False) is False:
            return
        try:
            if not self._closed and (not output.active or stalled):
                self._report_error(f"output device {output.name} stopped", fatal=True)
        finally:
            self._lock.release()

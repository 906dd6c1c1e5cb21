"""Audio devices: PortAudio through sounddevice, and the null backend driving the same callback from a clock.

Both call `callback(outdata (frames, 2) float32, frames, time_info, status)` like a sound card. The null
backend has no device latency (0) and, for live input, hands the next input block to `input_callback` right
after each output block (the input block is the audio captured while that output block played), so latency
through it is deterministic. `realtime=True` paces blocks by the clock (and counts a device underflow when the
thread is late by more than a block, as a card would run dry); `realtime=False` runs as fast as the engine can
fill blocks: before each block it waits while `ready(frames)` is 0 (the block cannot yet be rendered without
a fallback; the waiting is in this clock thread, never in the callback), renders at once when it is 1, and
idles at the real-time pace when it is -1 (nothing is playing).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from demixui.engine.priority import raise_thread_priority
from demixui.errors import DeviceError


class _Status:
    """Stands in for sounddevice.CallbackFlags."""

    def __init__(self):
        self.output_underflow = False


class NullOutput:
    """A clock thread that calls the output callback every `blocksize` samples (or as fast as possible)."""

    name = "null"
    latency = 0.0  # seconds: the null device plays a block the moment the callback returns it

    def __init__(self, callback, blocksize: int, sample_rate: int, realtime: bool = True, ready=None,
                 input_callback=None, input_signal: np.ndarray | None = None, capture: bool = False,
                 ready_timeout: float = 10.0, channels: int = 2):
        self._callback = callback
        self.channels = channels
        self.blocksize = blocksize
        self.sample_rate = sample_rate
        self.realtime = realtime
        self._ready = ready
        self._input = (input_callback, input_signal)  # replaced whole by set_input()
        self._fed_input = self._input
        self._input_pos = 0
        self.input_start_block: int | None = None  # output block that the first input block accompanied
        self._ready_timeout = ready_timeout
        self.capture = capture
        self._captured: list[np.ndarray] = []
        # Held from a block's callback to its capture: the callback may end the session, and a reader that saw
        # "ended" must find that last block in captured() (it was once read in between, one block short).
        self._capture_lock = threading.Lock()
        self.blocks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demixui-null-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    close = stop

    def set_input(self, callback, signal: np.ndarray | None) -> None:
        """Feed `signal` (then silence) to `callback` as live input from the next block (None: no input)."""
        self._input = (callback, signal)

    def adopt(self, old: NullOutput) -> None:
        """Carry the capture and the input of the clock this one replaces (a block size change)."""
        self._captured = old._captured
        self.blocks = old.blocks
        self._input = self._fed_input = old._input
        self._input_pos = old._input_pos
        self.input_start_block = old.input_start_block

    def captured(self) -> np.ndarray:
        """Everything played so far `(nb_samples, channels)` (when constructed with capture=True); blocks
        played before a change to more output channels have silence in the channels they did not have."""
        with self._capture_lock:
            blocks = list(self._captured)
        width = max([self.channels, *(b.shape[1] for b in blocks)])
        captured = np.zeros((sum(len(b) for b in blocks), width), np.float32)
        start = 0
        for block in blocks:
            captured[start:start + len(block), :block.shape[1]] = block
            start += len(block)
        return captured

    def _run(self) -> None:
        n = self.blocksize
        raise_thread_priority(realtime=True)
        out = np.zeros((n, self.channels), np.float32)
        block_in = np.zeros((n, 2), np.float32)
        status = _Status()
        period = n / self.sample_rate
        deadline = time.perf_counter()
        while not self._stop.is_set():
            status.output_underflow = False
            if self.realtime:
                deadline += period
                now = time.perf_counter()
                if now < deadline:
                    self._stop.wait(deadline - now)
                elif now > deadline + period:  # a card's buffer would have run dry: count it, then catch up
                    status.output_underflow = True
                    deadline = now
            elif self._ready is not None:
                waited = 0.0
                state = self._ready(n)
                while state == 0 and waited < self._ready_timeout and not self._stop.is_set():
                    time.sleep(0.0005)
                    waited += 0.0005
                    state = self._ready(n)
                if state < 0:  # nothing to play: idle at the real-time pace instead of spinning
                    self._stop.wait(period)
            if self._stop.is_set():
                break
            if self.capture:
                with self._capture_lock:
                    self._callback(out, n, None, status)
                    self._captured.append(out.copy())
            else:
                self._callback(out, n, None, status)
            self.blocks += 1
            callback, signal = current = self._input
            if current is not self._fed_input:
                self._fed_input, self._input_pos, self.input_start_block = current, 0, None
            if callback is not None:
                if self.input_start_block is None:
                    self.input_start_block = self.blocks - 1
                block_in[:] = 0.0
                if signal is not None and self._input_pos < len(signal):
                    part = signal[self._input_pos:self._input_pos + n]
                    block_in[:len(part)] = part
                self._input_pos += n
                callback(block_in, n, None, status)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def resolve_device(device, kind: str) -> tuple[int, str]:
    """A PortAudio device (index, name or a unique part of 'name, host API') -> (index, 'name (host API)')."""
    import sounddevice as sd

    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as error:
        names = [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices())
                 if d[f"max_{kind}_channels"] > 0]
        listing = "; ".join(names) if names else "none"
        what = f"{kind} device {device!r}" if device is not None else f"default {kind} device"
        raise DeviceError(f"no {what} ({_first_line(error)}); {kind} devices: {listing}") from None
    hostapi = sd.query_hostapis(info["hostapi"])["name"]
    return int(info["index"]), f"{info['name']} ({hostapi})"


class PortAudioOutput:
    """A sounddevice output stream: float32 at the model rate with the given block size, with the channels of
    `layout` (routing.py; default: the stereo remix alone).

    `native`: (C callback address, userData address, an object to keep alive) from `Playback.native_stream()`:
    PortAudio then calls the native callback directly (no Python, no GIL: sounddevice's stream base class
    takes a C function pointer); otherwise it calls `callback` through sounddevice's Python wrapper."""

    def __init__(self, callback, blocksize: int, sample_rate: int, device=None, native=None, layout=None):
        import sounddevice as sd

        from demixui.engine.routing import OutputLayout

        layout = layout or OutputLayout()
        channels = layout.channels
        self.index, self.name = resolve_device(device, "output")
        layout.check_device(self.name, int(sd.query_devices(self.index)["max_output_channels"]))
        try:
            sd.check_output_settings(device=self.index, channels=channels, dtype="float32",
                                     samplerate=sample_rate)
        except sd.PortAudioError as error:
            what = "stereo" if channels == 2 else f"with {channels} channels"
            raise DeviceError(f"output device {self.name} refuses {sample_rate} Hz {what} "
                              f"({_first_line(error)})") from None
        try:
            # Ask for about two blocks of device buffering: the block size is the user's latency choice.
            settings = dict(samplerate=sample_rate, blocksize=blocksize, device=self.index, channels=channels,
                            dtype="float32", latency=2 * blocksize / sample_rate)
            if native is None:
                self.stream = sd.OutputStream(callback=callback, **settings)
            else:
                address, userdata, keep = native
                self.stream = sd._StreamBase("output", callback=address, wrap_callback=None,
                                             userdata=sd._ffi.cast("void *", userdata), **settings)
                # What the C callback reads must outlive the stream, even one whose close hangs (the
                # closing thread holds the stream, so it holds this too).
                self.stream._demixui_cells = keep
        except sd.PortAudioError as error:
            raise DeviceError(f"cannot open output device {self.name} ({_first_line(error)})") from None
        self.blocksize = blocksize
        self.sample_rate = sample_rate

    @property
    def latency(self) -> float:
        """PortAudio's output latency in seconds, but at least one block: some host APIs (JACK) report only
        their own period, while PortAudio buffers a larger user block on top of it."""
        return max(float(self.stream.latency), self.blocksize / self.sample_rate)

    @property
    def active(self) -> bool:
        return bool(self.stream.active)

    def start(self) -> None:
        import sounddevice as sd

        try:
            self.stream.start()
        except sd.PortAudioError as error:
            raise DeviceError(f"cannot start output device {self.name} ({_first_line(error)})") from None

    def stop(self) -> None:
        _close_stream(self.stream)

    close = stop


def _close_stream(stream, timeout: float = 1.0) -> None:
    """Abort and close a PortAudio stream, giving up after `timeout` seconds: on a device that vanished
    (a JACK server that died, a USB card pulled out) PortAudio's abort can block for ever, and closing the
    app must not hang on it. The helper thread is a daemon, so it cannot keep the process alive."""

    def close() -> None:
        try:
            stream.abort(ignore_errors=True)
        finally:
            stream.close(ignore_errors=True)

    closer = threading.Thread(target=close, name="demixui-stream-close", daemon=True)
    closer.start()
    closer.join(timeout)
    if closer.is_alive():
        # The same wait would hang sounddevice's exit handler (Pa_Terminate closes open streams): skip it;
        # the OS releases the audio resources when the process ends.
        import atexit

        import sounddevice as sd

        handler = getattr(sd, "_exit_handler", None)
        if handler is not None:
            atexit.unregister(handler)


class PortAudioInput:
    """A sounddevice InputStream whose callback maps any channel count to stereo (the audio-file policy:
    mono duplicated, odd channels -> left, even -> right) into preallocated buffers and hands it on."""

    def __init__(self, write, blocksize: int, sample_rate: int, device=None, native=None):
        """`native(channels)`: (C callback address, userData address, keep-alive) from
        `Playback.native_input_stream`, which maps the channels itself; else `write` gets stereo blocks."""
        import sounddevice as sd

        self.index, self.name = resolve_device(device, "input")
        channels = max(1, int(sd.query_devices(self.index)["max_input_channels"]))
        try:
            sd.check_input_settings(device=self.index, channels=channels, dtype="float32",
                                    samplerate=sample_rate)
            self._stereo = np.zeros((16384, 2), np.float32)
            self._write = write
            settings = dict(samplerate=sample_rate, blocksize=blocksize, device=self.index, channels=channels,
                            dtype="float32", latency=2 * blocksize / sample_rate)
            if native is None:
                self.stream = sd.InputStream(callback=self._callback, **settings)
            else:
                address, userdata, keep = native(channels)
                self.stream = sd._StreamBase("input", callback=address, wrap_callback=None,
                                             userdata=sd._ffi.cast("void *", userdata), **settings)
                self.stream._demixui_cells = keep  # outlives the stream (see PortAudioOutput)
        except sd.PortAudioError as error:
            raise DeviceError(f"input device {self.name} refuses {sample_rate} Hz "
                              f"({_first_line(error)})") from None

    @property
    def latency(self) -> float:
        return float(self.stream.latency)

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        n = min(frames, self._stereo.shape[0])
        stereo = self._stereo[:n]
        channels = indata.shape[1]
        if channels == 1:
            stereo[:, 0] = indata[:n, 0]
            stereo[:, 1] = indata[:n, 0]
        elif channels == 2:
            stereo[:] = indata[:n]
        else:
            np.mean(indata[:n, 0::2], axis=1, out=stereo[:, 0])
            np.mean(indata[:n, 1::2], axis=1, out=stereo[:, 1])
        self._write(stereo, n, time_info, status)

    def start(self) -> None:
        self.stream.start()

    def stop(self) -> None:
        _close_stream(self.stream)

    close = stop

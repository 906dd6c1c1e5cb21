"""The native audio callback (numba, no GIL) plays exactly what the Python callback plays, allocates nothing,
and keeps running while another thread holds the GIL.

The equivalence test drives both callbacks through one script of events on hand-filled rings (gain ramps that
overlap, stems running short and coming back, pause and play, a seek while playing, the end of a file, live
input on a faster clock) at awkward block sizes, and compares every sample, the monitor ring and
every counter.
The engine tests (test_engine*.py) run the native callback already (it is the default); the Python one is
the fallback where numba cannot be loaded (DEMIXUI_AUDIO_CALLBACK=python forces it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from demixui.engine import native
from demixui.engine.playback import CALLBACK_ENV, Playback
from demixui.engine.routing import OutputLayout
from demixui.engine.session import Session, SourceInfo

SR = 44100
L = 1536  # model latency of the scripted sessions
HOP = 512

pytestmark = pytest.mark.skipif(native.load()[0] is None, reason=native.load()[1])


class _Status:
    output_underflow = False


class Control:
    """What Engine does for the callback, by hand: publish sessions, the play flag and gain targets."""

    def __init__(self, blocksize: int = 256):
        self.hop, self.blocksize = HOP, blocksize
        self._gain_targets = np.ones(4, np.float32)
        self._session: Session | None = None
        self._playing = False
        self.playback = Playback(self, 4, SR)

    def publish(self, session: Session) -> None:
        self._session = session
        self.playback.publish_session(session)

    def play(self, on: bool) -> None:
        self._playing = on
        self.playback.publish_playing(on)

    def gains(self, values) -> None:
        self._gain_targets = np.array(values, np.float32)
        self.playback.publish_gains(self._gain_targets)

    def cue(self, values) -> None:
        self.playback.publish_gains(self._gain_targets, np.array(values, np.float32))


def file_session(rng, seconds_in: int, stems_to: int) -> tuple[Session, np.ndarray]:
    session = Session(SourceInfo("file", live=False), L)
    stems = rng.uniform(-0.5, 0.5, (60000, 8)).astype(np.float32)
    session.source.write(rng.uniform(-0.5, 0.5, (seconds_in, 2)).astype(np.float32))
    session.stems.write_at(0, stems[:stems_to])
    session.stem_span = (0, stems_to)
    return session, stems


def run_script(kind: str, blocksize: int, monkeypatch, layout: OutputLayout | None = None) -> dict:
    layout = layout or OutputLayout()
    monkeypatch.setenv(CALLBACK_ENV, kind)
    control = Control(blocksize)
    playback = control.playback
    playback.set_layout(layout)
    assert playback.native == (kind == "native"), playback.audio_callback
    rng = np.random.default_rng(7)
    a, a_stems = file_session(rng, 20000, 6000)
    b, _ = file_session(rng, 40000, 5000)
    live = Session(SourceInfo("live", live=True), L)
    live_audio = rng.uniform(-0.5, 0.5, (80000, 2)).astype(np.float32)
    live.stems.write_at(0, rng.uniform(-0.5, 0.5, (32000, 8)).astype(np.float32))
    live.stem_span = (0, 32000)
    control.publish(a)
    control.play(True)
    events = {
        2000: lambda: control.gains([0.5, 1.0, 0.0, 2.0]),
        2100: lambda: control.gains([1.0, 0.25, 1.0, 0.0]),  # during the first ramp at small blocks
        9000: lambda: (a.stems.write_at(6000, a_stems[6000:20000]), setattr(a, "stem_span", (0, 20000))),
        12000: lambda: control.play(False),
        13000: lambda: control.play(True),
        15000: lambda: setattr(a, "source_end", 20000),
        19000: lambda: control.publish(b),  # a seek while playing: a fades out, b fades in
        20000: lambda: setattr(b, "source_end", 8000),  # b plays to its end (and its stems run short)
        24000: lambda: control.gains([0.0, 1.0, 1.0, 1.0]),  # karaoke: the stand-in must be silent
        34000: lambda: control.publish(live),
        # The cue bus (when the layout has one): bass cued while muted, then every stem (the dry stand-in).
        2050: lambda: control.cue([0.0, 0.0, 1.0, 0.0]),
        16000: lambda: control.cue([1.0, 1.0, 1.0, 1.0]),
        26000: lambda: control.cue([1.0, 0.0, 0.0, 1.0]),
    }
    done, fed, out = set(), 0, []
    status = _Status()
    for _ in range(60000 // blocksize + 1):
        t = playback.frames_out
        for at, event in events.items():
            if at <= t and at not in done:
                done.add(at)
                event()
        if control._session is live:  # live input 1/8 faster than the output clock
            n = min(blocksize + blocksize // 8, len(live_audio) - fed)
            live.source.write(live_audio[fed:fed + n])
            fed += n
        block = np.full((blocksize, layout.channels), np.nan, np.float32)
        playback.callback(block, blocksize, None, status)
        out.append(block)
    written = playback.monitor.written
    return {
        "out": np.concatenate(out),
        "monitor": playback.monitor._data[:written].copy(),
        "counters": {name: getattr(playback, name) for name in (
            "app_underruns", "frames_out", "callbacks", "wet", "transport", "drift_corrections",
            "monitor_drops", "stem_fill", "source_lead", "live_target")},
        "gains": playback.gains.copy(),
        "positions": [(s.play_position, s.started, s.ended, s.output_offset) for s in (a, b, live)],
    }


LAYOUTS = {"remix": OutputLayout(), "stems and cue": OutputLayout(True, True),
           "cue": OutputLayout(False, True)}


@pytest.mark.parametrize("blocksize, layout", [(64, "remix"), (200, "remix"), (256, "remix"), (5000, "remix"),
                                               (64, "stems and cue"), (5000, "stems and cue"), (200, "cue")])
def test_native_callback_plays_exactly_what_the_python_callback_plays(blocksize, layout, monkeypatch):
    python = run_script("python", blocksize, monkeypatch, LAYOUTS[layout])
    fast = run_script("native", blocksize, monkeypatch, LAYOUTS[layout])
    out = python["out"]
    assert np.isfinite(out).all() and np.abs(out).max() > 0.1
    assert python["counters"]["app_underruns"] > 0
    assert python["counters"]["drift_corrections"] > 0 or blocksize > 4096  # the live buffer grew too little
    assert all(started for _, started, _, _ in python["positions"]) and python["positions"][1][2]  # b ended
    # Same float32 operations in the same order: equal to the last bit (no tolerance needed; were a compiler
    # to contract a multiply-add, 1e-7 would be the bound).
    for channel in range(2, out.shape[1]):  # every extra output plays something
        assert np.abs(out[:, channel]).max() > 0.1, channel
    np.testing.assert_array_equal(fast["out"], out)
    np.testing.assert_array_equal(fast["monitor"], python["monitor"])
    assert fast["counters"] == python["counters"]
    np.testing.assert_array_equal(fast["gains"], python["gains"])
    assert fast["positions"] == python["positions"]


NRT_PROBE = r"""
import ctypes, json, sys
import numpy as np
from numba.core.runtime import rtsys
sys.path.insert(0, "tests")
from test_engine_native import LAYOUTS, Control, file_session
control = Control()
layout = LAYOUTS[sys.argv[1]]
control.playback.set_layout(layout)
address, userdata, _ = control.playback.native_stream()
c_long = ctypes.c_ulong
callback = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, c_long, ctypes.c_void_p, c_long,
                            ctypes.c_void_p)(address)  # what PortAudio calls
session, _ = file_session(np.random.default_rng(0), 20000, 4000)
control.publish(session); control.play(True)
block = np.zeros((4096, layout.channels), np.float32)
callback(None, block.ctypes.data, 256, None, 0, userdata)  # warm up
allocations = 0
for i in range(8):  # separated, a ramp, the fallback crossfade, a pause fade, a device underflow
    if i == 1: control.gains([0.5, 1, 0, 1]); control.cue([1, 0, 1, 0])
    if i == 6: control.play(False)
    before = rtsys.get_allocation_stats()
    assert callback(None, block.ctypes.data, 1000 + 300 * i, None, 4 if i == 7 else 0, userdata) == 0
    after = rtsys.get_allocation_stats()
    allocations += (after.alloc - before.alloc) + (after.mi_alloc - before.mi_alloc)
print(json.dumps({"allocations": allocations, "underruns": control.playback.app_underruns,
                  "device_underruns": control.playback.device_underruns,
                  "transport": control.playback.transport}))
"""


@pytest.mark.parametrize("layout", ["remix", "stems and cue"])
def test_native_callback_allocates_nothing(layout):
    """The C entry PortAudio calls, called here the same way (ctypes, raw pointers): numba's runtime counts
    every array it allocates (NUMBA_NRT_STATS=1), and the kernel makes none on any path. (Python callers of
    the njit entry, the null backend, box their arrays: that is outside the real-time path.)"""
    env = {"NUMBA_NRT_STATS": "1", "PYTHONPATH": "."}
    result = subprocess.run([sys.executable, "-c", NRT_PROBE, layout], capture_output=True, text=True,
                            timeout=300, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["underruns"] > 0 and stats["transport"] == 0.0, stats  # every path ran
    assert stats["device_underruns"] == 1, stats
    assert stats["allocations"] == 0, stats


GIL_PROBE = r"""
import ctypes, json, sys, time
import numpy as np, soundfile as sf
from demixui.engine import Engine
model, wav = sys.argv[1:3]
t = np.arange(10 * 44100) / 44100
sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32), 44100)
with Engine(model, backend="portaudio", output_device="system JACK", blocksize=256) as engine:
    engine.open_file(wav); engine.play()
    while engine.played_seconds < 1.0: time.sleep(0.05)
    playback = engine.playback
    before = (playback.callbacks, playback.device_underruns, playback.frames_out)
    ctypes.PyDLL(None).usleep(1000000)  # a C call that keeps the GIL for one second
    after = (playback.callbacks, playback.device_underruns, playback.frames_out)
    print(json.dumps({"kind": engine.audio_callback, "before": before, "after": after}))
"""


def test_native_callback_plays_on_while_another_thread_holds_the_gil(tiny_model_path, tmp_path):
    """On real PortAudio (a JACK dummy server), the callback keeps the device fed through a second in which
    this process's GIL is held: the proof that no Python thread can delay it."""
    from jack_server import jack_server

    with jack_server(rate=SR, period=256) as server:
        result = subprocess.run([sys.executable, "-c", GIL_PROBE, tiny_model_path, str(tmp_path / "a.wav")],
                                env=server.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["kind"] == "native (numba)", report
    (calls0, xruns0, frames0), (calls1, xruns1, frames1) = report["before"], report["after"]
    assert frames1 - frames0 >= 0.9 * SR, report  # a second of audio went out while the GIL was held
    assert calls1 - calls0 >= 0.9 * SR / 256, report
    assert xruns1 - xruns0 <= 1, report  # the VM's own late cycles aside (see test_play_jack.py)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_native_input_maps_any_channel_count_to_stereo_and_drops_when_the_output_stalls(channels):
    """The live input callback (what PortAudio calls for an input device): mono doubled, stereo as is, more
    channels averaged odd -> left, even -> right (the audio-file policy); a block that would overwrite audio
    the output has not played is dropped and counted, never written."""
    control = Control()
    playback = control.playback
    live = Session(SourceInfo("live", live=True), L)
    control.publish(live)
    rng = np.random.default_rng(channels)
    block = rng.uniform(-1, 1, (3000, channels)).astype(np.float32)
    native.load()[0].capture(playback._ctl, block, 2500)  # the input stream's kernel, (frames, channels)
    expected = np.repeat(block[:2500, :1], 2, 1) if channels == 1 else block[:2500, :2]
    if channels > 2:
        expected = np.stack([block[:2500, 0::2].mean(1), block[:2500, 1::2].mean(1)], axis=1)
    assert live.source.written == 2500
    np.testing.assert_allclose(live.source._data[:2500], expected, rtol=0, atol=1e-6)
    # ... and it woke the inference worker: one byte in the wake-up pipe per block (live.Wakeup).
    assert playback.wakeup.read_fd >= 0  # POSIX (these tests run on Linux)
    assert len(os.read(playback.wakeup.read_fd, 16)) == 1
    # The output has played nothing: the ring takes what fits and refuses a block more.
    space = live.source_space()
    stereo = np.zeros((space + 1, 2), np.float32)
    playback.capture(stereo, space + 1)
    assert playback.input_overflows == 1 and live.source.written == 2500
    playback.capture(stereo, space)
    assert playback.input_overflows == 1 and live.source.written == 2500 + space

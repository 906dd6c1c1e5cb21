"""The live path's sizing (live.py): the live buffer is the least whole blocks with which every block's stems
exist, from the model's hop and the device block, plus the least whole blocks that give the worker its time;
and the worker's wake-up pipe."""

from __future__ import annotations

import math
import threading

import pytest

from demixui.engine.live import COMPUTE_SECONDS, Wakeup, compute_blocks, least_buffer, live_buffer, stem_floor


def stems_exist(lead: int, blocksize: int, hop: int) -> bool:
    """By brute force over one full cycle of block starts c: the whole hops of source [0, c + lead) reach the
    end of the block [c, c + blocksize) (stems up to x need the source up to x, separated hop by hop)."""
    cycle = blocksize * hop // math.gcd(blocksize, hop)
    return all((c + lead) // hop * hop >= c + blocksize for c in range(0, cycle, blocksize))


@pytest.mark.parametrize("hop", [64, 128, 441, 512, 1024])
@pytest.mark.parametrize("blocksize", [64, 100, 128, 256, 1024, 4096])
def test_the_live_buffer_is_the_least_whole_blocks_with_which_every_blocks_stems_exist(blocksize, hop):
    floor = stem_floor(blocksize, hop)
    assert stems_exist(floor, blocksize, hop) and not stems_exist(floor - 1, blocksize, hop)
    least = least_buffer(blocksize, hop)
    assert least % blocksize == 0 and stems_exist(least, blocksize, hop)
    assert not stems_exist(least - blocksize, blocksize, hop)
    assert live_buffer(blocksize, hop, 44100, seconds=0.0) == least
    assert live_buffer(blocksize, hop, 44100) == least + compute_blocks(blocksize, 44100) * blocksize


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("blocksize", [64, 100, 128, 256, 1024, 4096])
@pytest.mark.parametrize("seconds", [0.0, 0.001, COMPUTE_SECONDS, 256 / 44100, 0.02])
def test_the_compute_blocks_are_the_least_that_give_the_worker_its_time(blocksize, rate, seconds):
    """The worker has one period at the least buffer and one more per added block: the blocks added are the
    least with which it has `seconds` (a whole number of periods is enough, not one block more)."""
    k = compute_blocks(blocksize, rate, seconds)
    period = blocksize / rate
    assert k >= 0 and (1 + k) * period >= seconds - 1e-12
    assert k == 0 or k * period < seconds


def test_the_live_models_buffer_is_three_blocks_at_block_128_and_within_20_ms():
    """n_fft 512, hop 128 (model 384 samples): at block 128 the least buffer (one block) plus two for the
    worker's time, 17.4 ms with the model (the issue's target: 20 ms). At block 64 the same time for the
    worker costs more blocks: 6 blocks, 17.4 ms (the issue's 12 ms at block 64 would leave the worker 1.5 ms
    from a hop's input to its output, less than a hop takes on a loaded machine)."""
    assert live_buffer(128, 128, 44100) == 3 * 128
    assert (384 + live_buffer(128, 128, 44100)) / 44.1 <= 20.0
    assert live_buffer(64, 128, 44100) == 6 * 64
    assert live_buffer(256, 128, 44100) == 2 * 256


def test_a_signal_wakes_a_waiting_worker_and_is_consumed():
    wakeup = Wakeup()
    try:
        woken = threading.Event()

        def wait() -> None:
            wakeup.wait(600.0)
            woken.set()

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        wakeup.signal()
        assert woken.wait(60.0), "the signal did not wake the waiting thread"
        for _ in range(3):  # several signals while nobody waits: one wait consumes them all
            wakeup.signal()
        wakeup.wait(0.0)
        if wakeup.read_fd >= 0:
            import select

            assert select.select([wakeup.read_fd], [], [], 0.0)[0] == []
    finally:
        wakeup.close()
    wakeup.signal()  # after closing: a no-op, never an error (a callback racing the engine's close)


@pytest.mark.parametrize("kind", ["native", "python"])
def test_a_worker_a_block_too_slow_grows_the_live_buffer_by_a_block_and_the_underruns_stop(kind, monkeypatch):
    """The callback driven by hand (as in test_engine_native.py): stems always one block later than the least
    buffer allows, so every block at the least buffer is an underrun; one block more and none is."""
    import numpy as np
    from test_engine_native import HOP, SR, Control, L

    from demixui.engine.playback import CALLBACK_ENV
    from demixui.engine.session import Session, SourceInfo
    from demixui.engine.shared import C_SHRINK_AFTER

    monkeypatch.setenv(CALLBACK_ENV, kind)
    n = HOP  # block = hop (11.6 ms, more than the worker's time): the live buffer is one block
    control = Control(n)
    playback = control.playback
    live = Session(SourceInfo("live", live=True), L)
    control.publish(live)
    control.play(True)
    rng = np.random.default_rng(3)
    audio = rng.uniform(-0.5, 0.5, (200 * n, 2)).astype(np.float32)
    stems = rng.uniform(-0.5, 0.5, (200 * n, 8)).astype(np.float32)
    status = type("Status", (), {"output_underflow": False})()
    out = np.zeros((n, 2), np.float32)
    counts = []
    for k in range(120):
        live.source.write(audio[k * n:(k + 1) * n])
        ready = max(0, live.source.written - n)  # the slow worker: its stems end a block before the input
        start, end = live.stem_span
        if ready > end:
            live.stems.write_at(end, stems[end:ready])
            live.stem_span = (0, ready)
        playback.callback(out, n, None, status)
        counts.append(playback.app_underruns)
    assert playback.live_buffer == live_buffer(n, HOP, SR) == n
    assert playback.live_target == 2 * n  # grown by one block, not more
    assert playback.source_lead == 2 * n  # the lead at the last block's start
    assert counts[-1] > 0 and counts[-1] == counts[60]  # underruns at first, none once grown
    # The worker keeps up again: after the quiet time (shortened here) the grown block is given back.
    playback._ctl[C_SHRINK_AFTER] = 40 * n
    for k in range(120, 200):
        live.source.write(audio[k * n:(k + 1) * n])
        start, end = live.stem_span
        live.stems.write_at(end, stems[end:live.source.written])
        live.stem_span = (0, live.source.written)
        playback.callback(out, n, None, status)
    assert playback.live_target == n and playback.source_lead == n  # the least buffer again
    assert playback.app_underruns == counts[-1]  # and giving it back cost no underrun


def test_without_a_wake_up_pipe_the_worker_polls_and_live_input_still_plays_separated(tiny_live_model_path,
                                                                                       monkeypatch):
    """Windows has no pipe to select on, and the native input callback cannot set a Python Event: the
    worker falls back to polling about once a hop, and live input plays separated as before."""
    import time

    import numpy as np

    from demixui.engine import Engine, playback
    from demixui.model.runtime import load_model

    timeouts = []

    class Recording(Wakeup):
        def wait(self, timeout: float) -> None:
            timeouts.append(timeout)
            super().wait(timeout)

    monkeypatch.setattr(playback, "Wakeup", lambda: Recording(pipe=False))
    t = np.arange(44100) / 44100
    signal = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32)
    with Engine(model=load_model(tiny_live_model_path), backend="null-fast", blocksize=128) as engine:
        assert engine.playback.wakeup.read_fd < 0
        engine.open_live(signal)
        deadline = time.monotonic() + 60
        while engine.played_seconds < 0.5:
            assert time.monotonic() < deadline, engine.snapshot()
            time.sleep(0.01)
        snap = engine.snapshot()
    assert snap.app_underruns == 0 and snap.wet == 1.0 and snap.error is None
    assert timeouts and max(timeouts) <= 0.01  # a poll about once a hop, never the pipe's long safety net


def test_an_engine_that_cannot_open_its_output_leaves_no_wake_up_pipe_open(tiny_live_model_path):
    import os

    from demixui.engine import Engine
    from demixui.errors import DeviceError
    from demixui.model.runtime import load_model

    model = load_model(tiny_live_model_path)
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(DeviceError, match="no output device"):
            Engine(model=model, backend="null", output_device="no such device")
    assert set(os.listdir("/proc/self/fd")) <= before

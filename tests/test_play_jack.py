"""Real PortAudio: `demixui play` through a JACK server with the dummy driver (no sound card needed).

The long test plays 60 seconds at block size 256 in real time and checks zero app underruns, device
underruns (JACK xruns, which a VM causes on its own) under 1 % of blocks, and that the recording is exactly
the offline separation remixed with the same gains. The clients run as
subprocesses because PortAudio only sees a JACK server that was running when it initialised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from jack_server import JACK_DEVICE, jack_server, playback_ports

from demixui.engine.live import live_buffer

SR = 44100
LATENCY = 1536


def music(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.2 * np.sin(2 * np.pi * 110 * t)[:, None] * [1.0, 0.6]
    x = x + 0.15 * np.sin(2 * np.pi * 660 * t + 1.0)[:, None] * [0.5, 1.0]
    bursts = rng.standard_normal((len(t), 2)) * np.exp(-((t * 4) % 1.0) * 12)[:, None] * 0.2
    return (x + bursts).astype(np.float32)


def play(server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "demixui", "play", *args], env=server.env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_sixty_seconds_through_jack_without_underruns_and_exactly_the_remix(tiny_model_path, tmp_path):
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    mix = music(60.0)
    track = tmp_path / "track.wav"
    sf.write(track, mix, SR, subtype="FLOAT")
    record, stats = tmp_path / "out.wav", tmp_path / "stats.json"
    with jack_server(rate=SR, period=256) as server:
        result = play(server, str(track), "--backend", "portaudio", "--device", JACK_DEVICE,
                      "--blocksize", "256", "--model", tiny_model_path, "--gain", "vocals=-6",
                      "--gain", "drums=3", "--mute", "bass", "--record", str(record),
                      "--stats-json", str(stats), "--quiet")
    assert result.returncode == 0, result.stderr
    snap = json.loads(stats.read_text())
    assert snap["state"] == "ended" and "JACK" in snap["output_device"]
    assert snap["device_latency_ms"] > 0
    # The recording is what was played, from the session's first sample: the remix delayed by the latency.
    recorded, rate = sf.read(record, dtype="float32")
    assert rate == SR and recorded.shape == (len(mix) + LATENCY, 2)
    stems = separate_array(load_model(tiny_model_path), mix)
    expected = (stems * np.array([10 ** (-6 / 20), 10 ** (3 / 20), 0, 1], np.float32)[None, :, None]).sum(1)
    np.testing.assert_allclose(recorded[LATENCY:], expected, atol=2e-5, rtol=0)
    # The engine never starved (app underruns are ours to prevent, and must be zero). Device underruns are
    # JACK's dummy driver reporting a late cycle: on our shared VMs even a client that only writes silence
    # gets about one per 30 s when idle (and dozens under load), because the VM, not the client, is late.
    # We measured 8 per 60 s for the engine on an idle 2-core VM, so the bound is 1 % of the ~10,300 blocks:
    # it still fails for a callback that misses blocks regularly, and the count is printed either way.
    load = os.getloadavg()
    blocks = len(mix) // 256
    detail = (f"underruns app {snap['app_underruns']} device {snap['device_underruns']} of {blocks} blocks, "
              f"inference p99 {snap['inference_p99_ms']:.1f} ms, load average {load[0]:.1f} on "
              f"{os.cpu_count()} cores")
    print(detail)
    assert snap["app_underruns"] == 0, detail
    assert snap["device_underruns"] <= blocks // 100, detail


def test_jack_device_refusing_the_rate_and_missing_devices_are_one_line_errors(tiny_model_path, tmp_path):
    track = tmp_path / "short.wav"
    sf.write(track, music(0.5), SR)
    with jack_server(rate=48000, period=256) as server:
        refused = play(server, str(track), "--device", JACK_DEVICE, "--model", tiny_model_path)
        missing = play(server, str(track), "--device", "no such card", "--model", tiny_model_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "refuses 44100 Hz" in refused.stderr
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "no output device 'no such card'" in missing.stderr
    assert "system" in missing.stderr  # it lists the devices there are


def test_device_that_disappears_while_playing_ends_with_one_line_not_a_hang(tiny_model_path, tmp_path):
    track = tmp_path / "long.wav"
    sf.write(track, music(30.0), SR)
    with jack_server(rate=SR, period=256) as server:
        command = [sys.executable, "-m", "demixui", "play", str(track), "--device", JACK_DEVICE,
                   "--model", tiny_model_path, "--quiet"]
        player = subprocess.Popen(command, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        playback_ports(server.env, 2)  # playing: its stream is connected (start-up may compile the callback)
        assert player.poll() is None, player.communicate()
        server.stop()  # the sound card goes away
        started = time.monotonic()
        try:
            _, err = player.communicate(timeout=15)
        finally:
            player.kill()
        gone_in = time.monotonic() - started
    assert player.returncode == 1 and gone_in < 5.0
    assert err.strip() == "demixui: error: output device system (JACK Audio Connection Kit) stopped"


def test_live_input_through_jack_plays_and_reports_its_latency(tiny_model_path, tmp_path):
    stats = tmp_path / "live.json"
    with jack_server(rate=SR, period=256) as server:
        result = play(server, "--live", "--device", JACK_DEVICE, "--input-device", JACK_DEVICE,
                      "--model", tiny_model_path, "--seconds", "2", "--quiet", "--stats-json", str(stats))
    assert result.returncode == 0, result.stderr
    snap = json.loads(stats.read_text())
    assert snap["source_name"].startswith("live: system") and snap["duration_s"] == "inf"
    assert snap["played_seconds"] >= 2.0 and snap["device_latency_ms"] > 0
    # The live buffer is the least whole blocks for the hop and the worker's time (live.py: 512 + 256 samples
    # at block 256, hop 512), or a block more after each app underrun where the busy machine made the worker
    # miss its time.
    assert live_buffer(256, 512, SR) == 768
    grown = (snap["buffer_latency_ms"] * SR / 1000 - 768) / 256
    assert grown == pytest.approx(round(grown), abs=1e-6) and 0 <= round(grown) <= snap["app_underruns"]
    assert snap["total_latency_ms"] == pytest.approx(
        snap["model_latency_ms"] + snap["buffer_latency_ms"] + snap["device_latency_ms"])

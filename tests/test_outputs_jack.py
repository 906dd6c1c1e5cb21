"""Stem outputs and the cue bus on real PortAudio: `demixui play` on a JACK dummy server with 12 output ports,
its ports recorded by JACK's own `jack_rec` (a second client in the same JACK cycles, so all twelve channels
are sample-aligned), every channel then held to the offline separation. Clients run as subprocesses started
after the server (PortAudio scans host APIs once)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile as sf
from conftest import require_executable
from jack_server import JACK_DEVICE, jack_server, playback_ports
from test_play_jack import music, play

SR = 44100
LATENCY = 1536
RAMP = 220  # the transport's fade-in, in samples


def align(recorded: np.ndarray, expected: np.ndarray) -> int:
    """The offset d with recorded[i] ~ expected[i + d] (cross-correlation by FFT, one channel)."""
    n = 1 << int(np.ceil(np.log2(len(recorded) + len(expected))))
    corr = np.fft.irfft(np.fft.rfft(expected, n) * np.conj(np.fft.rfft(recorded, n)), n)
    return int(np.argmax(corr[:len(expected)]))


def test_stem_outputs_and_the_cue_bus_on_twelve_jack_ports(tiny_model_path, tmp_path):
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    require_executable("jack_rec")
    require_executable("jack_lsp")
    mix = music(6.0, seed=5)
    track, stats, rec = tmp_path / "track.wav", tmp_path / "stats.json", tmp_path / "ports.wav"
    sf.write(track, mix, SR, subtype="FLOAT")
    with jack_server(rate=SR, period=256, playback=12) as server:
        player = subprocess.Popen(
            [sys.executable, "-m", "demixui", "play", str(track), "--device", JACK_DEVICE, "--model",
             tiny_model_path, "--stem-outputs", "--cue", "vocals", "--cue", "bass", "--mute", "bass",
             "--gain", "drums=3", "--quiet", "--stats-json", str(stats)],
            env=server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ports = playback_ports(server.env, 12)
            recorder = subprocess.run(["jack_rec", "-f", str(rec), "-d", "2", "-b", "32", *ports],
                                      env=server.env, capture_output=True, text=True, timeout=60)
            _, err = player.communicate(timeout=120)
        finally:
            player.kill()
    assert recorder.returncode == 0, recorder.stderr
    assert player.returncode == 0, err
    snap = json.loads(stats.read_text())
    assert snap["outputs"] == "remix 1-2, vocals 3-4, drums 5-6, bass 7-8, other 9-10, cue 11-12"
    assert snap["app_underruns"] == 0, snap
    recorded, rate = sf.read(rec, dtype="float64")
    assert rate == SR and recorded.shape[1] == 12 and len(recorded) >= SR
    # What each pair should carry, by output position (the stems delayed by the model latency).
    stems = np.concatenate([np.zeros((LATENCY, 4, 2), np.float32),
                            separate_array(load_model(tiny_model_path), mix)])
    gains = np.array([1.0, 10 ** (3 / 20), 0.0, 1.0], np.float32)
    weighted = stems * gains[None, :, None]
    expected = np.concatenate([weighted.sum(1), weighted.reshape(-1, 8), stems[:, 0] + stems[:, 2]], axis=1)
    d = align(recorded[:, 4], expected[:, 4])  # drums left
    heard = np.flatnonzero(np.abs(recorded[:, 0]) > 1e-4)
    assert len(heard) > SR // 2, "the remix was silent while recorded"
    start = heard[0] + RAMP  # after the transport's fade-in (when the recording caught the start)
    stop = min(len(recorded), len(expected) - d)
    assert stop - start > SR // 2, (start, stop, d)
    # jack_rec writes 32-bit integer samples: 5e-10 of rounding; the rest is float32 streaming vs offline.
    np.testing.assert_allclose(recorded[start:stop], expected[start + d:stop + d], atol=3e-5, rtol=0)
    assert np.abs(recorded[start:stop, 6:8]).max() == 0.0  # the muted bass's output
    assert np.abs(recorded[start:stop, 10:12] - recorded[start:stop, 2:4]).max() > 0.05  # bass in the cue


def test_too_few_channels_for_the_outputs_is_one_line(tiny_model_path, tmp_path):
    track = tmp_path / "short.wav"
    sf.write(track, music(0.5), SR)
    with jack_server(rate=SR, period=256) as server:  # two output ports
        result = play(server, str(track), "--device", JACK_DEVICE, "--model", tiny_model_path, "--cue",
                      "drums", "--stem-outputs")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "demixui: error: output device system (JACK Audio Connection Kit) has 2 output channels; remix 1-2, "
        "vocals 3-4, drums 5-6, bass 7-8, other 9-10, cue 11-12 need 12 (choose a device with more channels, "
        "or fewer outputs)")

"""The window on real PortAudio: a private JACK dummy server stands in for a sound card. The device named in
the settings dialog's list is the one the engine opens, and the app plays through it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from jack_server import jack_server

pytest.importorskip("PySide6")

# Runs in a fresh process started after the server (PortAudio scans host APIs once, when it starts).
CLIENT = r"""
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from demixui.engine import Engine
from demixui.ui.app import application
from demixui.ui.settings import AppSettings, AudioSettings, list_devices
from demixui.ui.window import MainWindow
model, wav, ini = sys.argv[1:4]
outputs, inputs = list_devices()
device = next(name for name in outputs if "JACK" in name)
app = application()
settings = AppSettings(QSettings(ini, QSettings.Format.IniFormat))
window = MainWindow(settings, engine=Engine(model, backend="portaudio"))
window.show()
opened = []
window.file_opened.connect(opened.append)
window.apply_settings(AudioSettings(output_device=device, blocksize=512))
window.open_file(wav)
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not (opened and settings.audio.output_device == device):
    app.processEvents(); time.sleep(0.01)
window.toggle_play()
while time.monotonic() < deadline and window.snapshot().position_s < 1.0:
    app.processEvents(); time.sleep(0.01)
snap = window.snapshot()
print(json.dumps({"outputs": outputs, "device": device, "snapshot_device": snap.output_device,
                  "blocksize": snap.blocksize, "position_s": snap.position_s, "state": snap.state,
                  "banner": window.banner.messages}))
if "--lose-device" in sys.argv:
    print("PLAYING", flush=True)
    sys.stdin.readline()  # the test stops the JACK server, then says go
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(m[0] == "error" for m in window.banner.messages):
        app.processEvents(); time.sleep(0.01)
    window.toggle_play(); window.seek_relative(-5.0); window.refresh()  # still answers
    print(json.dumps({"banner": window.banner.messages, "state": window.snapshot().state}))
window.close()
"""


def test_the_listed_jack_device_plays_the_file(tmp_path, tiny_model_path):
    wav = tmp_path / "tone.wav"
    t = np.arange(3 * 44100) / 44100
    sf.write(wav, np.stack([np.sin(2 * np.pi * 330 * t)] * 2, axis=1).astype(np.float32) * 0.3, 44100)
    with jack_server(rate=44100, period=256) as server:
        result = subprocess.run(
            [sys.executable, "-c", CLIENT, tiny_model_path, str(wav), str(tmp_path / "s.ini")],
            env=server.env, capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["device"].endswith(", JACK Audio Connection Kit"), report
    assert "JACK" in report["snapshot_device"] and report["blocksize"] == 512, report
    assert report["state"] == "playing" and report["position_s"] >= 1.0, report
    assert not [m for m in report["banner"] if m[0] == "error"], report


def test_losing_the_device_shows_an_error_and_the_window_keeps_working(tmp_path, tiny_model_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, np.zeros((3 * 44100, 2), np.float32), 44100)
    with jack_server(rate=44100, period=256) as server:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, tiny_model_path, str(wav), str(tmp_path / "s.ini"),
             "--lose-device"],
            env=server.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            first = json.loads(client.stdout.readline())
            assert first["state"] == "playing", first
            assert client.stdout.readline().strip() == "PLAYING"
            server.stop()  # the sound card goes away
            client.stdin.write("go\n")
            client.stdin.flush()
            out, err = client.communicate(timeout=120)
        finally:
            if client.poll() is None:
                client.kill()
    assert client.returncode == 0, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    errors = [text for level, text in report["banner"] if level == "error"]
    assert errors and "stopped" in errors[-1], report

"""Stem outputs and the cue bus in the window: chosen in the Settings dialog, remembered, applied to the
engine while it plays (real widgets offscreen, the real engine on the null backend, or on a JACK dummy server
whose device has too few channels: a one-line banner, and the remix plays on)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile as sf
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

from jack_server import jack_server  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from demixui.engine import Engine  # noqa: E402
from demixui.engine.routing import OutputLayout  # noqa: E402
from demixui.ui.settings import AppSettings, AudioSettings, SettingsDialog  # noqa: E402
from demixui.ui.window import MainWindow  # noqa: E402

SR = 44100
WAIT_MS = 15000


def settings_at(path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_dialog_chooses_the_outputs_and_they_are_remembered(qtbot, tmp_path):
    dialog = SettingsDialog(AudioSettings(), devices=(["Card"], []), midi_ports=[])
    qtbot.addWidget(dialog)
    assert dialog.values() == AudioSettings()
    assert dialog.layout_label.text() == "Channels: remix 1-2 (2 in all)"
    assert not dialog.cue_stem_boxes["bass"].isEnabled()  # no cue bus, nothing to cue on
    dialog.stem_outputs_box.click()
    dialog.cue_box.click()
    assert dialog.cue_stem_boxes["bass"].isEnabled()
    dialog.cue_stem_boxes["bass"].click()
    dialog.cue_stem_boxes["vocals"].click()
    assert dialog.layout_label.text() == ("Channels: remix 1-2, vocals 3-4, drums 5-6, bass 7-8, other 9-10, "
                                          "cue 11-12 (12 in all)")
    values = dialog.values()
    assert (values.stem_outputs, values.cue_bus, values.cue_stems) == (True, True, ("vocals", "bass"))
    assert values.outputs == OutputLayout(stem_outputs=True, cue_bus=True)
    settings_at(tmp_path / "s.ini").save_audio(values)
    assert settings_at(tmp_path / "s.ini").audio == values


def test_settings_open_the_outputs_on_the_playing_engine(qtbot, tiny_model_path, tmp_path):
    """Stem outputs and a cue of the bass, applied while playing; the bass muted on its strip: silent on
    its own output (post-fader), heard on the cue (pre-fader)."""
    t = np.arange(4 * SR) / SR
    wav = tmp_path / "song.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 55 * t) + 0.2 * np.sin(2 * np.pi * 660 * t))[:, None]
             .repeat(2, 1).astype(np.float32), SR)
    settings = settings_at(tmp_path / "settings.ini")
    window = MainWindow(settings, engine=Engine(tiny_model_path, backend="null", capture=True))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.file_opened, timeout=WAIT_MS):
        window.open_file(str(wav))
    strip = window.mixer.strips[2]
    assert strip.stem == "bass"
    qtbot.mouseClick(strip.mute_button, Qt.MouseButton.LeftButton)
    window.toggle_play()
    new = AudioSettings(stem_outputs=True, cue_bus=True, cue_stems=("bass",))
    window.apply_settings(new)
    qtbot.waitUntil(lambda: window.settings.audio == new, timeout=WAIT_MS)
    engine = window.engine
    assert engine.outputs.channels == 12 and engine.snapshot().cued == (False, False, True, False)
    assert strip.cue_button.isChecked()  # the strips show what is cued
    window.refresh()
    assert strip.cue_button.isEnabled()  # there is a cue bus to hear it on
    assert "null (remix 1-2, vocals 3-4, drums 5-6, bass 7-8, other 9-10, cue 11-12)" in (
        window.monitor.details.text())
    start = engine.captured().shape[0]
    qtbot.waitUntil(lambda: engine.captured().shape[0] > start + SR, timeout=WAIT_MS)
    out = engine.captured()[start:]
    assert out.shape[1] == 12
    assert np.abs(out[:, 6:8]).max() == 0.0  # the muted bass's own output
    assert np.abs(out[:, 10:12]).max() > 0.05  # the bass in the cue
    assert settings_at(tmp_path / "settings.ini").audio == new

    # The drums cued on their strip (a MIDI pad learned on the button does the same: target cue:drums).
    qtbot.mouseClick(window.mixer.strips[1].cue_button, Qt.MouseButton.LeftButton)
    assert engine.snapshot().cued == (False, True, True, False)
    assert settings_at(tmp_path / "settings.ini").audio.cue_stems == ("drums", "bass")
    window.midi._buttons()["cue:bass"]()
    assert engine.snapshot().cued == (False, True, False, False) and not strip.cue_button.isChecked()
    window.apply_settings(AudioSettings())  # the cue bus closed: the buttons have nothing to send to
    qtbot.waitUntil(lambda: engine.outputs == OutputLayout(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.settings.audio == AudioSettings(), timeout=WAIT_MS)
    window.refresh()
    assert not strip.cue_button.isEnabled() and not window.mixer.strips[1].cue_button.isChecked()
    window.close()


# Runs in a fresh process started after the server (PortAudio scans host APIs once, when it starts).
CLIENT = r"""
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from demixui.engine import Engine
from demixui.ui.app import application
from demixui.ui.settings import AppSettings, AudioSettings
from demixui.ui.window import MainWindow
model, wav, ini = sys.argv[1:4]
app = application()
settings = AppSettings(QSettings(ini, QSettings.Format.IniFormat))
window = MainWindow(settings, engine=Engine(model, backend="portaudio", output_device="system JACK"))
window.show()
failed = []
window.task_failed.connect(failed.append)
window.open_file(wav)
window.apply_settings(AudioSettings(stem_outputs=True))
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not failed:
    app.processEvents(); time.sleep(0.01)
window.toggle_play()
while time.monotonic() < deadline and window.snapshot().position_s < 0.5:
    app.processEvents(); time.sleep(0.01)
snap = window.snapshot()
print(json.dumps({"banner": window.banner.text(), "state": snap.state, "outputs": snap.outputs,
                  "saved": settings.audio.stem_outputs}))
window.close()
"""


# The app's engine factory with remembered stem outputs, started where the device has two channels.
FACTORY_CLIENT = r"""
import json, sys
from demixui.ui.app import LaunchOptions, engine_factory
from demixui.ui.settings import AudioSettings
notes = []
build = engine_factory(LaunchOptions(model=sys.argv[1]), notes)
engine = build(AudioSettings(output_device="system JACK", stem_outputs=True, cue_bus=True))
print(json.dumps({"device": engine.snapshot().output_device, "outputs": engine.outputs.describe(),
                  "notes": notes}))
engine.close()
"""


def test_a_device_with_too_few_channels_is_a_banner_and_the_remix_plays_on(tmp_path, tiny_model_path):
    wav = tmp_path / "tone.wav"
    t = np.arange(3 * SR) / SR
    sf.write(wav, np.stack([np.sin(2 * np.pi * 330 * t)] * 2, axis=1).astype(np.float32) * 0.3, SR)
    with jack_server(rate=SR, period=256) as server:  # two output ports
        result = subprocess.run([sys.executable, "-c", CLIENT, tiny_model_path, str(wav),
                                 str(tmp_path / "s.ini")], env=server.env, capture_output=True, text=True,
                                timeout=120)
        started = subprocess.run([sys.executable, "-c", FACTORY_CLIENT, tiny_model_path], env=server.env,
                                 capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    start = json.loads(started.stdout.strip().splitlines()[-1])
    # The app starts on that device with the remix alone (not silently on no device), and says why.
    assert "JACK" in start["device"] and start["outputs"] == "remix 1-2", start
    assert start["notes"] == [
        "output device system (JACK Audio Connection Kit) has 2 output channels; remix 1-2, vocals 3-4, "
        "drums 5-6, bass 7-8, other 9-10, cue 11-12 need 12 (choose a device with more channels, or fewer "
        "outputs): playing the remix alone (Settings ▸ Outputs)"], start
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["banner"] == (
        "output device system (JACK Audio Connection Kit) has 2 output channels; remix 1-2, vocals 3-4, "
        "drums 5-6, bass 7-8, other 9-10 need 10 (choose a device with more channels, or fewer outputs)")
    assert report["state"] == "playing" and report["outputs"] == "remix 1-2", report
    assert report["saved"] is False  # what failed is not remembered

"""MIDI controllers in the real window (offscreen, null audio backend, tiny model): messages are posted from
another thread the way the MIDI backend posts them, learning is done by clicks, and the result is checked in
the widgets and in the engine. The last test goes through a real JACK MIDI port on the dummy server."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time

import pytest
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS
mido = pytest.importorskip("mido")

import test_ui_window as ui_window  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from demixui.engine import Engine  # noqa: E402
from demixui.engine.midi import Control, MidiMap  # noqa: E402
from demixui.ui.settings import AppSettings, SettingsDialog  # noqa: E402
from demixui.ui.window import MainWindow  # noqa: E402

WAIT_MS, open_and_wait = ui_window.WAIT_MS, ui_window.open_and_wait
settings, wav_path, window = ui_window.settings, ui_window.wav_path, ui_window.window  # the same fixtures

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"


def cc(number: int, value: int, channel: int = 0):
    return mido.Message("control_change", channel=channel, control=number, value=value)


def note_on(note: int, velocity: int = 100):
    return mido.Message("note_on", note=note, velocity=velocity)


def send_from_midi_thread(window, *messages) -> None:
    """Deliver messages as the MIDI backend does: from its own thread, through the input's callback."""
    thread = threading.Thread(target=lambda: [window.midi.input.callback(m) for m in messages])
    thread.start()
    thread.join()


def test_a_mapped_fader_moves_the_widget_and_the_engine_on_the_gui_thread(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    window.midi.map.bind(Control("cc", 0, 7), "gain:drums", "absolute")
    strip = window.mixer.strips[1]
    seen_threads = []
    strip.fader.valueChanged.connect(lambda _v: seen_threads.append(threading.current_thread()))
    send_from_midi_thread(window, cc(7, 0), cc(7, 60))  # the fader is at 0 dB (107/127): below, no jump
    qtbot.wait(100)
    assert strip.gain_db() == 0.0
    send_from_midi_thread(window, cc(7, 115), cc(7, 127))  # passed 0 dB: takes hold, up to +12 dB
    qtbot.waitUntil(lambda: strip.gain_db() == 12.0, timeout=WAIT_MS)
    assert window.engine.snapshot().gains_db[1] == 12.0
    send_from_midi_thread(window, cc(7, 0))
    qtbot.waitUntil(lambda: strip.gain_db() == -math.inf, timeout=WAIT_MS)
    assert window.engine.effective_gains()[1] == 0.0
    assert seen_threads and all(t is threading.main_thread() for t in seen_threads)


def test_learn_by_moving_a_control_then_clicking_the_fader(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    window.midi_learn_action.trigger()
    assert window.midi.map.learning and window.midi_learn_action.isChecked()
    strip = window.mixer.strips[0]
    send_from_midi_thread(window, *(cc(21, v, channel=4) for v in (30, 40, 50)))
    qtbot.waitUntil(lambda: window.midi.map.pending == Control("cc", 4, 21), timeout=WAIT_MS)
    assert "CC 21 ch 5" in window.banner.text()
    qtbot.mouseClick(strip.fader, Qt.MouseButton.LeftButton)  # chooses the target; the fader does not move
    assert strip.gain_db() == 0.0
    binding = window.midi.map.binding_for("gain:vocals")
    assert (binding.control, binding.mode) == (Control("cc", 4, 21), "absolute")
    assert "Vocals volume" in window.banner.text()
    window.midi_learn_action.trigger()  # learn off
    assert not window.midi.map.learning

    saved = MidiMap.from_json(window.settings.midi_mapping(), window.midi.kinds)
    assert saved.bindings == window.midi.map.bindings
    send_from_midi_thread(window, cc(21, 106, channel=4), cc(21, 90, channel=4))
    qtbot.waitUntil(lambda: strip.fader.value() == round(-120 + 90 / 127 * 144), timeout=WAIT_MS)
    assert window.engine.snapshot().gains_db[0] == strip.gain_db()


def test_learn_by_clicking_a_button_then_pressing_a_pad(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    engine = window.engine
    window.midi.set_learning(True)
    mute = window.mixer.strips[2].mute_button
    qtbot.mouseClick(mute, Qt.MouseButton.LeftButton)  # learning: chooses, does not mute
    assert not mute.isChecked() and not engine.snapshot().muted[2]
    send_from_midi_thread(window, note_on(36), note_on(36, velocity=0))
    qtbot.waitUntil(lambda: window.midi.map.binding_for("mute:bass") is not None, timeout=WAIT_MS)
    qtbot.mouseClick(window.transport.play_button, Qt.MouseButton.LeftButton)
    send_from_midi_thread(window, cc(64, 127), cc(64, 0))
    qtbot.waitUntil(lambda: window.midi.map.binding_for("play_pause") is not None, timeout=WAIT_MS)
    window.midi.arm("seek_forward")  # MIDI > Learn target: actions without a widget
    send_from_midi_thread(window, note_on(38))
    qtbot.waitUntil(lambda: window.midi.map.binding_for("seek_forward") is not None, timeout=WAIT_MS)
    window.midi.arm("karaoke")
    send_from_midi_thread(window, note_on(39))
    qtbot.waitUntil(lambda: window.midi.map.binding_for("karaoke") is not None, timeout=WAIT_MS)
    window.midi.set_learning(False)

    send_from_midi_thread(window, note_on(36), note_on(36, velocity=0))  # press: mute on
    qtbot.waitUntil(lambda: engine.snapshot().muted[2], timeout=WAIT_MS)
    assert mute.isChecked()
    send_from_midi_thread(window, note_on(36))  # press again: off
    qtbot.waitUntil(lambda: not engine.snapshot().muted[2], timeout=WAIT_MS)
    send_from_midi_thread(window, note_on(39))
    qtbot.waitUntil(lambda: engine.snapshot().karaoke, timeout=WAIT_MS)
    assert window.mixer.karaoke_button.isChecked()

    send_from_midi_thread(window, cc(64, 127), cc(64, 0))  # play
    qtbot.waitUntil(lambda: engine.snapshot().position_s > 0.3, timeout=WAIT_MS)  # as playing_window() does
    assert engine.snapshot().state == "playing"
    send_from_midi_thread(window, cc(64, 127))  # pause
    qtbot.waitUntil(lambda: engine.snapshot().state == "paused", timeout=WAIT_MS)
    # Seek while paused: on a busy machine the 8-s file could otherwise reach its end (state "ended")
    # between the seek and the pause.
    before = engine.snapshot().position_s
    send_from_midi_thread(window, note_on(38))  # seek 5 s forward
    qtbot.waitUntil(lambda: engine.snapshot().position_s > before + 4.5, timeout=WAIT_MS)


def test_an_encoder_nudges_the_karaoke_amount(qtbot, window):
    window.midi.map.bind(Control("cc", 0, 16), "karaoke_amount", "relative")
    amount = window.mixer.karaoke_amount
    start = amount.value()
    send_from_midi_thread(window, cc(16, 127), cc(16, 127), cc(16, 126))  # -1, -1, -2 ticks
    qtbot.waitUntil(lambda: amount.value() == start - 4, timeout=WAIT_MS)


def test_the_mapping_survives_a_restart_and_a_bad_one_is_dropped(qtbot, tiny_model_path, settings):
    first = MainWindow(settings, engine=Engine(tiny_model_path, backend="null"))
    qtbot.addWidget(first)
    first.midi.map.bind(Control("cc", 1, 2), "solo:other", "button")
    first.midi.save()
    first.close()

    again = MainWindow(AppSettings(settings.store), engine=None)
    qtbot.addWidget(again)
    assert again.midi.map.binding_for("solo:other").control == Control("cc", 1, 2)
    # no MIDI input (no ALSA sequencer, no JACK server) while a mapping waits: one line, the app carries on
    if not again.midi.input.port_names:
        assert again.banner.messages[-1][0] == "info" and "MIDI" in again.banner.text()
    again.close()

    settings.save_midi_mapping("{not json")
    broken = MainWindow(AppSettings(settings.store), engine=None)
    qtbot.addWidget(broken)
    assert not broken.midi.map.bindings
    assert any("MIDI mapping was dropped" in text for _level, text in broken.banner.messages)
    broken.close()


def test_settings_choose_the_midi_input(qtbot, tmp_path):
    store = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    dialog = SettingsDialog(store.audio, devices=([], []), midi_ports=["Pads 20:0", "Faders 24:0"])
    qtbot.addWidget(dialog)
    assert dialog.values().midi_port is None  # all inputs
    dialog.midi_box.setCurrentIndex(dialog.midi_box.findData("Faders 24:0"))
    store.save_audio(dialog.values())
    assert AppSettings(store.store).audio.midi_port == "Faders 24:0"


@pytest.mark.slow
def test_a_real_jack_midi_port_drives_the_window(qtbot, window, wav_path, monkeypatch):
    """A virtual controller port (python-rtmidi's JACK API) on the JACK dummy server: the window opens it
    through mido like any input, and a CC sent to it moves the fader and the engine's gain."""
    rtmidi = pytest.importorskip("rtmidi")
    from jack_server import jack_server

    open_and_wait(qtbot, window, wav_path)
    with jack_server() as server:
        for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "JACK_NO_AUDIO_RESERVATION"):
            monkeypatch.setenv(key, server.env[key])
        controller = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="controller")
        try:
            controller.open_virtual_port("faders")
            window.midi.input.backend = JACK_BACKEND
            window.midi.map.bind(Control("cc", 0, 7), "gain:other", "absolute")
            status = window.midi.open_ports(None)
            assert window.midi.input.port_names == ["controller:faders"], status
            assert "controller:faders" in window.midi.status
            deadline = time.monotonic() + 10
            strip = window.mixer.strips[3]
            while strip.gain_db() != 12.0 and time.monotonic() < deadline:  # the port connects asynchronously
                for value in (105, 110, 127):
                    controller.send_message([0xB0, 7, value])
                qtbot.wait(50)
            assert strip.gain_db() == 12.0
            assert window.engine.snapshot().gains_db[3] == 12.0
            controller.send_message([0xB0, 7, 64])
            qtbot.waitUntil(lambda: strip.fader.value() == round(-120 + 64 / 127 * 144), timeout=WAIT_MS)
        finally:
            window.midi.close()
            controller.close_port()
            del controller


def test_the_jack_backend_is_in_the_wheel():
    """python-rtmidi's PyPI wheel carries the JACK API (and ALSA) without system -dev packages."""
    probe = "import rtmidi; print([rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "jack" in result.stdout, result.stdout + result.stderr

"""Starting the app (`demixui gui`), screenshots, and the widgets' own logic (settings, faders, spectrogram,
underrun flashing), with real Qt offscreen and the real engine on the null backend."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from demixui.engine.analysis import NB_BANDS  # noqa: E402
from demixui.engine.faders import db_to_fader, db_to_karaoke, fader_to_db, karaoke_to_db  # noqa: E402
from demixui.ui.app import LaunchOptions, build_window  # noqa: E402
from demixui.ui.monitor import FLASH_S, UnderrunCounter  # noqa: E402
from demixui.ui.settings import MAX_RECENT, AppSettings, AudioSettings, SettingsDialog  # noqa: E402
from demixui.ui.spectrogram import SpectrogramView  # noqa: E402
from demixui.ui.style import SPECTROGRAM_LEVELS_DB  # noqa: E402
from demixui.ui.tasks import TaskRunner  # noqa: E402
from demixui.ui.transport import format_time  # noqa: E402

WAIT_MS = 15000


@pytest.fixture
def wav_path(tmp_path):
    t = np.arange(3 * 44100) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1).astype(np.float32), 44100)
    return str(path)


def settings_at(path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_gui_command_screenshot_shows_the_playing_window(tiny_model_path, wav_path, tmp_path):
    # A fresh process: `demixui gui` runs its own application and event loop, as a user starts it.
    png = tmp_path / "shot.png"
    command = [sys.executable, "-m", "demixui", "gui", wav_path, "--backend", "null",
               "--model", tiny_model_path, "--screenshot", str(png), "--screenshot-after", "1.0",
               "--size", "1000x700"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}  # no user settings touched
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1000, 700)
    pixels = {image.pixel(x, y) for x in range(0, 1000, 37) for y in range(0, 700, 29)}
    assert len(pixels) > 20  # a drawn window (text, panels, meters), not a blank frame
    assert not list(tmp_path.glob(".*.part.png"))
    assert not (tmp_path / ".config").exists()


def test_without_model_or_demo_the_window_still_opens_and_says_so(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "no-assets"))
    options = LaunchOptions(backend="null", settings_path=str(tmp_path / "settings.ini"))
    window = build_window(options)
    qtbot.addWidget(window)
    assert window.isVisible()
    assert "demo track is missing" in window.banner.text()
    with qtbot.waitSignal(window.task_failed, timeout=WAIT_MS):
        pass
    assert window.banner.level() == "error" and "Settings" in window.banner.text()
    assert window.engine is None
    window.refresh()  # the panels show an idle state without an engine
    window.toggle_play()
    window.mixer.strips[0].fader.setValue(db_to_fader(-3))
    assert window.transport.source_label.text() == "No file"
    window.close()


def test_a_model_chosen_later_builds_the_engine(qtbot, tmp_path, monkeypatch, tiny_model_path, wav_path):
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "no-assets"))
    window = build_window(LaunchOptions(file=wav_path, backend="null", settings_path=str(tmp_path / "s.ini")))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.task_failed, timeout=WAIT_MS):
        pass
    window.mixer.strips[1].mute_button.click()  # set before the engine exists: applied when it arrives
    with qtbot.waitSignal(window.file_opened, timeout=WAIT_MS):  # the file asked for at start opens
        window.apply_settings(AudioSettings(model_path=tiny_model_path))
    assert window.engine.snapshot().muted == (False, True, False, False)
    assert settings_at(tmp_path / "s.ini").audio.model_path == tiny_model_path
    window.close()


def test_settings_round_trip_and_recent_files(tmp_path):
    settings = settings_at(tmp_path / "s.ini")
    assert settings.audio == AudioSettings()
    audio = AudioSettings(output_device="Speakers", input_device="Mic", blocksize=512, model_path="/m.onnx",
                          live_model_path="/live.onnx", live_input=True)
    settings.save_audio(audio)
    assert settings_at(tmp_path / "s.ini").audio == audio
    for i in range(MAX_RECENT + 3):
        settings.add_recent_file(f"/music/{i}.wav")
    settings.add_recent_file("/music/2.wav")
    recent = settings_at(tmp_path / "s.ini").recent_files()
    assert len(recent) == MAX_RECENT and recent[0] == "/music/2.wav" and recent.count("/music/2.wav") == 1
    settings.store.setValue("audio/blocksize", 1000)  # not a power of two: back to the default
    assert settings.load_audio().blocksize == 256


def test_settings_dialog_keeps_a_missing_device_and_reads_back(qtbot):
    audio = AudioSettings(output_device="Gone USB", blocksize=2048)
    dialog = SettingsDialog(audio, devices=(["Speakers"], ["Mic"]))
    qtbot.addWidget(dialog)
    assert dialog.values() == audio
    assert "not found" in dialog.output_box.currentText()
    dialog.output_box.setCurrentIndex(dialog.output_box.findData("Speakers"))
    dialog.input_box.setCurrentIndex(dialog.input_box.findData("Mic"))
    dialog.live_box.setChecked(True)
    values = dialog.values()
    assert (values.output_device, values.input_device, values.live_input) == ("Speakers", "Mic", True)
    dialog.output_box.setCurrentIndex(0)
    assert dialog.values().output_device is None  # "System default"


def test_fader_and_karaoke_scales():
    assert fader_to_db(db_to_fader(-6.5)) == -6.5
    assert fader_to_db(db_to_fader(12.0)) == 12.0
    assert fader_to_db(db_to_fader(-math.inf)) == -math.inf
    assert fader_to_db(db_to_fader(20.0)) == 12.0  # clamped to the top
    assert karaoke_to_db(db_to_karaoke(math.inf)) == math.inf
    assert karaoke_to_db(db_to_karaoke(18.0)) == 18.0
    assert format_time(75.4) == "1:15" and format_time(3725) == "1:02:05" and format_time(math.inf) == "live"


def test_spectrogram_scrolls_new_columns_in_at_the_right(qtbot):
    view = SpectrogramView(("vocals", "drums", "bass", "other"))
    qtbot.addWidget(view)
    floor = view.image.min()
    view.push(np.full((3, NB_BANDS), -20.0, np.float32))
    assert np.all(view.image[-3:] == -20.0) and np.all(view.image[:-3] == floor)
    view.push(np.full((2, NB_BANDS), -50.0, np.float32))
    assert np.all(view.image[-2:] == -50.0) and np.all(view.image[-5:-2] == -20.0)
    view.push(np.full((view.nb_columns + 10, NB_BANDS), -30.0, np.float32))  # more than fits: the newest
    assert np.all(view.image == -30.0) and view.columns_received == view.nb_columns + 15
    assert view.levels == SPECTROGRAM_LEVELS_DB  # fixed, never auto-ranged
    view.push(np.full((1, NB_BANDS), SPECTROGRAM_LEVELS_DB[1] + 10, np.float32))  # louder than the top level
    pixmap = view.item.pixmap().toImage()
    assert (pixmap.width(), pixmap.height()) == (view.nb_columns, NB_BANDS)
    right, left = pixmap.pixel(view.nb_columns - 1, 5), pixmap.pixel(0, 5)
    assert right == int(view._colours[255]) and left != right  # clipped to the top colour, the rest older
    with pytest.raises(ValueError):
        view.set_source("nope")


def test_underrun_counter_flashes_when_it_goes_up(qtbot):
    counter = UnderrunCounter("test")
    qtbot.addWidget(counter)
    counter.show_count(0, now=100.0)
    assert not counter.flashing()
    counter.show_count(2, now=101.0)
    assert counter.flashing() and counter.text() == "2"
    counter.show_count(2, now=101.0 + FLASH_S / 2)
    assert counter.flashing()
    counter.show_count(2, now=101.0 + FLASH_S + 0.01)
    assert not counter.flashing()


def test_remembered_live_input_mode_opens_the_input_at_start(qtbot, tmp_path, tiny_model_path):
    settings_at(tmp_path / "s.ini").save_audio(AudioSettings(model_path=tiny_model_path, live_input=True))
    window = build_window(LaunchOptions(backend="null", settings_path=str(tmp_path / "s.ini")))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.engine is not None and window.snapshot().source_name == "live input",
                    timeout=WAIT_MS)
    assert math.isinf(window.snapshot().duration_s)
    qtbot.waitUntil(lambda: window.transport.time_label.text().endswith("/ live"), timeout=WAIT_MS)
    assert not window.transport.seek.isEnabled()
    window.close()


@pytest.mark.parametrize("installed", [True, False])
def test_live_input_uses_the_bundled_live_model_or_the_banner_says_it_is_missing(
        qtbot, tmp_path, monkeypatch, tiny_model_path, tiny_live_model_path, installed):
    import shutil

    models = tmp_path / "assets" / "models"
    models.mkdir(parents=True)
    shutil.copy(tiny_model_path, models / "default.onnx")
    if installed:
        shutil.copy(tiny_live_model_path, models / "live.onnx")
    monkeypatch.setenv("DEMIXUI_ASSETS", str(tmp_path / "assets"))
    settings_at(tmp_path / "s.ini").save_audio(AudioSettings(live_input=True))
    window = build_window(LaunchOptions(backend="null", settings_path=str(tmp_path / "s.ini")))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.engine is not None and window.snapshot().source_name == "live input",
                    timeout=WAIT_MS)
    expected = "live.onnx" if installed else "default.onnx"
    qtbot.waitUntil(lambda: window.snapshot().model_name.startswith(expected), timeout=WAIT_MS)
    if installed:
        assert not window.banner.isVisible() or "live model" not in window.banner.text()
    else:
        qtbot.waitUntil(lambda: "the live model is not installed" in window.banner.text(), timeout=WAIT_MS)
    window.close()


def test_task_runner_runs_off_the_gui_thread_in_order_and_joins(qtbot):
    runner = TaskRunner()
    gui_thread = threading.current_thread()
    results, errors = [], []
    for i in range(3):
        runner.submit(lambda i=i: (i, threading.current_thread()), results.append, errors.append)
    runner.submit(lambda: 1 / 0, results.append, errors.append)
    assert results == []  # callbacks never run inside submit()
    qtbot.waitUntil(lambda: len(results) == 3 and len(errors) == 1, timeout=WAIT_MS)
    assert [r[0] for r in results] == [0, 1, 2]
    assert all(r[1] is not gui_thread for r in results)
    assert isinstance(errors[0], ZeroDivisionError)
    worker = results[0][1]
    runner.shutdown()
    assert not worker.is_alive()


def test_the_app_never_imports_torch(tiny_model_path):
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from demixui.ui.app import application; from demixui.ui.window import MainWindow\n"
            "from demixui.engine import Engine; app = application()\n"
            "Engine(sys.argv[1], backend='null').close(); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, tiny_model_path], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]

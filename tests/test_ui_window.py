"""The desktop app with its real widgets and the real engine on the null backend (offscreen, no sound card).

Every control is driven the way a user drives it (clicks, keys, faders) and checked where it lands: in the
engine's snapshot and, where cheap, in what the engine actually played.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import soundfile as sf
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from demixui.engine import STEMS, Engine  # noqa: E402
from demixui.engine.faders import KARAOKE_FULL, db_to_fader  # noqa: E402
from demixui.ui.settings import AppSettings, AudioSettings  # noqa: E402
from demixui.ui.window import MainWindow  # noqa: E402

SR = 44100
WAIT_MS = 15000  # generous: the machine running the suite may be busy


def music(seconds: float) -> np.ndarray:
    """Stereo test signal `(nb_samples, 2)`: bass, a chord and noise bursts, so every stem gets energy."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(0)
    bursts = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.normal(0, 0.2, t.size)
    mono = 0.3 * np.sin(2 * np.pi * 55 * t) + 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (440, 554, 659))
    mono = mono + bursts
    return np.stack([mono, 0.9 * mono], axis=1).astype(np.float32)


@pytest.fixture
def wav_path(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(path, music(8.0), SR)
    return str(path)


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, tiny_model_path, settings):
    engine = Engine(tiny_model_path, backend="null", capture=True)
    window = MainWindow(settings, engine=engine)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    yield window
    window.close()


def open_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.file_opened, timeout=WAIT_MS):
        window.open_file(path)


def playing_window(qtbot, window, path):
    open_and_wait(qtbot, window, path)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.engine.snapshot().position_s > 0.3, timeout=WAIT_MS)


def test_open_file_then_play_and_pause(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    qtbot.waitUntil(lambda: window.transport.source_label.text() == "song.wav", timeout=WAIT_MS)
    assert window.engine.snapshot().state == "stopped"
    assert window.transport.time_label.text().endswith("/ 0:08")

    qtbot.mouseClick(window.transport.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.engine.snapshot().position_s > 0.5, timeout=WAIT_MS)
    assert window.engine.snapshot().state == "playing"
    qtbot.waitUntil(lambda: window.transport.seek.value() > 0, timeout=WAIT_MS)

    qtbot.keyClick(window, Qt.Key.Key_Space)  # Space pauses
    qtbot.waitUntil(lambda: window.engine.snapshot().state == "paused", timeout=WAIT_MS)
    qtbot.wait(100)
    position = window.engine.snapshot().position_s
    qtbot.wait(300)
    assert window.engine.snapshot().position_s == pytest.approx(position, abs=0.05)
    assert window.settings.recent_files()[0].endswith("song.wav")
    # The monitor says which audio callback runs: the native one unless numba is missing.
    assert f"callback {window.engine.snapshot().audio_callback}" in window.monitor.details.text()


def test_each_fader_sets_its_stem_gain(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    for i, strip in enumerate(window.mixer.strips):
        strip.fader.setValue(db_to_fader(-6.0 - i))
        assert window.engine.snapshot().gains_db[i] == pytest.approx(-6.0 - i)
        assert strip.gain_label.text() == f"{-6.0 - i:.1f} dB"
    window.mixer.strips[0].fader.setValue(window.mixer.strips[0].fader.minimum())
    assert window.engine.snapshot().gains_db[0] == -math.inf
    assert window.engine.effective_gains()[0] == 0.0
    assert window.engine.effective_gains()[1] == pytest.approx(10 ** (-7.0 / 20), rel=1e-5)


def test_mute_solo_and_karaoke_from_keys_and_buttons(qtbot, window, wav_path):
    open_and_wait(qtbot, window, wav_path)
    engine = window.engine
    for i in range(len(STEMS)):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i + 1}"))
        assert engine.snapshot().muted[i], i
        assert window.mixer.strips[i].mute_button.isChecked()
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i + 1}"))
        assert not engine.snapshot().muted[i], i
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ShiftModifier)  # Shift+2 solos drums
    assert engine.snapshot().soloed == (False, True, False, False)
    assert list(engine.effective_gains()) == [0.0, 1.0, 0.0, 0.0]
    qtbot.mouseClick(window.mixer.strips[1].solo_button, Qt.MouseButton.LeftButton)
    assert not any(engine.snapshot().soloed)

    qtbot.keyClick(window, Qt.Key.Key_K)
    snap = engine.snapshot()
    assert snap.karaoke and math.isinf(snap.karaoke_reduction_db)
    assert engine.effective_gains()[0] == 0.0
    window.mixer.karaoke_amount.setValue(12)  # partial reduction: vocals 12 dB down
    assert engine.snapshot().karaoke_reduction_db == 12.0
    assert engine.effective_gains()[0] == pytest.approx(10 ** (-12 / 20), rel=1e-5)
    assert window.mixer.karaoke_amount.maximum() == KARAOKE_FULL

    window.mixer.strips[3].fader.setValue(db_to_fader(3.0))
    qtbot.mouseClick(window.mixer.strips[2].mute_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.mixer.reset_button, Qt.MouseButton.LeftButton)
    snap = engine.snapshot()
    assert snap.gains_db == (0.0,) * 4 and not any(snap.muted) and not snap.karaoke
    assert window.mixer.strips[3].fader.value() == 0


def next_output_peak(qtbot, engine) -> float:
    """Peak of the next ~0.3 s the engine plays, skipping the first block (the gain ramp). A stretch during
    which the model fell behind (the engine then plays the unseparated mix) is measured again."""
    for _attempt in range(5):
        underruns, played = engine.snapshot().app_underruns, engine.captured().shape[0]
        qtbot.waitUntil(lambda p=played: engine.captured().shape[0] > p + 16384, timeout=WAIT_MS)
        if engine.snapshot().app_underruns == underruns:
            return float(np.abs(engine.captured()[played + 4096 :]).max())
    raise AssertionError("the model kept falling behind: no clean stretch of output to measure")


def test_muting_every_stem_silences_what_the_engine_plays(qtbot, window, wav_path):
    playing_window(qtbot, window, wav_path)
    qtbot.keyClick(window, Qt.Key.Key_L)  # loop, so the file never ends during the test
    engine = window.engine
    assert next_output_peak(qtbot, engine) > 0.05
    for i in range(len(STEMS)):
        qtbot.mouseClick(window.mixer.strips[i].mute_button, Qt.MouseButton.LeftButton)
    assert next_output_peak(qtbot, engine) < 1e-4
    qtbot.keyClick(window, Qt.Key.Key_3)  # unmute bass: sound again
    assert next_output_peak(qtbot, engine) > 0.01


def test_spectrogram_and_meters_follow_the_sound(qtbot, window, wav_path):
    playing_window(qtbot, window, wav_path)
    spectrogram = window.spectrogram
    qtbot.waitUntil(lambda: spectrogram.columns_received > 20, timeout=WAIT_MS)
    assert spectrogram.image[-1].max() > spectrogram.image[0].max()  # newest at the right, silence before
    qtbot.waitUntil(lambda: window.mixer.strips[2].meter.levels()[0][0] > -40.0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: max(window.mixer.output_meter.levels()[1]) > -30.0, timeout=WAIT_MS)

    spectrogram.set_source("drums")
    before = spectrogram.columns_received
    qtbot.waitUntil(lambda: spectrogram.columns_received > before + 5, timeout=WAIT_MS)
    assert window.monitor.total_latency.text().endswith("ms")


def test_seek_with_arrows_and_loop(qtbot, window, wav_path):
    playing_window(qtbot, window, wav_path)
    start = window.engine.snapshot().position_s
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.engine.snapshot().position_s > start + 4.0, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.engine.snapshot().position_s < 2.0, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.engine.snapshot().loop


def test_bad_file_shows_an_error_and_the_app_keeps_working(qtbot, window, wav_path, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with qtbot.waitSignal(window.task_failed, timeout=WAIT_MS):
        window.open_file(str(bad))
    assert window.banner.isVisible() and window.banner.level() == "error"
    assert "broken.wav" in window.banner.text()
    playing_window(qtbot, window, wav_path)  # the next file opens and plays
    assert not window.banner.isVisible()


def test_engine_errors_and_bad_settings_appear_in_the_banner(qtbot, window, tmp_path):
    window.engine._report_error("output device null stopped")  # a lost device cannot be caused offscreen
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT_MS)
    assert window.banner.text() == "output device null stopped"

    with qtbot.waitSignal(window.task_failed, timeout=WAIT_MS):
        window.apply_settings(AudioSettings(output_device="no such device"))
    assert "no such device" in window.banner.text()
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"not a model")
    with qtbot.waitSignal(window.task_failed, timeout=WAIT_MS):
        window.apply_settings(AudioSettings(model_path=str(bad_model)))
    assert "bad.onnx" in window.banner.text()
    assert window.settings.audio == AudioSettings()  # nothing bad was remembered
    assert window.engine.snapshot().state == "empty"  # and the engine still answers


def test_settings_apply_and_are_remembered(qtbot, window, tmp_path):
    new = AudioSettings(blocksize=1024)
    window.apply_settings(new)
    qtbot.waitUntil(lambda: window.engine.snapshot().blocksize == 1024, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.settings.audio == new, timeout=WAIT_MS)
    again = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert again.audio.blocksize == 1024

    dialog = window.open_settings()  # non-blocking: open() returns at once
    assert dialog.isVisible() and dialog.values() == new
    dialog.blocksize_box.setCurrentIndex(dialog.blocksize_box.findData(128))
    dialog.accept()
    qtbot.waitUntil(lambda: window.engine.snapshot().blocksize == 128, timeout=WAIT_MS)


def test_live_input_plays_through_the_live_model_chosen_in_settings_and_the_monitor_says_so(
        qtbot, window, wav_path, tiny_live_model_path):
    open_and_wait(qtbot, window, wav_path)
    dialog = window.open_settings()
    dialog.live_model_edit.setText(tiny_live_model_path)
    dialog.accept()
    qtbot.waitUntil(lambda: window.settings.audio.live_model_path == tiny_live_model_path, timeout=WAIT_MS)
    assert window.engine.snapshot().model_name.startswith("tiny.onnx")  # the file keeps the file model
    window.open_live()
    qtbot.waitUntil(lambda: window.engine.snapshot().model_name.startswith("tiny-live.onnx"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.engine.snapshot().buffer_latency_ms > 0, timeout=WAIT_MS)
    snap = window.engine.snapshot()
    window.refresh()
    breakdown = window.monitor.latency_breakdown.text()
    assert breakdown.startswith(f"tiny-live.onnx {snap.model_latency_ms:.1f} ·"), breakdown
    assert round(snap.model_latency_ms * SR / 1000) == 384  # n_fft 512 - hop 128


def test_dropping_a_file_opens_it(qtbot, window, wav_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(wav_path)])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.file_opened, timeout=WAIT_MS):
        window.dropEvent(event)
    assert window.engine.snapshot().source_name == "song.wav"


def test_closing_the_window_stops_every_thread(qtbot, tiny_model_path, settings, wav_path):
    before = set(threading.enumerate())
    engine = Engine(tiny_model_path, backend="null")
    window = MainWindow(settings, engine=engine)
    qtbot.addWidget(window)
    window.show()
    playing_window(qtbot, window, wav_path)
    assert len(set(threading.enumerate()) - before) >= 3  # reader, worker, analysis, clock, UI task thread
    window.close()
    assert set(threading.enumerate()) <= before, set(threading.enumerate()) - before


def test_closing_while_the_engine_is_still_being_built_stops_every_thread(qtbot, tiny_model_path, settings):
    before = set(threading.enumerate())
    window = MainWindow(settings, engine_factory=lambda audio: Engine(tiny_model_path, backend="null"))
    qtbot.addWidget(window)
    window.show()
    window.close()  # at once: the build is still running on the worker
    assert window.engine is None
    assert set(threading.enumerate()) <= before, set(threading.enumerate()) - before


def test_recording_the_remix_writes_what_was_heard(qtbot, window, wav_path, tmp_path):
    playing_window(qtbot, window, wav_path)
    target = tmp_path / "remix.wav"
    dialog = window.recording.ask_path()  # the save dialog does not block
    with qtbot.waitSignal(window.recording.changed, timeout=WAIT_MS):
        dialog.selectFile(str(target))
        dialog.accept()
    assert window.recording.active and window.transport.record_button.isChecked()
    qtbot.wait(700)
    with qtbot.waitSignal(window.recording.saved, timeout=WAIT_MS):
        qtbot.mouseClick(window.transport.record_button, Qt.MouseButton.LeftButton)
    assert not window.transport.record_button.isChecked()
    audio, rate = sf.read(target)
    assert rate == SR and audio.shape[1] == 2 and audio.shape[0] > 0.3 * SR
    assert np.abs(audio).max() > 0.05
    assert "remix.wav" in window.banner.text()


def test_tooltips_and_help_name_the_keys(qtbot, window):
    assert "Space" in window.transport.play_button.toolTip()
    assert "Left/Right" in window.transport.seek.toolTip()
    assert "(K)" in window.mixer.karaoke_button.toolTip()
    for i, strip in enumerate(window.mixer.strips):
        assert f"key {i + 1}" in strip.mute_button.toolTip()
        assert f"Shift+{i + 1}" in strip.solo_button.toolTip()
    box = window.show_shortcuts()  # non-blocking
    assert box.isVisible() and "Shift+1..4" in box.text()
    box.close()


def test_a_dropped_stem_file_plays_its_mixture(qtbot, window, tmp_path):
    """AAC files open like any other: an NI stem file dropped on the window plays (its mixture stream)."""
    from tests.aac_files import write_aac

    mix = music(2.0)
    path = write_aac(tmp_path / "Artist - Song.stem.mp4", [mix, mix / 4, mix / 4, mix / 4, mix / 4])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.file_opened, timeout=WAIT_MS):
        window.dropEvent(event)
    assert window.engine.snapshot().source_name == "Artist - Song.stem.mp4"
    assert window.transport.time_label.text().endswith("/ 0:02")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.engine.snapshot().position_s > 0.5, timeout=WAIT_MS)
    assert not window.banner.isVisible()  # no error shown

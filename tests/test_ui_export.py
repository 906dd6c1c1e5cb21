"""File > Export stems in the real window (offscreen, the engine on the null backend): the dialog driven as a
user drives it, the written files read back (our `stem` box reader, PyAV) and compared with `separate`'s."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import soundfile as sf
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from demixui.cli import main  # noqa: E402
from demixui.engine import Engine  # noqa: E402
from demixui.ui.export import ExportDialog  # noqa: E402
from demixui.ui.settings import AppSettings  # noqa: E402
from demixui.ui.window import MainWindow  # noqa: E402
from tests.test_ui_window import SR, WAIT_MS, music, open_and_wait  # noqa: E402

STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture
def wav_path(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(path, music(8.0), SR)
    return str(path)


@pytest.fixture
def window(qtbot, tiny_model_path, tmp_path):
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings, engine=Engine(tiny_model_path, backend="null", capture=True))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    yield window
    window.close()


def export_dialog(qtbot, window) -> ExportDialog:
    """Ctrl+E, as a user presses it; the dialog that opens."""
    window.export.dialog = None
    window.activateWindow()  # the offscreen platform does not give it back when a dialog closes
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.export.dialog is not None and window.export.dialog.isVisible(),
                    timeout=WAIT_MS)
    return window.export.dialog


def export(qtbot, window, folder, output_format: str, overwrite: bool = False, signal: str = "finished"):
    dialog = export_dialog(qtbot, window)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData(output_format))
    dialog.folder_edit.setText(str(folder))
    dialog.overwrite_box.setChecked(overwrite)
    target = dialog.target_label.text()  # what the dialog says it will write
    with qtbot.waitSignal(getattr(window.export, signal), timeout=60000) as blocker:
        qtbot.mouseClick(_export_button(dialog), Qt.MouseButton.LeftButton)
    return blocker.args[0], target


def _export_button(dialog):
    return dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)


def test_export_as_an_ni_stem_file_reads_back_with_four_named_stems(qtbot, window, wav_path, tmp_path):
    from demixui.mp4audio import read_stem_streams
    from demixui.stemfile import read_stem_manifest

    open_and_wait(qtbot, window, wav_path)
    path, target = export(qtbot, window, tmp_path / "dj", "stem-mp4")
    assert path == target == str(tmp_path / "dj" / "song.stem.mp4")
    assert f"Exported the stems to {path}" in window.banner.text()
    assert sorted(p.name for p in (tmp_path / "dj").iterdir()) == ["song.stem.mp4"]  # no temporary left
    manifest = read_stem_manifest(path)
    assert [stem["name"] for stem in manifest["stems"]] == ["Drums", "Bass", "Other", "Vocals"]
    decoded, rate = read_stem_streams(path)
    mix = sf.read(wav_path, dtype="float32")[0]
    assert rate == SR and list(decoded) == ["mixture", "drums", "bass", "other", "vocals"]
    assert all(audio.shape == mix.shape for audio in decoded.values())
    stems_sum = sum(decoded[name] for name in ("drums", "bass", "other", "vocals"))
    for estimate in (decoded["mixture"], stems_sum):  # within AAC precision (20 dB, as test_stemfile)
        assert 10 * np.log10(np.sum(mix ** 2) / np.sum((mix - estimate) ** 2)) > 20
    assert window.settings.store.value("export/format") == "stem-mp4"


def test_export_as_wav_files_equals_demixui_separate_with_the_playing_model(qtbot, window, wav_path,
                                                                            tiny_model_path, tmp_path):
    open_and_wait(qtbot, window, wav_path)
    qtbot.keyClick(window, Qt.Key.Key_L)  # looped: the 8-s file may not end while it exports
    qtbot.keyClick(window, Qt.Key.Key_Space)  # exporting while it plays: playback carries on
    path, target = export(qtbot, window, tmp_path / "wav", "pcm24")
    assert path == str(tmp_path / "wav" / "song") and target.startswith(f"{path}/ (vocals")
    assert main(["separate", "--no-progress", wav_path, "-o", str(tmp_path / "cli"), "--model",
                 tiny_model_path, "--format", "pcm24"]) == 0
    for stem in STEMS:
        ours, rate = sf.read(f"{path}/{stem}.wav", dtype="float32")
        info = sf.info(f"{path}/{stem}.wav")
        assert rate == SR and info.subtype == "PCM_24" and ours.shape == music(8.0).shape
        np.testing.assert_array_equal(ours, sf.read(tmp_path / "cli" / "song" / f"{stem}.wav",
                                                    dtype="float32")[0])
    assert window.engine.snapshot().state == "playing"
    # The dialog remembers the folder and format next time.
    dialog = export_dialog(qtbot, window)
    assert dialog.folder_edit.text() == str(tmp_path / "wav") and dialog.output_format() == "pcm24"
    dialog.reject()


def test_an_existing_export_is_refused_in_the_banner_unless_replaced(qtbot, window, wav_path, tmp_path):
    open_and_wait(qtbot, window, wav_path)
    first, _ = export(qtbot, window, tmp_path, "stem-mp4")
    before = os.stat(first).st_mtime_ns
    error, _ = export(qtbot, window, tmp_path, "stem-mp4", signal="failed")
    assert "already exists" in error and "already exists" in window.banner.text()
    assert os.stat(first).st_mtime_ns == before
    again, _ = export(qtbot, window, tmp_path, "stem-mp4", overwrite=True)
    assert again == first and os.stat(first).st_mtime_ns != before


def test_export_without_an_open_file_says_so(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert window.findChild(ExportDialog) is None and window.export.dialog is None
    assert "open a file first" in window.banner.text()


def test_closing_the_window_mid_export_leaves_no_thread_and_no_temporary(qtbot, window, tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.tile(music(8.0), (8, 1)), SR)  # 64 s: the window closes long before it is done
    open_and_wait(qtbot, window, str(path))
    window.export.start(path, tmp_path / "out", "float")
    qtbot.waitUntil(lambda: any((tmp_path / "out").glob(".long.*.part")), timeout=WAIT_MS)
    window.close()
    assert not [t for t in threading.enumerate() if t.name.startswith(("demixui-export", "demixui-stage"))]
    assert list((tmp_path / "out").iterdir()) == []

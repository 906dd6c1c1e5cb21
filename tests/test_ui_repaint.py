"""What a UI tick costs: the window repaints the widgets whose pixels changed and nothing behind them (no
panel, strip or window background), the spectrogram's axes come from their cache, the seek slider moves by
whole pixels only, and the spectrogram colours only its new columns. Real Qt offscreen; counts, not times."""

from __future__ import annotations

import numpy as np
import pytest
from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from demixui.engine.analysis import NB_BANDS  # noqa: E402
from demixui.ui.settings import AppSettings  # noqa: E402
from demixui.ui.spectrogram import SpectrogramView  # noqa: E402
from demixui.ui.transport import SeekSlider  # noqa: E402
from demixui.ui.window import MainWindow  # noqa: E402


class _Paints(QObject):
    def __init__(self):
        super().__init__()
        self.widgets: list = []

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Paint:
            self.widgets.append(watched)
        return False


@pytest.fixture
def window(qtbot, tmp_path):
    window = MainWindow(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(window)
    window.timer.stop()  # the test makes the ticks' changes itself
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.shutdown()


def test_a_tick_repaints_the_changed_widgets_alone(window, monkeypatch):
    app = QApplication.instance()
    monitor, strip = window.monitor, window.mixer.strips[0]
    monitor.inference.setText("p50 1.0 ms · p99 2.0 ms")  # first texts: the layout may move once
    monitor.total_latency.setText("120.0 ms")
    for _ in range(3):
        app.processEvents()
    axis_paints = []
    monkeypatch.setattr(pg.AxisItem, "paint", lambda *args: axis_paints.append(args))
    paints = _Paints()
    app.installEventFilter(paints)
    try:
        strip.meter.set_levels([-12.0], [-6.0])
        window.mixer.output_meter.set_levels([-3.0, -4.0], [-3.0, -4.0])
        monitor.inference.setText("p50 1.1 ms · p99 2.3 ms")
        monitor.total_latency.setText("121.5 ms")
        monitor.inference_bar.set_fraction(0.5)
        monitor.ring_fill.set_fraction(0.7)
        window.spectrogram.plot.scene().prepareForPaint()  # as SpectrogramView.pull does first
        window.spectrogram.push(np.full((3, NB_BANDS), -20.0, np.float32))
        for _ in range(10):
            app.processEvents()
    finally:
        app.removeEventFilter(paints)
    changed = {strip.meter, window.mixer.output_meter, monitor.inference, monitor.total_latency,
               monitor.inference_bar, monitor.ring_fill, window.spectrogram.plot.viewport()}
    assert changed <= set(paints.widgets), "a changed widget was not repainted"
    behind = {type(w).__name__ + (f"#{w.objectName()}" if w.objectName() else "") for w in paints.widgets
              if w not in changed}
    assert not behind, f"repainted behind the changed widgets: {sorted(behind)}"
    assert not axis_paints  # the scrolled image touches the axes; they come from their pixmap cache


def test_seek_slider_moves_by_whole_pixels(qtbot):
    slider = SeekSlider()
    qtbot.addWidget(slider)
    slider.resize(300, 20)
    slider.setRange(0, 300_000)  # 1000 ms a pixel, near enough
    slider.show_position(1_000)
    assert slider.value() == 1_000
    slider.show_position(1_400)  # the same pixel: no new value, no repaint
    assert slider.value() == 1_000
    slider.show_position(2_100)
    assert slider.value() == 2_100
    slider.show_position(300_000)  # the ends are always shown exactly
    assert slider.value() == 300_000
    slider.show_position(0)
    assert slider.value() == 0


def test_spectrogram_colours_new_columns_as_a_full_render_would(qtbot):
    view = SpectrogramView(("vocals", "drums", "bass", "other"))
    qtbot.addWidget(view)
    rng = np.random.default_rng(0)
    for nb_new in (1, 7, 40, view.nb_columns + 5):
        view.push(rng.uniform(-120.0, 10.0, (nb_new, NB_BANDS)).astype(np.float32))
        scrolled = view._pixels.copy()
        view._render()  # every column from the dB image
        np.testing.assert_array_equal(scrolled, view._pixels)

"""The transport bar: open (with recent files), play/pause, stop, loop, a seek bar and elapsed/total time."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from demixui.ui.style import TEXT

ICON_SIZE = 18


def glyph_icon(kind: str, colour: str = TEXT, size: int = 64) -> QIcon:
    """A crisp transport glyph (`play`, `pause`, `stop`, `loop`, `open`) drawn with QPainter, any DPI."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    s = float(size)
    if kind == "play":
        path = QPainterPath(QPointF(0.28 * s, 0.18 * s))
        path.lineTo(0.82 * s, 0.5 * s)
        path.lineTo(0.28 * s, 0.82 * s)
        path.closeSubpath()
        painter.drawPath(path)
    elif kind == "pause":
        painter.drawRoundedRect(QRectF(0.24 * s, 0.18 * s, 0.18 * s, 0.64 * s), 3, 3)
        painter.drawRoundedRect(QRectF(0.58 * s, 0.18 * s, 0.18 * s, 0.64 * s), 3, 3)
    elif kind == "stop":
        painter.drawRoundedRect(QRectF(0.22 * s, 0.22 * s, 0.56 * s, 0.56 * s), 4, 4)
    elif kind == "loop":
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(colour), 0.09 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawArc(QRectF(0.18 * s, 0.22 * s, 0.64 * s, 0.56 * s), 30 * 16, 300 * 16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        path = QPainterPath(QPointF(0.70 * s, 0.12 * s))
        path.lineTo(0.90 * s, 0.34 * s)
        path.lineTo(0.62 * s, 0.40 * s)
        path.closeSubpath()
        painter.drawPath(path)
    elif kind == "record":
        painter.drawEllipse(QRectF(0.26 * s, 0.26 * s, 0.48 * s, 0.48 * s))
    elif kind == "open":
        path = QPainterPath(QPointF(0.12 * s, 0.25 * s))
        path.lineTo(0.42 * s, 0.25 * s)
        path.lineTo(0.50 * s, 0.34 * s)
        path.lineTo(0.88 * s, 0.34 * s)
        path.lineTo(0.88 * s, 0.80 * s)
        path.lineTo(0.12 * s, 0.80 * s)
        path.closeSubpath()
        painter.drawPath(path)
    else:
        raise ValueError(f"unknown glyph {kind!r}")
    painter.end()
    return QIcon(pixmap)


def format_time(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`); `live` for an endless source."""
    if not math.isfinite(seconds):
        return "live"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class SeekSlider(QSlider):
    """A horizontal slider in milliseconds that jumps to where it is clicked (not by pages)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setRange(0, 0)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                             QStyle.SubControl.SC_SliderHandle, self)
        if event.button() == Qt.MouseButton.LeftButton and not handle.contains(event.position().toPoint()):
            value = QStyle.sliderValueFromPosition(
                self.minimum(), self.maximum(), int(event.position().x()), max(1, self.width())
            )
            self.setValue(value)
            self.sliderMoved.emit(value)
            self.sliderReleased.emit()
            event.accept()
            return
        super().mousePressEvent(event)

    def show_position(self, value: int) -> None:
        """Move to `value` (ms) when that moves the handle by a pixel: a slider repaints on every new value,
        with its style-sheet groove and the transport panel behind it, and playback moves it on every UI
        tick, mostly by less than a pixel."""
        span = max(1, self.width())
        low, high = self.minimum(), self.maximum()
        if value in (low, high) or (QStyle.sliderPositionFromValue(low, high, value, span)
                                    != QStyle.sliderPositionFromValue(low, high, self.value(), span)):
            self.setValue(value)


def _button(icon: str, tooltip: str, checkable: bool = False) -> QPushButton:
    button = QPushButton()
    button.setObjectName("Transport")
    button.setIcon(glyph_icon(icon))
    button.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
    button.setToolTip(tooltip)
    button.setCheckable(checkable)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return button


class TransportBar(QFrame):
    """Emits intentions; `show_snapshot` reflects the engine's state (position, duration, playing)."""

    open_requested = Signal()
    recent_requested = Signal(str)
    play_pause_requested = Signal()
    stop_requested = Signal()
    loop_toggled = Signal(bool)
    seek_requested = Signal(float)  # seconds

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        self.open_button = QToolButton()
        self.open_button.setText("Open")
        self.open_button.setIcon(glyph_icon("open"))
        self.open_button.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_button.setToolTip("Open an audio file (Ctrl+O); the arrow lists recent files. "
                                    "You can also drop a file on the window.")
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.open_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.recent_menu = QMenu(self)
        self.open_button.setMenu(self.recent_menu)
        self.play_button = _button("play", "Play / pause (Space)")
        self.stop_button = _button("stop", "Stop and go back to the start")
        self.loop_button = _button("loop", "Loop the file (L)", checkable=True)
        self.record_button = _button("record", "Record what you hear to a WAV file (Ctrl+R)", checkable=True)
        self.record_button.setIcon(glyph_icon("record", "#ff5a5a"))
        self.record_button.setProperty("kind", "record")
        self.source_label = QLabel("No file")
        self.source_label.setObjectName("SourceName")
        self.state_label = QLabel("")
        self.state_label.setObjectName("Dim")
        self.seek = SeekSlider()
        self.seek.setToolTip("Position (Left/Right arrows: 5 s back/forward)")
        self.time_label = QLabel("0:00 / 0:00")
        self.time_label.setObjectName("Time")
        self.time_label.setMinimumWidth(110)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._playing = False

        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(self.source_label)
        names.addWidget(self.state_label)
        seek_row = QHBoxLayout()
        seek_row.addWidget(self.seek, 1)
        seek_row.addWidget(self.time_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.open_button)
        layout.addSpacing(8)
        layout.addWidget(self.play_button)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.loop_button)
        layout.addWidget(self.record_button)
        layout.addSpacing(12)
        layout.addLayout(names, 2)
        layout.addLayout(seek_row, 5)

        self.open_button.clicked.connect(self.open_requested)
        self.play_button.clicked.connect(self.play_pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.loop_button.toggled.connect(self.loop_toggled)
        self.seek.sliderReleased.connect(lambda: self.seek_requested.emit(self.seek.value() / 1000.0))

    def show_recording(self, on: bool) -> None:
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)
        self.record_button.setIcon(glyph_icon("record", "#0d0f14" if on else "#ff5a5a"))

    def set_recent_files(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(lambda _checked=False, p=path: self.recent_requested.emit(p))
        if not paths:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def show_snapshot(self, snap) -> None:
        playing = snap.state == "playing"
        if playing != self._playing:
            self._playing = playing
            self.play_button.setIcon(glyph_icon("pause" if playing else "play"))
        has_source = snap.state != "empty"
        for button in (self.play_button, self.stop_button, self.record_button):
            if button.isEnabled() != has_source:
                button.setEnabled(has_source)
        self.source_label.setText(snap.source_name or "No file")
        state = snap.state if snap.state != "empty" else "open a file or drop one here"
        self.state_label.setText(state)
        live = not math.isfinite(snap.duration_s)
        self.seek.setEnabled(not live and snap.duration_s > 0)
        if not self.seek.isSliderDown():
            maximum = 0 if live else int(snap.duration_s * 1000)
            if self.seek.maximum() != maximum:
                self.seek.setMaximum(maximum)
            self.seek.show_position(0 if live else int(snap.position_s * 1000))
        position = self.seek.value() / 1000.0 if self.seek.isSliderDown() else snap.position_s
        self.time_label.setText(f"{format_time(position)} / {format_time(snap.duration_s)}")

"""The stem mixer: one channel strip per stem (fader in dB, mute, solo, level meter), karaoke and reset.

The widgets only emit intentions (`gain_changed`, ...) and the main window forwards them to the engine. The
controls are the truth for what the user set (keyboard shortcuts and reset move them too); `show_snapshot`
only shows what the engine measures (levels) and what is audible.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from demixui.engine.faders import (  # the scale is shared with headless MIDI (play --midi-map)
    FADER_MAX_DB,
    FADER_MIN_DB,
    FADER_STEPS_PER_DB,
    KARAOKE_FULL,
    KARAOKE_MIN_DB,
    db_to_fader,
    fader_to_db,
    karaoke_to_db,
)
from demixui.ui.meter import LevelMeter, format_db
from demixui.ui.style import TEXT_DIM, stem_colour, stem_slider_style


class Fader(QSlider):
    """A vertical dB fader; a double click puts it back to 0 dB."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Vertical, parent)
        self.setRange(int(FADER_MIN_DB * FADER_STEPS_PER_DB), int(FADER_MAX_DB * FADER_STEPS_PER_DB))
        self.setSingleStep(1)
        self.setPageStep(6 * FADER_STEPS_PER_DB)
        self.setValue(0)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep the arrow keys for seeking
        self.setMinimumHeight(90)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.setValue(0)
        event.accept()


class FaderScale(QWidget):
    """dB marks beside a fader, at the heights its handle centre takes for those values."""

    MARKS_DB = (12, 6, 0, -6, -12, -24, -36, -48)
    HANDLE_PX = 22  # the handle height in the stylesheet (QSlider::handle:vertical)

    def __init__(self, fader: QSlider, parent: QWidget | None = None):
        super().__init__(parent)
        self.fader = fader
        self.setFixedWidth(26)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def _y(self, value: int) -> float:
        span = self.height() - self.HANDLE_PX
        fraction = (value - self.fader.minimum()) / max(1, self.fader.maximum() - self.fader.minimum())
        return self.HANDLE_PX / 2 + (1.0 - fraction) * span

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        font = painter.font()
        font.setPointSizeF(7.0)
        painter.setFont(font)
        painter.setPen(QColor(TEXT_DIM))
        height = painter.fontMetrics().height()
        marks = [(db_to_fader(db), f"{db:+d}" if db else "0") for db in self.MARKS_DB]
        marks.append((self.fader.minimum(), "-∞"))
        for value, text in marks:
            y = self._y(value)
            painter.drawLine(QPointF(self.width() - 4, y), QPointF(self.width(), y))
            rect = QRectF(0, y - height / 2, self.width() - 6, height)
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()


def _panel_button(text: str, name: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setCheckable(True)
    button.setToolTip(tooltip)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return button


class ChannelStrip(QWidget):
    """One stem: name, level meter beside a fader, the gain in dB, mute, solo and cue (pre-listen)."""

    gain_changed = Signal(str, float)
    mute_toggled = Signal(str, bool)
    solo_toggled = Signal(str, bool)
    cue_toggled = Signal(str, bool)

    def __init__(self, stem: str, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.stem = stem
        colour = stem_colour(stem)
        self.name_label = QLabel(stem.capitalize())
        self.name_label.setObjectName("StemName")
        self.name_label.setStyleSheet(f"color: {colour};")
        self.name_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.meter = LevelMeter(colour, nb_bars=1, padding_px=FaderScale.HANDLE_PX // 2)
        self.fader = Fader()
        self.fader.setStyleSheet(stem_slider_style(stem))
        self.fader.setToolTip(f"{stem.capitalize()} volume in dB (double-click: 0 dB)")
        self.scale = FaderScale(self.fader)
        self.gain_label = QLabel(format_db(0.0))
        self.gain_label.setObjectName("GainLabel")
        self.gain_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mute_button = _panel_button("M", "Mute", f"Mute {stem} (key {index + 1})")
        self.solo_button = _panel_button("S", "Solo", f"Solo {stem} (Shift+{index + 1})")
        self.cue_button = _panel_button("C", "Cue", f"Cue {stem}: pre-listen on the cue bus, before the "
                                        "fader (heard even when muted; Settings ▸ Outputs opens the bus)")

        row = QHBoxLayout()
        row.addStretch(1)
        row.setSpacing(4)
        row.addWidget(self.meter)
        row.addWidget(self.scale)
        row.addWidget(self.fader)
        row.addStretch(1)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.mute_button)
        buttons.addWidget(self.solo_button)
        buttons.addWidget(self.cue_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(self.name_label)
        layout.addLayout(row, 1)
        layout.addWidget(self.gain_label)
        layout.addLayout(buttons)

        self.fader.valueChanged.connect(self._on_fader)
        self.mute_button.toggled.connect(lambda on: self.mute_toggled.emit(self.stem, on))
        self.solo_button.toggled.connect(lambda on: self.solo_toggled.emit(self.stem, on))
        self.cue_button.toggled.connect(lambda on: self.cue_toggled.emit(self.stem, on))

    def _on_fader(self, value: int) -> None:
        gain_db = fader_to_db(value)
        self.gain_label.setText(format_db(gain_db))
        self.gain_changed.emit(self.stem, gain_db)

    def set_gain_db(self, gain_db: float) -> None:
        self.fader.setValue(db_to_fader(gain_db))

    def gain_db(self) -> float:
        return fader_to_db(self.fader.value())

    def show_state(self, rms_db: float, peak_db: float, audible: bool) -> None:
        self.meter.set_levels([rms_db], [peak_db])
        self.name_label.setEnabled(audible)


class MixerPanel(QFrame):
    """The channel strips, an output meter and the karaoke and reset controls."""

    karaoke_changed = Signal(bool, float)  # on, vocal reduction in dB (inf = removed)
    reset_requested = Signal()

    def __init__(self, stems: tuple[str, ...], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        self.strips = [ChannelStrip(stem, i) for i, stem in enumerate(stems)]
        title = QLabel("STEM MIXER")
        title.setObjectName("PanelTitle")

        self.karaoke_button = QPushButton("Karaoke")
        self.karaoke_button.setObjectName("Karaoke")
        self.karaoke_button.setCheckable(True)
        self.karaoke_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.karaoke_button.setToolTip("Karaoke: turn the vocals down by the amount below (K)")
        self.karaoke_amount = QSlider(Qt.Orientation.Horizontal)
        self.karaoke_amount.setRange(KARAOKE_MIN_DB, KARAOKE_FULL)
        self.karaoke_amount.setValue(KARAOKE_FULL)
        self.karaoke_amount.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.karaoke_amount.setToolTip("Vocal reduction in karaoke mode (right end: vocals removed)")
        self.karaoke_label = QLabel()
        self.karaoke_label.setObjectName("GainLabel")
        self.karaoke_label.setMinimumWidth(64)
        self.reset_button = QPushButton("Reset mix")
        self.reset_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reset_button.setToolTip("All stems back to 0 dB, no mute, no solo, karaoke off (R)")
        self.output_meter = LevelMeter("#c9cfdb", nb_bars=2)
        out_label = QLabel("Out")
        out_label.setObjectName("Dim")
        out_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        strips = QGridLayout()
        strips.setHorizontalSpacing(6)
        for column, strip in enumerate(self.strips):
            strips.addWidget(strip, 0, column)
        master = QVBoxLayout()
        master.addWidget(out_label)
        master.addWidget(self.output_meter, 1, Qt.AlignmentFlag.AlignHCenter)
        master.addSpacing(52)
        strips.addLayout(master, 0, len(self.strips))

        karaoke_row = QHBoxLayout()
        karaoke_row.addWidget(self.karaoke_button)
        karaoke_row.addWidget(self.karaoke_amount, 1)
        karaoke_row.addWidget(self.karaoke_label)
        karaoke_row.addSpacing(8)
        karaoke_row.addWidget(self.reset_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addWidget(title)
        layout.addLayout(strips, 1)
        layout.addLayout(karaoke_row)

        self.karaoke_button.toggled.connect(self._emit_karaoke)
        self.karaoke_amount.valueChanged.connect(self._on_amount)
        self.reset_button.clicked.connect(self.reset)
        self._on_amount(self.karaoke_amount.value(), emit=False)

    def reduction_db(self) -> float:
        return karaoke_to_db(self.karaoke_amount.value())

    def _on_amount(self, value: int, emit: bool = True) -> None:
        reduction = karaoke_to_db(value)
        self.karaoke_label.setText("removed" if math.isinf(reduction) else f"-{reduction:.0f} dB")
        if emit and self.karaoke_button.isChecked():
            self._emit_karaoke(True)

    def _emit_karaoke(self, on: bool) -> None:
        self.karaoke_changed.emit(on, self.reduction_db())

    def reset(self) -> None:
        """Every control back to neutral; each change is emitted, so the engine follows."""
        for strip in self.strips:
            strip.set_gain_db(0.0)
            strip.mute_button.setChecked(False)
            strip.solo_button.setChecked(False)
        self.karaoke_button.setChecked(False)
        self.reset_requested.emit()

    def show_snapshot(self, snapshot, stems: tuple[str, ...]) -> None:
        """Meters and the audible state from the engine. The controls are the truth for what the user set,
        so they are not moved back from a snapshot that may be a block behind."""
        any_solo = any(snapshot.soloed)
        for i, strip in enumerate(self.strips):
            audible = not snapshot.muted[i] and (snapshot.soloed[i] or not any_solo)
            if snapshot.karaoke and stems[i] == "vocals" and math.isinf(snapshot.karaoke_reduction_db):
                audible = False
            strip.show_state(snapshot.stem_rms_db[i], snapshot.stem_peak_db[i], audible)
            strip.cue_button.setEnabled("cue" in snapshot.outputs)  # only with a cue bus to hear it on
        peaks = list(snapshot.output_peak_db)
        self.output_meter.set_levels(peaks, peaks)

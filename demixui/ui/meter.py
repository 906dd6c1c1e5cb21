"""A vertical level meter (RMS bar plus peak marker with hold) painted by hand: cheap to redraw at 60 fps."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from demixui.ui.style import PANEL, OpaqueWidget

METER_FLOOR_DB = -60.0
METER_CEIL_DB = 12.0  # the faders' range, so one dB scale beside a strip reads for both
PEAK_HOLD_S = 1.2


def db_to_fraction(db: float) -> float:
    """Meter position 0..1 of a level in dB (linear in dB between the floor and the ceiling)."""
    if not math.isfinite(db):
        return 0.0 if db < 0 else 1.0
    return min(1.0, max(0.0, (db - METER_FLOOR_DB) / (METER_CEIL_DB - METER_FLOOR_DB)))


class LevelMeter(OpaqueWidget, QWidget):
    """One or more vertical bars. `set_levels(rms_db, peak_db)` takes one value per bar, in dBFS.

    Opaque: it fills its whole rectangle with `background` (the panel's colour, which it sits on), so a
    repaint (up to 40 a second) paints this widget alone; a transparent one had Qt repaint the strip, the
    panel (its rounded, style-sheet border) and the window behind it each time."""

    def __init__(self, colour: str, nb_bars: int = 1, padding_px: int = 0, parent: QWidget | None = None,
                 background: str = PANEL):
        """`padding_px`: blank space above and below, to line the scale up with a fader's handle travel."""
        super().__init__(parent)
        self._padding = float(padding_px)
        self._drawn: tuple[int, ...] = ()
        self._bar: QPixmap | None = None
        self._background = QColor(background)
        self._trough = QColor("#23272f")
        self._colour = QColor(colour)
        self._peak_colour = self._colour.lighter(130)
        self._hold_colours = (QColor("#e6e8ee"), QColor("#ff5a5a"))  # at or below 0 dB, above
        self._zero_db_colour = QColor(255, 255, 255, 60)
        self._rms = [-math.inf] * nb_bars
        self._peak = [-math.inf] * nb_bars
        self._hold = [-math.inf] * nb_bars
        self._hold_time = [0.0] * nb_bars
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(80)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(8 + 7 * len(self._rms), 200)

    def levels(self) -> tuple[list[float], list[float]]:
        """The last RMS and peak levels (dB) shown: what the tests read back."""
        return list(self._rms), list(self._peak)

    def set_levels(self, rms_db, peak_db) -> None:
        """One RMS and one peak level (dBFS, -inf for silence) per bar."""
        now = time.monotonic()
        for i, (rms, peak) in enumerate(zip(rms_db, peak_db, strict=True)):
            if peak >= self._hold[i] or now - self._hold_time[i] > PEAK_HOLD_S:
                self._hold[i] = peak
                self._hold_time[i] = now
            self._rms[i] = rms
            self._peak[i] = peak
        # Repaint only when a bar, peak or hold mark moves a whole pixel: most ticks change nothing visible.
        height = max(1, self.height() - 2 * self._padding)
        pixels = tuple(round(height * db_to_fraction(v)) for v in (*self._rms, *self._peak, *self._hold))
        if pixels != self._drawn:
            self._drawn = pixels
            self.update()

    def _bar_pixmap(self, width: int, height: int) -> QPixmap:
        """The full-scale gradient bar, drawn once per size: each paint blits the lit part of it."""
        if self._bar is None or (self._bar.width(), self._bar.height()) != (width, height):
            gradient = QLinearGradient(0, height, 0, 0)
            gradient.setColorAt(0.0, self._colour.darker(160))
            gradient.setColorAt(db_to_fraction(-12.0), self._colour)
            gradient.setColorAt(db_to_fraction(-1.0), QColor("#ffd166"))
            gradient.setColorAt(1.0, QColor("#ff5a5a"))
            self._bar = QPixmap(width, height)
            painter = QPainter(self._bar)
            painter.fillRect(0, 0, width, height, gradient)
            painter.end()
        return self._bar

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)  # every pixel: the widget is opaque
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        nb_bars = len(self._rms)
        gap = 2.0
        width = (self.width() - gap * (nb_bars - 1)) / nb_bars
        pad = self._padding
        height = max(1.0, self.height() - 2 * pad)
        painter.translate(0, pad)
        zero_db_y = height * (1.0 - db_to_fraction(0.0))
        bar = self._bar_pixmap(max(1, int(math.ceil(width))), max(1, int(height)))
        for i in range(nb_bars):
            x = i * (width + gap)
            painter.fillRect(QRectF(x, 0, width, height), self._trough)
            top = height * (1.0 - db_to_fraction(self._rms[i]))
            source = QRectF(0, top, bar.width(), bar.height() - top)
            painter.drawPixmap(QRectF(x, top, width, height - top), bar, source)
            peak_y = height * (1.0 - db_to_fraction(self._peak[i]))
            painter.fillRect(QRectF(x, peak_y, width, 1.5), self._peak_colour)
            if math.isfinite(self._hold[i]) and self._hold[i] > METER_FLOOR_DB:
                hold_y = height * (1.0 - db_to_fraction(self._hold[i]))
                painter.fillRect(QRectF(x, hold_y, width, 2.0), self._hold_colours[self._hold[i] > 0.0])
        painter.fillRect(QRectF(0, zero_db_y, self.width(), 1.0), self._zero_db_colour)
        painter.end()


def format_db(db: float, digits: int = 1) -> str:
    """`-6.0 dB`, `+3.5 dB`, `-∞ dB`."""
    if not math.isfinite(db):
        return "-∞ dB" if db < 0 else "+∞ dB"
    sign = "+" if db > 0.05 else ""
    return f"{sign}{db:.{digits}f} dB"

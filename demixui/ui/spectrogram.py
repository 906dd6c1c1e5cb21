"""The live scrolling spectrogram: what is being heard (or the input, or one stem) on a log-frequency axis.

The engine's analysis thread turns exactly what was played into dB columns `(nb_new, nb_bands)` of log-spaced
bands (30 Hz to 20 kHz), so the picture lines up with the sound; each UI tick pushes the new columns in at the
right edge of a fixed `(nb_columns, nb_bands)` image. Levels and the colour map are set once, so a colour
always means the same dB.

Drawing: a pyqtgraph plot gives the axes; the image is a QGraphicsPixmapItem (painted by Qt in C++) rather
than a pg.ImageItem, and the plot skips pyqtgraph's Python paintEvent. Measured with
`python -m demixui.ui.benchmark` on the shared 2-core machine: with ImageItem the shown window cost the null
clock 40-80 device underruns in 15 s (0 hidden) and doubled inference p99; this way 5-19, p99 5-6 ms, and
37-40 instead of 27-31 UI frames/s. PySide holds the GIL through QPainter calls made from Python, and the
audio callback needs the GIL.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QTransform
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from demixui.engine.analysis import NB_BANDS, SPEC_HOP
from demixui.ui.style import (
    PANEL,
    PANEL_BORDER,
    SPECTROGRAM_COLORMAP,
    SPECTROGRAM_GAMMA,
    SPECTROGRAM_LEVELS_DB,
    TEXT_DIM,
    keep_opaque,
)

HISTORY_S = 6.0
# The engine's band edges (demixui.engine.analysis.band_matrix): 30 Hz to min(20 kHz, Nyquist).
LOW_HZ = 30.0
HIGH_HZ = 20000.0
FREQUENCY_TICKS_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000)


def spectrogram_colormap() -> pg.ColorMap:
    """The built-in map with its stops pushed up by SPECTROGRAM_GAMMA: music's many mid-level bins stay dark
    and the loud partials stand out (levels stay fixed; only where each colour sits changes)."""
    positions, colours = pg.colormap.get(SPECTROGRAM_COLORMAP).getStops()
    return pg.ColorMap(np.asarray(positions) ** (1.0 / SPECTROGRAM_GAMMA), colours)


class _PlotWidget(pg.PlotWidget):
    """pyqtgraph's plot without its Python paintEvent override: Qt then paints the scene in C++ with the GIL
    released (PySide keeps the GIL through every QPainter call made from Python), so drawing the spectrogram
    does not hold up the audio callback. `SpectrogramView.pull` does what the override did first."""

    paintEvent = QGraphicsView.paintEvent  # noqa: N815 - Qt API


def colour_table(colormap: pg.ColorMap) -> np.ndarray:
    """`(256,)` uint32 0xFFRRGGBB: the colour map sampled once, indexed by level 0..255."""
    rgb = colormap.getLookupTable(nPts=256, alpha=False).astype(np.uint32)
    return (0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype(np.uint32)


class SpectrogramView(QFrame):
    """A panel with a source selector and the scrolling image. Call `pull(engine)` on every UI tick."""

    source_changed = Signal(str)

    def __init__(self, stems: tuple[str, ...], sample_rate: float = 44100.0, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        self.sample_rate = float(sample_rate)
        self.nb_columns = int(round(HISTORY_S * self.sample_rate / SPEC_HOP))
        self.image = np.full((self.nb_columns, NB_BANDS), SPECTROGRAM_LEVELS_DB[0], dtype=np.float32)
        self.columns_received = 0  # total columns drawn since start: the tests watch it grow
        self._next_index = 0

        title = QLabel("SPECTROGRAM")
        title.setObjectName("PanelTitle")
        self.source_box = QComboBox()
        self.source_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.source_box.setToolTip("What the spectrogram shows: the output you hear, the input, or one stem")
        self.source_box.addItem("Output mix", "output")
        self.source_box.addItem("Input", "input")
        for stem in stems:
            self.source_box.addItem(stem.capitalize(), stem)

        self.plot = _PlotWidget(background=PANEL)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.0)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(PANEL_BORDER))
            axis.setTextPen(pg.mkPen(TEXT_DIM))
            axis.setStyle(tickLength=4)  # ticks outside the image: the axes need no repaint when it scrolls
            # ... but Qt's repaint of the scrolled image reaches a pixel into them: each is drawn from a
            # cached pixmap (in C++), not by pyqtgraph's Python paint() each tick, until its ticks change.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Fixed levels and a colour map set once: level (dB) -> 0..255 -> colour, the same mapping always.
        self.levels = SPECTROGRAM_LEVELS_DB
        self._colours = colour_table(spectrogram_colormap())
        self._pixels = np.zeros((NB_BANDS, self.nb_columns), np.uint32)  # row 0: the highest band
        # A C++ pixmap item (no Python paint()): the scene, axes aside, is drawn without the GIL.
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self.plot.addItem(self.item)
        keep_opaque(self.plot.viewport())  # its background brush fills it: no panel repainted behind a scroll
        self._render()
        self._apply_geometry()

        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.source_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        self.source_box.currentIndexChanged.connect(self._on_source)

    def source(self) -> str:
        return str(self.source_box.currentData())

    def set_source(self, source: str) -> None:
        index = self.source_box.findData(source)
        if index < 0:
            raise ValueError(f"unknown spectrogram source {source!r}")
        self.source_box.setCurrentIndex(index)

    def set_sample_rate(self, sample_rate: float) -> None:
        if sample_rate > 0 and sample_rate != self.sample_rate:
            self.sample_rate = float(sample_rate)
            self._apply_geometry()

    def _apply_geometry(self) -> None:
        low, high = math.log10(LOW_HZ), math.log10(min(HIGH_HZ, self.sample_rate / 2))
        history_s = self.nb_columns * SPEC_HOP / self.sample_rate
        # pixmap pixel (column, row) -> (seconds, log10 Hz); rows go down, frequencies up
        self.item.setTransform(QTransform.fromTranslate(-history_s, high).scale(
            history_s / self.nb_columns, -(high - low) / NB_BANDS))
        self.plot.setXRange(-history_s, 0.0, padding=0.0)
        self.plot.setYRange(low, high, padding=0.0)
        ticks = [(math.log10(f), f"{f // 1000} kHz" if f >= 1000 else f"{f} Hz") for f in FREQUENCY_TICKS_HZ]
        self.plot.getAxis("left").setTicks([[t for t in ticks if low <= t[0] <= high]])
        seconds = [(-float(s), f"-{s} s" if s else "now") for s in range(int(history_s) + 1)]
        self.plot.getAxis("bottom").setTicks([seconds])

    def _on_source(self) -> None:
        # A new source starts from its own history: the engine gives what it still holds from index 0.
        self._next_index = 0
        self.image.fill(SPECTROGRAM_LEVELS_DB[0])
        self._render()
        self.source_changed.emit(self.source())

    def pull(self, engine) -> int:
        """Fetch the columns played since the last call and scroll them in; returns how many were added."""
        columns, self._next_index = engine.spectrogram(self.source(), self._next_index)
        nb_new = int(columns.shape[0]) if columns.ndim == 2 else 0
        if nb_new == 0:
            return 0
        self.plot.scene().prepareForPaint()  # what pyqtgraph's own paintEvent did before each paint
        self.push(columns)
        return nb_new

    def push(self, columns: np.ndarray) -> None:
        """Scroll in dB columns `(nb_new, nb_bands)`, oldest first."""
        nb_new, nb_bands = columns.shape
        assert nb_bands == self.image.shape[1], (columns.shape, self.image.shape)
        shown = columns[-self.nb_columns :]
        nb_shown = shown.shape[0]
        keep = self.nb_columns - nb_shown
        self.image[:keep] = self.image[nb_shown:]  # scroll left; numpy handles overlap
        self.image[keep:] = shown
        # The pixels scroll too; only the new columns are coloured (not the whole 6 s each tick).
        self._pixels[:, :keep] = self._pixels[:, nb_shown:]
        self._colour_columns(keep)
        self._show_pixels()
        self.columns_received += nb_new

    def _colour_columns(self, first: int) -> None:
        """dB image columns `first:` -> colour pixels (level -> 0..255 -> colour, always the same map)."""
        low, high = self.levels
        index = np.clip((self.image[first:].T[::-1] - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
        np.take(self._colours, index, out=self._pixels[:, first:])

    def _render(self) -> None:
        """The whole dB image -> colour pixels -> the pixmap item."""
        self._colour_columns(0)
        self._show_pixels()

    def _show_pixels(self) -> None:
        height, width = self._pixels.shape
        image = QImage(self._pixels.data, width, height, 4 * width, QImage.Format.Format_RGB32)
        self.item.setPixmap(QPixmap.fromImage(image))  # fromImage copies: _pixels may change next tick

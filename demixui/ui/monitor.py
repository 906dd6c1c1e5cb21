"""The monitor: an honest readout of latency, inference time against its budget, real-time factor, underruns
(which flash when they happen) and ring fill, all read from engine snapshots."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from demixui.ui.style import ACCENT, DANGER, OK, PANEL, WARNING, OpaqueWidget

FLASH_S = 0.8


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if math.isfinite(value) else "–"


def _num(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "–"


class ElidedLabel(OpaqueWidget, QLabel):
    """A one-line label that ends in "…" when narrow instead of widening its panel; the tooltip has it all.
    Opaque (it fills its rectangle with the panel's colour), so a new text repaints the label alone, not the
    panel and window behind it: the monitor's figures change on most UI ticks."""

    def __init__(self, name: str):
        super().__init__()
        self.setObjectName(name)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._background = QColor(PANEL)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        if text != super().text():
            super().setText(text)
            self.setToolTip(text)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)
        painter.setPen(self.palette().color(self.foregroundRole()))
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()


class PanelLabel(OpaqueWidget, QLabel):
    """A QLabel that paints the panel's colour under its text and is opaque (see ElidedLabel): for the
    figures that change on most UI ticks (total latency, ring fill)."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.setObjectName(name)
        self._background = QColor(PANEL)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)
        painter.end()
        super().paintEvent(event)


def _label(text: str = "", name: str = "Figure") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label


class FillBar(OpaqueWidget, QWidget):
    """A thin bar showing a fraction 0..1, coloured by how close it is to full. Cheaper than QProgressBar,
    whose setValue() repaints synchronously (GIL held) on every change. Opaque, like ElidedLabel."""

    def __init__(self, coloured: bool = False):
        super().__init__()
        self._background = QColor(PANEL)
        self._trough = QColor("#252932")
        self.fraction = 0.0
        self.coloured = coloured  # green -> amber at 60 % -> red at 100 % (a budget); else the accent colour
        self.setFixedHeight(6)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def colour(self) -> str:
        if not self.coloured:
            return ACCENT
        return OK if self.fraction < 0.6 else WARNING if self.fraction < 1.0 else DANGER

    def set_fraction(self, fraction: float) -> None:
        fraction = fraction if math.isfinite(fraction) else 0.0
        old_px = round(min(1.0, self.fraction) * self.width())
        self.fraction = max(0.0, fraction)
        if round(min(1.0, self.fraction) * self.width()) != old_px or self.colour() != self._painted_colour:
            self.update()  # only when a pixel or the colour changes

    _painted_colour = ""

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)  # the rounded corners' surroundings
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._trough)
        painter.drawRoundedRect(QRectF(self.rect()), 3, 3)
        self._painted_colour = self.colour()
        width = min(1.0, self.fraction) * self.width()
        if width >= 1:
            painter.setBrush(QColor(self._painted_colour))
            painter.drawRoundedRect(QRectF(0, 0, width, self.height()), 3, 3)
        painter.end()


class UnderrunCounter(QLabel):
    """A count that turns red for FLASH_S seconds each time it goes up."""

    def __init__(self, tooltip: str, parent: QWidget | None = None):
        super().__init__("0", parent)
        self.setObjectName("Counter")
        self.setToolTip(tooltip)
        self.setMaximumWidth(96)
        self.setProperty("flash", False)
        self.count = 0
        self._flash_until = 0.0

    def flashing(self) -> bool:
        return bool(self.property("flash"))

    def show_count(self, count: int, now: float) -> None:
        if count > self.count:
            self._flash_until = now + FLASH_S
        if count != self.count:
            self.count = count
            self.setText(str(count))
        flash = now < self._flash_until
        if flash != self.flashing():
            self.setProperty("flash", flash)
            self.style().unpolish(self)  # re-evaluate the [flash="true"] stylesheet rule
            self.style().polish(self)


class MonitorPanel(QFrame):
    """Four groups side by side: latency, inference, underruns, buffer."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Panel")
        self.total_latency = PanelLabel("–", "BigFigure")
        self.total_latency.setToolTip("Total output latency: model (algorithmic) + buffered audio + device")
        self.latency_breakdown = ElidedLabel("Dim")
        self.inference = ElidedLabel("Figure")
        self.inference.setToolTip(
            "Inference time per model hop: median (p50) and 99th percentile,"
            " against the hop's real-time budget"
        )
        self.inference_bar = FillBar(coloured=True)
        self.inference_bar.setToolTip("p99 inference time as a share of the hop budget")
        self.realtime = ElidedLabel("Figure")
        self.realtime.setToolTip(
            "Hop budget: the audio one model step covers. RTF, the real-time factor:"
            " inference time / audio time (below 1 keeps up)"
        )
        self.app_underruns = UnderrunCounter(
            "Model fell behind: the dry mix was played instead (app underruns)"
        )
        self.device_underruns = UnderrunCounter("The sound device ran dry (device underruns)")
        self.ring_fill = FillBar()
        self.ring_fill.setToolTip("How full the separated-audio buffer is")
        self.ring_label = PanelLabel("", "Figure")
        self.details = ElidedLabel("Dim")

        latency = QVBoxLayout()
        latency.addWidget(_label("LATENCY", "PanelTitle"))
        latency.addWidget(self.total_latency)
        latency.addWidget(self.latency_breakdown)

        inference = QVBoxLayout()
        inference.addWidget(_label("INFERENCE", "PanelTitle"))
        inference.addWidget(self.inference)
        inference.addWidget(self.inference_bar)
        inference.addWidget(self.realtime)

        underruns = QGridLayout()
        underruns.addWidget(_label("UNDERRUNS", "PanelTitle"), 0, 0, 1, 2)
        underruns.addWidget(_label("app", "Dim"), 1, 0)
        underruns.addWidget(self.app_underruns, 1, 1)
        underruns.addWidget(_label("device", "Dim"), 2, 0)
        underruns.addWidget(self.device_underruns, 2, 1)

        buffer = QVBoxLayout()
        buffer.addWidget(_label("BUFFER", "PanelTitle"))
        buffer.addWidget(self.ring_label)
        buffer.addWidget(self.ring_fill)
        buffer.addWidget(self.details)

        for group in (latency, inference, buffer):
            group.setSpacing(3)
        underruns.setVerticalSpacing(3)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(20)
        for group, stretch in ((latency, 3), (inference, 3), (underruns, 2), (buffer, 4)):
            layout.addLayout(group, stretch)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def show_snapshot(self, snap) -> None:
        now = time.monotonic()
        self.total_latency.setText(_ms(snap.total_latency_ms))
        model_file = snap.model_name.split(" (")[0]  # the model running: the live one for live input
        self.latency_breakdown.setText(
            f"{model_file} {_num(snap.model_latency_ms)} · buffer {_num(snap.buffer_latency_ms)}"
            f" · device {_num(snap.device_latency_ms)} ms"
        )
        self.inference.setText(f"p50 {_ms(snap.inference_p50_ms)} · p99 {_ms(snap.inference_p99_ms)}")
        budget_share = snap.inference_p99_ms / snap.hop_budget_ms if snap.hop_budget_ms > 0 else 0.0
        budget_share = budget_share if math.isfinite(budget_share) else 0.0
        self.inference_bar.set_fraction(budget_share)
        rtf = snap.realtime_factor
        rtf_text = f"{rtf:.2f}×" if math.isfinite(rtf) else "–"
        self.realtime.setText(f"budget {_ms(snap.hop_budget_ms)} · RTF {rtf_text}")
        self.app_underruns.show_count(int(snap.app_underruns), now)
        self.device_underruns.show_count(int(snap.device_underruns), now)
        fill = min(1.0, max(0.0, float(snap.ring_fill)))
        self.ring_fill.set_fraction(fill)
        self.ring_label.setText(f"ring {fill * 100:.0f} % full")
        device = snap.output_device if snap.output_device not in (None, "") else "default device"
        if snap.outputs != "remix 1-2":  # the stem outputs and the cue bus, by channel
            device = f"{device} ({snap.outputs})"
        self.details.setText(
            f"{snap.model_name} · {snap.sample_rate / 1000:g} kHz · block {snap.blocksize} · {device}"
            f" · callback {snap.audio_callback}"  # native, or the Python fallback
        )

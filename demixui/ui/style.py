"""The dark look: one Qt stylesheet, per-stem accent colours and the spectrogram colour map.

Sizes in the stylesheet are in points or pixels that Qt scales with the screen's device pixel ratio,
so the same sheet reads well on a laptop and on a large monitor.
"""

from __future__ import annotations

# Accent colour per stem (vocals, drums, bass, other); unknown stems fall back to grey.
STEM_COLOURS: dict[str, str] = {
    "vocals": "#ff5c8a",
    "drums": "#ffb547",
    "bass": "#4fc3f7",
    "other": "#8bd17c",
}
FALLBACK_COLOUR = "#b0b6c3"

BACKGROUND = "#121418"
PANEL = "#1a1d23"
PANEL_BORDER = "#2a2e37"
TEXT = "#e6e8ee"
TEXT_DIM = "#8a91a0"
ACCENT = "#7c9cff"
DANGER = "#ff5a5a"
WARNING = "#ffb547"
OK = "#6fd08c"

# The spectrogram's colour map (a pyqtgraph built-in) and its fixed levels in dB.
SPECTROGRAM_COLORMAP = "inferno"
# Measured on rendered songs (demixui.engine.analysis bands): median -48 dB, 5 % -80 dB, 99.5 % -20 dB.
SPECTROGRAM_LEVELS_DB = (-90.0, -12.0)
SPECTROGRAM_GAMMA = 1.6


def stem_colour(stem: str) -> str:
    return STEM_COLOURS.get(stem, FALLBACK_COLOUR)


STYLESHEET = f"""
QWidget {{
    background-color: {BACKGROUND};
    color: {TEXT};
    font-size: 10pt;
}}
QMainWindow::separator {{ background: {PANEL_BORDER}; width: 1px; height: 1px; }}
QMenuBar {{ background: {BACKGROUND}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {PANEL_BORDER}; }}
QMenu {{ background: {PANEL}; border: 1px solid {PANEL_BORDER}; }}
QToolTip {{ background: {PANEL}; color: {TEXT}; border: 1px solid {PANEL_BORDER}; padding: 4px; }}

QFrame#Panel {{
    background-color: {PANEL};
    border: 1px solid {PANEL_BORDER};
    border-radius: 8px;
}}
QFrame#Panel QWidget {{ background-color: transparent; }}
QLabel#PanelTitle {{
    color: {TEXT_DIM};
    font-size: 8pt;
    font-weight: bold;
    letter-spacing: 1px;
}}
QLabel#SourceName {{ font-size: 13pt; font-weight: bold; }}
QLabel#Time {{ font-family: "DejaVu Sans Mono", monospace; color: {TEXT_DIM}; }}
QLabel#BigFigure {{ font-size: 18pt; font-weight: bold; }}
QLabel#Dim {{ color: {TEXT_DIM}; }}
QLabel#Figure {{ font-family: "DejaVu Sans Mono", monospace; }}
QLabel#StemName {{ font-weight: bold; font-size: 10pt; }}
QLabel#GainLabel {{ font-family: "DejaVu Sans Mono", monospace; color: {TEXT_DIM}; font-size: 9pt; }}

QPushButton, QToolButton {{
    background-color: #252932;
    border: 1px solid {PANEL_BORDER};
    border-radius: 6px;
    padding: 5px 10px;
    color: {TEXT};
}}
QToolButton[popupMode="1"] {{ padding-right: 22px; }}
QToolButton::menu-button {{
    border: none; border-left: 1px solid {PANEL_BORDER}; width: 18px;
    border-top-right-radius: 6px; border-bottom-right-radius: 6px;
}}
QPushButton:hover, QToolButton:hover {{ background-color: #2e333e; }}
QPushButton:pressed, QToolButton:pressed {{ background-color: #1f232b; }}
QPushButton:checked, QToolButton:checked {{
    background-color: {ACCENT}; color: #0d0f14; border-color: {ACCENT};
}}
QPushButton:disabled, QToolButton:disabled {{ color: #555b66; }}
QPushButton#Transport {{ font-size: 13pt; min-width: 36px; min-height: 28px; }}
QPushButton[kind="record"]:checked {{ background-color: {DANGER}; border-color: {DANGER}; }}
QPushButton#Mute:checked {{ background-color: {WARNING}; border-color: {WARNING}; }}
QPushButton#Solo:checked {{ background-color: {OK}; border-color: {OK}; }}
QPushButton#Cue:checked {{ background-color: {ACCENT}; border-color: {ACCENT}; }}
QPushButton#Karaoke {{ font-weight: bold; padding: 7px 14px; }}
QPushButton#Karaoke:checked {{
    background-color: {STEM_COLOURS["vocals"]}; border-color: {STEM_COLOURS["vocals"]};
}}

QSlider::groove:horizontal {{ height: 6px; background: #2a2e37; border-radius: 3px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::handle:horizontal {{
    background: {TEXT}; width: 14px; margin: -5px 0; border-radius: 7px;
}}
QSlider::groove:vertical {{ width: 6px; background: #2a2e37; border-radius: 3px; }}
QSlider::handle:vertical {{
    background: {TEXT}; height: 22px; margin: 0 -9px; border-radius: 4px;
}}

QComboBox, QSpinBox, QLineEdit {{
    background-color: #252932;
    border: 1px solid {PANEL_BORDER};
    border-radius: 5px;
    padding: 3px 6px;
}}
QComboBox QAbstractItemView {{ background: {PANEL}; selection-background-color: {PANEL_BORDER}; }}
QCheckBox::indicator {{
    width: 14px; height: 14px; border: 1px solid #5a6170; border-radius: 3px; background: #252932;
}}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QProgressBar {{
    background: #252932; border: none; border-radius: 3px; max-height: 6px; text-align: center;
}}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}

QFrame#Banner {{ border-radius: 6px; }}
QFrame#Banner[level="error"] {{ background-color: #4a1f24; border: 1px solid {DANGER}; }}
QFrame#Banner[level="info"] {{ background-color: #1f2a4a; border: 1px solid {ACCENT}; }}
QFrame#Banner QLabel {{ background: transparent; }}
QFrame#Banner QPushButton {{ background: transparent; border: none; padding: 2px 6px; }}

QLabel#Counter {{ font-family: "DejaVu Sans Mono", monospace; border-radius: 4px; padding: 1px 6px; }}
QLabel#Counter[flash="true"] {{ background-color: {DANGER}; color: #0d0f14; }}
"""


def stem_slider_style(stem: str) -> str:
    """The stylesheet of one stem's fader: the handle and the filled part take the stem's colour."""
    colour = stem_colour(stem)
    return f"""
QSlider::add-page:vertical {{ background: {colour}; border-radius: 3px; }}
QSlider::sub-page:vertical {{ background: #2a2e37; border-radius: 3px; }}
QSlider::handle:vertical {{ background: {colour}; border: 2px solid #0d0f14; }}
"""


class OpaqueWidget:
    """Mixin, before the Qt class (`class Meter(OpaqueWidget, QWidget)`), for a widget that paints every
    pixel of its rectangle (the panel's colour, then what it shows): it is marked opaque again after each
    style-sheet (re)polish, which clears WA_OpaquePaintEvent (the panels' `QWidget { background-color:
    transparent }` rule). An opaque widget is repainted alone; a transparent one also has Qt repaint its
    parents behind it (the panel's rounded border, the window's background) each time, which for the meters
    and figures is most UI ticks."""

    def event(self, event) -> bool:
        from PySide6.QtCore import QEvent, Qt

        handled = super().event(event)
        if event.type() in (QEvent.Type.Polish, QEvent.Type.StyleChange):  # both follow a (re)polish
            self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        return handled


def keep_opaque(widget) -> None:
    """Mark a widget we do not subclass (a graphics view's viewport) opaque, as `OpaqueWidget` does;
    it must paint every pixel. A filter sets the attribute again at its first paint after a (re)polish."""
    from PySide6.QtCore import QEvent, QObject, Qt

    opaque = Qt.WidgetAttribute.WA_OpaquePaintEvent

    class _KeepOpaque(QObject):
        def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and not watched.testAttribute(opaque):
                watched.setAttribute(opaque)
            return False

    widget.setAttribute(opaque)
    keeper = _KeepOpaque(widget)  # owned by the widget: it lives as long as the widget does
    widget.installEventFilter(keeper)

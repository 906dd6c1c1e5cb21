"""The main window's menu bar and keyboard shortcuts (Space, 1-4, Shift+1-4, K, L, R, arrows)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut

SEEK_STEP_S = 5.0
# Shift+digit arrives as a shifted symbol on most layouts: listen for both forms (US layout symbols).
SHIFTED_DIGITS = ("!", "@", "#", "$")
SHORTCUTS_HELP = """Space\tplay / pause
1 2 3 4\tmute vocals, drums, bass, other
Shift+1..4\tsolo a stem
K\tkaraoke on / off
R\treset the mix
L\tloop
Left / Right\tseek 5 s back / forward
Ctrl+O\topen a file (or drop one on the window)
Ctrl+L\tlive input
Ctrl+R\trecord the remix
Ctrl+E\texport the stems (WAV or NI Stems)
Ctrl+,\tsettings
F1\tthis list"""


def _action(window, menu, text: str, shortcut, slot) -> QAction:
    action = QAction(text, window)
    action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menu(window) -> None:
    """File (open, recent, live, record, export, settings, quit) and Help; sets `window.recent_menu` and
    `window.export_action`."""
    file_menu = window.menuBar().addMenu("&File")
    _action(window, file_menu, "&Open…", QKeySequence.StandardKey.Open, window.open_dialog)
    window.recent_menu = file_menu.addMenu("Open &recent")
    _action(window, file_menu, "&Live input", "Ctrl+L", window.open_live)
    _action(window, file_menu, "&Record the remix…", "Ctrl+R", window.recording.toggle)
    window.export_action = _action(window, file_menu, "&Export stems…", "Ctrl+E", window.export.ask)
    file_menu.addSeparator()
    _action(window, file_menu, "&Settings…", "Ctrl+,", window.open_settings)
    file_menu.addSeparator()
    _action(window, file_menu, "&Quit", QKeySequence.StandardKey.Quit, window.close)
    window._fill_recent_menu(window.settings.recent_files())
    help_menu = window.menuBar().addMenu("&Help")
    _action(window, help_menu, "&Keyboard shortcuts", "F1", window.show_shortcuts)


def _shortcut(window, keys: list[str], slot) -> QShortcut:
    shortcut = QShortcut(window)
    shortcut.setKeys([QKeySequence(k) for k in keys])  # one shortcut, several keys: never ambiguous
    shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
    shortcut.activated.connect(slot)
    return shortcut


def build_shortcuts(window) -> None:
    """Single keys act on the window's controls (so the faders and buttons show what the keys did)."""
    _shortcut(window, ["Space"], window.toggle_play)
    _shortcut(window, ["K"], window.mixer.karaoke_button.toggle)
    _shortcut(window, ["L"], window.transport.loop_button.toggle)
    _shortcut(window, ["R"], window.mixer.reset)
    _shortcut(window, ["Left"], lambda: window.seek_relative(-SEEK_STEP_S))
    _shortcut(window, ["Right"], lambda: window.seek_relative(SEEK_STEP_S))
    for i, strip in enumerate(window.mixer.strips[:4]):
        _shortcut(window, [str(i + 1)], strip.mute_button.toggle)
        _shortcut(window, [f"Shift+{i + 1}", SHIFTED_DIGITS[i]], strip.solo_button.toggle)

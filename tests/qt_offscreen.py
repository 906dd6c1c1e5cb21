"""What every Qt test module imports first: the offscreen platform (no display needed; set before Qt
creates its application), a skip where PySide6 or pytest-qt is missing, and the marks that make a Qt
warning fail a test.

    from qt_offscreen import QT_MARKS

    pytestmark = QT_MARKS
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

# Qt warnings fail a test; the offscreen platform's own note about dialogs is not ours to fix.
QT_MARKS = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]

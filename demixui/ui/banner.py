"""A non-blocking message strip at the top of the window (errors stay until closed; notes fade by themselves).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

INFO_TIMEOUT_MS = 8000


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("Banner")
        self.setProperty("level", "info")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setToolTip("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.messages: list[tuple[str, str]] = []  # (level, text) ever shown: the tests read it
        self.hide()

    def level(self) -> str:
        return str(self.property("level"))

    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, level: str = "error") -> None:
        self.messages.append((level, text))
        self.label.setText(text)
        if self.level() != level:
            self.setProperty("level", level)
            self.style().unpolish(self)
            self.style().polish(self)
        self._timer.stop()
        if level != "error":
            self._timer.start(INFO_TIMEOUT_MS)
        self.show()

"""Recording the remix as heard to a WAV file (the engine's recorder), started and stopped on the worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog


class RecordingControl(QObject):
    """`toggle()`: ask where to save and start, or stop and say where it went. `changed(bool)` follows it."""

    changed = Signal(bool)
    saved = Signal(str)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.active = False
        self.path: str | None = None

    def toggle(self) -> None:
        if self.active:
            self.stop()
        else:
            self.ask_path()

    def ask_path(self) -> QFileDialog:
        snap = self.window.snapshot()
        stem = Path(snap.source_name).stem if snap.source_name else "demixui"
        dialog = QFileDialog(self.window, "Record the remix to", f"{stem}-remix.wav", "WAV files (*.wav)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("wav")
        dialog.fileSelected.connect(self.start)
        dialog.rejected.connect(lambda: self.changed.emit(self.active))  # the button goes back to how it was
        dialog.open()  # non-blocking
        return dialog

    def start(self, path: str) -> None:
        engine = self.window.engine
        if engine is None:
            self.window.show_error("no model is loaded: nothing to record")
            self.changed.emit(False)
            return

        def started(_result) -> None:
            self.active, self.path = True, path
            self.changed.emit(True)

        self.window.run_slow(f"could not record to {path}", lambda: engine.start_recording(path), started,
                             on_error=lambda: self.changed.emit(False))

    def stop(self) -> None:
        engine = self.window.engine

        def stopped(path) -> None:
            self.active = False
            self.changed.emit(False)
            if path is not None:
                self.window.show_note(f"Saved the remix to {path}")
                self.saved.emit(str(path))

        if engine is None:
            stopped(None)
            return
        self.window.run_slow("could not finish the recording", engine.stop_recording, stopped)

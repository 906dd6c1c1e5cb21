"""Exporting the open file's stems from the window (File > Export stems, Ctrl+E): WAV files in a folder, or
one NI Stems file (`.stem.mp4`) for Traktor and Mixxx, through the same `separate_file` as `demixui separate`.

The export runs on one thread of its own, at a lower priority (not the window's task worker, which would then
hold back opening files for as long as the export takes); it loads its own copy of the model, so playback
carries on. Progress and the outcome come back to the GUI thread through queued signals. Closing the window
stops an export mid-way, and its temporary output is removed (separate_file's own clean-up).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from demixui.errors import DemixError

# (what the user sees, `separate --format`): the NI Stems file first, as DJ programs are why one exports.
FORMATS = (
    ("NI Stems file (.stem.mp4) for Traktor, Mixxx", "stem-mp4"),
    ("WAV files in a folder, 32-bit float", "float"),
    ("WAV files in a folder, 24-bit", "pcm24"),
    ("WAV files in a folder, 16-bit", "pcm16"),
)


class _Cancelled(Exception):
    """Raised from the progress callback when the window closes: unwinds separate_file, which tidies up."""


class ExportDialog(QDialog):
    """Format, destination folder and whether to replace an earlier export; shows the path it will write."""

    def __init__(self, source: Path, folder: str, output_format: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.setWindowTitle(f"Export the stems of {source.name}")
        self.format_box = QComboBox()
        for label, value in FORMATS:
            self.format_box.addItem(label, value)
        self.format_box.setCurrentIndex(max(0, self.format_box.findData(output_format)))
        self.folder_edit = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.overwrite_box = QCheckBox("Replace an earlier export of this file")
        self.target_label = QLabel()
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.button(ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Folder", row)
        form.addRow("", self.overwrite_box)
        form.addRow("Writes", self.target_label)
        form.addRow(buttons)
        self.format_box.currentIndexChanged.connect(self._show_target)
        self.folder_edit.textChanged.connect(self._show_target)
        self._show_target()

    def output_format(self) -> str:
        return self.format_box.currentData()

    def folder(self) -> Path:
        return Path(self.folder_edit.text().strip() or ".").expanduser()

    def target(self) -> Path:
        from demixui.model.offline import output_path_for

        return output_path_for(self.source, self.folder(), self.output_format())

    def _show_target(self) -> None:
        slash = "" if self.output_format() == "stem-mp4" else "/ (vocals, drums, bass, other .wav)"
        self.target_label.setText(f"{self.target()}{slash}")

    def browse(self) -> QFileDialog:
        dialog = QFileDialog(self, "Export into the folder", str(self.folder()))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.folder_edit.setText)
        dialog.open()  # non-blocking
        return dialog


class StemExport(QObject):
    """`ask()`: the export dialog for the file the window plays; `finished(path)` or `failed(message)` once
    done. Separates with the model that plays; remembers the last folder and format in the settings."""

    finished = Signal(str)
    failed = Signal(str)
    _outcome = Signal(str, str)  # (written path, error): strings, as PySide6 miscounts a None sent through
    _progress = Signal(int)  # percent

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.source: Path | None = None  # the file being exported
        self.dialog: ExportDialog | None = None  # the last dialog opened
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._outcome.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._progress.connect(self._show_progress, Qt.ConnectionType.QueuedConnection)

    def busy(self) -> bool:
        return self._thread is not None

    def current_file(self) -> Path | None:
        """The file the window plays now, or None (nothing open, or live input)."""
        engine = self.window.engine
        path = engine.source_path if engine is not None else None
        return Path(path) if path else None

    def ask(self) -> ExportDialog | None:
        source = self.current_file()
        if source is None:
            self.window.show_error("Export stems: open a file first (live input cannot be exported)")
            return None
        if self.busy():
            self.window.show_error("Export stems: an export is already running")
            return None
        store = self.window.settings.store
        folder = str(store.value("export/folder", "") or source.parent)
        dialog = ExportDialog(source, folder, str(store.value("export/format", "stem-mp4")), self.window)
        dialog.accepted.connect(lambda: self.start(source, dialog.folder(), dialog.output_format(),
                                                   dialog.overwrite_box.isChecked()))
        dialog.finished.connect(self._closed)
        self.dialog = dialog
        dialog.open()  # window-modal, non-blocking
        return dialog

    @Slot()
    def _closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None

    def start(self, source: Path, folder: Path, output_format: str, overwrite: bool = False) -> None:
        """Export `source` into `folder` as `output_format` (a `separate --format`) on a thread."""
        from demixui.model.offline import check_output, output_path_for

        try:  # refused at once, before any work: an existing export, a folder that is a file, ...
            check_output(source, output_path_for(source, folder, output_format), overwrite, output_format)
        except (DemixError, OSError) as error:
            self._deliver("", str(error))
            return
        store = self.window.settings.store
        store.setValue("export/folder", str(folder))
        store.setValue("export/format", output_format)
        engine = self.window.engine
        model_path = engine.model_path if engine is not None else None
        self.source = source
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demixui-export", daemon=True,
                                        args=(source, folder, output_format, overwrite, model_path))
        self.window.show_note(f"Exporting the stems of {source.name}…")
        self._thread.start()

    def _run(self, source: Path, folder: Path, output_format: str, overwrite: bool, model_path) -> None:
        from demixui.model.offline import separate_file
        from demixui.model.runtime import load_model

        def progress(done: int, total: int) -> None:
            if self._stop.is_set():
                raise _Cancelled()
            self._progress.emit(int(100 * done / max(total, 1)))

        _lower_this_thread_priority()
        try:
            model = load_model(model_path)
            # One thread, not separate's pipeline: the other cores stay with playback's inference worker,
            # which would otherwise fall behind (the dry mix standing in) for as long as the export runs.
            result = separate_file(model, source, folder, overwrite=overwrite, output_format=output_format,
                                   progress=progress, threaded=False)
        except _Cancelled:
            return
        except Exception as error:  # noqa: BLE001 - shown in the banner, never a crash
            from demixui.ui.window import error_text

            self._outcome.emit("", error_text(error))
            return
        self._outcome.emit(str(result.output_dir), "")

    @Slot(int)
    def _show_progress(self, percent: int) -> None:
        if self.busy() and self.source is not None:
            self.window.show_note(f"Exporting the stems of {self.source.name}… {percent} %")

    @Slot(str, str)
    def _deliver(self, path: str, error: str) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if error:
            self.window.show_error(f"Export stems: {error}")
            self.failed.emit(error)
        else:
            self.window.show_note(f"Exported the stems to {path}")
            self.finished.emit(path)

    def shutdown(self) -> None:
        """Stop a running export (its temporary output is removed) and join its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _lower_this_thread_priority() -> None:
    """Linux: a nice value for the calling thread alone (its own scheduling entity), so that the export
    yields the CPU to playback; elsewhere nothing."""
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except OSError:  # not allowed here: the export simply runs at the usual priority
        pass

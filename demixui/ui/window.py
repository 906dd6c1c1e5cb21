"""The main window: transport, stem mixer, spectrogram and monitor around one Engine.

Threads: the GUI thread only makes cheap engine calls (gains, mute, play) and reads snapshots on a timer;
anything that may take time (opening a file, loading a model, changing devices) goes through `TaskRunner`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from demixui.audiofile import SUPPORTED_EXTENSIONS
from demixui.engine import STEMS, EngineSnapshot
from demixui.errors import DemixError
from demixui.ui.banner import Banner
from demixui.ui.export import StemExport
from demixui.ui.keys import SHORTCUTS_HELP, build_menu, build_shortcuts
from demixui.ui.midi import MidiController, build_midi_menu
from demixui.ui.mixer import MixerPanel
from demixui.ui.monitor import MonitorPanel
from demixui.ui.recording import RecordingControl
from demixui.ui.settings import AppSettings, AudioSettings, SettingsDialog
from demixui.ui.spectrogram import SpectrogramView
from demixui.ui.tasks import TaskRunner
from demixui.ui.transport import TransportBar

REFRESH_MS = 25  # 40 fps: smooth meters; more would only cost the audio thread GIL time
AUDIO_FILTER = "Audio files (" + " ".join(f"*{ext}" for ext in SUPPORTED_EXTENSIONS) + ");;All files (*)"


IDLE_SNAPSHOT = EngineSnapshot(
    state="empty", source_name="", position_s=0.0, duration_s=0.0, loop=False, model_latency_ms=math.nan,
    buffer_latency_ms=math.nan, device_latency_ms=math.nan, total_latency_ms=math.nan,
    inference_p50_ms=math.nan, inference_p99_ms=math.nan, inference_max_ms=math.nan, hop_budget_ms=math.nan,
    realtime_factor=math.nan, app_underruns=0, device_underruns=0, ring_fill=0.0,
    stem_rms_db=(-math.inf,) * len(STEMS), stem_peak_db=(-math.inf,) * len(STEMS),
    output_peak_db=(-math.inf, -math.inf), gains_db=(0.0,) * len(STEMS), muted=(False,) * len(STEMS),
    soloed=(False,) * len(STEMS), karaoke=False, karaoke_reduction_db=math.inf, blocksize=0, output_device="",
    sample_rate=44100, model_name="no model", error=None, error_count=0,
)  # what the panels show while there is no engine (no model yet)


def error_text(error: BaseException) -> str:
    """One line for the banner: a DemixError's own message, else the exception's type and message."""
    if isinstance(error, DemixError | OSError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class MainWindow(QMainWindow):
    file_opened = Signal(str)  # emitted on the GUI thread once the engine has opened a file
    task_failed = Signal(str)

    engine_ready = Signal()

    def __init__(self, settings: AppSettings, engine=None, engine_factory=None, autoplay: bool = False):
        """`engine`: a running Engine, or None and `engine_factory(AudioSettings) -> Engine` to build one on
        the worker (the window shows at once; loading a model takes a while)."""
        super().__init__()
        self.engine = engine
        self.engine_factory = engine_factory
        self.settings = settings
        self.stems: tuple[str, ...] = tuple(engine.stems) if engine is not None else STEMS
        self.autoplay = autoplay
        self.tasks = TaskRunner(self)
        self._errors_seen = 0
        self._closed = False
        self._pending_open = None  # open_file/open_live asked for before the engine was up: run when it is
        self._failed_message = ""  # the banner text of the last slow call that failed
        self._building: object | None = None  # an engine built on the worker, not yet handed over
        self._building_active = False
        self.temp_settings = None  # a TemporaryDirectory holding the settings of a screenshot run
        self.setWindowTitle("demixui")
        self.setAcceptDrops(True)
        self.setMinimumSize(960, 620)

        self.transport = TransportBar()
        self.recording = RecordingControl(self)
        self.banner = Banner()
        self.mixer = MixerPanel(self.stems)
        self.spectrogram = SpectrogramView(self.stems)
        self.monitor = MonitorPanel()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.mixer)
        splitter.addWidget(self.spectrogram)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self.transport)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.monitor)
        layout.addLayout(bottom)
        self.setCentralWidget(central)

        self.export = StemExport(self)  # File > Export stems (demixui/ui/export.py)
        build_menu(self)
        build_shortcuts(self)
        self.midi = MidiController(self)  # MIDI controllers: mapping, learn, input ports (demixui/ui/midi.py)
        build_midi_menu(self, self.midi)
        self.midi.open_ports(settings.audio.midi_port)
        self._connect()
        self.transport.set_recent_files(settings.recent_files())
        geometry = settings.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # first run: 1280x800, or less on a small screen
            available = self.screen().availableGeometry()
            self.resize(min(1280, int(available.width() * 0.92)), min(800, int(available.height() * 0.9)))
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        if engine is None and engine_factory is not None:
            self.build_engine(settings.audio)

    def build_engine(self, audio: AudioSettings, on_built=None) -> None:
        """Make the engine on the worker; until then the panels show an idle state."""
        self._building_active = True

        def build():
            self._building = self.engine_factory(audio)  # kept so that shutdown() can close it if need be
            return self._building

        def built(engine) -> None:
            old, self.engine, self._building = self.engine, engine, None
            self._building_active = False
            self._errors_seen = 0  # the new engine counts its own errors
            if old is not None:
                old.close()
            self._reapply_mix()
            self._apply_cue(audio.cue_stems)
            if on_built is not None:
                on_built()
            self.engine_ready.emit()
            if self._pending_open is not None:
                pending, self._pending_open = self._pending_open, None
                pending()

        def failed(error: BaseException) -> None:
            self._building_active = False
            self.show_error(f"{error_text(error)}: choose a model in Settings (Ctrl+,)")
            self.task_failed.emit(error_text(error))

        self.tasks.submit(build, built, failed)

    def _reapply_mix(self) -> None:
        """A new engine starts neutral: give it what the controls show."""
        for strip in self.mixer.strips:
            self._call("set_gain_db", strip.stem, strip.gain_db())
            self._call("set_mute", strip.stem, strip.mute_button.isChecked())
            self._call("set_solo", strip.stem, strip.solo_button.isChecked())
        self._call("set_karaoke", self.mixer.karaoke_button.isChecked(), self.mixer.reduction_db())
        self._call("set_loop", self.transport.loop_button.isChecked())

    def _apply_cue(self, cue_stems: tuple[str, ...]) -> None:
        for stem in self.stems:
            self._call("set_cue", stem, stem in cue_stems)
        self._show_cue(cue_stems)

    def _show_cue(self, cue_stems: tuple[str, ...]) -> None:
        for strip in self.mixer.strips:
            strip.cue_button.blockSignals(True)  # showing, not asking: the engine has it already
            strip.cue_button.setChecked(strip.stem in cue_stems)
            strip.cue_button.blockSignals(False)

    def _cue_toggled(self, stem: str, on: bool) -> None:
        """A strip's cue button: the engine follows at once, and the cued stems are remembered."""
        self._call("set_cue", stem, on)
        audio = self.settings.audio
        cued = {s for s in audio.cue_stems if s != stem} | ({stem} if on else set())
        self.settings.save_audio(replace(audio, cue_stems=tuple(s for s in self.stems if s in cued)))

    # ---- construction -------------------------------------------------------------------------------------
    def _fill_recent_menu(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.open_file(p)).setToolTip(path)
        self.recent_menu.setEnabled(bool(paths))
        self.transport.set_recent_files(paths)

    def show_shortcuts(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", SHORTCUTS_HELP,
                          QMessageBox.StandardButton.Close, self)
        box.open()  # non-blocking
        return box

    def _connect(self) -> None:
        t = self.transport
        t.open_requested.connect(self.open_dialog)
        t.recent_requested.connect(self.open_file)
        t.play_pause_requested.connect(self.toggle_play)
        t.stop_requested.connect(lambda: self._call("stop"))
        t.loop_toggled.connect(lambda on: self._call("set_loop", on))
        t.seek_requested.connect(lambda seconds: self._call("seek", seconds))
        t.record_button.clicked.connect(self.recording.toggle)
        self.recording.changed.connect(t.show_recording)
        for strip in self.mixer.strips:
            strip.gain_changed.connect(lambda stem, db: self._call("set_gain_db", stem, db))
            strip.mute_toggled.connect(lambda stem, on: self._call("set_mute", stem, on))
            strip.solo_toggled.connect(lambda stem, on: self._call("set_solo", stem, on))
            strip.cue_toggled.connect(self._cue_toggled)
        self.mixer.karaoke_changed.connect(lambda on, db: self._call("set_karaoke", on, db))
        self.mixer.reset_requested.connect(lambda: self._call("reset_mix"))
        self._apply_cue(self.settings.audio.cue_stems)  # the remembered cue, on the buttons and the engine

    # ---- engine calls -------------------------------------------------------------------------------------
    def _call(self, name: str, *args) -> None:
        """A cheap engine call from the GUI thread; a DemixError becomes a banner, not a crash."""
        if self.engine is None:
            return
        try:
            getattr(self.engine, name)(*args)
        except DemixError as error:
            self.show_error(str(error))

    def show_error(self, text: str) -> None:
        self.banner.show_message(text, "error")

    def show_note(self, text: str) -> None:
        self.banner.show_message(text, "info")

    def run_slow(self, what: str, fn, on_done=None, on_error=None) -> None:
        """Run `fn` on the worker; `on_done(result)` on the GUI thread, or a banner (and `on_error()`)."""

        def failed(error: BaseException) -> None:
            self.show_error(str(error) if isinstance(error, DemixError) else f"{what}: {error_text(error)}")
            self._failed_message = self.banner.text()
            if on_error is not None:
                on_error()
            self.task_failed.emit(error_text(error))

        def done(result) -> None:
            if self.banner.isVisible() and self.banner.text() == self._failed_message:
                self.banner.hide()  # the last thing that failed now worked; other messages stay
            if on_done is not None:
                on_done(result)

        self.tasks.submit(fn, done, failed)

    def open_file(self, path: str) -> None:
        path = str(path)
        if self._engine_missing(lambda: self.open_file(path)):
            return
        self.transport.state_label.setText(f"opening {Path(path).name}…")
        engine = self.engine

        def opened(_result) -> None:
            self._fill_recent_menu(self.settings.add_recent_file(str(Path(path).resolve())))
            if self.autoplay:
                self._call("play")
            self.file_opened.emit(path)

        self.run_slow(f"could not open {path}", lambda: engine.open_file(path), opened)

    def _engine_missing(self, retry) -> bool:
        """True when there is no engine yet; `retry` then runs once it is built (or the user is told)."""
        if self.engine is not None:
            return False
        if self._building_active:
            self._pending_open = retry
        else:
            self.show_error("no model is loaded: choose one in Settings (Ctrl+,)")
        return True

    def open_live(self) -> None:
        if self._engine_missing(self.open_live):
            return
        device, engine = self.settings.audio.input_device, self.engine
        self.run_slow("could not open the live input", lambda: engine.open_live(device))

    def open_dialog(self) -> None:
        dialog = QFileDialog(self, "Open an audio file", "", AUDIO_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.open_file)
        dialog.open()  # window-modal but non-blocking: the timer keeps running

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings.audio, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.values()))
        dialog.open()
        return dialog

    def apply_settings(self, new: AudioSettings) -> None:
        """Apply the changed settings on the worker, and remember them once they took."""
        old = self.settings.audio
        engine = self.engine
        if new.midi_port != old.midi_port:
            self.midi.open_ports(new.midi_port)
        if engine is None:
            if self.engine_factory is not None:
                self.build_engine(new, lambda: self.settings.save_audio(new))
            return

        def apply() -> None:
            if new.output_device != old.output_device:
                engine.set_output_device(new.output_device)
            if new.input_device != old.input_device:
                engine.set_input_device(new.input_device)
            if new.blocksize != old.blocksize:
                engine.set_blocksize(new.blocksize)
            if new.model_path != old.model_path:
                engine.load_model(new.model_path, live=False)
            if new.live_model_path != old.live_model_path:
                engine.load_model(new.live_model_path, live=True)  # None: the bundled live model
            if new.live_input and not old.live_input:
                engine.open_live(new.input_device)
            if new.outputs != engine.outputs:  # DeviceError (a banner) when the device has too few channels
                engine.set_outputs(new.outputs)
            for stem in self.stems:
                engine.set_cue(stem, stem in new.cue_stems)

        def applied(_result) -> None:
            self.settings.save_audio(new)
            self._show_cue(new.cue_stems)

        self.run_slow("could not apply the settings", apply, applied)

    def snapshot(self) -> EngineSnapshot:
        return self.engine.snapshot() if self.engine is not None else IDLE_SNAPSHOT

    def toggle_play(self) -> None:
        state = self.snapshot().state
        if state == "playing":
            self._call("pause")
        elif state in ("stopped", "paused", "ended"):
            if state == "ended":
                self._call("seek", 0.0)
            self._call("play")

    def seek_relative(self, delta_s: float) -> None:
        snap = self.snapshot()
        if math.isfinite(snap.duration_s) and snap.duration_s > 0:
            self._call("seek", min(max(0.0, snap.position_s + delta_s), snap.duration_s))

    # ---- refresh ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        snap = self.snapshot()
        self.transport.show_snapshot(snap)
        self.mixer.show_snapshot(snap, self.stems)
        self.monitor.show_snapshot(snap)
        if self.engine is not None:
            self.spectrogram.set_sample_rate(snap.sample_rate)
            self.spectrogram.pull(self.engine)
        if snap.error_count > self._errors_seen:
            self._errors_seen = snap.error_count
            if snap.error:
                self.show_error(snap.error)
        title = f"demixui — {snap.source_name}" if snap.source_name else "demixui"
        if self.windowTitle() != title:
            self.setWindowTitle(title)

    # ---- drag and drop ------------------------------------------------------------------------------------
    @staticmethod
    def _dropped_file(mime) -> str | None:
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile():
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._dropped_file(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        path = self._dropped_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.open_file(path)

    # ---- shutdown -----------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the timer, join the worker, close the engine (its threads and stream). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        self.midi.close()
        self.export.shutdown()
        if self.recording.active and self.engine is not None:
            self.engine.stop_recording()  # keep what was recorded: the file is finished, not dropped
        self.settings.store.setValue("window/geometry", self.saveGeometry())
        self.settings.store.sync()
        self.tasks.shutdown()
        for engine in (self.engine, self._building):
            if engine is not None:
                engine.close()
        self.engine = self._building = None

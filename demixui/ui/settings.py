"""Settings remembered between runs (QSettings) and the dialog that edits them.

Devices are stored by name (what sounddevice accepts and what survives a replug), `None` meaning the
system default. Outputs besides the remix (stem outputs, a cue bus and the stems on it) are described in
demixui/engine/routing.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QSettings
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
    QVBoxLayout,
    QWidget,
)

from demixui.engine.midi_input import list_input_ports
from demixui.engine.routing import STEM_NAMES, OutputLayout

BLOCK_SIZES = tuple(2**k for k in range(6, 13))  # 64 .. 4096 frames
DEFAULT_BLOCKSIZE = 256
MAX_RECENT = 8


@dataclass
class AudioSettings:
    output_device: str | None = None
    input_device: str | None = None
    blocksize: int = DEFAULT_BLOCKSIZE
    model_path: str | None = None  # files; None: the bundled default model
    live_model_path: str | None = None  # live input; None: the bundled live model
    live_input: bool = False
    midi_port: str | None = None  # MIDI input port; None: every port
    stem_outputs: bool = False  # each stem, post-fader, on its own pair (channels 3-10)
    cue_bus: bool = False  # a cue pair for headphones after the other outputs
    cue_stems: tuple[str, ...] = ()  # the stems on it (pre-fader), in STEM_NAMES order

    @property
    def outputs(self) -> OutputLayout:
        return OutputLayout(stem_outputs=self.stem_outputs, cue_bus=self.cue_bus)


@dataclass
class AppSettings:
    """Typed access to a QSettings store (tests pass one backed by a temporary INI file)."""

    store: QSettings
    audio: AudioSettings = field(default_factory=AudioSettings)

    def __post_init__(self) -> None:
        self.audio = self.load_audio()

    def _text(self, key: str) -> str | None:
        value = self.store.value(key, "")
        return str(value) if value not in (None, "") else None

    def load_audio(self) -> AudioSettings:
        blocksize = self.store.value("audio/blocksize", DEFAULT_BLOCKSIZE)
        try:
            blocksize = int(blocksize)
        except (TypeError, ValueError):
            blocksize = DEFAULT_BLOCKSIZE
        return AudioSettings(
            output_device=self._text("audio/output_device"),
            input_device=self._text("audio/input_device"),
            blocksize=blocksize if blocksize in BLOCK_SIZES else DEFAULT_BLOCKSIZE,
            model_path=self._text("model/path"),
            live_model_path=self._text("model/live_path"),
            live_input=str(self.store.value("audio/live_input", "false")).lower() == "true",
            midi_port=self._text("midi/port"),
            stem_outputs=self._flag("outputs/stems"),
            cue_bus=self._flag("outputs/cue_bus"),
            cue_stems=tuple(s for s in STEM_NAMES if s in (self._text("outputs/cue_stems") or "").split(",")),
        )

    def _flag(self, key: str) -> bool:
        return str(self.store.value(key, "false")).lower() == "true"

    def save_audio(self, audio: AudioSettings) -> None:
        self.audio = audio
        self.store.setValue("audio/output_device", audio.output_device or "")
        self.store.setValue("audio/input_device", audio.input_device or "")
        self.store.setValue("audio/blocksize", int(audio.blocksize))
        self.store.setValue("model/path", audio.model_path or "")
        self.store.setValue("model/live_path", audio.live_model_path or "")
        self.store.setValue("audio/live_input", "true" if audio.live_input else "false")
        self.store.setValue("midi/port", audio.midi_port or "")
        self.store.setValue("outputs/stems", "true" if audio.stem_outputs else "false")
        self.store.setValue("outputs/cue_bus", "true" if audio.cue_bus else "false")
        self.store.setValue("outputs/cue_stems", ",".join(audio.cue_stems))
        self.store.sync()

    def midi_mapping(self) -> str | None:
        """The MIDI controller mapping as JSON (demixui.engine.midi.MidiMap.to_json), None when none saved."""
        return self._text("midi/mapping")

    def save_midi_mapping(self, text: str) -> None:
        self.store.setValue("midi/mapping", text)
        self.store.sync()

    def recent_files(self) -> list[str]:
        value = self.store.value("recent/files", [])
        if isinstance(value, str):  # QSettings gives a lone string for a one-element list
            value = [value]
        return [str(v) for v in (value or []) if v][:MAX_RECENT]

    def add_recent_file(self, path: str) -> list[str]:
        files = [path] + [f for f in self.recent_files() if f != path]
        self.store.setValue("recent/files", files[:MAX_RECENT])
        self.store.sync()
        return files[:MAX_RECENT]


def list_devices() -> tuple[list[str], list[str]]:
    """'name, host API' of the output and input devices PortAudio sees (sounddevice finds a device by that
    string, and the host API tells apart one card seen through ALSA and through JACK); empty lists when
    PortAudio cannot be queried."""
    try:
        import sounddevice

        devices = sounddevice.query_devices()
        hostapis = [api["name"] for api in sounddevice.query_hostapis()]
    except Exception:  # noqa: BLE001 - no PortAudio or no sound server: the lists are just empty
        return [], []
    outputs = [f"{d['name']}, {hostapis[d['hostapi']]}" for d in devices if d["max_output_channels"] >= 2]
    inputs = [f"{d['name']}, {hostapis[d['hostapi']]}" for d in devices if d["max_input_channels"] >= 1]
    return outputs, inputs


class SettingsDialog(QDialog):
    """Edits an AudioSettings; `values()` reads the result. Opened with `open()`, never a blocking exec()."""

    def __init__(self, audio: AudioSettings, parent: QWidget | None = None, devices=None, midi_ports=None):
        super().__init__(parent)
        self.setWindowTitle("demixui settings")
        outputs, inputs = devices if devices is not None else list_devices()
        self.output_box = self._device_box(outputs, audio.output_device)
        self.input_box = self._device_box(inputs, audio.input_device)
        self.blocksize_box = QComboBox()
        for frames in BLOCK_SIZES:
            self.blocksize_box.addItem(f"{frames} frames ({frames / 44.1:.1f} ms)", frames)
        self.blocksize_box.setCurrentIndex(BLOCK_SIZES.index(audio.blocksize))
        self.blocksize_box.setToolTip("Audio device block size: smaller is lower latency, larger is safer")
        self.model_edit, model_row = self._model_row(
            audio.model_path, "bundled default model",
            "The model files play through: an ONNX model exported by `demixui export`; empty for the bundled "
            "default model (the best quality)")
        self.live_model_edit, live_model_row = self._model_row(
            audio.live_model_path, "bundled live model",
            "The model live input plays through; empty for the bundled live model (a shorter STFT: 8.7 ms "
            "of model latency instead of 34.8)")
        self.live_box = QCheckBox("Separate the live input instead of a file")
        self.live_box.setChecked(audio.live_input)
        self.midi_box = self._device_box(midi_ports if midi_ports is not None else list_input_ports(),
                                         audio.midi_port)
        self.midi_box.setItemText(0, "All MIDI inputs")
        self.midi_box.setToolTip("MIDI controller input (MIDI ▸ MIDI learn maps its controls)")
        self.stem_outputs_box = QCheckBox("Stem outputs: each stem after its fader on its own pair")
        self.stem_outputs_box.setChecked(audio.stem_outputs)
        self.stem_outputs_box.setToolTip("For a DAW, OBS or a hardware mixer: needs a device (or JACK) with "
                                         "10 output channels or more")
        self.cue_box = QCheckBox("Cue bus for headphones, before the faders:")
        self.cue_box.setChecked(audio.cue_bus)
        self.cue_box.setToolTip("The cued stems at full level on the next pair, even when muted: pre-listen "
                                "before bringing a stem in")
        self.cue_stem_boxes = {}
        cue_row = QHBoxLayout()
        cue_row.addWidget(self.cue_box)
        for stem in STEM_NAMES:
            box = self.cue_stem_boxes[stem] = QCheckBox(stem)
            box.setChecked(stem in audio.cue_stems)
            cue_row.addWidget(box)
        cue_row.addStretch(1)
        self.layout_label = QLabel()
        for box in (self.stem_outputs_box, self.cue_box):
            box.toggled.connect(self._show_layout)
        self._show_layout()

        form = QFormLayout()
        form.addRow("Output device", self.output_box)
        form.addRow("Input device", self.input_box)
        form.addRow("Block size", self.blocksize_box)
        form.addRow("Model (files)", model_row)
        form.addRow("Model (live input)", live_model_row)
        form.addRow("", self.live_box)
        form.addRow("MIDI input", self.midi_box)
        form.addRow("Outputs", self.stem_outputs_box)
        form.addRow("", cue_row)
        form.addRow("", self.layout_label)
        standard = QDialogButtonBox.StandardButton
        buttons = QDialogButtonBox(standard.Ok | standard.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    @staticmethod
    def _device_box(names: list[str], current: str | None) -> QComboBox:
        box = QComboBox()
        box.addItem("System default", None)
        for name in names:
            box.addItem(name, name)
        if current is not None:
            index = box.findData(current)
            if index < 0:  # remembered device not present now: keep it selectable, it may come back
                box.addItem(f"{current} (not found)", current)
                index = box.count() - 1
            box.setCurrentIndex(index)
        return box

    def _show_layout(self) -> None:
        layout = OutputLayout(self.stem_outputs_box.isChecked(), self.cue_box.isChecked())
        for box in self.cue_stem_boxes.values():
            box.setEnabled(layout.cue_bus)
        self.layout_label.setText(f"Channels: {layout.describe()} ({layout.channels} in all)")

    def _model_row(self, path: str | None, placeholder: str, tooltip: str) -> tuple[QLineEdit, QHBoxLayout]:
        """A model file's field with Browse… and Bundled (which empties it) beside it."""
        edit = QLineEdit(path or "")
        edit.setPlaceholderText(placeholder)
        edit.setToolTip(tooltip)
        browse = QPushButton("Browse…")
        bundled = QPushButton("Bundled")
        browse.clicked.connect(lambda: self._browse_model(edit))
        bundled.clicked.connect(edit.clear)
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        row.addWidget(bundled)
        return edit, row

    def _browse_model(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", "", "ONNX models (*.onnx)")
        if path:
            edit.setText(path)

    def values(self) -> AudioSettings:
        return AudioSettings(
            output_device=self.output_box.currentData(),
            input_device=self.input_box.currentData(),
            blocksize=int(self.blocksize_box.currentData()),
            model_path=self.model_edit.text().strip() or None,
            live_model_path=self.live_model_edit.text().strip() or None,
            live_input=self.live_box.isChecked(),
            midi_port=self.midi_box.currentData(),
            stem_outputs=self.stem_outputs_box.isChecked(),
            cue_bus=self.cue_box.isChecked(),
            cue_stems=tuple(stem for stem, box in self.cue_stem_boxes.items() if box.isChecked()),
        )

"""MIDI controllers in the window: the MIDI menu, click-to-learn, and mapped controls acting on the widgets.

Messages arrive on the MIDI backend's thread (`MidiInput`) and are posted to the GUI thread through a queued
signal, so nothing Qt is touched from that thread. A mapped control acts on the same widgets the mouse and the
keys use (a fader's value, a button's toggle, `toggle_play`), so the window always shows what a controller did
and the engine follows through the usual signals. The mapping is kept in the settings (`midi/mapping`, JSON).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from demixui.engine.midi import (
    CONTINUOUS,
    TRANSPORT_TARGETS,
    Action,
    Learned,
    MidiMap,
    MidiMapError,
    Pending,
    target_kinds,
    target_label,
)
from demixui.engine.midi_control import load_midi_map
from demixui.engine.midi_input import MidiInput
from demixui.errors import DemixError
from demixui.outputs import write_text_atomic
from demixui.ui.keys import SEEK_STEP_S

log = logging.getLogger(__name__)
MAP_FILTER = "MIDI mappings (*.json);;All files (*)"
_LEARN_CLICKS = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseButtonRelease, QEvent.Type.Wheel)


class MidiController(QObject):
    """Owns the mapping, the input ports and the learn mode of one MainWindow."""

    message_received = Signal(object)  # a mido message: emitted on the MIDI thread, handled on the GUI thread
    learn_changed = Signal(bool)
    status_changed = Signal(str)

    def __init__(self, window, backend: str | None = None):
        super().__init__(window)
        self.window = window
        self.kinds = target_kinds(window.stems)
        self.map = self._load()
        self.input = MidiInput(self.message_received.emit, backend)
        self.status = "MIDI input not opened"
        self._pending_shown = None
        self.message_received.connect(self.handle)
        self.widgets = self._target_widgets()
        for widget in self.widgets:
            widget.installEventFilter(self)

    # ---- ports and mapping --------------------------------------------------------------------------------
    def open_ports(self, port: str | None = None) -> str:
        """(Re)open the input port named in Settings, or all of them; a failure is one line in the log (and in
        the banner when a mapping is waiting for a controller), never an exception."""
        self.status = self.input.open(port)
        log.info("%s", self.status)
        if not self.input.port_names and self.map.bindings:
            self.window.show_note(self.status)
        self.status_changed.emit(self.status)
        return self.status

    def _load(self) -> MidiMap:
        text = self.window.settings.midi_mapping()
        if text:
            try:
                return MidiMap.from_json(text, self.kinds)
            except MidiMapError as error:
                self.window.show_error(f"the saved MIDI mapping was dropped: {error}")
        return MidiMap(self.kinds)

    def save(self) -> None:
        self.window.settings.save_midi_mapping(self.map.to_json())

    def clear(self) -> None:
        self.map.clear()
        self.save()
        self.window.show_note("MIDI mapping cleared")

    def close(self) -> None:
        self.input.close()

    def save_as(self) -> QFileDialog:
        """MIDI ▸ Save mapping as: the mapping as a file, for `demixui play --midi-map FILE`."""
        dialog = QFileDialog(self.window, "Save the MIDI mapping as", "demixui-midi.json", MAP_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("json")
        dialog.fileSelected.connect(self.save_to)
        dialog.open()  # non-blocking
        return dialog

    def save_to(self, path: str) -> None:
        try:
            write_text_atomic(Path(path), self.map.to_json() + "\n")
        except DemixError as error:  # one line naming the file and the cause
            self.window.show_error(f"could not save the MIDI mapping: {error}")
            return
        self.window.show_note(f"MIDI mapping saved to {path}: demixui play --midi-map {path}")

    def open_map(self) -> QFileDialog:
        """MIDI ▸ Load mapping: replace the mapping with one saved before."""
        dialog = QFileDialog(self.window, "Load a MIDI mapping", "", MAP_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.load_from)
        dialog.open()
        return dialog

    def load_from(self, path: str) -> None:
        try:
            midi_map = load_midi_map(path, self.window.stems)
        except DemixError as error:
            self.window.show_error(str(error))
            return
        self.set_learning(False)
        self.map = midi_map
        self.save()
        self.window.show_note(f"MIDI mapping loaded from {path}: {len(midi_map.bindings)} controls mapped")

    # ---- learning -----------------------------------------------------------------------------------------
    def set_learning(self, on: bool) -> None:
        if on == self.map.learning:
            return
        if on:
            self.map.start_learn()
            self._pending_shown = None
            ports = f" ({self.status})" if not self.input.port_names else ""
            self.window.show_note("MIDI learn: move a control, then click what it should drive (or the "
                                  f"reverse); MIDI ▸ Learn target lists every action{ports}")
        else:
            self.map.stop_learn()
            self.save()
            self.window.show_note(f"MIDI learn off: {len(self.map.bindings)} controls mapped")
        self.learn_changed.emit(on)

    def arm(self, target: str) -> None:
        """Learning: `target` was clicked (or chosen in the menu)."""
        if not self.map.learning:
            self.set_learning(True)
        learned = self.map.arm(target)
        if learned is not None:
            self._learned(learned)
        else:
            self.window.show_note(f"MIDI learn: move a control for {target_label(target)}")

    def _learned(self, event: Learned) -> None:
        binding = event.binding
        self.save()
        self._pending_shown = None
        self.window.show_note(f"MIDI: {binding.control.label()} → {target_label(binding.target)} "
                              f"({binding.mode})")

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        """While learning, a click on a mapped widget chooses it as the target instead of acting."""
        if self.map.learning and event.type() in _LEARN_CLICKS and watched in self.widgets:
            if event.type() == QEvent.Type.MouseButtonPress:
                self.arm(self.widgets[watched])
            return True
        return False

    # ---- messages -----------------------------------------------------------------------------------------
    def handle(self, message) -> None:
        """One MIDI message, on the GUI thread."""
        for event in self.map.handle(message, self.current):
            if isinstance(event, Action):
                self.apply(event)
            elif isinstance(event, Learned):
                self._learned(event)
            elif isinstance(event, Pending) and event.control != self._pending_shown:
                self._pending_shown = event.control
                self.window.show_note(f"MIDI learn: {event.control.label()}: now click what it should drive")

    def _slider(self, target: str):
        kind, _, stem = target.partition(":")
        if kind == "gain":
            return self.window.mixer.strips[self.window.stems.index(stem)].fader
        return self.window.mixer.karaoke_amount if target == "karaoke_amount" else None

    def current(self, target: str) -> float | None:
        """A continuous target's position now, 0..1 of its range (soft takeover compares with it)."""
        slider = self._slider(target)
        if slider is None:
            return None
        return (slider.value() - slider.minimum()) / max(1, slider.maximum() - slider.minimum())

    def apply(self, action: Action) -> None:
        if self.kinds[action.target] == CONTINUOUS:
            slider = self._slider(action.target)
            if action.value is not None:
                span = slider.maximum() - slider.minimum()
                slider.setValue(round(slider.minimum() + action.value * span))
            else:
                slider.setValue(slider.value() + action.steps * slider.singleStep())
            return
        self._buttons()[action.target]()

    def _buttons(self) -> dict:
        w = self.window
        actions = {
            "play_pause": w.toggle_play, "stop": w.transport.stop_requested.emit,
            "loop": w.transport.loop_button.toggle, "karaoke": w.mixer.karaoke_button.toggle,
            "reset": w.mixer.reset, "seek_back": lambda: w.seek_relative(-SEEK_STEP_S),
            "seek_forward": lambda: w.seek_relative(SEEK_STEP_S),
        }
        for stem, strip in zip(w.stems, w.mixer.strips, strict=True):
            actions[f"mute:{stem}"] = strip.mute_button.toggle
            actions[f"solo:{stem}"] = strip.solo_button.toggle
            actions[f"cue:{stem}"] = strip.cue_button.toggle
        return actions

    def _target_widgets(self) -> dict:
        w = self.window
        widgets = {w.transport.play_button: "play_pause", w.transport.stop_button: "stop",
                   w.transport.loop_button: "loop", w.mixer.karaoke_button: "karaoke",
                   w.mixer.karaoke_amount: "karaoke_amount", w.mixer.reset_button: "reset"}
        for stem, strip in zip(w.stems, w.mixer.strips, strict=True):
            widgets[strip.fader] = f"gain:{stem}"
            widgets[strip.mute_button] = f"mute:{stem}"
            widgets[strip.solo_button] = f"solo:{stem}"
            widgets[strip.cue_button] = f"cue:{stem}"
        return widgets


def build_midi_menu(window, controller: MidiController) -> None:
    """MIDI ▸ Learn (Ctrl+M), Learn target ▸ every action, Clear, Save as and Load mapping, the input
    status."""
    menu = window.menuBar().addMenu("&MIDI")
    learn = QAction("MIDI &learn", window)
    learn.setCheckable(True)
    learn.setShortcut(QKeySequence("Ctrl+M"))
    learn.toggled.connect(controller.set_learning)
    controller.learn_changed.connect(learn.setChecked)
    menu.addAction(learn)
    window.midi_learn_action = learn
    targets = menu.addMenu("Learn &target")
    for target in [t for t in controller.kinds if t not in TRANSPORT_TARGETS] + list(TRANSPORT_TARGETS):
        targets.addAction(target_label(target), lambda t=target: controller.arm(t))
    menu.addAction("&Clear mapping", controller.clear)
    menu.addAction("&Save mapping as…", controller.save_as)
    menu.addAction("L&oad mapping…", controller.open_map)
    menu.addSeparator()
    status = menu.addAction(controller.status)
    status.setEnabled(False)
    controller.status_changed.connect(lambda text: status.setText(text))

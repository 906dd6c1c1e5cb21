"""MIDI ▸ Save mapping as / Load mapping in the real window (offscreen): the file `demixui play --midi-map`
reads, written and read back through the dialogs a user clicks through."""

from __future__ import annotations

from qt_offscreen import QT_MARKS  # offscreen Qt; the module is skipped without PySide6 or pytest-qt

pytestmark = QT_MARKS

import test_ui_window as ui_window  # noqa: E402

from demixui.engine.midi import Control, MidiMap  # noqa: E402
from demixui.engine.midi_control import load_midi_map  # noqa: E402

settings, window = ui_window.settings, ui_window.window  # the same fixtures


def test_a_mapping_saved_as_a_file_loads_in_play_and_back_in_the_window(qtbot, window, tmp_path):
    midi = window.midi
    midi.map.bind(Control("cc", 0, 7), "gain:drums", "absolute")
    midi.map.bind(Control("note", 9, 36), "mute:bass", "button")
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&MIDI")
    assert {"&Save mapping as…", "L&oad mapping…"} <= {a.text() for a in menu.actions()}

    path = tmp_path / "decks.json"
    dialog = midi.save_as()  # non-blocking, as the menu opens it
    dialog.selectFile(str(path))
    dialog.accept()
    assert f"demixui play --midi-map {path}" in window.banner.text()
    assert load_midi_map(path, window.stems).bindings == midi.map.bindings  # what `play` reads

    midi.clear()
    assert not midi.map.bindings
    dialog = midi.open_map()
    dialog.selectFile(str(path))
    dialog.accept()
    assert midi.map.binding_for("mute:bass").control == Control("note", 9, 36)
    assert MidiMap.from_json(window.settings.midi_mapping(), midi.kinds).bindings == midi.map.bindings
    assert "2 controls mapped" in window.banner.text()

    (tmp_path / "bad.json").write_text("[1, 2]")
    midi.load_from(str(tmp_path / "bad.json"))
    assert "bad.json" in window.banner.text() and "not a demixui MIDI mapping" in window.banner.text()
    assert len(midi.map.bindings) == 2  # the mapping in use stays

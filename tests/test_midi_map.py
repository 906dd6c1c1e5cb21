"""The MIDI mapping with plain mido messages: absolute and relative CC, notes and CC buttons, soft takeover,
learning and the saved form."""

from __future__ import annotations

import pytest

mido = pytest.importorskip("mido")

from demixui.engine.midi import (  # noqa: E402
    BUTTON,
    CONTINUOUS,
    Action,
    Control,
    Learned,
    MidiMap,
    MidiMapError,
    Pending,
    guess_mode,
    relative_steps,
    target_kinds,
)

STEMS = ("vocals", "drums", "bass", "other")
KINDS = target_kinds(STEMS)


def cc(number: int, value: int, channel: int = 0):
    return mido.Message("control_change", channel=channel, control=number, value=value)


def note_on(note: int, velocity: int = 100, channel: int = 0):
    return mido.Message("note_on", channel=channel, note=note, velocity=velocity)


def note_off(note: int, channel: int = 0):
    return mido.Message("note_off", channel=channel, note=note)


class Targets:
    """Stand-in for the window: continuous targets hold a value 0..1, actions land here."""

    def __init__(self, **values: float):
        self.values = dict(values)
        self.presses: list[str] = []

    def current(self, target: str) -> float | None:
        return self.values.get(target)

    def apply(self, events) -> None:
        for event in events:
            assert isinstance(event, Action), event
            if event.value is not None:
                self.values[event.target] = event.value
            elif event.steps:
                self.values[event.target] += event.steps / 144
            else:
                self.presses.append(event.target)

    def feed(self, midi_map: MidiMap, *messages) -> None:
        for message in messages:
            self.apply(midi_map.handle(message, self.current))


def test_every_stem_and_transport_action_is_a_target():
    for stem in STEMS:
        assert KINDS[f"gain:{stem}"] == CONTINUOUS
        assert KINDS[f"mute:{stem}"] == KINDS[f"solo:{stem}"] == BUTTON
    for name in ("play_pause", "stop", "loop", "seek_back", "seek_forward", "reset", "karaoke"):
        assert KINDS[name] == BUTTON
    assert KINDS["karaoke_amount"] == CONTINUOUS


def test_absolute_cc_spans_the_range_once_it_has_taken_hold():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 0, 7), "gain:vocals", "absolute")
    targets = Targets(**{"gain:vocals": 0.0})
    targets.feed(midi_map, cc(7, 0))  # at the target's value: takes hold at once
    for value in (0, 64, 127):
        targets.feed(midi_map, cc(7, value))
        assert targets.values["gain:vocals"] == pytest.approx(value / 127)
    targets.feed(midi_map, cc(7, 5, channel=1), cc(8, 20))  # other channel, other CC: not bound
    assert targets.values["gain:vocals"] == 1.0


def test_soft_takeover_waits_until_the_control_passes_the_value():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 0, 7), "gain:drums", "absolute")
    targets = Targets(**{"gain:drums": 0.8})  # e.g. 0 dB on the fader
    for value in (0, 10, 40, 80):  # below the fader: nothing moves, no jump
        targets.feed(midi_map, cc(7, value))
        assert targets.values["gain:drums"] == 0.8
    targets.feed(midi_map, cc(7, 110))  # passed 0.8 (101.6/127) between two messages: takes hold
    assert targets.values["gain:drums"] == pytest.approx(110 / 127)
    targets.feed(midi_map, cc(7, 90))  # and now follows both ways
    assert targets.values["gain:drums"] == pytest.approx(90 / 127)

    targets.values["gain:drums"] = 0.2  # the mouse (or reset) moved the fader: the control lets go
    targets.feed(midi_map, cc(7, 95), cc(7, 100))
    assert targets.values["gain:drums"] == 0.2
    targets.feed(midi_map, cc(7, 26))  # within reach of 0.2 (25.4/127): takes hold again
    assert targets.values["gain:drums"] == pytest.approx(26 / 127)


def test_soft_takeover_from_above_and_a_first_message_near_the_value():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 3, 20), "karaoke_amount", "absolute")
    targets = Targets(karaoke_amount=0.5)
    targets.feed(midi_map, cc(20, 127, channel=3), cc(20, 100, channel=3))
    assert targets.values["karaoke_amount"] == 0.5
    targets.feed(midi_map, cc(20, 60, channel=3))  # crossed from above
    assert targets.values["karaoke_amount"] == pytest.approx(60 / 127)

    other = MidiMap(KINDS)
    other.bind(Control("cc", 0, 1), "gain:bass", "absolute")
    targets = Targets(**{"gain:bass": 0.5})
    targets.feed(other, cc(1, 65))  # first message, within 2.5/127 of 0.5: no need to cross
    assert targets.values["gain:bass"] == pytest.approx(65 / 127)


@pytest.mark.parametrize(("mode", "value", "steps"), [
    ("relative", 1, 1), ("relative", 3, 3), ("relative", 127, -1), ("relative", 125, -3),
    ("relative64", 65, 1), ("relative64", 67, 3), ("relative64", 63, -1), ("relative64", 60, -4),
])
def test_relative_encodings(mode, value, steps):
    assert relative_steps(value, mode) == steps
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 0, 16), "gain:other", mode)
    assert midi_map.handle(cc(16, value), lambda t: 0.5) == [Action("gain:other", steps=steps)]


def test_relative_cc_needs_no_takeover():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 0, 16), "gain:other", "relative")
    targets = Targets(**{"gain:other": 0.5})
    targets.feed(midi_map, cc(16, 1), cc(16, 1), cc(16, 127))
    assert targets.values["gain:other"] == pytest.approx(0.5 + 1 / 144)


def test_notes_and_cc_buttons_press_on_the_way_down_only():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("note", 9, 36), "mute:drums", "button")
    midi_map.bind(Control("cc", 0, 64), "play_pause", "button")
    targets = Targets()
    targets.feed(midi_map, note_on(36, channel=9), note_off(36, channel=9),
                 note_on(36, channel=9), note_on(36, velocity=0, channel=9))  # velocity 0 is a release
    assert targets.presses == ["mute:drums", "mute:drums"]
    targets.presses.clear()
    targets.feed(midi_map, cc(64, 127), cc(64, 0), cc(64, 127), cc(64, 127))  # 127 alone per press works too
    assert targets.presses == ["play_pause"] * 3
    targets.feed(midi_map, mido.Message("pitchwheel", pitch=100), mido.Message("clock"))
    assert targets.presses == ["play_pause"] * 3


def test_learn_a_control_then_click_the_target():
    midi_map = MidiMap(KINDS)
    midi_map.start_learn()
    events = []
    for value in (10, 20, 35, 50):  # a fader sweep
        events += midi_map.handle(cc(7, value, channel=2), lambda t: 0.5)
    assert events == [Pending(Control("cc", 2, 7))] * 4  # learning: nothing acts
    learned = midi_map.arm("gain:bass")
    assert isinstance(learned, Learned)
    assert (learned.binding.control, learned.binding.target, learned.binding.mode) == (
        Control("cc", 2, 7), "gain:bass", "absolute")
    midi_map.stop_learn()
    targets = Targets(**{"gain:bass": 50 / 127})
    targets.feed(midi_map, cc(7, 51, channel=2))
    assert targets.values["gain:bass"] == pytest.approx(51 / 127)


def test_learn_the_target_first_then_an_encoder_refines_the_mode():
    midi_map = MidiMap(KINDS)
    midi_map.start_learn()
    assert midi_map.arm("gain:vocals") is None
    events = midi_map.handle(cc(21, 1), lambda t: 0.5)
    assert [type(e) for e in events] == [Learned]
    for _ in range(3):  # the encoder keeps turning: the same small tick again and again
        assert midi_map.handle(cc(21, 1), lambda t: 0.5) == []
    assert midi_map.binding_for("gain:vocals").mode == "relative"

    assert midi_map.arm("karaoke_amount") is None
    for value in (65, 65, 66):
        midi_map.handle(cc(22, value), lambda t: 0.5)
    assert midi_map.binding_for("karaoke_amount").mode == "relative64"


def test_learning_buttons_and_replacing_a_binding():
    midi_map = MidiMap(KINDS)
    midi_map.start_learn()
    midi_map.handle(note_on(40), lambda t: None)
    midi_map.handle(note_off(40), lambda t: None)  # the release does not disturb the pending note
    assert midi_map.arm("solo:vocals").binding.mode == "button"
    assert midi_map.arm("karaoke") is None
    assert isinstance(midi_map.handle(cc(30, 127), lambda t: None)[0], Learned)
    assert midi_map.binding_for("karaoke").mode == "button"

    assert midi_map.arm("gain:drums") is None  # a note cannot drive a fader: still waiting for a CC
    assert midi_map.handle(note_on(41), lambda t: None) == [Pending(Control("note", 0, 41))]
    assert midi_map.binding_for("gain:drums") is None

    assert midi_map.arm("solo:drums").binding.control == Control("note", 0, 41)  # the note moved just before

    midi_map.arm("solo:bass")
    midi_map.handle(note_on(40), lambda t: None)  # the same note learned again: it moves to the new target
    assert midi_map.binding_for("solo:vocals") is None
    assert midi_map.binding_for("solo:bass").control == Control("note", 0, 40)
    midi_map.arm("solo:bass")
    midi_map.handle(note_on(42), lambda t: None)  # a target learned again drops its old control
    assert [b.target for b in midi_map.bindings.values()].count("solo:bass") == 1
    assert Control("note", 0, 40) not in midi_map.bindings


def test_guess_mode():
    fader = Control("cc", 0, 1)
    assert guess_mode(fader, CONTINUOUS, [0, 1, 2, 3]) == "absolute"
    assert guess_mode(fader, CONTINUOUS, [127, 127, 126]) == "relative"
    assert guess_mode(fader, CONTINUOUS, [63, 63]) == "relative64"
    assert guess_mode(fader, CONTINUOUS, [64, 64]) == "absolute"
    assert guess_mode(fader, CONTINUOUS, []) == "absolute"
    assert guess_mode(fader, BUTTON, [127]) == "button"


def test_save_and_load_round_trip():
    midi_map = MidiMap(KINDS)
    midi_map.bind(Control("cc", 0, 7), "gain:vocals", "absolute")
    midi_map.bind(Control("cc", 15, 16), "karaoke_amount", "relative64")
    midi_map.bind(Control("note", 9, 36), "play_pause", "button")
    loaded = MidiMap.from_json(midi_map.to_json(), KINDS)
    assert loaded.bindings == midi_map.bindings
    assert loaded.to_json() == midi_map.to_json()


@pytest.mark.parametrize("text", [
    "", "[]", '{"format": "other"}', '{"format": "demixui-midi-map"}',
    '{"format": "demixui-midi-map", "bindings": [{"control": {"type": "cc", "channel": 16, "number": 1},'
    ' "target": "stop", "mode": "button"}]}',
    '{"format": "demixui-midi-map", "bindings": [{"control": {"type": "cc", "channel": 0, "number": 1},'
    ' "target": "gain:vocals", "mode": "button"}]}',
    '{"format": "demixui-midi-map", "bindings": [{"control": {"type": "cc", "channel": 0, "number": 1},'
    ' "target": "nope", "mode": "button"}]}',
])
def test_a_bad_mapping_is_one_clear_error(text):
    with pytest.raises(MidiMapError) as error:
        MidiMap.from_json(text, KINDS)
    assert "\n" not in str(error.value)

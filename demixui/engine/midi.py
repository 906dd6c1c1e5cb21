"""MIDI controller mapping: mido messages in, actions on named targets out (no Qt, no I/O).

A *control* is a CC number or a note on one MIDI channel; a *binding* ties a control to a *target* (a fader
such as `gain:vocals`, or a button such as `mute:drums` or `play_pause`) with a mode:

- `absolute`: CC 0-127 spans the target's whole range (a fader: -inf .. +12 dB). Soft takeover: the control
  acts only once it reaches or passes the target's current value, so a fader never jumps.
- `relative` (two's complement: 1..63 up, 127..65 down) and `relative64` (64-centred: 65 is +1, 63 is -1):
  encoders; each tick moves the target by one of its own steps (one fader step is 0.5 dB).
- `button`: a note-on (velocity > 0) or a CC rising to 64 or more is a press, which toggles or triggers the
  target; releases do nothing.

Learning: `start_learn()`, then move a control and `arm(target)` (or the reverse); the binding's mode is
guessed from the target kind and the values the control sent (an encoder repeats small steps, a fader sweeps),
and refined while learning goes on. `to_json`/`from_json` save and load the bindings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from demixui.errors import DemixError

CONTINUOUS = "continuous"
BUTTON = "button"
MODES = ("absolute", "relative", "relative64", "button")
# Soft takeover: an absolute control takes hold when within this distance of the target's value (normalised
# 0..1), or when it crosses the value between two messages. A target that moved by more than TAKEOVER_LOST
# from what the control last set (a mouse, a key, reset) was moved by something else: the control lets go.
TAKEOVER_NEAR = 2.5 / 127
TAKEOVER_LOST = 2.0 / 127
HISTORY = 8  # values kept from the control being learned, to tell an encoder from a fader
FORMAT_VERSION = 1

TRANSPORT_TARGETS = {
    "play_pause": "Play / pause", "stop": "Stop", "loop": "Loop", "seek_back": "Seek back 5 s",
    "seek_forward": "Seek forward 5 s", "reset": "Reset the mix", "karaoke": "Karaoke on / off",
    "karaoke_amount": "Karaoke amount",
}


class MidiMapError(DemixError):
    """A mapping file that cannot be read as a demixui MIDI mapping."""


def target_kinds(stems: Iterable[str]) -> dict[str, str]:
    """Every target the app offers, `name -> CONTINUOUS | BUTTON`: per-stem gain, mute, solo and cue,
    karaoke and the transport."""
    kinds: dict[str, str] = {}
    for stem in stems:
        kinds[f"gain:{stem}"] = CONTINUOUS
        kinds[f"mute:{stem}"] = BUTTON
        kinds[f"solo:{stem}"] = BUTTON
        kinds[f"cue:{stem}"] = BUTTON
    kinds.update({name: BUTTON for name in TRANSPORT_TARGETS})
    kinds["karaoke_amount"] = CONTINUOUS
    return kinds


def target_label(target: str) -> str:
    """`gain:vocals` -> `Vocals volume`, for messages and menus."""
    kind, _, stem = target.partition(":")
    if stem:
        return f"{stem.capitalize()} {dict(gain='volume', mute='mute', solo='solo').get(kind, kind)}"
    return TRANSPORT_TARGETS.get(target, target)


@dataclass(frozen=True)
class Control:
    """A physical control: `kind` 'cc' or 'note', MIDI `channel` 0-15, CC or note `number` 0-127."""

    kind: str
    channel: int
    number: int

    def label(self) -> str:
        return f"{'CC' if self.kind == 'cc' else 'note'} {self.number} ch {self.channel + 1}"


@dataclass
class Binding:
    control: Control
    target: str
    mode: str
    # soft takeover state (absolute mode): not saved
    engaged: bool = field(default=False, compare=False)
    last_value: float | None = field(default=None, compare=False)  # the control's previous position, 0..1
    last_set: float | None = field(default=None, compare=False)  # what this control last set the target to


@dataclass(frozen=True)
class Action:
    """Set `target` to `value` (0..1 of its range), move it by `steps` of its own steps, or (a button: both
    None/0) press it."""

    target: str
    value: float | None = None
    steps: int = 0


@dataclass(frozen=True)
class Learned:
    binding: Binding


@dataclass(frozen=True)
class Pending:
    """Learning: a control was moved and waits for a target to be armed."""

    control: Control


def control_of(message) -> tuple[Control, int, bool] | None:
    """`(control, value 0-127, is_press_or_value)` for a CC or note message, else None. A note-off (or note-on
    with velocity 0) gives value 0."""
    kind = getattr(message, "type", None)
    if kind == "control_change":
        return Control("cc", message.channel, message.control), message.value, True
    if kind in ("note_on", "note_off"):
        velocity = message.velocity if kind == "note_on" else 0
        return Control("note", message.channel, message.note), velocity, velocity > 0
    return None


def relative_steps(value: int, mode: str) -> int:
    """Signed ticks of an encoder message: two's complement (`relative`) or 64-centred (`relative64`)."""
    if mode == "relative":
        return value - 128 if value >= 64 else value
    return value - 64


def guess_mode(control: Control, kind: str, values: list[int]) -> str:
    """The mode a learned binding gets: notes and button targets are buttons; a CC that repeats a value (an
    encoder sends the same tick again and again) near 0/127 is two's complement, near 64 is 64-centred; else
    absolute."""
    if kind == BUTTON or control.kind == "note":
        return "button"
    repeats = any(a == b for a, b in zip(values, values[1:], strict=False))
    if repeats and all(v < 16 or v > 111 for v in values) and any(0 < v < 16 or v > 111 for v in values):
        return "relative"
    if repeats and all(48 <= v <= 80 and v != 64 for v in values):
        return "relative64"
    return "absolute"


class MidiMap:
    """Bindings plus learn and soft-takeover state. `handle(message, current)` is called for every incoming
    message; `current(target)` gives a continuous target's value now (0..1), for soft takeover."""

    def __init__(self, kinds: dict[str, str], bindings: Iterable[Binding] = ()):
        self.kinds = dict(kinds)
        self.bindings: dict[Control, Binding] = {}
        for binding in bindings:
            self.bind(binding.control, binding.target, binding.mode)
        self.learning = False
        self.armed: str | None = None  # learning: the target waiting for a control
        self.pending: Control | None = None  # learning: the control waiting for a target
        self._values: list[int] = []  # learning: recent values of `pending` or of the last learned control
        self._last_learned: Binding | None = None

    # ---- bindings -----------------------------------------------------------------------------------------
    def bind(self, control: Control, target: str, mode: str) -> Binding:
        """Tie `control` to `target`; a control drives one target, and a target learned again drops its old
        control."""
        if target not in self.kinds:
            raise MidiMapError(f"unknown MIDI target {target!r}")
        if mode not in MODES:
            raise MidiMapError(f"unknown MIDI mode {mode!r} (one of {', '.join(MODES)})")
        if (self.kinds[target] == BUTTON) != (mode == "button"):
            raise MidiMapError(f"mode {mode!r} does not fit {target_label(target)}")
        for other in [c for c, b in self.bindings.items() if b.target == target]:
            del self.bindings[other]
        binding = Binding(control, target, mode)
        self.bindings[control] = binding
        return binding

    def unbind(self, target: str) -> None:
        for control in [c for c, b in self.bindings.items() if b.target == target]:
            del self.bindings[control]

    def clear(self) -> None:
        self.bindings.clear()

    def binding_for(self, target: str) -> Binding | None:
        return next((b for b in self.bindings.values() if b.target == target), None)

    # ---- learning -----------------------------------------------------------------------------------------
    def start_learn(self) -> None:
        self.learning, self.armed, self.pending, self._last_learned = True, None, None, None
        self._values = []

    def stop_learn(self) -> None:
        self.learning, self.armed, self.pending, self._last_learned = False, None, None, None
        self._values = []

    def arm(self, target: str) -> Learned | None:
        """Learning: choose `target`; bound at once to a control moved before, else to the next one."""
        if target not in self.kinds:
            raise MidiMapError(f"unknown MIDI target {target!r}")
        if self.pending is not None:
            return self._learn(self.pending, target)
        self.armed = target
        return None

    def _learn(self, control: Control, target: str) -> Learned | None:
        mode = guess_mode(control, self.kinds[target], self._values)
        if control.kind == "note" and self.kinds[target] == CONTINUOUS:
            return None  # a note cannot drive a fader; keep waiting for a CC
        binding = self.bind(control, target, mode)
        self.armed, self.pending, self._last_learned = None, None, binding
        return Learned(binding)

    def _learn_message(self, control: Control, value: int, pressed: bool) -> list:
        if control.kind == "note" and not pressed:
            return []  # the release of a note that was just learned or is pending
        last = self._last_learned
        if last is not None and last.control == control and self.armed is None:
            self._values = (self._values + [value])[-HISTORY:]
            last.mode = guess_mode(control, self.kinds[last.target], self._values)  # refine while it moves
            return []
        if control != self.pending:
            self._values = []
        self._values = (self._values + [value])[-HISTORY:]
        if self.armed is not None:
            learned = self._learn(control, self.armed)
            if learned is not None:
                return [learned]
        self.pending = control
        return [Pending(control)]

    # ---- playing ------------------------------------------------------------------------------------------
    def handle(self, message, current: Callable[[str], float | None]) -> list:
        """Actions (or, while learning, `Learned`/`Pending` events) for one mido message."""
        parsed = control_of(message)
        if parsed is None:
            return []
        control, value, pressed = parsed
        if self.learning:
            return self._learn_message(control, value, pressed)
        binding = self.bindings.get(control)
        if binding is None:
            return []
        if binding.mode == "button":
            return self._button(binding, control, value, pressed)
        if binding.mode == "absolute":
            return self._absolute(binding, value / 127.0, current(binding.target))
        steps = relative_steps(value, binding.mode)
        return [Action(binding.target, steps=steps)] if steps else []

    @staticmethod
    def _button(binding: Binding, control: Control, value: int, pressed: bool) -> list:
        """A note-on, or a CC of 64 or more, is a press (a held button sends nothing more, so a controller
        that sends 127 alone on each press works too); releases do nothing."""
        down = pressed if control.kind == "note" else value >= 64
        return [Action(binding.target)] if down else []

    @staticmethod
    def _absolute(binding: Binding, position: float, now: float | None) -> list:
        """Soft takeover: act once the control is at, or has passed, the target's current value."""
        previous, binding.last_value = binding.last_value, position
        if now is None:
            binding.engaged = True
        elif binding.engaged and binding.last_set is not None and abs(now - binding.last_set) > TAKEOVER_LOST:
            binding.engaged = False  # something else moved the target
        if not binding.engaged:
            crossed = previous is not None and (previous - now) * (position - now) <= 0
            if abs(position - now) <= TAKEOVER_NEAR or crossed:
                binding.engaged = True
        if not binding.engaged:
            return []
        binding.last_set = position
        return [Action(binding.target, value=position)]

    # ---- saving -------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        bindings = [
            {"control": {"type": b.control.kind, "channel": b.control.channel, "number": b.control.number},
             "target": b.target, "mode": b.mode}
            for b in sorted(self.bindings.values(), key=lambda b: b.target)
        ]
        return json.dumps({"format": "demixui-midi-map", "version": FORMAT_VERSION, "bindings": bindings},
                          indent=1)

    @classmethod
    def from_json(cls, text: str, kinds: dict[str, str]) -> MidiMap:
        """Read `to_json`'s text; MidiMapError (one line) when it is not a mapping or a binding is invalid."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != "demixui-midi-map":
                raise MidiMapError("not a demixui MIDI mapping")
            bindings = []
            for item in data["bindings"]:
                c = item["control"]
                if c["type"] not in ("cc", "note") or not 0 <= int(c["channel"]) <= 15 \
                        or not 0 <= int(c["number"]) <= 127:
                    raise MidiMapError(f"invalid MIDI control {c}")
                bindings.append(Binding(Control(c["type"], int(c["channel"]), int(c["number"])),
                                        str(item["target"]), str(item["mode"])))
        except (ValueError, KeyError, TypeError) as error:
            raise MidiMapError(f"not a demixui MIDI mapping ({type(error).__name__}: {error})") from None
        return cls(kinds, bindings)

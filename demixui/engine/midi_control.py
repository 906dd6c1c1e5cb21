"""A MIDI controller driving the engine with no window (`demixui play --midi-map FILE`): the mapping the
window learned and saved, applied to the engine directly (no Qt).

The engine's own state is the truth, as the widgets are in the window: a fader's position for soft takeover,
and whether a mute is on before a press toggles it, are read from its snapshot, on the same scale as the
window's controls (demixui/engine/faders.py), so a mapping behaves the same in both. Messages arrive on the
MIDI backend's threads (one per port); a lock makes their handling one at a time, and the engine's calls are
themselves thread-safe.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from demixui.engine.faders import (
    FADER_MAX_DB,
    FADER_MIN_DB,
    FADER_STEPS_PER_DB,
    KARAOKE_FULL,
    KARAOKE_MIN_DB,
    db_to_fader,
    db_to_karaoke,
    fader_to_db,
    karaoke_to_db,
)
from demixui.engine.midi import CONTINUOUS, Action, MidiMap, MidiMapError, target_kinds, target_label
from demixui.errors import DemixError

SEEK_STEP_S = 5.0  # as the window's arrow keys and its MIDI seek targets
_FADER_RANGE = (int(FADER_MIN_DB * FADER_STEPS_PER_DB), int(FADER_MAX_DB * FADER_STEPS_PER_DB))
_KARAOKE_RANGE = (KARAOKE_MIN_DB, KARAOKE_FULL)


def load_midi_map(path: str | Path, stems) -> MidiMap:
    """A mapping file written by the window (MIDI ▸ Save mapping as) or `MidiMap.to_json`; one-line errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DemixError(f"{path}: cannot read the MIDI mapping ({getattr(error, 'strerror', None) or error})"
                         ) from None
    try:
        midi_map = MidiMap.from_json(text, target_kinds(stems))
    except MidiMapError as error:
        raise DemixError(f"{path}: {error}") from None
    if not midi_map.bindings:
        raise DemixError(f"{path}: the MIDI mapping binds no control")
    return midi_map


class EngineMidi:
    """`handle(message)`: one mido message through `midi_map`, acting on `engine`. `last` describes the last
    thing a control did (for the status line)."""

    def __init__(self, engine, midi_map: MidiMap):
        self.engine = engine
        self.map = midi_map
        self.stems = tuple(engine.stems)
        self.last: str | None = None
        self._lock = threading.Lock()

    def handle(self, message) -> None:
        with self._lock:
            for event in self.map.handle(message, self.current):
                if isinstance(event, Action):
                    self.apply(event)

    def _position(self, target: str) -> tuple[int, tuple[int, int]]:
        """A continuous target's position now as the window's control would show it, and its range."""
        snap = self.engine.snapshot()
        kind, _, stem = target.partition(":")
        if kind == "gain":
            return db_to_fader(snap.gains_db[self.stems.index(stem)]), _FADER_RANGE
        return db_to_karaoke(snap.karaoke_reduction_db), _KARAOKE_RANGE

    def current(self, target: str) -> float | None:
        """0..1 of a continuous target's range (soft takeover compares the control with it)."""
        if self.map.kinds.get(target) != CONTINUOUS:
            return None
        value, (low, high) = self._position(target)
        return (value - low) / (high - low)

    def apply(self, action: Action) -> None:
        if self.map.kinds[action.target] == CONTINUOUS:
            self._set(action)
        else:
            self._press(action.target)

    def _set(self, action: Action) -> None:
        value, (low, high) = self._position(action.target)
        if action.value is not None:
            value = round(low + action.value * (high - low))
        else:
            value += action.steps  # one step: 0.5 dB on a fader, 1 dB of karaoke
        value = min(max(value, low), high)
        if action.target == "karaoke_amount":
            reduction = karaoke_to_db(value)
            self.engine.set_karaoke(self.engine.snapshot().karaoke, reduction)
            self.last = f"{target_label('karaoke_amount')} " + ("removed" if math.isinf(reduction)
                                                                  else f"-{reduction:.0f} dB")
            return
        stem = action.target.partition(":")[2]
        gain = fader_to_db(value)
        self.engine.set_gain_db(stem, gain)
        self.last = f"{target_label(action.target)} " + ("-inf dB" if math.isinf(gain) else f"{gain:+.1f} dB")

    def _press(self, target: str) -> None:
        engine, snap = self.engine, self.engine.snapshot()
        kind, _, stem = target.partition(":")
        if stem:
            index = self.stems.index(stem)
            now = {"mute": snap.muted, "solo": snap.soloed, "cue": snap.cued}[kind][index]
            {"mute": engine.set_mute, "solo": engine.set_solo, "cue": engine.set_cue}[kind](stem, not now)
            self.last = f"{target_label(target)} {'off' if now else 'on'}"
            return
        if target == "play_pause":
            if snap.state == "playing":
                engine.pause()
            else:
                if snap.state == "ended":
                    engine.seek(0.0)
                engine.play()
        elif target == "stop":
            engine.stop()
        elif target == "loop":
            engine.set_loop(not snap.loop)
        elif target == "karaoke":
            engine.set_karaoke(not snap.karaoke, snap.karaoke_reduction_db)
        elif target == "reset":  # as the window's Reset: gains 0 dB, no mute, no solo, karaoke off
            for name in self.stems:
                engine.set_gain_db(name, 0.0)
                engine.set_mute(name, False)
                engine.set_solo(name, False)
            engine.set_karaoke(False, snap.karaoke_reduction_db)
        elif target in ("seek_back", "seek_forward") and math.isfinite(snap.duration_s):
            step = SEEK_STEP_S if target == "seek_forward" else -SEEK_STEP_S
            engine.seek(min(max(0.0, snap.position_s + step), snap.duration_s))
        self.last = target_label(target)

"""FluidSynth rendering of one part at a time (pyfluidsynth, plus float output through its ctypes library).

One synthesiser per track (see `fresh_renderer`). Events are placed on FluidSynth's 64-sample block
grid (1.5 ms): the synth applies events only at block boundaries, and keeping every render a whole number of
blocks makes the same notes give the same samples whatever was rendered before.
"""

from __future__ import annotations

import ctypes
import dataclasses
from pathlib import Path

import numpy as np

from demixui.data.score import Part
from demixui.errors import DemixError

SAMPLE_RATE = 44100
BLOCK = 64
TAIL_SECONDS = 4.0  # release tails (and cymbals, which ignore note-offs) rendered past the last note-off


def _fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as error:
        raise DemixError(
            f"FluidSynth is not available ({error}); install the fluidsynth package "
            "and the pyfluidsynth module (pip install 'demixui[train]')"
        ) from None
    return fluidsynth


class FluidRenderer:
    """Renders `Part`s with one SoundFont to float32 stereo `(nb_samples, 2)` at 44.1 kHz."""

    def __init__(self, soundfont: str | Path, dynamic_loading: bool = False):
        """`dynamic_loading`: read only the samples that notes use (a 490 MB SoundFont loads in 0.1 s)."""
        soundfont = Path(soundfont)
        if not soundfont.is_file():
            raise DemixError(
                f"{soundfont}: SoundFont not found (install fluid-soundfont-gm or pass --soundfont)"
            )
        fs = _fluidsynth()
        self.synth = fs.Synth(
            gain=0.4,
            samplerate=float(SAMPLE_RATE),
            **{
                "synth.reverb.active": 0,
                "synth.chorus.active": 0,
                "synth.cpu-cores": 1,
                "synth.polyphony": 256,
                "synth.dynamic-sample-loading": int(dynamic_loading),
            },
        )
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            raise DemixError(f"{soundfont}: FluidSynth could not load this SoundFont")
        self._write = fs.cfunc(
            "fluid_synth_write_float",
            ctypes.c_int,
            ("synth", ctypes.c_void_p, 1),
            ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1),
            ("loff", ctypes.c_int, 1),
            ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1),
            ("roff", ctypes.c_int, 1),
            ("rincr", ctypes.c_int, 1),
        )
        self._set_type = fs.cfunc(
            "fluid_synth_set_channel_type",
            ctypes.c_int,
            ("synth", ctypes.c_void_p, 1),
            ("chan", ctypes.c_int, 1),
            ("type", ctypes.c_int, 1),
        )
        self.presets = {
            (bank, program)
            for bank in (0, 128)
            for program in range(128)
            if self.synth.sfpreset_name(self.sfid, bank, program)
        }

    def preset_name(self, bank: int, program: int) -> str:
        """The SoundFont's name for a preset (what a part actually sounds like), "" when absent."""
        if (bank, program) not in self.presets:
            program = 0
        return str(self.synth.sfpreset_name(self.sfid, bank, program) or "")

    def _run(self, out: np.ndarray, start: int, stop: int) -> None:
        if stop > start:
            view = out[start:stop]
            self._write(self.synth.synth, stop - start, view.ctypes.data, 0, 2, view.ctypes.data, 1, 2)

    def _channels(self, part: Part) -> dict[int, int]:
        """MIDI channel of each pitch. A drum kit may place its pieces in the stereo image
        (`part.pans`: pitch -> pan in [-1, 1]); each distinct pan gets its own drum channel with that pan."""
        if part.bank != 128:
            self.synth.program_select(0, self.sfid, part.bank, part.program)
            return {}
        pans = [0.0, *sorted(set(part.pans.values()) - {0.0})]  # channel 9, the default, is centred
        channel_of_pan = {}
        for index, pan in enumerate(pans[:15]):
            channel = 9 if index == 0 else (index - 1 if index <= 9 else index)
            self._set_type(self.synth.synth, channel, 1)  # a drum channel
            self.synth.program_select(channel, self.sfid, 128, part.program)
            self.synth.cc(channel, 10, int(np.clip(round(64 + 63 * pan), 0, 127)))
            channel_of_pan[pan] = channel
        return {pitch: channel_of_pan.get(pan, 9) for pitch, pan in part.pans.items()}

    def render(self, part: Part, nb_samples: int) -> np.ndarray:
        """The part alone, float32 `(nb_samples, 2)`; notes past `nb_samples` are cut.

        Only the span from the first note to the last note-off plus `TAIL_SECONDS` is synthesised."""
        if (part.bank, part.program) not in self.presets:
            part = dataclasses.replace(part, program=0)  # the SoundFont lacks it: its first preset
        self.synth.system_reset()
        channels = self._channels(part)
        default_channel = 9 if part.bank == 128 else 0
        events = []
        for note in part.notes:
            on = int(round(note.start * SAMPLE_RATE / BLOCK)) * BLOCK
            off = max(on + BLOCK, int(round((note.start + note.duration) * SAMPLE_RATE / BLOCK)) * BLOCK)
            if on >= nb_samples or off <= 0:
                continue
            channel = channels.get(note.pitch, default_channel)
            events.append((max(0, on), 1, channel, note.pitch, note.velocity))
            events.append((off, 0, channel, note.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same time
        total = -(-nb_samples // BLOCK) * BLOCK
        out = np.zeros((total, 2), dtype=np.float32)
        if not events:
            return out[:nb_samples]
        position = events[0][0]  # silence before the first note needs no synthesis
        for time, is_on, channel, pitch, velocity in events:
            time = min(time, total)
            self._run(out, position, time)
            position = time
            if is_on:
                self.synth.noteon(channel, pitch, velocity)
            else:
                self.synth.noteoff(channel, pitch)
        end = min(total, position + int(TAIL_SECONDS * SAMPLE_RATE) // BLOCK * BLOCK)
        self._run(out, position, end)
        if end < total:  # whatever still rings after the tail fades out in 50 ms rather than stopping dead
            fade = min(end - position, SAMPLE_RATE // 20)
            out[end - fade : end] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
        return out[:nb_samples]


_current: dict[str, FluidRenderer] = {}


def fresh_renderer(soundfont: str) -> FluidRenderer:
    """A new synthesiser for each track.

    FluidSynth keeps some state (drum voices) across system resets, so only a fresh one makes the
    samples of a track independent of the tracks rendered before it in the same process. Loading the
    SoundFont again is quick while the previous synthesiser still holds its samples in FluidSynth's sample
    cache, so the old one is deleted only after the new one has loaded."""
    renderer = FluidRenderer(soundfont)
    old = _current.pop(soundfont, None)
    if old is not None:
        old.synth.delete()
    _current[soundfont] = renderer
    return renderer

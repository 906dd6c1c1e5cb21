"""FluidSynth rendering of one part at a time (pyfluidsynth, plus float output through its ctypes library).

One synthesiser per track (see `fresh_renderer`). Events are placed on FluidSynth's 64-sample block
grid (1.5 ms): the synth applies events only at block boundaries, and keeping every render a whole number of
blocks makes the same notes give the same samples whatever was rendered before.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from demixui.data.score import Part
from demixui.errors import DemixError

SAMPLE_RATE = 44100
BLOCK = 64
TAIL_SECONDS = 2.0  # release tails rendered past the last note-off (cut at the track's end)


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

    def __init__(self, soundfont: str | Path):
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
        self.presets = {
            (bank, program)
            for bank in (0, 128)
            for program in range(128)
            if self.synth.sfpreset_name(self.sfid, bank, program)
        }

    def _run(self, out: np.ndarray, start: int, stop: int) -> None:
        if stop > start:
            view = out[start:stop]
            self._write(self.synth.synth, stop - start, view.ctypes.data, 0, 2, view.ctypes.data, 1, 2)

    def render(self, part: Part, nb_samples: int) -> np.ndarray:
        """The part alone, float32 `(nb_samples, 2)`; notes past `nb_samples` are cut."""
        channel = 9 if part.bank == 128 else 0
        program = part.program if (part.bank, part.program) in self.presets else 0
        self.synth.system_reset()
        self.synth.program_select(channel, self.sfid, part.bank, program)
        events = []
        for note in part.notes:
            on = int(round(note.start * SAMPLE_RATE / BLOCK)) * BLOCK
            off = max(on + BLOCK, int(round((note.start + note.duration) * SAMPLE_RATE / BLOCK)) * BLOCK)
            if on >= nb_samples or off <= 0:
                continue
            events.append((max(0, on), 1, note.pitch, note.velocity))
            events.append((off, 0, note.pitch, 0))
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same time
        total = -(-nb_samples // BLOCK) * BLOCK
        out = np.zeros((total, 2), dtype=np.float32)
        position = 0
        for time, is_on, pitch, velocity in events:
            time = min(time, total)
            self._run(out, position, time)
            position = time
            if is_on:
                self.synth.noteon(channel, pitch, velocity)
            else:
                self.synth.noteoff(channel, pitch)
        self._run(out, position, total)
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

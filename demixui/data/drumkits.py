"""Multisampled drum kits from the distribution's packages, as velocity-layered one-shots per General MIDI
drum note (36 kick, 38 snare, 42 closed hi-hat, ...).

Two sources: Hydrogen kits (package hydrogen-drumkits: a folder with drumkit.xml and FLAC/WAV/AIFF samples,
layers by velocity; pieces found by their names) and SoundFont kits (avldrums.lv2-soundfont,
musescore-general-soundfont-lossless: each note rendered once per velocity band by FluidSynth, which plays the
SoundFont's own velocity layers). Loaded kits are cached per process.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from demixui.data.drums import (
    BELL,
    CLAP,
    CRASH,
    HAT,
    KICK,
    OPEN,
    PEDAL,
    RIDE,
    SHAKER,
    SIDE,
    SNARE,
    TAMB,
    TOMS,
)
from demixui.data.render import SAMPLE_RATE
from demixui.data.score import Note, Part
from demixui.errors import DemixError

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SF2 = Path("/usr/share/sounds/sf2")
MAX_SECONDS = 4.0  # a one-shot is cut (with a fade) after this: cymbals ring longer, but memory is bounded
SF2_VELOCITIES = (32, 64, 96, 124)  # the bands a SoundFont kit is rendered at

# name -> (source, file or folder, bank, program, style); style picks kits for genres (see `kits_for`)
CATALOGUE: dict[str, tuple[str, str, int, int, str]] = {
    "avl-black-pearl": ("sf2", "Black_Pearl_4_LV2.sf2", 0, 0, "acoustic"),
    "avl-red-zeppelin": ("sf2", "Red_Zeppelin_4_LV2.sf2", 0, 0, "acoustic"),
    "ms-standard": ("sf2", "MuseScore_General_Full.sf2", 128, 0, "acoustic"),
    "ms-room": ("sf2", "MuseScore_General_Full.sf2", 128, 8, "acoustic"),
    "ms-power": ("sf2", "MuseScore_General_Full.sf2", 128, 16, "acoustic"),
    "ms-jazz": ("sf2", "MuseScore_General_Full.sf2", 128, 32, "jazz"),
    "ms-brush": ("sf2", "MuseScore_General_Full.sf2", 128, 40, "jazz"),
    "ms-electronic": ("sf2", "MuseScore_General_Full.sf2", 128, 24, "electronic"),
    "ms-808": ("sf2", "MuseScore_General_Full.sf2", 128, 25, "electronic"),
    "h2-bja-pacific": ("hydrogen", "BJA_Pacific", 0, 0, "acoustic"),
    "h2-colombo": ("hydrogen", "ColomboAcousticDrumkit", 0, 0, "acoustic"),
    "h2-forzee": ("hydrogen", "ForzeeStereo", 0, 0, "acoustic"),
    "h2-black-pearl": ("hydrogen", "The Black Pearl 1.0", 0, 0, "acoustic"),
    "h2-millo-2": ("hydrogen", "Millo_MultiLayered2", 0, 0, "acoustic"),
    "h2-millo-3": ("hydrogen", "Millo_MultiLayered3", 0, 0, "acoustic"),
    "h2-millo-60s": ("hydrogen", "Millo-Drums_v.1", 0, 0, "jazz"),
    "h2-audiophob": ("hydrogen", "Audiophob", 0, 0, "jazz"),
    "h2-rumpf": ("hydrogen", "rumpf_kit_z01_h2", 0, 0, "breaks"),
    "h2-varibreaks": ("hydrogen", "VariBreaks", 0, 0, "breaks"),
    "h2-electric-empire": ("hydrogen", "ElectricEmpireKit", 0, 0, "electronic"),
    "h2-hard-electro": ("hydrogen", "HardElectro1", 0, 0, "electronic"),
}
KIT_PACKAGES = "hydrogen-drumkits avldrums.lv2-soundfont musescore-general-soundfont-lossless"

# Hydrogen instrument names -> GM note, first match wins; names matching SKIP are left out (rolls, chokes)
ROLES = (
    (CLAP, r"clap"),
    (SIDE, r"side ?stick|\bstick\b|rim ?click"),
    (KICK, r"kick|bass ?drum|\bbd\b"),
    (BELL, r"ride.?bell|\bbell\b|\bcup\b"),
    (PEDAL, r"(hat|hh).*(pedal|\bpd\b)|pedal.*(hat|hh)"),
    (OPEN, r"(hat|hh).*(open|\bop\b|semi)|open.*(hat|hh)|\bohh\b"),
    (HAT, r"hat|\bhh\b"),
    (CRASH, r"crash|china|splash|cymbal"),
    (RIDE, r"ride"),
    (TAMB, r"tamb"),
    (SHAKER, r"shaker|maraca"),
    (SNARE, r"snare"),
    (TOMS[0], r"tom"),
)
SKIP = r"roll|choke|swish|flink|pedal\)|tambourine pedal|zap|fx"
# a missing piece is played by a related one; a note with neither is dropped
FALLBACK = {
    SIDE: SNARE,
    CLAP: SNARE,
    PEDAL: HAT,
    OPEN: HAT,
    CRASH: OPEN,
    RIDE: HAT,
    BELL: RIDE,
    TAMB: HAT,
    SHAKER: HAT,
}
GM_PITCHES = (KICK, SIDE, SNARE, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE, BELL, TAMB, SHAKER, *TOMS)


@dataclass
class Layer:
    low: float  # velocity range, 0-1
    high: float
    gain: float  # linear
    velocity: float  # the velocity (0-1) the sample was played at; 0: unknown (Hydrogen scales by velocity)
    source: np.ndarray | str  # float32 (nb_samples, 2), or a sample file read when first played

    @property
    def audio(self) -> np.ndarray:
        """float32 `(nb_samples, 2)`; files are read lazily, as a song plays a few of a kit's instruments."""
        return self.source if isinstance(self.source, np.ndarray) else _sample(self.source)


@dataclass
class Kit:
    name: str
    style: str
    pieces: dict[int, list[list[Layer]]]  # GM note -> instruments that can play it -> velocity layers


def kits_for(style: str) -> list[str]:
    return [name for name, entry in CATALOGUE.items() if entry[4] == style]


def _trim(audio: np.ndarray) -> np.ndarray:
    """Cut the silent tail (below -70 dB of the peak) and anything past MAX_SECONDS, with a 20 ms fade."""
    level = np.maximum(np.abs(audio[:, 0]), np.abs(audio[:, 1]))  # max(axis=1) is 10x slower
    peak = float(level.max()) if level.size else 0.0
    loud = np.flatnonzero(level > peak * 10 ** (-70 / 20)) if peak > 0 else level[:0]
    end = min(int(loud[-1]) + 1 if loud.size else 0, int(MAX_SECONDS * SAMPLE_RATE))
    audio = np.array(audio[:end], dtype=np.float32)
    fade = min(end, SAMPLE_RATE // 50)
    if fade:
        audio[end - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    return audio


@functools.lru_cache(maxsize=256)  # up to 1.4 MB each (4 s stereo), most far less
def _sample(path: str) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    audio = audio[:, :2] if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1)
    return _trim(audio)


def _text(node, tag: str, default: str) -> str:
    child = node.find(tag)
    return child.text.strip() if child is not None and child.text and child.text.strip() else default


def _tom_height(name: str) -> int:
    """Orders toms from low to high by the words in their names."""
    for height, words in ((0, r"floor"), (1, r"low|\blo\b|16"), (3, r"high|\bhi\b|12|tom 1"), (2, r"")):
        if re.search(words, name):
            return height
    return 2


def load_hydrogen(name: str, folder: Path, style: str) -> Kit:
    root = ElementTree.parse(folder / "drumkit.xml").getroot()
    for node in root.iter():  # some kits declare an XML namespace
        node.tag = node.tag.rsplit("}", 1)[-1]
    pieces: dict[int, list[list[Layer]]] = {}
    toms = []
    for instrument in root.iter("instrument"):
        title = _text(instrument, "name", "").lower()
        role = next((pitch for pitch, words in ROLES if re.search(words, title)), None)
        if role is None or re.search(SKIP, title):
            continue
        volume = float(_text(instrument, "volume", "1")) * float(_text(instrument, "gain", "1"))
        layers = []
        for layer in instrument.iter("layer"):
            file = folder / _text(layer, "filename", "")
            if file.is_file():
                low, high = float(_text(layer, "min", "0")), float(_text(layer, "max", "1"))
                gain = volume * float(_text(layer, "gain", "1"))
                layers.append(Layer(low, high, gain, 0.0, str(file)))
        file = folder / _text(instrument, "filename", "-")
        if not layers and file.is_file():  # the old format: one sample per instrument
            layers.append(Layer(0.0, 1.0, volume, 0.0, str(file)))
        if not layers:
            continue
        if role == TOMS[0]:
            toms.append((_tom_height(title), title, layers))
        else:
            pieces.setdefault(role, []).append(layers)
    toms.sort(key=lambda t: (t[0], t[1]))
    for index, tom in enumerate(reversed(TOMS)):  # GM toms from low (41) to high (50)
        if toms:
            pieces[tom] = [toms[round(index * (len(toms) - 1) / (len(TOMS) - 1))][2]]
    return Kit(name, style, pieces)


def load_soundfont(name: str, path: Path, bank: int, program: int, style: str) -> Kit:
    from demixui.data.render import FluidRenderer

    renderer = FluidRenderer(path, dynamic_loading=True)
    slot = int(3.0 * SAMPLE_RATE) // 64 * 64
    part = Part("oneshots", "drums", "kit", program, bank)
    combos = [(pitch, velocity) for pitch in GM_PITCHES for velocity in SF2_VELOCITIES]
    part.notes = [Note(i * slot / SAMPLE_RATE, 2.5, p, v) for i, (p, v) in enumerate(combos)]
    audio = renderer.render(part, len(combos) * slot)
    renderer.synth.delete()
    pieces: dict[int, list[list[Layer]]] = {}
    bands = [0, *[(a + b) / 2 / 127 for a, b in zip(SF2_VELOCITIES, SF2_VELOCITIES[1:], strict=False)], 1.0]
    for i, (pitch, velocity) in enumerate(combos):
        shot = _trim(audio[i * slot : (i + 1) * slot])
        if len(shot) < 64:  # the kit has nothing on this note
            continue
        band = SF2_VELOCITIES.index(velocity)
        layer = Layer(bands[band], bands[band + 1], 1.0, velocity / 127, shot)
        pieces.setdefault(pitch, [[]])[0].append(layer)
    return Kit(name, style, pieces)


# every kit stays loaded: SoundFont kits take 0.4-0.9 s to render (30 MB each, nine of them), and with eight
# kept a 75-song process (a 150-song corpus, --jobs 2) loaded a kit 46 times, 21 with all kept
@functools.lru_cache(maxsize=len(CATALOGUE))
def load_kit(name: str) -> Kit:
    """The kit `name` of CATALOGUE; a one-line DemixError naming the package when it is not installed."""
    source, file, bank, program, style = CATALOGUE[name]
    path = (HYDROGEN if source == "hydrogen" else SF2) / file
    if not path.exists():
        raise DemixError(f"{path}: drum kit {name} not found (install {KIT_PACKAGES})")
    if source == "hydrogen":
        kit = load_hydrogen(name, path, style)
    else:
        kit = load_soundfont(name, path, bank, program, style)
    for piece in (KICK, SNARE, HAT):
        if piece not in kit.pieces:
            raise DemixError(f"{path}: drum kit {name} has no instrument for GM note {piece}")
    return kit


def missing_kits() -> list[str]:
    """Paths of catalogue kits that are not installed (checked before a corpus starts)."""
    paths = {(HYDROGEN if e[0] == "hydrogen" else SF2) / e[1] for e in CATALOGUE.values()}
    return sorted(str(p) for p in paths if not p.exists())

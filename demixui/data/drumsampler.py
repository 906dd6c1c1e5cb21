"""A drum part played on a multisampled kit (`demixui.data.drumkits`): one instrument per piece chosen for the
song, the velocity layer chosen per hit (round robin at random among equal layers), the piece placed in the
stereo image, and the open hi-hat choked by the next closed or pedal hi-hat, as a drummer's foot does.
"""

from __future__ import annotations

import numpy as np

from demixui.data.drumkits import CATALOGUE, FALLBACK, Kit, Layer, kits_for, load_kit
from demixui.data.drums import CRASH, HAT, KICK, OPEN, PEDAL, RIDE, SNARE, TOMS
from demixui.data.render import SAMPLE_RATE
from demixui.data.score import Part

# genre -> (style, odds) of the song's kit; the rest of the odds go to acoustic kits
GENRE_STYLES = {
    "electronic": (("electronic", 0.75), ("breaks", 0.1)),
    "hiphop": (("electronic", 0.45), ("breaks", 0.35)),
    "funk": (("breaks", 0.25),),
    "swing": (("jazz", 0.85),),
    "ballad": (("jazz", 0.25),),
    "reggae": (("jazz", 0.2), ("electronic", 0.1)),
    "pop": (("electronic", 0.2),),
}
CHOKE_SECONDS = 0.015


def choose_kit(genre: str, rng: np.random.Generator) -> str:
    """A catalogue kit that suits the genre."""
    draw, style = float(rng.random()), "acoustic"
    for candidate, odds in GENRE_STYLES.get(genre, ()):
        if draw < odds:
            style = candidate
            break
        draw -= odds
    names = kits_for(style)
    return names[int(rng.integers(len(names)))]


def piece_gains_db(rng: np.random.Generator) -> dict[int, float]:
    """The mix inside the kit: kick often up, cymbals often down (records' kits are kick-heavy and dark)."""
    cymbals = float(rng.uniform(-6, 2))
    gains = {KICK: float(rng.uniform(-1, 5)), SNARE: float(rng.uniform(-2, 3))}
    gains.update({p: cymbals for p in (HAT, PEDAL, OPEN, CRASH, RIDE)})
    toms = float(rng.uniform(-3, 3))
    gains.update({t: toms for t in TOMS})
    return {p: round(g, 1) for p, g in gains.items()}


def _layer(layers: list[Layer], velocity: float, rng: np.random.Generator) -> Layer:
    fitting = [layer for layer in layers if layer.low <= velocity <= layer.high]
    if not fitting:
        nearest = min(min(abs(velocity - layer.low), abs(velocity - layer.high)) for layer in layers)
        fitting = [
            layer for layer in layers if min(abs(velocity - layer.low), abs(velocity - layer.high)) == nearest
        ]
    return fitting[int(rng.integers(len(fitting)))] if len(fitting) > 1 else fitting[0]


def _pan_gains(pan: float) -> np.ndarray:
    angle = (pan + 1) * np.pi / 4
    return (np.array([np.cos(angle), np.sin(angle)]) * np.sqrt(2)).astype(np.float32)


def play(
    kit: Kit, part: Part, nb_samples: int, rng: np.random.Generator, gains_db: dict[int, float]
) -> np.ndarray:
    """The part on `kit`, float32 `(nb_samples, 2)`."""
    instruments = {pitch: options[int(rng.integers(len(options)))] for pitch, options in kit.pieces.items()}
    closes = np.array(sorted(n.start for n in part.notes if n.pitch in (HAT, PEDAL)))
    out = np.zeros((nb_samples, 2), dtype=np.float32)
    fade_len = int(CHOKE_SECONDS * SAMPLE_RATE)
    for note in part.notes:
        pitch = note.pitch
        while pitch not in instruments and pitch in FALLBACK:
            pitch = FALLBACK[pitch]
        if pitch not in instruments:
            continue
        start = int(round(note.start * SAMPLE_RATE))
        if start >= nb_samples or start < 0:
            continue
        velocity = note.velocity / 127
        layer = _layer(instruments[pitch], velocity, rng)
        # a layer recorded at a known velocity is scaled to this one; Hydrogen layers by velocity, as Hydrogen
        scale = velocity / layer.velocity if layer.velocity else velocity
        scale *= layer.gain * 10 ** (gains_db.get(pitch, 0.0) / 20)
        length = min(len(layer.audio), nb_samples - start)
        shot = layer.audio[:length] * (_pan_gains(part.pans.get(note.pitch, 0.0)) * scale)
        if note.pitch == OPEN and closes.size:
            after = np.searchsorted(closes, note.start + 1e-4)
            if after < closes.size:
                stop = int(round(closes[after] * SAMPLE_RATE)) - start
                if 0 < stop < length:
                    fade = min(fade_len, stop)
                    shot[stop - fade : stop] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
                    shot = shot[:stop]
        out[start : start + len(shot)] += shot
    return out


def render_drums(
    part: Part, genre: str, nb_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """A kit for the song, the part played on it, and what meta.json records."""
    name = choose_kit(genre, rng)
    gains = piece_gains_db(rng)
    audio = play(load_kit(name), part, nb_samples, rng, gains)
    info = {
        "sampled_kit": name,
        "kit_style": CATALOGUE[name][4],
        "kick_db": gains[KICK],
        "cymbals_db": gains[HAT],
    }
    return audio, info

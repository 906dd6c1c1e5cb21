"""Singing: espeak-ng words analysed with WORLD (pyworld) and resynthesised onto the melody
(demixui.data.vocoder).

Each word is analysed once (f0, spectral envelope, aperiodicity at 5 ms frames). A sung syllable keeps the
word's consonants at their spoken speed, places the consonant before the beat so the vowel lands on it, and
stretches the vowel over the note (and over tied notes: melisma). The pitch follows the notes with glides
between them (legato), a scoop at phrase starts, vibrato that grows on held notes and a slow random drift.
Breaths (filtered noise) precede phrases. The spectral envelope is warped to move the formants (voice size).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from demixui.data import vocoder
from demixui.data.score import Note
from demixui.data.speech import SPEECH_RATE, speak

FRAME_MS = 5.0
FRAME_S = FRAME_MS / 1000
OUT_RATE = 44100


def _pyworld():
    """pyworld's compiled module. pyworld 0.3.x's __init__ only reads its version through pkg_resources, which
    new setuptools no longer ship and older ones deprecate with a warning, so the extension is loaded directly
    when it can be found, and through the package otherwise."""
    spec = importlib.util.find_spec("pyworld")
    if spec is None:
        raise ModuleNotFoundError("pyworld is not installed (pip install 'demixui[train]')", name="pyworld")
    for folder in spec.submodule_search_locations or []:
        for library in sorted(Path(folder).glob("pyworld.*")):
            if library.suffix in (".so", ".pyd"):
                module_spec = importlib.util.spec_from_file_location("pyworld", library)
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                return module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


pw = _pyworld()


@dataclass(frozen=True)
class Voice:
    espeak: str  # espeak-ng voice, e.g. "en+f3"
    formant: float  # spectral-envelope warp: > 1 moves formants up (smaller vocal tract)
    vibrato_cents: float
    vibrato_hz: float
    breathiness: float  # 0-1: aperiodicity added to voiced frames
    style: str = (
        "sung"  # "sung", or "tuned": pitch snapped to the notes, no vibrato (a pitch-corrected pop voice)
    )
    jitter_cents: float = 8.0  # fast random pitch wobble of a real voice


@dataclass
class Syllable:
    f0: np.ndarray  # (nb_frames,) Hz, 0 where unvoiced
    sp: np.ndarray  # (nb_frames, nb_bins)
    ap: np.ndarray  # (nb_frames, nb_bins)
    voiced_start: int
    voiced_end: int


@functools.lru_cache(maxsize=64)  # a song asks for the same words phrase after phrase
def analyse(word: str, voice: Voice) -> Syllable:
    """The word in the voice's espeak-ng voice, analysed, with the voice's formant warp (read-only arrays)."""
    syllable = _analyse(word, voice.espeak)
    if voice.formant == 1.0:
        return syllable
    sp = _warp(syllable.sp, voice.formant)
    return Syllable(syllable.f0, sp, syllable.ap, syllable.voiced_start, syllable.voiced_end)


def _warp(sp: np.ndarray, formant: float) -> np.ndarray:
    """Each frame of `sp` read at bins `bin / formant`, linearly interpolated and held past the last bin:
    `np.interp(bins / formant, bins, frame)` on every frame at once, in np.interp's arithmetic (same bits)."""
    nb_bins = sp.shape[1]
    x = np.arange(nb_bins) / formant
    left = np.minimum(np.floor(x).astype(int), nb_bins - 1)
    inside = x < nb_bins - 1
    right = np.minimum(left + 1, nb_bins - 1)
    slope = sp[:, right] - sp[:, left]  # the bins are 1 apart: np.interp's slope, divided by 1.0
    out = slope * (x - left) + sp[:, left]
    exact = ~inside | (x == left)  # np.interp returns the point itself there (and the last one past it)
    out[:, exact] = sp[:, left[exact]]
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=256)  # about 0.4 MB each (envelope frames)
def _analyse(word: str, espeak_voice: str) -> Syllable:
    audio = speak(word, espeak_voice).astype(np.float64)
    audio = np.concatenate([np.zeros(256), audio, np.zeros(256)])
    f0, times = pw.dio(audio, SPEECH_RATE, frame_period=FRAME_MS, f0_floor=60.0, f0_ceil=500.0)
    f0 = pw.stonemask(audio, f0, times, SPEECH_RATE)
    sp = pw.cheaptrick(audio, f0, times, SPEECH_RATE)
    ap = _aperiodicity(f0, sp.shape[1])
    energy = sp.sum(axis=1)
    keep = np.nonzero(energy > energy.max() * 1e-4)[0]
    first, last = (int(keep[0]), int(keep[-1]) + 1) if len(keep) else (0, len(f0))
    f0, sp, ap = f0[first:last], sp[first:last], ap[first:last]
    voiced = np.nonzero(f0 > 0)[0]
    if len(voiced) == 0:
        voiced = np.arange(len(f0))
    start, end = int(voiced[0]), int(voiced[-1]) + 1
    sp = sp / max(np.median(sp[start:end].sum(axis=1)), 1e-12) * 1e-2  # every word equally loud
    return Syllable(f0, sp, ap, start, end)


@functools.lru_cache(maxsize=64)  # about 0.8 MB each: two complex64 filters per frame of the word
def _word_filters(word: str, voice: Voice) -> tuple[np.ndarray, np.ndarray]:
    """The vocoder's voiced and noise filters for each frame of the word in this voice (breathiness added to
    the voiced frames' aperiodicity), computed once however often the song sings the word."""
    syllable = analyse(word, voice)
    ap = syllable.ap
    if voice.breathiness:
        voiced = syllable.f0 > 0
        ap = ap.copy()
        ap[voiced] = np.clip(ap[voiced] + voice.breathiness * 0.3, 0, 1)
    tables = vocoder.filters(syllable.sp, ap, SPEECH_RATE, OUT_RATE)
    for table in tables:
        table.setflags(write=False)
    return tables


@functools.lru_cache(maxsize=4)
def _gap_filters(nb_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The filters of a frame between syllables: a -160 dB envelope, all noise."""
    tables = vocoder.filters(np.full((1, nb_bins), 1e-16), np.ones((1, nb_bins)), SPEECH_RATE, OUT_RATE)
    for table in tables:
        table.setflags(write=False)
    return tables


def _aperiodicity(f0: np.ndarray, nb_bins: int) -> np.ndarray:
    """A simple aperiodicity model (D4C costs more than the rest of the analysis): noise-free low harmonics in
    voiced frames, rising noise above 3 kHz; all noise in unvoiced frames."""
    freqs = np.linspace(0, SPEECH_RATE / 2, nb_bins)
    voiced = np.clip((freqs - 3000) / 6000, 0, 1) * 0.7 + 0.02
    return np.where(f0[:, None] > 0, voiced[None, :], 1.0)


def _pitch_curve(
    notes: list[Note], start_frame: int, nb_frames: int, voice: Voice, rng: np.random.Generator
) -> np.ndarray:
    """Target f0 in Hz for each frame of a phrase: glides, scoop, vibrato and drift."""
    t = (start_frame + np.arange(nb_frames)) * FRAME_S
    midi = np.full(nb_frames, float(notes[0].pitch))
    vibrato_depth = np.zeros(nb_frames)
    for index, note in enumerate(notes):
        mask = t >= note.start
        if index == 0:
            mask[:] = True
        midi[mask] = note.pitch
        held = t - note.start
        onset = min(0.25, 0.35 * note.duration)
        ramp = np.clip((held - onset) / 0.2, 0, 1) * (held >= 0) * (held < note.duration + 0.05)
        vibrato_depth = np.maximum(vibrato_depth, ramp * voice.vibrato_cents / 100)
    tuned = voice.style == "tuned"
    # legato glides: a short smoothing of the step function, about 50 ms (10 ms when pitch-corrected)
    width = 1 if tuned else max(3, int(0.05 / FRAME_S))
    kernel = np.hanning(width * 2 + 1)
    kernel /= kernel.sum()
    padded = np.pad(midi, width, mode="edge")
    midi = np.convolve(padded, kernel, mode="valid")
    scoop = np.clip(1 - (t - notes[0].start) / 0.08, 0, 1) * -0.6
    rate = voice.vibrato_hz * (1 + 0.05 * rng.standard_normal())
    vibrato = vibrato_depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    drift = scipy.signal.lfilter([0.02], [1, -0.98], rng.standard_normal(nb_frames)) * 0.5
    jitter = scipy.signal.lfilter([0.5], [1, -0.5], rng.standard_normal(nb_frames)) * voice.jitter_cents / 100
    if tuned:
        return 440.0 * 2 ** ((midi + 0.1 * drift - 69) / 12)
    return 440.0 * 2 ** ((midi + scoop + vibrato + drift + jitter - 69) / 12)


def _pitch_curve_centre(target: np.ndarray, frames: int = 41) -> np.ndarray:
    """The target pitch without its vibrato (a moving average over about 200 ms)."""
    kernel = np.ones(frames) / frames
    return np.exp2(np.convolve(np.pad(np.log2(target), frames // 2, mode="edge"), kernel, mode="valid"))


def _phrases(notes: list[Note], gap: float = 0.2) -> list[list[Note]]:
    phrases: list[list[Note]] = []
    for note in notes:
        if phrases and note.start - (phrases[-1][-1].start + phrases[-1][-1].duration) < gap:
            phrases[-1].append(note)
        else:
            phrases.append([note])
    return phrases


def _syllable_frames(syllable: Syllable, onset: int, length: int) -> np.ndarray:
    """Indices into the syllable's frames for a note of `length` frames whose consonant onset lasts `onset`
    frames: onset at spoken speed, vowel stretched, final consonant (coda) at spoken speed."""
    onset = min(onset, max(0, length - 4))
    coda = min(len(syllable.f0) - syllable.voiced_end, max(0, (length - onset) // 4), 24)
    body = length - onset - coda
    return np.concatenate(
        [
            np.arange(syllable.voiced_start - onset, syllable.voiced_start),
            np.linspace(syllable.voiced_start, syllable.voiced_end - 1, body).round().astype(int),
            np.arange(syllable.voiced_end, syllable.voiced_end + coda),
        ]
    )


def _sing_phrase(notes: list[Note], voice: Voice, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """(start frame, audio at OUT_RATE) of one phrase.

    Each syllable starts its consonant `onset` frames before its note so that the vowel lands on the beat, and
    lasts until the next syllable's consonant begins (legato). Spoken (rapped) notes keep the word's own
    intonation, moved to the note's pitch.
    """
    groups: list[list[Note]] = []
    for note in notes:
        if note.word is None and groups:
            groups[-1].append(note)
        else:
            groups.append([note])
    syllables = [analyse(g[0].word or "ah", voice) for g in groups]
    onsets, starts = [], []
    for group, syllable in zip(groups, syllables, strict=True):
        note_frame = int(round(group[0].start / FRAME_S))
        onset = min(syllable.voiced_start, 24)
        if starts:  # a consonant may not reach back past the previous syllable's start (plus 4 frames)
            onset = max(0, min(onset, note_frame - starts[-1] - 4))
        onsets.append(onset)
        starts.append(max(note_frame - onset, starts[-1] + 4) if starts else note_frame - onset)
    last = groups[-1][-1]
    start_frame = starts[0]
    end = max(int(round((last.start + last.duration) / FRAME_S)), starts[-1] + onsets[-1] + 4)
    nb_frames = end - start_frame
    nb_bins = syllables[0].sp.shape[1]
    f0_src = np.zeros(nb_frames)
    spoken = np.zeros(nb_frames)
    rows = np.zeros(nb_frames, dtype=np.intp)  # each frame's row in the filter tables; 0: between syllables
    tables = [_gap_filters(nb_bins)]
    first_rows: dict[str, int] = {}  # word -> its first row
    for index, (group, syllable, onset, start) in enumerate(
        zip(groups, syllables, onsets, starts, strict=True)
    ):
        stop = starts[index + 1] if index + 1 < len(groups) else end
        a, b = start - start_frame, min(stop, end) - start_frame
        if b - a < 2:
            continue
        src = _syllable_frames(syllable, onset, b - a)
        assert len(src) == b - a >= 0 and a >= 0, (len(src), a, b)
        f0_src[a:b] = syllable.f0[src]
        word = group[0].word or "ah"
        if word not in first_rows:
            first_rows[word] = sum(len(table[0]) for table in tables)
            tables.append(_word_filters(word, voice))
        rows[a:b] = first_rows[word] + src
        if group[0].spoken:
            voiced = syllable.f0[syllable.f0 > 0]
            reference = float(np.median(voiced)) if len(voiced) else 120.0
            target_hz = 440.0 * 2 ** ((group[0].pitch - 69) / 12)
            spoken[a:b] = target_hz / reference  # the word's contour, moved to the note's register
    target = _pitch_curve(notes, start_frame, nb_frames, voice, rng)
    f0 = np.where(f0_src > 0, np.where(spoken > 0, f0_src * spoken, target), 0.0)
    gains = np.ones(nb_frames)
    for note in notes:
        a = int(round(note.start / FRAME_S)) - start_frame
        gains[max(0, a) :] = (note.velocity / 100) ** 2
    # a held note swells a little, the phrase's last one dies away, and vibrato moves the loudness too
    times = np.arange(nb_frames) * FRAME_S
    swell = 1 + float(rng.uniform(-0.15, 0.25)) * np.sin(np.pi * np.clip(times / max(times[-1], 1e-3), 0, 1))
    tail = np.clip((end - start_frame - np.arange(nb_frames)) * FRAME_S / 0.25, 0.35, 1.0)
    wobble = np.log2(np.maximum(target, 1.0)) - np.log2(_pitch_curve_centre(target))
    gains *= swell * tail**2 * (1 + 2.0 * np.clip(wobble, -0.05, 0.05))
    gains = np.maximum(gains, 0.0)  # power gains of the envelope frames
    fade = min(8, nb_frames)
    gains[:fade] *= np.linspace(0.1, 1, fade) ** 2
    gains[-fade:] *= np.linspace(1, 0.1, fade) ** 2
    voiced_filters = np.concatenate([table[0] for table in tables])
    noise_filters = np.concatenate([table[1] for table in tables])
    audio = vocoder.synthesize_filtered(
        f0, voiced_filters, noise_filters, rows, gains, FRAME_MS, rng, OUT_RATE
    )
    return start_frame, audio


def _breath(rng: np.random.Generator, seconds: float, level: float) -> np.ndarray:
    """An in-breath: band-passed noise (0.5-8 kHz) under a smooth swell, `level` RMS at its peak."""
    n = int(seconds * OUT_RATE)
    sos = scipy.signal.butter(2, [500, 8000], btype="bandpass", fs=OUT_RATE, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(n))
    envelope = np.hanning(n) ** 1.5
    return noise * envelope * level / max(np.sqrt(np.mean(noise**2)), 1e-9)


def sing(
    notes: list[Note], voice: Voice, seconds: float, rng: np.random.Generator, breaths: bool = True
) -> np.ndarray:
    """The sung notes as mono float32 `(nb_samples,)` at 44.1 kHz, `nb_samples = seconds * 44100`."""
    total = int(round(seconds * OUT_RATE))
    out = np.zeros(total + OUT_RATE, dtype=np.float64)
    previous_end = -10.0
    for phrase in _phrases(sorted(notes, key=lambda n: n.start)):
        start_frame, audio = _sing_phrase(phrase, voice, rng)
        offset = int(round(start_frame * FRAME_S * OUT_RATE))
        rms = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
        if breaths and phrase[0].start - previous_end > 0.5 and rng.random() < 0.8:
            length = float(rng.uniform(0.2, 0.35))
            breath = _breath(rng, length, rms * float(rng.uniform(0.05, 0.12)))
            b0 = offset - len(breath) - int(0.03 * OUT_RATE)
            if b0 >= 0:
                out[b0 : b0 + len(breath)] += breath
        if offset < 0:
            audio = audio[-offset:]
            offset = 0
        stop = min(len(out), offset + len(audio))
        out[offset:stop] += audio[: stop - offset]
        last = phrase[-1]
        previous_end = last.start + last.duration
    return out[:total].astype(np.float32)

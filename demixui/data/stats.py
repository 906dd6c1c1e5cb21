"""`demixui data stats DIR [--against REAL ...]`: per-stem loudness, share of silence, the mixture-equals-sum
check, and the medians over tracks of the statistics of `demixui.data.features` per stem and for the mix.

With `--against`, the medians of DIR are printed beside those of each REAL folder, with their difference (dB,
percentage points, onsets per second) or ratio (Hz, energy shares, flatness), so that the generator is tuned
against real music. A folder is MUSDB18-HQ style track folders or NI stem files (`demixui.data.musdb`); a
stem file's mixture is the sum of its decoded stems.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import to_stereo
from demixui.data.features import KEYS, SAMPLE_RATE, signal_features
from demixui.data.musdb import STEMS, list_tracks, load_stem_file, track_name
from demixui.errors import AudioFileError
from demixui.mp4audio import is_stem_file

BLOCK = 4410  # 100 ms at 44.1 kHz
SILENCE_DB = -60.0  # a 100 ms block quieter than this (dBFS RMS) counts as silence
PARTS = (*STEMS, "mix")
# key: (label, unit, scale for display, decimals (None: 3 significant digits), "diff" or "ratio" against a
# real folder)
SHOWN = {
    "active": ("active frames", "%", 100, 0, "diff"),
    "level_spread": ("level spread p90-p10", "dB", 1, 1, "diff"),
    "crest": ("crest factor", "dB", 1, 1, "diff"),
    "centroid": ("spectral centroid", "Hz", 1, 0, "ratio"),
    "below_150": ("energy < 150 Hz", "%", 100, None, "ratio"),
    "band_2k_8k": ("energy 2-8 kHz", "%", 100, None, "ratio"),
    "above_8k": ("energy > 8 kHz", "%", 100, None, "ratio"),
    "above_16k": ("energy > 16 kHz", "dB", 1, 1, "diff"),
    "flatness": ("spectral flatness", "", 1, None, "ratio"),
    "side_mid": ("side/mid", "dB", 1, 1, "diff"),
    "spectral_change": ("spectral change", "dB", 1, 2, "diff"),
    "onsets": ("onsets per active s", "1/s", 1, 2, "diff"),
}
assert tuple(SHOWN) == KEYS, (tuple(SHOWN), KEYS)


def read_int(path: Path) -> np.ndarray:
    """The file's samples as int32 `(nb_samples, nb_channels)` (16-bit PCM expected; others are scaled)."""
    audio, rate = sf.read(str(path), dtype="int32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise AudioFileError(f"{path}: {rate} Hz, data stats needs {SAMPLE_RATE} Hz")
    return audio // 65536  # soundfile scales to the full int32 range


def read_track(track: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """`(mixture, stems)`, each int32 `(nb_samples, nb_channels)` in the int16 range, stems in STEMS order; a
    stem file's decoded stems are rounded to 16 bits and its mixture is their sum."""
    if is_stem_file(track):
        stems = [np.round(stem * 32768.0).astype(np.int32) for stem in load_stem_file(track)[1]]
        return sum(stems), stems
    return read_int(track / "mixture.wav"), [read_int(track / f"{stem}.wav") for stem in STEMS]


def block_db(audio: np.ndarray) -> np.ndarray:
    """dBFS RMS of each 100 ms block of int16-range `(nb_samples, nb_channels)`."""
    nb = max(1, audio.shape[0] // BLOCK)
    x = audio[: nb * BLOCK].astype(np.float64) / 32768.0
    power = (x**2).reshape(nb, -1).mean(axis=1)
    return 10 * np.log10(power + 1e-20)


def features(audio: np.ndarray) -> dict[str, float]:
    return signal_features(to_stereo(audio.astype(np.float32) * np.float32(1 / 32768)))


def track_stats(track: Path) -> dict:
    """One row: name, loudness and silence per stem, `sum_error` (int16 steps), `mixture_db` and
    `features[part][key]` for every part of PARTS (none when a stem's length differs from the mixture's)."""
    mixture, stems = read_track(track)
    total = np.zeros_like(mixture)
    out: dict = {"name": track_name(track), "features": {}}
    for stem, audio in zip(STEMS, stems, strict=True):
        if audio.shape != mixture.shape:
            out["sum_error"] = float("inf")
            return out
        total += audio
        db = block_db(audio)
        active = db > SILENCE_DB
        out[stem] = (
            float(10 * np.log10(np.mean(10 ** (db[active] / 10)))) if active.any() else -np.inf,
            float(1 - active.mean()),
        )
        out["features"][stem] = features(audio)
    out["features"]["mix"] = features(mixture)
    out["sum_error"] = int(np.max(np.abs(total - mixture))) if mixture.size else 0
    out["mixture_db"] = float(10 * np.log10(np.mean((mixture / 32768.0) ** 2) + 1e-20))
    return out


def folder_rows(folder: Path, progress: bool = False, tracks: list[Path] | None = None) -> list[dict]:
    tracks = list_tracks(folder) if tracks is None else tracks
    if progress:
        print(f"reading {folder} ({len(tracks)} tracks) ...", file=sys.stderr, end=" ", flush=True)
    started = time.process_time()
    rows = [track_stats(track) for track in tracks]
    if progress:
        print(f"{time.process_time() - started:.0f} CPU-seconds", file=sys.stderr, flush=True)
    return rows


def medians(rows: list[dict]) -> dict[str, dict[str, tuple[float, int]]]:
    """`[part][key] -> (median over the tracks where the part is not silent, number of those tracks)`;
    NaN if none."""
    rows = [row for row in rows if "mix" in row["features"]]
    out: dict = {}
    for part in PARTS:
        out[part] = {}
        for key in KEYS:
            values = np.array([row["features"][part][key] for row in rows
                               if row["features"][part]["active"] > 0])  # a silent stem is left out
            values = values[np.isfinite(values)]
            out[part][key] = (float(np.median(values)) if values.size else float("nan"), int(values.size))
    return out


def title(key: str) -> str:
    label, unit, *_ = SHOWN[key]
    return f"{label} ({unit})" if unit else label


def show(key: str, value: float) -> str:
    _, _, scale, decimals, _ = SHOWN[key]
    if not np.isfinite(value):
        return "-"
    if decimals is None:
        return f"{value * scale:.1f}" if abs(value * scale) >= 10 else f"{value * scale:.3g}"
    return f"{value * scale:.{decimals}f}"


def compare(key: str, value: float, reference: float) -> str:
    """`value` against `reference`: a signed difference in the display unit, or a ratio `x2.50`."""
    _, unit, scale, decimals, kind = SHOWN[key]
    if not (np.isfinite(value) and np.isfinite(reference)):
        return "-"
    if kind == "ratio":
        return f"x{value / reference:.3g}" if reference > 0 else "-"
    return f"{(value - reference) * scale:+.{max(1, decimals or 0)}f}"


def print_medians(rows: list[dict]) -> None:
    """The statistics (rows) by part (columns), medians over tracks."""
    table = medians(rows)
    print("\nmedians over tracks (silent stems left out; see demixui/data/features.py for definitions)")
    print(f"{'statistic':26s}" + "".join(f"{part:>10s}" for part in PARTS))
    for key in KEYS:
        cells = "".join(f"{show(key, table[part][key][0]):>10s}" for part in PARTS)
        print(f"{title(key):26s}{cells}")


def print_comparison(folders: list[Path], progress: bool = True) -> int:
    """Per part, each statistic's median in every folder, then the first folder against each other one."""
    names = [folder.resolve().name[:15] for folder in folders]
    track_lists = [list_tracks(folder) for folder in folders]  # every folder checked before the long part
    tables = [medians(folder_rows(folder, progress, tracks))
              for folder, tracks in zip(folders, track_lists, strict=True)]
    width = max(10, *(len(name) for name in names))
    against = [f"vs {name}"[:width] for name in names[1:]]
    print(f"{names[0]} (generated) against {', '.join(names[1:])}: medians over tracks; differences in the "
          "statistic's unit (percentage points for %), or ratios x; definitions in demixui/data/features.py")
    for part in PARTS:
        counts = " / ".join(str(table[part]["active"][1]) for table in tables)
        print(f"\n{part} (tracks: {counts})")
        print(f"{'statistic':26s}" + "".join(f" {name:>{width}s}" for name in names + against))
        for key in KEYS:
            values = [table[part][key][0] for table in tables]
            cells = [show(key, value) for value in values]
            cells += [compare(key, values[0], value) for value in values[1:]]
            print(f"{title(key):26s}" + "".join(f" {cell:>{width}s}" for cell in cells))
    return 0


def print_stats(folder: Path, strict: bool = False) -> int:
    """Print a table. A mixture that is not the sum of its stems (to 16-bit rounding) is a warning, as in
    real MUSDB18-HQ (mastered mixtures); with `strict` (our generator's promise) it makes the result 1."""
    rows = folder_rows(folder)
    header = f"{'track':28s} {'mix dB':>7s} " + " ".join(f"{s + ' dB':>10s} {'silent':>6s}" for s in STEMS)
    print(header + f" {'sum err':>7s}")
    for row in rows:
        cells = " ".join(f"{row[s][0]:10.1f} {row[s][1]:6.0%}" for s in STEMS if s in row)
        print(
            f"{row['name'][:28]:28s} {row.get('mixture_db', float('nan')):7.1f} {cells} {row['sum_error']:7}"
        )
    bad = [row["name"] for row in rows if row["sum_error"] > len(STEMS)]
    for stem in STEMS:
        levels = [row[stem][0] for row in rows if stem in row and np.isfinite(row[stem][0])]
        silence = [row[stem][1] for row in rows if stem in row]
        if levels:
            print(
                f"{stem:7s} active loudness {np.mean(levels):6.1f} dBFS (sd {np.std(levels):4.1f}), "
                f"silent {np.mean(silence):4.0%} of the time on average"
            )
    print(
        f"{len(rows)} tracks; mixture equals the sum of the stems (within 16-bit rounding) in "
        f"{len(rows) - len(bad)} of {len(rows)}"
    )
    print_medians(rows)
    if bad:
        lead = "not equal: " if strict else "warning: mixture is not the sum of the stems in "
        print(lead + ", ".join(bad))
        return 1 if strict else 0
    return 0

"""`demixui data stats DIR`: per-stem loudness, share of silence, and the mixture-equals-sum check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.data.musdb import STEMS, list_tracks

BLOCK = 4410  # 100 ms at 44.1 kHz
SILENCE_DB = -60.0  # a 100 ms block quieter than this (dBFS RMS) counts as silence


def read_int(path: Path) -> np.ndarray:
    """The file's samples as int32 `(nb_samples, nb_channels)` (16-bit PCM expected; others are scaled)."""
    audio, _ = sf.read(str(path), dtype="int32", always_2d=True)
    return audio // 65536  # soundfile scales to the full int32 range


def block_db(audio: np.ndarray) -> np.ndarray:
    """dBFS RMS of each 100 ms block of int16-range `(nb_samples, nb_channels)`."""
    nb = max(1, audio.shape[0] // BLOCK)
    x = audio[: nb * BLOCK].astype(np.float64) / 32768.0
    power = (x**2).reshape(nb, -1).mean(axis=1)
    return 10 * np.log10(power + 1e-20)


def track_stats(track: Path) -> dict:
    mixture = read_int(track / "mixture.wav")
    total = np.zeros_like(mixture)
    out: dict = {"name": track.name}
    for stem in STEMS:
        audio = read_int(track / f"{stem}.wav")
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
    out["sum_error"] = int(np.max(np.abs(total - mixture))) if mixture.size else 0
    out["mixture_db"] = float(10 * np.log10(np.mean((mixture / 32768.0) ** 2) + 1e-20))
    return out


def print_stats(folder: Path, strict: bool = False) -> int:
    """Print a table. A mixture that is not the sum of its stems (to 16-bit rounding) is a warning, as in
    real MUSDB18-HQ (mastered mixtures); with `strict` (our generator's promise) it makes the result 1."""
    tracks = list_tracks(folder)
    rows = [track_stats(track) for track in tracks]
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
    if bad:
        lead = "not equal: " if strict else "warning: mixture is not the sum of the stems in "
        print(lead + ", ".join(bad))
        return 1 if strict else 0
    return 0

"""Import real multitrack stems (a folder of song folders of named stem files) into MUSDB18-HQ's layout.

Each song folder holds one audio file per stem, `<anything>_Stem_<NAME>[_mobile].<ext>` or `<NAME>.<ext>`.
An ordered grouping table of (glob pattern, group) pairs sends each stem NAME to vocals, drums, bass, other
or skip (first match wins, case-insensitive). Every stem is resampled to 44.1 kHz stereo (soxr) and summed
into its group; the mixture is the exact sum of the four 16-bit group stems, with one gain for the whole
song when the sum would clip. Stretches where every stem is silent are trimmed at the ends and split the
song into parts inside. A full-quality file is preferred to its `_mobile` copy; `min_source_rate` leaves
out stems read from low-rate files.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft

from demixui.audiofile import current_umask, read_audio, resample, write_wav_atomic
from demixui.data.musdb import SAMPLE_RATE, STEMS
from demixui.errors import DemixError

GROUPS = (*STEMS, "skip")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".m4a", ".mp4", ".aac")
LOW_BAND_HZ = 150.0
BLOCK_SECONDS = 0.1  # resolution of the silence detection
SILENCE_DB = -60.0  # a 0.1 s block of every stem below this RMS (dBFS) is silence
MARGIN_SECONDS = 0.5  # silence kept at each cut, so that no tail is cut short
MIN_PART_SECONDS = 5.0  # shorter parts between silences are dropped
PEAK_LIMIT = 0.9999  # largest mixture or stem peak after the song gain (16-bit rounding stays in range)

# The default table, written for "Everything is Free" (../shared/data/README.md); first match wins.
DEFAULT_GROUPING: tuple[tuple[str, str], ...] = (
    ("MASTER*", "skip"), ("MIX", "skip"), ("MIXTURE", "skip"),  # a stereo master is not a stem
    # Where the name lies, by the energy below 150 Hz (`data import`'s report on the album, 2026-11-30):
    # Rubidium's synth: 96% of its energy below 150 Hz, the song's loudest stem (-17.5 dBFS RMS) and 52% of
    # its low band; the song has no stem named bass. It plays the bass line.
    ("5.Rubidium/MINILOGUE_SYNTH", "bass"),
    # Potassium's synth: 89% below 150 Hz, its second loudest stem after PAD + BASS: a bass synth.
    ("4.Potassium/MINILOGUE_SYNTH", "bass"),
    # Francium's TEXTURE: 78% below 150 Hz, 13% of the song's low band, and the song has no bass stem; as
    # "other" it would teach that sub-bass belongs to other. (Its SINE is a high tone: 0% below 150 Hz.)
    ("7.Francium/TEXTURE", "bass"),
    # Kept as named: Caesium's MINILOGUE_SYNTH (49% below 150 Hz: a bass and a lead layer in one stem, which
    # no grouping can split) stays other; drum stems mostly below 150 Hz (KICK, HVY KICK, *BEAT) stay drums.
    ("VOX*", "vocals"), ("BGVOX*", "vocals"),
    ("MELODY *", "other"), ("* PIANO", "other"),  # "MELODY BREAK", "FILL PIANO": not drum breaks or fills
    ("SY BASS", "bass"), ("BASS STAB", "bass"), ("PAD + BASS", "bass"),
    ("*KICK*", "drums"), ("*HAT*", "drums"), ("HH*", "drums"), ("* HH", "drums"), ("*SNARE*", "drums"),
    ("*CLAP*", "drums"), ("*CRASH*", "drums"), ("*CYMBAL*", "drums"), ("*TOM*", "drums"), ("*PERC*", "drums"),
    ("*PRC*", "drums"), ("*BEAT*", "drums"), ("*BREAK*", "drums"), ("*DRUM*", "drums"), ("K & SN", "drums"),
    ("TOPS", "drums"),
    ("*", "other"),
)


@dataclass
class StemSource:
    """One stem file of a song and what became of it."""
    name: str  # e.g. "BGVOX 1"
    path: Path
    group: str  # one of GROUPS
    mobile: bool = False
    source_rate: int = 0  # Hz of the file, 0 until read
    seconds: float = 0.0
    rms_db: float = -np.inf  # whole-stem RMS, dBFS, before the song gain
    low_share: float = 0.0  # share of the stem's energy below LOW_BAND_HZ, 0..1
    low_energy: float = 0.0  # its energy below LOW_BAND_HZ (sum of squares, both channels)
    note: str = ""  # why it was left out, if it was


@dataclass
class SongReport:
    song: str
    stems: list[StemSource]
    tracks: list[str] = field(default_factory=list)  # output track folders written
    gain_db: float = 0.0  # song gain applied to every stem (<= 0)
    kept_seconds: float = 0.0
    total_seconds: float = 0.0
    group_low_share: dict[str, float] = field(default_factory=dict)  # group -> energy share below LOW_BAND_HZ
    group_active_seconds: dict[str, float] = field(default_factory=dict)  # group -> audible seconds kept
    note: str = ""  # why the song was left out, if it was


def load_grouping(path: str | Path) -> tuple[tuple[str, str], ...]:
    """A JSON grouping table: a list of [pattern, group] pairs, first match wins (`["*", "other"]` last)."""
    path = Path(path)
    try:
        table = json.loads(path.read_text())
    except OSError as error:
        raise DemixError(f"{path}: cannot read the grouping table ({error.strerror or error})") from None
    except ValueError as error:
        raise DemixError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(table, list) or not table or not all(
        isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row) for row in table
    ):
        raise DemixError(f"{path}: expected a JSON list of [pattern, group] pairs")
    for pattern, group in table:
        if group not in GROUPS:
            raise DemixError(f"{path}: pattern {pattern!r} goes to {group!r}; groups are {', '.join(GROUPS)}")
    return tuple((pattern, group) for pattern, group in table)


def group_of(name: str, grouping: tuple[tuple[str, str], ...], song: str = "") -> str | None:
    """The group of stem `name` by the first matching pattern, or None when no pattern matches. A pattern
    with a `/` is matched against `<song folder>/<name>`, for a stem whose name lies in one song only."""
    for pattern, group in grouping:
        subject = f"{song}/{name}" if "/" in pattern else name
        if fnmatch.fnmatchcase(subject.upper(), pattern.upper()):
            return group
    return None


def stem_name(path: Path) -> tuple[str, bool]:
    """`(NAME, is_mobile)` from `<song>_Stem_<NAME>[_mobile].ext` (or `<NAME>[_mobile].ext`)."""
    name = path.stem
    mobile = name.lower().endswith("_mobile")
    if mobile:
        name = name[: -len("_mobile")]
    if "_Stem_" in name:
        name = name.split("_Stem_", 1)[1]
    elif "_" in name and name.split("_", 1)[0] == path.parent.name:
        name = name.split("_", 1)[1]  # "6.Caesium_Master"
    return name.strip(), mobile


def find_stems(song: Path, grouping: tuple[tuple[str, str], ...]) -> list[StemSource]:
    """The song's stems by name, a full-quality file preferred to its `_mobile` copy."""
    chosen: dict[str, StemSource] = {}
    for path in sorted(song.iterdir()):
        if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES or path.name.startswith("."):
            continue
        name, mobile = stem_name(path)
        group = group_of(name, grouping, song.name)
        if group is None:
            raise DemixError(f"{path}: stem {name!r} matches no pattern of the grouping table "
                             "(end the table with [\"*\", \"other\"])")
        if name in chosen and (mobile or not chosen[name].mobile):
            continue
        chosen[name] = StemSource(name, path, group, mobile)
    return sorted(chosen.values(), key=lambda s: (GROUPS.index(s.group), s.name))


def low_band_energy(audio: np.ndarray, rate: int, cutoff_hz: float = LOW_BAND_HZ) -> tuple[float, float]:
    """`(energy below cutoff_hz, total energy)` of `(nb_samples, nb_channels)` from Hann-windowed 8192-sample
    frames (5.4 Hz bins at 44.1 kHz); the window weighs all frequencies alike, so their ratio is unbiased."""
    frame = 8192
    window = np.hanning(frame).astype(np.float32)
    nb_frames = audio.shape[0] // frame
    cut_bin = int(round(cutoff_hz * frame / rate))
    low = total = 0.0
    for start in range(0, nb_frames, 64):  # 64 frames at a time keep the FFT's memory small
        stop = min(nb_frames, start + 64)
        chunk = audio[start * frame: stop * frame].reshape(stop - start, frame, -1)
        spectrum = scipy.fft.rfft(chunk * window[None, :, None], axis=1)  # complex64 for float32 input
        power = spectrum.real ** 2 + spectrum.imag ** 2
        low += float(power[:, :cut_bin].sum())
        total += float(power.sum())
    return low, total


def block_rms_db(audio: np.ndarray, block: int) -> np.ndarray:
    """RMS in dBFS of each `block`-sample block (a last partial block included) of `(nb_samples, 2)`."""
    nb_blocks = -(-audio.shape[0] // block)
    padded = np.zeros((nb_blocks * block, audio.shape[1]), dtype=np.float32)
    padded[: audio.shape[0]] = audio
    flat = padded.reshape(nb_blocks, -1)
    power = np.einsum("ij,ij->i", flat, flat) / flat.shape[1]  # float32 sums of 8820 squares: ample for dB
    return 10 * np.log10(power.astype(np.float64) + 1e-20)


def audible_parts(loudest_db: np.ndarray, block: int, min_silence: float) -> list[tuple[int, int]]:
    """`(start, stop)` sample ranges between silences: silence is trimmed at both ends, and a silence of
    `min_silence` seconds or more inside splits the song. MARGIN_SECONDS of silence stay at each cut."""
    sound = np.flatnonzero(loudest_db >= SILENCE_DB)
    if sound.size == 0:
        return []
    margin = int(round(MARGIN_SECONDS * SAMPLE_RATE / block))
    gap = max(1, int(np.ceil(min_silence * SAMPLE_RATE / block)))
    breaks = np.flatnonzero(np.diff(sound) > gap)  # silent runs of more than `gap` blocks
    starts = np.concatenate([[sound[0]], sound[breaks + 1]])
    stops = np.concatenate([sound[breaks], [sound[-1]]]) + 1
    last = loudest_db.size
    return [(max(0, a - margin) * block, min(last, b + margin) * block)
            for a, b in zip(starts, stops, strict=True)]


def import_song(song: Path, out: Path, grouping: tuple[tuple[str, str], ...], min_silence: float,
                min_source_rate: int = 0) -> SongReport:
    """Group, resample, sum and write one song's parts as `out/<song>[ - part N]/`; returns what was done."""
    report = SongReport(song.name, find_stems(song, grouping))
    native: dict[tuple[str, int], np.ndarray] = {}  # (group, rate) -> sum of its stems at that rate
    loudest: np.ndarray | None = None  # per 0.1 s block, the loudest stem's level in dBFS
    lengths = []
    for stem in report.stems:
        if stem.group == "skip":
            stem.note = "skipped by the grouping table"
            continue
        audio, rate = read_audio(stem.path)
        stem.source_rate = rate
        if rate < min_source_rate:
            stem.note = f"left out: {rate} Hz source"
            continue
        lengths.append(int(round(audio.shape[0] * SAMPLE_RATE / rate)))
        stem.seconds = audio.shape[0] / rate
        levels = block_rms_db(audio, int(round(BLOCK_SECONDS * rate)))
        stem.rms_db = float(10 * np.log10(np.mean(10 ** (levels / 10))))
        low, total = low_band_energy(audio, rate)
        stem.low_energy = low / rate  # per second of audio, comparable across rates
        stem.low_share = low / total if total > 0 else 0.0
        loudest = levels if loudest is None else _grow_max(loudest, levels)
        key = (stem.group, rate)
        native[key] = audio if key not in native else _grow_add(native[key], audio)
    used = [s for s in report.stems if not s.note]
    if len(used) * 2 < len([s for s in report.stems if s.group != "skip"]):
        report.note = "left out: more than half of its stems were left out"
        return report
    if not used:
        report.note = "left out: no stems"
        return report
    length = int(np.median(lengths))  # a padded or cut-short file does not set the song's length
    # Resampling is linear: one resampling of each group's sum per source rate, not one per stem.
    stems = {g: np.zeros((length, 2), dtype=np.float32) for g in STEMS}
    for (group, rate), audio in native.items():
        stems[group] += _fit(resample(audio, rate, SAMPLE_RATE), length)
    block = int(round(BLOCK_SECONDS * SAMPLE_RATE))
    mixture = sum(stems.values())
    peak = max(float(np.max(np.abs(a))) for a in [mixture, *stems.values()])
    gain = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
    report.gain_db = float(20 * np.log10(gain))
    report.total_seconds = length / SAMPLE_RATE
    for g in STEMS:
        low, total = low_band_energy(stems[g], SAMPLE_RATE)
        report.group_low_share[g] = low / total if total > 0 else 0.0
    int_stems = {g: np.round(a * (gain * 32767)).astype(np.int16) for g, a in stems.items()}
    parts = audible_parts(_fit(loudest, -(-length // block), fill=-200.0), block, min_silence)
    parts = [(a, min(b, length)) for a, b in parts if min(b, length) - a >= MIN_PART_SECONDS * SAMPLE_RATE]
    for g in STEMS:
        audible = block_rms_db(stems[g], block) >= SILENCE_DB
        report.group_active_seconds[g] = sum(int(audible[a // block: b // block].sum()) for a, b in parts) * (
            BLOCK_SECONDS)
    for index, (start, stop) in enumerate(parts, 1):
        name = song.name if len(parts) == 1 else f"{song.name} - part {index}"
        _write_track(out / name, {g: a[start:stop] for g, a in int_stems.items()}, report, (start, stop))
        report.tracks.append(name)
        report.kept_seconds += (stop - start) / SAMPLE_RATE
    return report


def _grow_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if b.shape[0] > a.shape[0]:
        a, b = b.copy(), a
    a[: b.shape[0]] += b
    return a


def _grow_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if b.shape[0] > a.shape[0]:
        a, b = b, a
    out = a.copy()
    out[: b.shape[0]] = np.maximum(out[: b.shape[0]], b)
    return out


def _fit(audio: np.ndarray, length: int, fill: float = 0.0) -> np.ndarray:
    """`audio` cut to `length` samples or padded with `fill`."""
    if audio.shape[0] >= length:
        return audio[:length]
    pad = np.full((length - audio.shape[0], *audio.shape[1:]), fill, dtype=audio.dtype)
    return np.concatenate([audio, pad])


def _write_track(folder: Path, int_stems: dict[str, np.ndarray], report: SongReport,
                 span: tuple[int, int]) -> None:
    """The four stems and their exact 16-bit sum into a temporary folder renamed to `folder` when complete."""
    total = sum(a.astype(np.int32) for a in int_stems.values())
    assert np.max(np.abs(total)) <= 32767, (folder, int(np.max(np.abs(total))))
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        for stem, audio in int_stems.items():
            write_wav_atomic(tmp / f"{stem}.wav", audio, SAMPLE_RATE)
        write_wav_atomic(tmp / "mixture.wav", total.astype(np.int16), SAMPLE_RATE)
        meta = {"source": report.song, "start_seconds": span[0] / SAMPLE_RATE,
                "stop_seconds": span[1] / SAMPLE_RATE, "gain_db": round(report.gain_db, 2),
                "stems": [{"name": s.name, "file": s.path.name, "group": s.group, "note": s.note}
                          for s in report.stems]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the user's folder should not be
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def import_folder(src: Path, out: Path, grouping: tuple[tuple[str, str], ...], min_silence: float,
                  min_source_rate: int = 0, exclude: tuple[str, ...] = (), progress=None) -> list[SongReport]:
    """Import every song folder under `src` into `out` (an existing, empty folder), except those whose name
    matches a glob of `exclude`."""
    if not src.is_dir():
        raise DemixError(f"{src}: no such folder")
    songs = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    songs = [p for p in songs if any(f.suffix.lower() in AUDIO_SUFFIXES for f in p.iterdir())]
    if not songs:
        raise DemixError(f"{src}: no song folders with audio files in them")
    reports = []
    for song in songs:
        if any(fnmatch.fnmatchcase(song.name, pattern) for pattern in exclude):
            reports.append(SongReport(song.name, [], note="left out: --exclude"))
            continue
        if progress is not None:
            progress(song.name)
        reports.append(import_song(song, out, grouping, min_silence, min_source_rate))
    return reports

"""Offline separation: the streaming separator run over a whole signal or file, with the latency removed.

There is no separate offline model path: `separate_array` feeds the same `StreamingSeparator` the app plays
through, in large blocks (many frames per onnxruntime call), so offline and live output are identical.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demixui.audiofile import read_audio, resample, write_wav_atomic
from demixui.errors import AudioFileError
from demixui.model.runtime import DEFAULT_MAX_FRAMES, SeparatorModel

# WAV subtypes `separate` can write; float is the default (why: demixui/commands/separate.py).
OUTPUT_FORMATS = {"float": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}


def separate_array(
    model: SeparatorModel,
    mix: np.ndarray,
    block_frames: int = DEFAULT_MAX_FRAMES,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """`mix` float32 `(nb_samples, 2)` at the model rate -> aligned stems float32 `(nb_samples, nb_stems, 2)`.

    The end is padded with `latency_samples + hop` zeros so the stream flushes every input sample, the
    first `latency_samples` output samples (the stream's delay) are dropped, and the result is trimmed to the
    input length. `progress(n)` is called with the number of input samples consumed after
    each block. The stream's two halves run pipelined (see `run_aligned`); the numbers are those of
    `StreamingSeparator.process` fed the same blocks.
    """
    nb_samples, nb_channels = mix.shape
    stream = model.new_stream(max_frames=block_frames)
    out = np.zeros((nb_samples, len(stream.stems), nb_channels), dtype=np.float32)
    run_aligned(stream.analyse, stream.synthesise, [mix], out, stream.latency_samples, stream.hop,
                block_frames * stream.hop, progress)
    return out


def run_aligned(
    analyse: Callable[..., tuple],
    synthesise: Callable[..., np.ndarray],
    sources: Sequence[np.ndarray],
    out: np.ndarray,
    latency: int,
    hop: int,
    block: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Stream `sources` (each `(nb_samples, c_i)`) in blocks of `block` samples, then zeros, through
    `synthesise(*analyse(*chunks))`, writing the output advanced by `latency` into `out[:nb_samples]`.

    The pair is a causal stream with a delay of exactly `latency` samples that returns `hop` samples per
    completed frame. `analyse` and `synthesise` must keep separate state: synthesis of block i runs on a
    worker thread while block i + 1 is analysed (onnxruntime and numpy's FFTs release the GIL), which is up
    to twice as fast on two cores and gives the same numbers as running them in turn.
    """
    nb_samples = out.shape[0]
    assert all(source.shape[0] == nb_samples for source in sources), [s.shape for s in sources]
    produced = 0  # stream output samples so far; output sample p is aligned input sample p - latency

    def place(result: np.ndarray) -> None:
        nonlocal produced
        first = produced - latency  # aligned index of result[0]
        lo, hi = max(first, 0), min(first + result.shape[0], nb_samples)
        if hi > lo:
            out[lo:hi] = result[lo - first:hi - first]
        produced += result.shape[0]

    # latency + hop zeros after the signal: the stream holds back latency + (less than a hop) samples.
    total = nb_samples + latency + hop
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demixui-synthesis") as pool:
        pending: Future | None = None
        for start in range(0, total, block):
            chunks = [_padded_chunk(source, start, min(start + block, total)) for source in sources]
            analysed = analyse(*chunks)
            if pending is not None:
                place(pending.result())
            pending = pool.submit(synthesise, *analysed)
            if progress is not None and start < nb_samples:
                progress(min(start + block, nb_samples) - start)
        if pending is not None:
            place(pending.result())
    assert produced - latency >= nb_samples, (produced, latency, nb_samples)


def _padded_chunk(source: np.ndarray, start: int, stop: int) -> np.ndarray:
    """float32 contiguous `source[start:stop]`, zero-padded past the end of `source`."""
    if stop <= source.shape[0]:
        return np.ascontiguousarray(source[start:stop], dtype=np.float32)
    chunk = np.zeros((stop - start, source.shape[1]), dtype=np.float32)
    if start < source.shape[0]:
        chunk[:source.shape[0] - start] = source[start:]
    return chunk


@dataclass
class SeparationResult:
    """What `separate_file` did: where the stems went and how fast (seconds of audio per second of work)."""

    input_path: Path
    output_dir: Path
    audio_seconds: float
    work_seconds: float

    @property
    def speed(self) -> float:
        return self.audio_seconds / max(self.work_seconds, 1e-9)


def output_dir_for(input_path: Path, out_root: Path) -> Path:
    """`OUTDIR/<input file name without extension>`."""
    return out_root / input_path.stem


def check_output_dir(input_path: Path, target: Path, overwrite: bool) -> None:
    """Refuse an existing output folder unless `overwrite`, and never one that holds the input itself."""
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)")
        if not target.is_dir():
            raise AudioFileError(f"{target} exists and is not a folder; not replacing it")
        if input_path.resolve().is_relative_to(target.resolve()):
            raise AudioFileError(f"{target} holds the input {input_path}; not replacing it")


def separate_file(
    model: SeparatorModel,
    input_path: str | Path,
    out_root: str | Path,
    overwrite: bool = False,
    output_format: str = "float",
    progress: Callable[[int, int], None] | None = None,
) -> SeparationResult:
    """Separate one audio file into `out_root/<name>/<stem>.wav` at the file's own sample rate and length.

    The file is resampled to the model's rate with soxr when needed and each stem back to the file's rate.
    The stems are written into a hidden temporary folder beside the target, which is renamed into place only
    when all are written, so the target never holds a partial set. `progress(done, total)` counts samples
    at the model's rate.
    """
    input_path, out_root = Path(input_path), Path(out_root)
    target = output_dir_for(input_path, out_root)
    check_output_dir(input_path, target, overwrite)
    subtype = OUTPUT_FORMATS[output_format]
    rate = model.info.sample_rate

    start_time = time.perf_counter()
    audio, file_rate = read_audio(input_path)
    nb_samples = audio.shape[0]
    mix = resample(audio, file_rate, rate) if file_rate != rate else audio
    del audio
    done, total = 0, mix.shape[0]

    def on_block(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    stems = separate_array(model, mix, progress=on_block)
    del mix
    out_root.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=out_root))
    try:
        for index, name in enumerate(model.stems):
            stem = np.ascontiguousarray(stems[:, index])
            if file_rate != rate:
                stem = _fit_length(resample(stem, rate, file_rate), nb_samples)
            write_wav_atomic(tmp_dir / f"{name}.wav", stem, file_rate, subtype=subtype)
        _give_usual_permissions(tmp_dir)
        _move_into_place(tmp_dir, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    work = time.perf_counter() - start_time
    return SeparationResult(input_path, target, nb_samples / file_rate, work)


def _fit_length(audio: np.ndarray, nb_samples: int) -> np.ndarray:
    """Trim or zero-pad `(n, nb_channels)` to `nb_samples` (resampling there and back may be off by one)."""
    if audio.shape[0] >= nb_samples:
        return audio[:nb_samples]
    return np.concatenate([audio, np.zeros((nb_samples - audio.shape[0], audio.shape[1]), audio.dtype)])


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def _give_usual_permissions(folder: Path) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give the folder and its files the permissions a
    plain mkdir/open would have under the user's umask."""
    mask = _current_umask()
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)


def _move_into_place(tmp_dir: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished `tmp_dir` to `target`; an existing target (only with overwrite) is swapped out."""
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp_dir, target)  # fails rather than merges if someone created target meanwhile
        return
    if not overwrite:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)")
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, old / target.name)
    os.rename(tmp_dir, target)
    shutil.rmtree(old, ignore_errors=True)

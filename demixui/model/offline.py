"""Offline separation: the streaming separator run over a whole signal or file, with the latency removed.

There is no separate offline model path: `separate_array` feeds the same `StreamingSeparator` the app plays
through, in large blocks (many frames per onnxruntime call), so offline and live output are identical.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.audiofile import StreamResampler, audio_info, read_audio_blocks
from demixui.errors import AudioFileError, ModelOutputError
from demixui.model.runtime import DEFAULT_MAX_FRAMES, SeparatorModel
from demixui.outputs import (
    os_cause,
    refuse_inputs,
    temporary_prefix,
    tidy_stale_temporaries,
    usual_permissions,
)
from demixui.stemfile import AAC_RATES, STREAM_NAMES, StemFileWriter, read_stem_manifest, stem_file_name

# WAV subtypes `separate` can write; float is the default (why: demixui/commands/separate.py).
OUTPUT_FORMATS = {"float": "FLOAT", "pcm24": "PCM_24", "pcm16": "PCM_16"}
STEM_MP4 = "stem-mp4"  # the other output format: one NI Stems file, `<name>.stem.mp4` (see stemfile.py)


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
    check_model_output(out, 0, model.info.sample_rate)
    return out


def check_model_output(stems: np.ndarray, position: int, rate: int) -> None:
    """Raise ModelOutputError if `stems` `(n, ...)`, starting at sample `position` at `rate`, holds a NaN or
    an infinity."""
    if np.isfinite(stems).all():
        return
    first = int(np.argmax(~np.isfinite(stems.reshape(stems.shape[0], -1)).all(axis=1)))
    raise ModelOutputError(f"the model's output is NaN or infinite (from {(position + first) / rate:.3f} s): "
                           "the model file is broken (a diverged training run?)")


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
    """`stream_aligned` over whole arrays: `sources` (each `(nb_samples, c_i)`) in blocks of `block` samples,
    the aligned output written into `out[:nb_samples]`; `progress(n)` after each block of n input samples."""
    nb_samples = out.shape[0]
    assert all(source.shape[0] == nb_samples for source in sources), [s.shape for s in sources]

    def blocks() -> Iterator[list[np.ndarray]]:
        for start in range(0, nb_samples, block):
            yield [np.ascontiguousarray(source[start:start + block], dtype=np.float32) for source in sources]
            if progress is not None:
                progress(min(block, nb_samples - start))

    position = 0
    for piece in stream_aligned(analyse, synthesise, blocks(), latency, hop):
        out[position:position + piece.shape[0]] = piece
        position += piece.shape[0]
    assert position == nb_samples, (position, nb_samples)


def stream_aligned(
    analyse: Callable[..., tuple],
    synthesise: Callable[..., np.ndarray],
    blocks: Iterable[Sequence[np.ndarray]],
    latency: int,
    hop: int,
) -> Iterator[np.ndarray]:
    """Feed `blocks` (each a list of `(n, c_i)` float32 chunks, one per source, of any equal length n) and
    then zeros through `synthesise(*analyse(*chunks))`; yield its output advanced by `latency`, so the
    concatenated pieces line up sample for sample with the concatenated input and end with it.

    The pair is a causal stream with a delay of exactly `latency` samples that returns `hop` samples per
    completed frame. `analyse` and `synthesise` must keep separate state: synthesis of block i runs on a
    worker thread while block i + 1 is analysed (onnxruntime and numpy's FFTs release the GIL), which is up
    to twice as fast on two cores and gives the same numbers as running them in turn. Only a block or two of
    audio is in memory at a time, whatever the length of the input.
    """
    consumed = 0  # input samples fed so far (the zero tail not counted)
    produced = 0  # stream output samples so far; output sample p is aligned input sample p - latency
    widths: list[int] | None = None

    def with_tail() -> Iterator[Sequence[np.ndarray]]:
        nonlocal consumed, widths
        for chunks in blocks:
            consumed += chunks[0].shape[0]
            widths = [chunk.shape[1] for chunk in chunks]
            yield chunks
        if widths is not None:  # latency + hop zeros: the stream holds back latency + (< a hop) samples
            yield [np.zeros((latency + hop, width), dtype=np.float32) for width in widths]

    def aligned(result: np.ndarray) -> np.ndarray:
        nonlocal produced
        first = produced - latency  # aligned index of result[0]
        produced += result.shape[0]
        lo, hi = max(first, 0), min(first + result.shape[0], consumed)
        return result[lo - first:hi - first] if hi > lo else result[:0]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demixui-synthesis") as pool:
        pending: Future | None = None
        for chunks in with_tail():
            analysed = analyse(*chunks)
            if pending is not None:
                piece = aligned(pending.result())
                if piece.shape[0]:
                    yield piece
            pending = pool.submit(synthesise, *analysed)
        if pending is not None:
            piece = aligned(pending.result())
            if piece.shape[0]:
                yield piece
    assert produced - latency >= consumed, (produced, latency, consumed)


@dataclass
class SeparationResult:
    """What `separate_file` did: where the stems went and how fast (seconds of audio per second of work)."""

    input_path: Path
    output_dir: Path
    audio_seconds: float
    work_seconds: float
    clipped: int = 0  # samples clipped to full scale (integer output formats only), all stems together

    @property
    def speed(self) -> float:
        return self.audio_seconds / max(self.work_seconds, 1e-9)


def output_dir_for(input_path: Path, out_root: Path) -> Path:
    """`OUTDIR/<input file name without extension>`."""
    return out_root / input_path.stem


def output_path_for(input_path: Path, out_root: Path, output_format: str = "float") -> Path:
    """Where `separate` writes: the stem folder, or for `stem-mp4` the file `OUTDIR/<name>.stem.mp4`."""
    if output_format == STEM_MP4:
        return out_root / stem_file_name(input_path)
    return output_dir_for(input_path, out_root)


def check_output(input_path: Path, target: Path, overwrite: bool, output_format: str,
                 stems: Iterable[str] = (), inputs: Iterable[Path | None] = ()) -> None:
    """`check_output_dir`, or for `stem-mp4` `check_output_file`."""
    if output_format == STEM_MP4:
        check_output_file(input_path, target, overwrite, inputs)
    else:
        check_output_dir(input_path, target, overwrite, stems, inputs)


def _target_to_replace(input_path: Path, target: Path, overwrite: bool, inputs: Iterable[Path | None],
                       what: str) -> bool:
    """The checks both outputs share: the output root is a folder, `target` is not and holds no input, and an
    existing `target` needs `overwrite`. True when `target` exists (the caller checks that it is ours)."""
    out_root = target.parent
    if out_root.exists() and not out_root.is_dir():
        raise AudioFileError(f"{out_root}: the output folder exists and is not a folder")
    refuse_inputs(target, [input_path, *inputs], what)
    if not (target.exists() or target.is_symlink()):
        return False
    if not overwrite:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)")
    return True


def check_output_file(input_path: Path, target: Path, overwrite: bool,
                      inputs: Iterable[Path | None] = ()) -> None:
    """Refuse a stem file that is, or is a link to, the input or any of `inputs`, and an existing one unless
    `overwrite`; even then only a plain file that is an NI stem file (holds a `stem` box) is replaced."""
    if _target_to_replace(input_path, target, overwrite, inputs, "stem file"):
        if target.is_symlink() or not target.is_file():
            raise AudioFileError(f"{target} exists and is not a plain file; not replacing it")
        try:
            read_stem_manifest(target)
        except AudioFileError:
            raise AudioFileError(f"{target} is not an NI stem file; not replacing it") from None


def check_output_dir(input_path: Path, target: Path, overwrite: bool, stems: Iterable[str] = (),
                     inputs: Iterable[Path | None] = ()) -> None:
    """Refuse an output root that is not a folder, an output folder that is or holds the input or any of
    `inputs` (the batch's other inputs, the model file), and an existing output folder unless `overwrite`;
    even then only a folder of nothing but this app's stem files (`<stem>.wav` of `stems`) is replaced."""
    if _target_to_replace(input_path, target, overwrite, inputs, "output folder"):
        if target.is_symlink() or not target.is_dir():
            raise AudioFileError(f"{target} exists and is not a folder; not replacing it")
        ours = {f"{stem}.wav" for stem in stems}
        foreign = sorted(entry.name for entry in target.iterdir()
                         if entry.name not in ours or not entry.is_file() or entry.is_symlink())
        if foreign:
            raise AudioFileError(f"{target} holds files demixui did not write ({', '.join(foreign[:3])}"
                                 f"{', ...' if len(foreign) > 3 else ''}); not replacing it")


def separate_file(
    model: SeparatorModel,
    input_path: str | Path,
    out_root: str | Path,
    overwrite: bool = False,
    output_format: str = "float",
    progress: Callable[[int, int], None] | None = None,
    block_frames: int = DEFAULT_MAX_FRAMES,
    inputs: Iterable[Path | None] = (),
) -> SeparationResult:
    """Separate one audio file into `out_root/<name>/<stem>.wav` at the file's own sample rate and length,
    or with `output_format="stem-mp4"` into the NI Stems file `out_root/<name>.stem.mp4` (the input as
    decoded as stream 0, then drums, bass, other, vocals; AAC; at the input's rate where AAC has it, else at
    the model's rate).

    The file is read, resampled to the model's rate (soxr, streamed) when needed, separated, resampled back
    and written block by block, so memory stays at a few blocks of audio for a track of any length (a DJ
    set of hours). The stems are written into a hidden temporary folder (or file) beside the target, which
    is renamed into place only when complete, so the target never holds a partial set. `progress(done,
    total)` counts input samples at the model's rate (the total is the header's estimate). `block_frames`
    model frames go through the model per call: memory is a few such blocks, whatever the input's length.
    `inputs`: the other files the command reads (the batch, the model), which the output may not replace.
    Non-finite model output raises ModelOutputError and writes nothing; a write that fails (a full disk)
    raises AudioFileError naming the stem file and the cause. `result.clipped` counts the samples clipped
    to full scale by an integer `output_format`.
    """
    input_path, out_root = Path(input_path), Path(out_root)
    target = output_path_for(input_path, out_root, output_format)
    inputs = list(inputs)
    check_output(input_path, target, overwrite, output_format, model.stems, inputs)
    rate = model.info.sample_rate

    start_time = time.perf_counter()
    info = audio_info(input_path)
    file_rate = int(info.samplerate)
    # The rate written: the input's, except in a stem file when AAC cannot store it (then the model's).
    out_rate = rate if output_format == STEM_MP4 and file_rate not in AAC_RATES else file_rate
    expected = round(info.frames * rate / file_rate)
    read = 0  # samples decoded, at the file's rate
    done = 0  # samples fed to the model, at its rate
    mixture: Callable[[np.ndarray], None] | None = None  # receives the input at `out_rate` (stem files)

    def model_rate_blocks() -> Iterator[list[np.ndarray]]:
        nonlocal read, done
        to_model = StreamResampler(file_rate, rate)
        for block in read_audio_blocks(input_path, block_frames * model.info.hop, info):
            read += block.shape[0]
            mix = to_model.process(block)
            if mixture is not None:
                mixture(block if out_rate == file_rate else mix)
            if mix.shape[0]:
                done += mix.shape[0]
                yield [mix]
                if progress is not None:
                    progress(done, max(expected, done))
        rest = to_model.process(np.zeros((0, 2), np.float32), last=True)
        if rest.shape[0]:
            done += rest.shape[0]
            if mixture is not None and out_rate != file_rate:
                mixture(rest)
            yield [rest]

    def separated(writers: Sequence[_AlignedStem]) -> None:
        stream = model.new_stream(max_frames=block_frames)
        position = 0
        for piece in stream_aligned(stream.analyse, stream.synthesise, model_rate_blocks(),
                                    stream.latency_samples, stream.hop):
            check_model_output(piece, position, rate)
            position += piece.shape[0]
            for index, writer in enumerate(writers):
                writer.write(piece[:, index])
        for writer in writers:  # the input's own length, trimmed or padded by a sample or two
            writer.finish(read if out_rate == file_rate else done)

    try:
        out_root.mkdir(parents=True, exist_ok=True)
        tidy_stale_temporaries(out_root)  # what a killed run (SIGKILL, power cut) of ours left behind
        if output_format == STEM_MP4:
            handle, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(target.name), suffix=".part",
                                                dir=out_root)
            os.close(handle)
            tmp = Path(tmp_name)
        else:
            tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target.name), suffix=".part", dir=out_root))
    except OSError as error:
        raise AudioFileError(f"{out_root}: cannot write the stems there ({os_cause(error)})") from None
    writers: list[_AlignedStem] = []
    try:
        if output_format == STEM_MP4:
            with StemFileWriter(tmp, out_rate, name=target) as stem_file:
                mixture = partial(stem_file.write, 0)
                writers = [_StemStream(rate, out_rate, partial(stem_file.write, STREAM_NAMES.index(name)))
                           for name in model.stems]
                separated(writers)
            usual_permissions(tmp)
            check_output_file(input_path, target, overwrite, inputs)  # again: it may have changed
            _move_file_into_place(tmp, target, overwrite)
        else:
            subtype = OUTPUT_FORMATS[output_format]
            with ExitStack() as stack:
                writers = [stack.enter_context(_StemWriter(tmp / f"{name}.wav", rate, file_rate, subtype,
                                                           info.frames, target / f"{name}.wav"))
                           for name in model.stems]
                separated(writers)
            _give_usual_permissions(tmp)
            check_output_dir(input_path, target, overwrite, model.stems, inputs)  # again: it may have changed
            _move_into_place(tmp, target, overwrite)
    except OSError as error:  # a rename or chmod refused: name the file and the cause
        raise AudioFileError(f"{error.filename or target}: could not write the stems "
                             f"({os_cause(error)})") from None
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when renamed into place
        elif os.path.lexists(tmp):
            os.unlink(tmp)
    work = time.perf_counter() - start_time
    clipped = sum(writer.clipped for writer in writers)
    return SeparationResult(input_path, target, read / file_rate, work, clipped)


class _AlignedStem:
    """One stem at the output rate and exactly the input's length, as the stream produces it: resampled
    from the model's rate, then handed to `_emit` (a subclass's: a WAV file, a stream of a stem file).

    The last `HOLD` samples are held back until `finish(length)`: resampling there and back may end a
    sample or two off the input's length, which is only known once the input has been read to its end.
    """

    HOLD = 64

    def __init__(self, rate: int, file_rate: int):
        self._resampler = StreamResampler(rate, file_rate)
        self._held = np.zeros((0, 2), np.float32)
        self.written = 0
        self.clipped = 0  # samples beyond full scale written to an integer format

    def write(self, audio: np.ndarray) -> None:
        audio = np.concatenate([self._held, self._resampler.process(audio)])
        keep = min(self.HOLD, audio.shape[0])
        self._write(audio[:audio.shape[0] - keep])
        self._held = audio[audio.shape[0] - keep:]

    def finish(self, length: int) -> None:
        rest = np.concatenate([self._held, self._resampler.process(np.zeros((0, 2), np.float32), last=True)])
        self._held = rest[:0]
        assert self.written <= length, (self.written, length)
        rest = rest[:length - self.written]
        self._write(rest)
        if self.written < length:
            self._write(np.zeros((length - self.written, 2), np.float32))

    def _write(self, audio: np.ndarray) -> None:
        if audio.shape[0]:
            self._emit(audio)
            self.written += audio.shape[0]

    def _emit(self, audio: np.ndarray) -> None:
        raise NotImplementedError


class _StemStream(_AlignedStem):
    """One stem as a stream of a stem file: `emit(audio)` encodes it (a `StemFileWriter.write`)."""

    def __init__(self, rate: int, file_rate: int, emit: Callable[[np.ndarray], None]):
        super().__init__(rate, file_rate)
        self._emit = emit


class _StemWriter(_AlignedStem):
    """One stem's WAV file, written as the stream produces it, at the input's rate and exactly its length."""

    def __init__(self, path: Path, rate: int, file_rate: int, subtype: str, expected_frames: int,
                 name: Path | None = None):
        super().__init__(rate, file_rate)
        self._name = name or path  # the final name, for messages (`path` is in the temporary folder)
        bytes_per_frame = 2 * {"FLOAT": 4, "PCM_24": 3, "PCM_16": 2}[subtype]
        self._integer = subtype != "FLOAT"
        # Plain WAV stops at 4 GiB (over three hours of float stereo at 44.1 kHz); RF64 lifts that limit.
        big = expected_frames * bytes_per_frame >= 2**32 - 2**24
        try:
            self._file = sf.SoundFile(str(path), "w", samplerate=file_rate, channels=2, subtype=subtype,
                                      format="RF64" if big else "WAV")
        except (sf.LibsndfileError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_write_cause(error)})") from None

    def __enter__(self) -> _StemWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._file.close()
        except (sf.LibsndfileError, OSError) as error:
            if exc[0] is None:  # the header update failed (full disk); else the first error is the one
                raise AudioFileError(f"{self._name}: could not write ({_write_cause(error)})") from None

    def _emit(self, audio: np.ndarray) -> None:
        if self._integer:
            self.clipped += int(np.count_nonzero(np.abs(audio) > 1.0))
        try:
            self._file.write(audio)
        except (sf.LibsndfileError, OSError) as error:
            raise AudioFileError(f"{self._name}: could not write ({_write_cause(error, self._file)})"
                                 ) from None


def _write_cause(error: Exception, handle: sf.SoundFile | None = None) -> str:
    """Why a write failed, in words: libsndfile's generic "System error" carries the OS's reason (no space
    left on device, permission denied, ...) only in the file's own error string."""
    if isinstance(error, OSError):
        return os_cause(error)
    text = ""
    if handle is not None:
        try:
            text = sf._ffi.string(sf._snd.sf_strerror(handle._file)).decode(errors="replace")
        except Exception:  # noqa: BLE001 - soundfile internals: fall back to the generic text
            text = ""
    if not text or text.lower().startswith("no error"):
        text = str(error)
    return text.removeprefix("System error").lstrip(" :.").rstrip(".").strip() or "input/output error"


def _give_usual_permissions(folder: Path) -> None:
    """mkdtemp/mkstemp make private 0700/0600 entries; give the folder and its files the permissions a
    plain mkdir/open would have under the user's umask."""
    usual_permissions(folder, folder=True)
    for path in folder.iterdir():
        usual_permissions(path)


def _move_file_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished file `tmp` to `target`. Without `overwrite`, a hard link then an unlink, which
    fails rather than replaces if someone created `target` meanwhile (a plain rename where the file system
    has no hard links)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)") from None
    except OSError:  # no hard links here (some FAT or network file systems)
        if target.exists() or target.is_symlink():
            raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)") from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _move_into_place(tmp_dir: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished `tmp_dir` to `target`; an existing target (only with overwrite) is swapped out."""
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp_dir, target)  # fails rather than merges if someone created target meanwhile
        return
    if not overwrite:
        raise AudioFileError(f"{target} already exists (pass --overwrite to replace it)")
    old = Path(tempfile.mkdtemp(prefix=temporary_prefix(target.name), suffix=".old", dir=target.parent))
    os.rename(target, old / target.name)
    os.rename(tmp_dir, target)
    shutil.rmtree(old, ignore_errors=True)

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
from contextlib import ExitStack, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from demixui.audiofile import StreamResampler, audio_info, read_audio_blocks
from demixui.errors import AudioFileError, ModelOutputError
from demixui.model.pipeline import run_aligned, stream_aligned
from demixui.model.runtime import DEFAULT_MAX_FRAMES, SeparatorModel
from demixui.model.stemwriters import (
    AlignedStem,
    StemStream,
    StemWriter,
    give_usual_permissions,
    move_dir_into_place,
    move_file_into_place,
)
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
# Model frames per block through `separate_file`'s pipeline (1.5 s of audio). Its stages overlap only once
# the first blocks are through, so a pipeline of k stages over n blocks loses about (k - 1) / n at the ends:
# half the default block halves that loss. Measured as cheap per second of audio as 256 frames (CPU time of
# the three stages over 60 s, 4 runs each on a loaded 2-core machine: median 3.06 s vs 3.17 s).
PIPELINE_FRAMES = 128


def separate_array(
    model: SeparatorModel,
    mix: np.ndarray,
    block_frames: int = DEFAULT_MAX_FRAMES,
    progress: Callable[[int], None] | None = None,
    threaded: bool = True,
) -> np.ndarray:
    """`mix` float32 `(nb_samples, 2)` at the model rate -> aligned stems float32 `(nb_samples, nb_stems, 2)`.

    The end is padded with `latency_samples + hop` zeros so the stream flushes every input sample, the
    first `latency_samples` output samples (the stream's delay) are dropped, and the result is trimmed to the
    input length. `progress(n)` is called with the number of input samples consumed after
    each block (from a worker thread when `threaded`). The stream's stages run pipelined on threads unless
    `threaded` is False (see pipeline.py); the numbers are those of `StreamingSeparator.process` fed the same
    blocks either way.
    """
    nb_samples, nb_channels = mix.shape
    stream = model.new_stream(max_frames=block_frames)
    out = np.zeros((nb_samples, len(stream.stems), nb_channels), dtype=np.float32)
    run_aligned(stream.stages(), [mix], out, stream.latency_samples, stream.hop, block_frames * stream.hop,
                progress, threaded)
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
    block_frames: int = PIPELINE_FRAMES,
    inputs: Iterable[Path | None] = (),
    threaded: bool = True,
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
    to full scale by an integer `output_format`. `threaded`: reading, the model's stages and writing run on
    threads of their own (pipeline.py; `progress` is then called from the reading thread); False keeps
    everything on the caller's thread (one core).
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

    def separated(writers: Sequence[AlignedStem]) -> None:
        stream = model.new_stream(max_frames=block_frames)
        position = 0
        pieces = stream_aligned(stream.stages(), model_rate_blocks(), stream.latency_samples, stream.hop,
                                threaded)
        with closing(pieces):  # an error here stops the pipeline's threads at once
            for piece in pieces:
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
    writers: list[AlignedStem] = []
    try:
        if output_format == STEM_MP4:
            with StemFileWriter(tmp, out_rate, name=target) as stem_file:
                mixture = partial(stem_file.write, 0)
                writers = [StemStream(rate, out_rate, partial(stem_file.write, STREAM_NAMES.index(name)))
                           for name in model.stems]
                separated(writers)
            usual_permissions(tmp)
            check_output_file(input_path, target, overwrite, inputs)  # again: it may have changed
            move_file_into_place(tmp, target, overwrite)
        else:
            subtype = OUTPUT_FORMATS[output_format]
            with ExitStack() as stack:
                writers = [stack.enter_context(StemWriter(tmp / f"{name}.wav", rate, file_rate, subtype,
                                                           info.frames, target / f"{name}.wav"))
                           for name in model.stems]
                separated(writers)
            give_usual_permissions(tmp)
            check_output_dir(input_path, target, overwrite, model.stems, inputs)  # again: it may have changed
            move_dir_into_place(tmp, target, overwrite)
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

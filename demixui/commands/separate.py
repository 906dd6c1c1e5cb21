"""Separate audio files into four stems, offline, through the same streaming code the app plays with.

Writes OUTDIR/<input name>/{vocals,drums,bass,other}.wav at the input's own sample rate and length (resampled
to 44.1 kHz with soxr for the model and back). Channels: mono input is duplicated to stereo; more than two
channels are downmixed to stereo (odd channels to the left, even to the right). Stems are 32-bit float WAV by
default: a stem may exceed full scale where the mix does not, and float keeps it unclipped and the four stems
summing exactly to the mix; --format pcm24 or pcm16 for tools that need integer WAV. --format stem-mp4
writes one Native Instruments Stems file instead, OUTDIR/<input name>.stem.mp4 (the input as decoded, then
drums, bass, other and vocals, as 256 kbit/s AAC streams with the names and colours DJ programs show), which
Mixxx and Traktor load as a four-stem track.

Each stem folder appears complete or not at all (written to a hidden temporary folder, then renamed). An
existing output folder is refused unless --overwrite. With several inputs, a bad one (unreadable, empty,
truncated, NaN or infinite samples, a full disk) is reported on its own line and the others are still
separated; the exit status is then 1. A model whose output is NaN or infinite stops the batch (nothing is
written for it). An output folder is never one that is or holds an input, and --overwrite replaces only a
folder of stems this command wrote.

Speed: --jobs N (default: every core) separates N inputs at a time, each in a worker process; a single input
spreads its reading, model and synthesis over threads instead (the stream is stateful, so one file cannot be
cut into pieces). Memory stays a few blocks of audio per worker, whatever the length of the files.
`demixui bench` measures the speed per number of cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from demixui.errors import DemixError, ModelOutputError
from demixui.model.batch import one_line

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]"
HELP = "separate audio files into stem WAV files or NI Stems files (offline, same code as playback)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                        help="audio files (WAV, FLAC, OGG, MP3, ...)")
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR",
                        help="folder that receives one subfolder of stems (or one .stem.mp4) per input")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="ONNX model file (default: the bundled model)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output folders (or stem files)")
    parser.add_argument("--format", dest="output_format", choices=("float", "pcm24", "pcm16", "stem-mp4"),
                        default="float",
                        help="WAV sample format of the stems (default: float, 32-bit), or stem-mp4: one "
                             "NI Stems file OUTDIR/<name>.stem.mp4 for DJ programs (AAC)")
    parser.add_argument("-j", "--jobs", "--threads", dest="jobs", type=_positive, default=_cores(),
                        metavar="N",
                        help="cores to use (default: all %(default)s): several inputs are separated N at a "
                             "time in worker processes; one input runs its reading, model and synthesis on "
                             "threads of their own")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cores() -> int:
    """The cores this process may run on (an affinity mask or a container's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from demixui.model.offline import STEM_MP4, check_output, output_path_for
    from demixui.model.runtime import load_model

    # One onnxruntime thread per stream: the parallelism is across files or across the pipeline's stages;
    # cores beyond the pipeline's other two stages go to the model, its slowest stage.
    single = len(args.inputs) == 1 or args.jobs == 1
    model_threads = max(1, args.jobs - 2) if single else 1
    model = load_model(args.model, intra_op_threads=model_threads)
    inputs = [*args.inputs, model.info.path]  # no output folder may be, or hold, any of them
    failures = 0
    seen: dict[Path, Path] = {}
    todo: list[tuple[int, Path]] = []
    for number, input_path in enumerate(args.inputs):
        target = output_path_for(input_path, args.out, args.output_format)
        try:
            if target in seen:
                what = "stem file" if args.output_format == STEM_MP4 else "folder"
                raise DemixError(f"{input_path}: same output {what} {target} as {seen[target]}; rename one")
            seen[target] = input_path
            # Before the work, not only after it.
            check_output(input_path, target, args.overwrite, args.output_format, model.stems, inputs)
        except (DemixError, OSError) as error:  # OSError: a folder or file the OS refused (names it)
            failures += 1
            print(f"demixui: error: {one_line(error)}", file=sys.stderr)
            continue
        todo.append((number, input_path))
    options = {"out_root": args.out, "overwrite": args.overwrite, "output_format": args.output_format,
               "inputs": inputs}
    workers = min(args.jobs, len(todo))
    if workers > 1:
        failures += _run_in_parallel(args, model.info.path, todo, workers, options)
    else:
        failures += _run_here(args, model, todo, options, threaded=args.jobs > 1)
    if failures:
        print(f"demixui: error: {failures} of {len(args.inputs)} inputs failed", file=sys.stderr)
        return 1
    return 0


def _run_here(args: argparse.Namespace, model, todo: list[tuple[int, Path]], options: dict,
              threaded: bool) -> int:
    """Separate `todo` one after the other in this process; returns the number that failed."""
    from tqdm import tqdm

    from demixui.model.offline import separate_file

    failures = 0
    for position, (_, input_path) in enumerate(todo):
        try:
            with tqdm(total=1, unit="s", unit_scale=True, desc=input_path.name, leave=False,
                      disable=args.no_progress or None, file=sys.stderr, bar_format=BAR_FORMAT) as bar:
                rate = model.info.sample_rate

                def on_progress(done: int, total: int, bar=bar, rate=rate) -> None:
                    bar.total = total / rate
                    bar.n = done / rate
                    bar.refresh()

                result = separate_file(model, input_path, progress=on_progress, threaded=threaded, **options)
        except ModelOutputError as error:  # the model is broken: every other input would fail the same way
            _model_broken(input_path, str(error), len(todo) - position - 1)
        except (DemixError, OSError) as error:  # OSError: a folder or file the OS refused (names it)
            failures += 1
            print(f"demixui: error: {one_line(error)}", file=sys.stderr)
            continue
        _report(args, result)
    return failures


def _run_in_parallel(args: argparse.Namespace, model_path: Path, todo: list[tuple[int, Path]], workers: int,
                     options: dict) -> int:
    """Separate `todo` in `workers` processes (demixui/model/batch.py); one progress bar for the batch."""
    from tqdm import tqdm

    from demixui.model.batch import separate_in_parallel

    failures = 0
    paths = dict(todo)
    fraction: dict[int, float] = {}  # each input's share done
    broken = None  # the outcome of the input whose output was NaN or infinite
    with tqdm(total=len(todo), desc=f"{len(todo)} files, {workers} at a time", leave=False,
              disable=args.no_progress or None, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]") as bar:

        def on_progress(index: int, done: int, total: int) -> None:
            fraction[index] = done / max(total, 1)
            bar.n = sum(fraction.values())
            bar.refresh()

        def on_outcome(outcome) -> None:
            nonlocal failures, broken
            fraction[outcome.index] = 1.0
            if outcome.model_broken:
                broken = outcome
                return
            if outcome.error is not None:
                failures += 1
                bar.write(f"demixui: error: {outcome.error}", file=sys.stderr)
            else:
                _report(args, outcome.result, bar.write)

        threaded = args.jobs // workers > 1  # more cores than files: each file's stages on threads too
        left = separate_in_parallel(model_path, todo, workers, options, on_outcome, on_progress,
                                    threaded=threaded, model_threads=max(1, args.jobs // workers - 2))
    if broken is not None:
        _model_broken(paths[broken.index], broken.error, len(left))
    return failures


def _model_broken(input_path: Path, error: str, left: int) -> None:
    """The model's output was NaN or infinite: every other input would fail the same way, so stop."""
    raise DemixError(f"{input_path}: {error}; no stems written"
                     + (f", {left} more inputs not separated" if left else ""))


def _report(args: argparse.Namespace, result, write=print) -> None:
    slash = "" if args.output_format == "stem-mp4" else "/"
    write(f"{result.input_path} -> {result.output_dir}{slash} ({result.audio_seconds:.1f} s of audio in "
          f"{result.work_seconds:.1f} s, {result.speed:.1f}x real time)")
    if result.clipped:
        write(f"demixui: warning: {result.output_dir}: {result.clipped} samples beyond full scale were "
              f"clipped in {args.output_format} (--format float keeps them)", file=sys.stderr)

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
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from demixui.errors import DemixError, ModelOutputError

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
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="onnxruntime threads (default: all %(default)s cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from demixui.model.offline import STEM_MP4, check_output, output_path_for, separate_file
    from demixui.model.runtime import load_model

    model = load_model(args.model, intra_op_threads=max(1, args.threads))
    inputs = [*args.inputs, model.info.path]  # no output folder may be, or hold, any of them
    failures = 0
    seen: dict[Path, Path] = {}
    for number, input_path in enumerate(args.inputs):
        target = output_path_for(input_path, args.out, args.output_format)
        try:
            if target in seen:
                what = "stem file" if args.output_format == STEM_MP4 else "folder"
                raise DemixError(f"{input_path}: same output {what} {target} as {seen[target]}; rename one")
            seen[target] = input_path
            # Before the work, not only after it.
            check_output(input_path, target, args.overwrite, args.output_format, model.stems, inputs)
            with tqdm(total=1, unit="s", unit_scale=True, desc=input_path.name, leave=False,
                      disable=args.no_progress or None, file=sys.stderr,
                      bar_format=BAR_FORMAT,
                      ) as bar:
                rate = model.info.sample_rate

                def on_progress(done: int, total: int, bar=bar, rate=rate) -> None:
                    bar.total = total / rate
                    bar.n = done / rate
                    bar.refresh()

                result = separate_file(model, input_path, args.out, overwrite=args.overwrite,
                                       output_format=args.output_format, progress=on_progress,
                                       inputs=inputs)
        except ModelOutputError as error:  # the model is broken: every other input would fail the same way
            left = len(args.inputs) - number - 1
            raise DemixError(f"{input_path}: {error}; no stems written"
                             + (f", {left} more inputs not separated" if left else "")) from None
        except (DemixError, OSError) as error:  # OSError: a folder or file the OS refused (names it)
            failures += 1
            print(f"demixui: error: {_one_line(error)}", file=sys.stderr)
            continue
        slash = "" if args.output_format == STEM_MP4 else "/"
        print(f"{input_path} -> {result.output_dir}{slash} ({result.audio_seconds:.1f} s of audio in "
              f"{result.work_seconds:.1f} s, {result.speed:.1f}x real time)")
        if result.clipped:
            print(f"demixui: warning: {result.output_dir}: {result.clipped} samples beyond full scale were "
                  f"clipped in {args.output_format} (--format float keeps them)", file=sys.stderr)
    if failures:
        print(f"demixui: error: {failures} of {len(args.inputs)} inputs failed", file=sys.stderr)
        return 1
    return 0


def _one_line(error: BaseException) -> str:
    """An OSError as "PATH: cause" (not "[Errno 17] File exists: 'PATH'"); anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        name = error.filename if error.filename is not None else ""
        return f"{name}: {error.strerror}" if name else error.strerror
    return str(error)

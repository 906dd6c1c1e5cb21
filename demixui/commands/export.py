"""Export a training run (its best checkpoint, else its last) to an ONNX model file for the app.

The file carries its own description (stems, sample rate, STFT, latency, state names, training data, version)
and is checked before it is kept: onnxruntime, one frame per call, must match torch to 1e-4 on ten seconds of
audio, else nothing is written.
With --int8 the float32 file is then quantized (`demixui/model/quantize.py`: int8 weights, checked against the
float32 file) and only the int8 file is written; given a float32 .onnx model file instead of a run, --int8
quantizes that file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from demixui.errors import DemixError

HELP = "export a training run to an ONNX model file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # dest is not "run": the CLI keeps the command function in args.run
    parser.add_argument("run_dir", metavar="RUN",
                        help="run folder of `demixui train`, a .pt file, or (--int8) a float32 .onnx file")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    parser.add_argument("--last", action="store_true", help="export the last checkpoint, not the best")
    parser.add_argument("--model-version", default=None, help="version string stored in the file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T",
                        help="divide the mask logits by T (> 1 softer masks); pick it on validation tracks")
    parser.add_argument("--int8", action="store_true",
                        help="write int8 weights (onnxruntime dynamic quantization of the MatMul and LSTM "
                             "weights): a smaller file and a faster hop; its version gets '-int8' appended")


def run(args: argparse.Namespace) -> int:
    from demixui.model.checkpoint import find_checkpoint, load_checkpoint, model_from_checkpoint
    from demixui.model.export import export_model

    output = Path(args.output)
    if Path(args.run_dir).suffix.lower() == ".onnx":
        return _quantize_file(args, output)
    if output.exists() and not args.overwrite:
        raise DemixError(f"{output} exists; add --overwrite to replace it")
    if not output.parent.is_dir():
        raise DemixError(f"{output.parent}: no such folder")
    path = find_checkpoint(args.run_dir, prefer_best=not args.last)
    state = load_checkpoint(path)
    model = model_from_checkpoint(state)
    counters = state.get("counters", {})
    step = counters.get("step", 0)
    version = args.model_version or f"{Path(args.run_dir).resolve().name}-{path.stem}-step{step}"
    if not args.temperature > 0:
        raise DemixError(f"--temperature must be positive, got {args.temperature}")
    # With --int8 the float32 file is only a step: it goes beside the output under a temporary name.
    target = output.with_name(f".{output.name}.{os.getpid()}.fp32.onnx") if args.int8 else output
    try:
        meta = export_model(model, target, training_data=state.get("training_data", ""),
                            model_version=version, mask_temperature=args.temperature)
        what = "exported float32" if args.int8 else f"wrote {output}"
        print(f"{what} ({target.stat().st_size / 1e6:.1f} MB, {meta['architecture']['parameters']:,} "
              f"parameters, latency {meta['latency_samples']} samples) from {path}; "
              f"onnxruntime vs torch max difference {meta['validation_max_abs_error']:.1e}")
        if args.int8:
            from demixui.model.quantize import write_quantized

            write_quantized(target, output, f"{version}-int8", overwrite=True, source_label=str(path))
    finally:
        if args.int8:
            target.unlink(missing_ok=True)
    return 0


def _quantize_file(args: argparse.Namespace, output: Path) -> int:
    """`demixui export MODEL.onnx -o OUT.onnx --int8`: an existing float32 model file made int8."""
    from demixui.model.quantize import write_quantized

    if not args.int8:
        raise DemixError(f"{args.run_dir} is a model file already; add --int8 to quantize it")
    if args.last or args.temperature != 1.0:
        raise DemixError("--last and --temperature apply to a run or checkpoint, not to a model file")
    version = f"{args.model_version}-int8" if args.model_version else None  # None: the file's + "-int8"
    write_quantized(args.run_dir, output, version, args.overwrite)
    return 0

"""Export a training run (its best checkpoint, else its last) to an ONNX model file for the app.

The file carries its own description (stems, sample rate, STFT, latency, state names, training data, version)
and is checked before it is kept: onnxruntime, one frame per call, must match torch to 1e-4 on ten seconds of
audio, else nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demixui.errors import DemixError

HELP = "export a training run to an ONNX model file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # dest is not "run": the CLI keeps the command function in args.run
    parser.add_argument("run_dir", metavar="RUN", help="run folder of `demixui train`, or a .pt file")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    parser.add_argument("--last", action="store_true", help="export the last checkpoint, not the best")
    parser.add_argument("--model-version", default=None, help="version string stored in the file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T",
                        help="divide the mask logits by T (> 1 softer masks); pick it on validation tracks")


def run(args: argparse.Namespace) -> int:
    from demixui.model.checkpoint import find_checkpoint, load_checkpoint, model_from_checkpoint
    from demixui.model.export import export_model

    output = Path(args.output)
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
    meta = export_model(model, output, training_data=state.get("training_data", ""), model_version=version,
                        mask_temperature=args.temperature)
    size_mb = output.stat().st_size / 1e6
    print(f"wrote {output} ({size_mb:.1f} MB, {meta['architecture']['parameters']:,} parameters, "
          f"latency {meta['latency_samples']} samples) from {path}; "
          f"onnxruntime vs torch max difference {meta['validation_max_abs_error']:.1e}")
    return 0

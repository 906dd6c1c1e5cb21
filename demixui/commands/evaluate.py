"""Score a model on every ROOT/<track>/ of MUSDB18-HQ layout (mixture.wav plus vocals/drums/bass/other.wav).

Per stem, in dB: the challenge SDR over the whole track and the median SDR over one-second frames, per track
and on average, for three estimates on the same tracks: the model; the floor (the mixture used as every stem's
estimate); and the ceiling (the oracle ratio mask |S_j| / sum_k |S_k| with the mixture's phase at the model's
STFT configuration: what a mask model of this kind reaches knowing the sources). The gap column is ceiling
minus model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HELP = "score a model on a MUSDB18-HQ-layout folder (SDR per stem, floor and ceiling)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("root", type=Path, metavar="ROOT",
                        help="folder of <track>/ folders (or of train/ and test/)")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="ONNX model file (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write every figure (per track, per stem, means) to this JSON file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="onnxruntime threads (default: all %(default)s cores)")


def run(args: argparse.Namespace) -> int:
    from demixui.data.musdb import list_tracks
    from demixui.model.evaluation import ESTIMATES, evaluate, format_table, to_json_safe
    from demixui.model.runtime import load_model

    model = load_model(args.model, intra_op_threads=max(1, args.threads))
    list_tracks(args.root)  # a bad ROOT fails now, before any work

    def on_track(result: dict, index: int, total: int) -> None:
        figures = ", ".join(
            f"{e} {sum(result[e][s]['sdr'] for s in result[e]) / len(result[e]):.2f}" for e in ESTIMATES
        )
        speed = result["seconds"] / max(result["separation_seconds"], 1e-9)
        print(f"[{index}/{total}] {result['name']}: mean SDR {figures} dB "
              f"({result['seconds']:.0f} s, separated at {speed:.0f}x real time)",
              file=sys.stderr, flush=True)

    report = evaluate(model, args.root, on_track=on_track)
    print(f"{len(report['tracks'])} tracks in {args.root}, model {model.info.path}")
    print(format_table(report))
    if args.json is not None:
        _write_text_atomic(args.json, json.dumps(to_json_safe(report), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file beside `path`, then rename: never a half-written JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

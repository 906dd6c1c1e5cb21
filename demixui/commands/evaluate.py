"""Score a model on every ROOT/<track>/ of MUSDB18-HQ layout (mixture.wav plus vocals/drums/bass/other.wav),
or on every ROOT/<name>.stem.mp4 NI stem file (the mixture is the sum of its decoded stems, 2048 samples cut
at each end; a silent stem is skipped).

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
from pathlib import Path

from demixui.errors import DemixError
from demixui.outputs import check_writable_file, refuse_inputs, write_text_atomic

HELP = "score a model on a MUSDB18-HQ-layout folder or NI stem files (SDR per stem, floor and ceiling)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("root", type=Path, metavar="ROOT",
                        help="folder of <track>/ folders (or of train/ and test/) or of .stem.mp4 files")
    parser.add_argument("--model", type=Path, default=None, metavar="PATH",
                        help="ONNX model file (default: the bundled model)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write every figure (per track, per stem, means) to this JSON file")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="onnxruntime threads (default: all %(default)s cores)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from demixui.data.musdb import list_tracks
    from demixui.model.evaluation import ESTIMATES, evaluate, format_table, mean_scores, to_json_safe
    from demixui.model.runtime import load_model

    model = load_model(args.model, intra_op_threads=max(1, args.threads))
    tracks = list_tracks(args.root)  # a bad ROOT fails now, before any work
    if args.json is not None:  # so does a --json that would replace an input or cannot be written
        refuse_inputs(args.json, [model.info.path, *_track_files(tracks)], "JSON file")
        check_writable_file(args.json, "JSON file")

    finished: list[dict] = []

    def on_track(result: dict, index: int, total: int) -> None:
        finished.append(result)
        figures = ", ".join(
            f"{e} {np.nanmean([result[e][s]['sdr'] for s in result[e]]):.2f}" for e in ESTIMATES
        )
        speed = result["seconds"] / max(result["separation_seconds"], 1e-9)
        print(f"[{index}/{total}] {result['name']}: mean SDR {figures} dB "
              f"({result['seconds']:.0f} s, separated at {speed:.0f}x real time)",
              file=sys.stderr, flush=True)

    try:
        report = evaluate(model, args.root, on_track=on_track)
    except (DemixError, OSError) as error:  # a later track failed: keep the scores already finished
        if args.json is not None and finished:
            partial = {"root": str(args.root), "incomplete": f"stopped at a failing track: {error}",
                       "tracks": finished, "mean": mean_scores(finished)}
            write_text_atomic(args.json, json.dumps(to_json_safe(partial), indent=2) + "\n")
            print(f"wrote the {len(finished)} finished tracks to {args.json}", file=sys.stderr)
        raise
    print(f"{len(report['tracks'])} tracks in {args.root}, model {model.info.path}")
    print(format_table(report))
    if args.json is not None:  # atomic, with the user's umask permissions
        write_text_atomic(args.json, json.dumps(to_json_safe(report), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _track_files(tracks: list[Path]) -> list[Path]:
    """Every file evaluate may read: the tracks themselves, or the files in each track folder."""
    return [entry for track in tracks for entry in (sorted(track.iterdir()) if track.is_dir() else [track])]

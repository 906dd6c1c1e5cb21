"""Pick the mask temperature for `demixui export --temperature` on validation tracks (never the test set).

    python -m demixui.model.calibrate runs/main --valid data/valid [--temperatures 1 1.2 1.4 1.6 2]

prints the validation SDR (the training loop's `validation_sdr`: middle 20 s of up to 8 tracks) for each
temperature and the best one. A mask estimator trained with a magnitude loss tends to be over-confident
where it is unsure; dividing its logits by T > 1 pulls those masks towards the mixture share.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demixui.model.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN", help="run folder of `demixui train`, or a .pt file")
    parser.add_argument("--valid", required=True, type=Path, help="validation tracks (MUSDB18-HQ layout)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 1.2, 1.4, 1.6, 2.0])
    parser.add_argument("--tracks", type=int, default=8, help="validation tracks scored (default 8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds scored per track (default 20)")
    args = parser.parse_args(argv)

    import torch

    from demixui.data.musdb import list_tracks
    from demixui.model.checkpoint import find_checkpoint, load_checkpoint, model_from_checkpoint
    from demixui.model.training import validation_sdr

    path = find_checkpoint(args.run_dir, prefer_best=True)
    model = model_from_checkpoint(load_checkpoint(path))
    tracks = list_tracks(args.valid)[: args.tracks]
    print(f"{path}: validation SDR (dB) on {len(tracks)} tracks of {args.valid}")
    results = {}
    for temperature in args.temperatures:
        softened = copy.deepcopy(model)
        softened.soften_masks(temperature)
        scores = validation_sdr(softened, tracks, args.seconds, torch.device("cpu"))
        results[temperature] = scores["mean"]
        print(f"T={temperature:<5g} " + " ".join(f"{stem}={value:.2f}" for stem, value in scores.items()),
              flush=True)
    best = max(results, key=results.get)
    against = f" ({results[best] - results[1.0]:+.2f} dB vs T=1)" if 1.0 in results else ""
    print(f"best: --temperature {best:g}{against}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train a separation model on MUSDB18-HQ-layout folders (ours from `demixui data`, or a real MUSDB18-HQ).

Checkpoints go to the run folder (`last.pt` every few minutes and at the end, `best.pt` at the best validation
SDR, `log.jsonl` one line per epoch). `--resume` continues a run; `--init` starts a new run from the weights
of a model file or checkpoint (fine-tuning); `--minutes` is this invocation's budget.
Uses CUDA when there is a GPU, otherwise all CPU threads (or `--threads`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from demixui.errors import DemixError

HELP = "train a separation model on MUSDB18-HQ-layout folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", required=True, metavar="DIR",
                        help="folder of <track>/{mixture,vocals,drums,bass,other}.wav (repeatable)")
    parser.add_argument("--valid", action="append", metavar="DIR",
                        help="held-out tracks for validation SDR: track folders or NI .stem.mp4 files. The "
                        "first --valid picks best.pt (use real music, e.g. ../shared/data/musdb18-7-train); "
                        "further ones are scored and printed beside it (default: a sibling 'valid' folder of "
                        "the first --data if it exists, else a few tracks held out of --data)")
    parser.add_argument("--valid-tracks", type=int, default=8, metavar="N",
                        help="score at most N tracks of each --valid folder (default 8; 0: all)")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder for checkpoints and logs")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget (default 60)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--init", metavar="PATH",
                        help="start a new run from these weights: a demixui .onnx model file (weights "
                             "recovered from the graph) or a .pt checkpoint / run folder (weights only; a "
                             "fresh optimiser and counters); the network size comes from it")
    parser.add_argument("--config", choices=["default", "lowlatency", "ultralow", "tiny"], default=None,
                        help="network size and STFT (default: n_fft 2048 hop 512, 34.8 ms latency; "
                        "lowlatency: n_fft 512 hop 128, 8.7 ms; ultralow: 256/64, 4.4 ms). With --init of "
                        "another STFT, same core, the weights are carried over (demixui/model/retarget.py)")
    parser.add_argument("--augment", choices=["standard", "real", "records"], default="standard",
                        help="standard: per-stem gain, channel swap, polarity flip, stems remixed across "
                             "tracks; real: also mixes made narrow or mono, darker or low-passed, and "
                             "darker drums, as in real records; records: the same, lighter, for generator v2 "
                             "corpora that are mastered already (default standard)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chunk-seconds", type=float, default=3.0)
    parser.add_argument("--loss", choices=["l1", "sdr"], default="l1",
                        help="l1: magnitudes and phase-sensitive projections; sdr: minus the SDR of the "
                             "mix-phase estimate (the metric itself; a good fine-tune). Default l1")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--epoch-steps", type=int, default=0,
                        help="steps between validations (default: one pass's worth of the training audio)")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="also stop when the run reaches this many steps (default: no limit)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--snapshots", action="store_true",
                        help="also keep the weights at every checkpoint in RUN/snapshots/, to average them "
                             "(python -m demixui.model.average)")
    parser.add_argument("--valid-seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _valid_tracks(args: argparse.Namespace, train_tracks: list[Path]
                  ) -> tuple[list[tuple[str, list[Path]]], list[Path]]:
    """([(label, validation tracks) per --valid folder], training tracks), holding some training tracks out
    when no folder is given. The first set picks the best weights."""
    from demixui.data.musdb import list_tracks

    roots = args.valid
    if not roots:
        sibling = Path(args.data[0]).parent / "valid"
        roots = [sibling] if sibling.is_dir() and sibling.resolve() != Path(args.data[0]).resolve() else []
    if roots:
        limit = args.valid_tracks if args.valid_tracks > 0 else None
        groups = [(Path(root).name, list_tracks(root)[:limit]) for root in roots]
        trained = {track.resolve() for track in train_tracks}
        for label, tracks in groups:
            if any(track.resolve() in trained for track in tracks):
                raise DemixError(f"--valid {label}: some of its tracks are also training tracks (--data)")
        return groups, train_tracks
    if len(train_tracks) < 2:
        return [("train", list(train_tracks))], train_tracks  # nothing to hold out: validate on the training
    held = max(1, min(5, len(train_tracks) // 10))
    return [("held-out", train_tracks[-held:])], train_tracks[:-held]


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from demixui.data.musdb import list_tracks
    from demixui.model.augment import AUGMENTATIONS, ChunkSampler
    from demixui.model.checkpoint import LAST, find_checkpoint, load_checkpoint
    from demixui.model.network import CONFIGS, ModelConfig
    from demixui.model.training import Trainer, TrainSettings, initial_model

    if args.batch_size < 1 or args.chunk_seconds <= 0 or args.minutes < 0:
        raise DemixError("--batch-size, --chunk-seconds and --minutes must be positive")
    if args.init and args.resume:
        raise DemixError("--init starts a new run from given weights, --resume continues one: pick one")
    run_dir = Path(args.out)
    state = init = None
    if args.resume:
        state = load_checkpoint(find_checkpoint(run_dir, prefer_best=False))
    elif (run_dir / LAST).exists():
        raise DemixError(f"{run_dir} already holds a run: add --resume to continue it or pick another --out")
    if args.init:
        init, init_data = initial_model(args.init)
        if args.config and CONFIGS[args.config] != init.config:
            from demixui.model.retarget import core_matches, retarget

            if not core_matches(init.config, CONFIGS[args.config]):
                raise DemixError(f"--init {args.init} is not a '{args.config}' network; leave out --config")
            init = retarget(init, CONFIGS[args.config])  # same core, another STFT: carry the weights over
            init_data += f", carried over to n_fft {init.config.n_fft} hop {init.config.hop}"
    if state:
        config = ModelConfig.from_dict(state["config"])
    else:
        config = init.config if init else CONFIGS[args.config or "default"]

    valid_sets, train = _valid_tracks(args, [track for root in args.data for track in list_tracks(root)])
    sampler = ChunkSampler(train, int(args.chunk_seconds * 44100), AUGMENTATIONS[args.augment])
    hours = sampler.total_samples / 44100 / 3600
    training_data = f"{', '.join(args.data)}: {len(sampler.tracks)} tracks, {hours:.2f} h"
    if args.augment != "standard":
        training_data += f", {args.augment}-mix augmentation"

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    torch.manual_seed(args.seed)
    settings = TrainSettings(
        minutes=args.minutes, batch_size=args.batch_size, chunk_seconds=args.chunk_seconds,
        learning_rate=args.lr, checkpoint_minutes=args.checkpoint_minutes, valid_seconds=args.valid_seconds,
        epoch_steps=args.epoch_steps, max_steps=args.max_steps, seed=args.seed, progress=not args.no_progress,
        loss=args.loss, snapshots=args.snapshots, max_valid_tracks=args.valid_tracks,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(run_dir, config, sampler, valid_sets[0][1], settings, device, training_data)
    trainer.extra_valid = dict(valid_sets[1:])
    if state:
        trainer.load(state)
        trainer.training_data = state.get("training_data", training_data)
        if training_data not in trainer.training_data:
            trainer.training_data += f"; then {training_data}"
    if init:
        trainer.start_from(init)
        trainer.training_data = f"{init_data}; then {training_data}"
        print(f"starting from the weights of {args.init}")
    print(f"training on {training_data}; validating on {len(trainer.valid_tracks)} tracks of "
          f"{valid_sets[0][0]} (picks best.pt)"
          + "".join(f", {len(tracks)} of {label}" for label, tracks in valid_sets[1:]) + "; "
          f"{device.type} ({torch.get_num_threads()} threads); {np.round(args.minutes, 1)} min")
    scores = trainer.run()
    best = trainer.counters["best_sdr"]
    print(f"done: step {trainer.counters['step']}, last valid SDR {scores.get('mean', float('nan')):.2f} dB, "
          f"best {best:.2f} dB; checkpoints in {run_dir}")
    return 0

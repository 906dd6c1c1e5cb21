"""Training checkpoints: self-describing (the model config travels with the weights), written atomically.

A run folder holds `last.pt` (everything needed to resume: weights, optimiser, counters, history) and
`best.pt` (the weights with the best validation SDR so far). `demixui export RUN` reads `best.pt`, else
`last.pt`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from demixui.errors import ModelFileError
from demixui.model.network import ModelConfig, Separator, load_weights

LAST = "last.pt"
BEST = "best.pt"
SNAPSHOTS = "snapshots"  # `train --snapshots`: the weights at every save, step_NNNNNNN.pt


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write `state` (must hold "config" and "model") to `path` via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict at `path`, on the CPU; ModelFileError when missing, corrupt or not ours."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise ModelFileError(f"{path}: not a readable checkpoint ({type(error).__name__})") from error
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ModelFileError(f"{path}: not a demixui training checkpoint")
    return state


def find_checkpoint(run: str | Path, prefer_best: bool = True) -> Path:
    """The checkpoint to use from a run folder (best, else last) or the file itself."""
    run = Path(run)
    if run.is_file():
        return run
    if not run.is_dir():
        raise ModelFileError(f"{run}: no such run folder or checkpoint")
    for name in (BEST, LAST) if prefer_best else (LAST,):
        if (run / name).is_file():
            return run / name
    raise ModelFileError(f"{run}: no checkpoint in this folder (expected {BEST} or {LAST})")


def model_from_checkpoint(state: dict) -> Separator:
    """Rebuild the network described by a checkpoint and load its weights (eval mode, CPU)."""
    try:
        model = Separator(ModelConfig.from_dict(state["config"]))
        load_weights(model, state["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as error:
        first_line = str(error).splitlines()[0]
        raise ModelFileError(f"checkpoint does not match the network: {first_line}") from error
    return model.eval()

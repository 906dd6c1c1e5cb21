"""Average the weights of several checkpoints of one run (stochastic weight averaging, after the fact).

    python -m demixui.model.average runs/main/snapshots/*.pt -o runs/main/average.pt
    demixui export runs/main/average.pt -o model.onnx

At a steady learning rate the weights wander around a minimum: the validation SDR of checkpoints a few minutes
apart swings by +-0.1 dB. Their mean sits nearer the middle of the basin and is usually better than any one of
them (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima"). The checkpoints must come from one run
(same network, one basin); `demixui train --snapshots` keeps one at every checkpoint save for this. The result
is a checkpoint that `export` and `calibrate` accept; score it before shipping it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demixui.errors import DemixError, ModelFileError


def average_checkpoints(states: list[dict]) -> dict:
    """The mean of the floating-point weights of `states` (integer buffers from the last); the rest of the
    last state (config, counters, history, training data) is kept, with `averaged_steps` added."""
    if not states:
        raise ModelFileError("no checkpoints to average")
    configs = {repr(sorted(state["config"].items())) for state in states}
    if len(configs) > 1:
        raise ModelFileError("the checkpoints describe different networks; average checkpoints of one run")
    last = states[-1]
    keys = set(last["model"])
    for state in states:
        if set(state["model"]) != keys:
            raise ModelFileError("the checkpoints hold different weights; average checkpoints of one run")
    weights = {}
    for key, value in last["model"].items():
        if value.is_floating_point():
            total = sum(state["model"][key].double() for state in states)  # float64: no rounding build-up
            weights[key] = (total / len(states)).to(value.dtype)
        else:
            weights[key] = value.clone()
    averaged = {k: v for k, v in last.items() if k != "optimizer"}  # no Adam state: not a run to resume
    averaged["model"] = weights
    averaged["averaged_steps"] = [state.get("counters", {}).get("step") for state in states]
    return averaged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demixui.model.average", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files of one run")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the averaged checkpoint to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)

    from demixui.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

    try:
        if args.output.exists() and not args.overwrite:
            raise ModelFileError(f"{args.output} exists; add --overwrite to replace it")
        if args.output.resolve() in {path.resolve() for path in args.checkpoints}:
            raise ModelFileError(f"{args.output} is one of the inputs; not overwriting it")
        averaged = average_checkpoints([load_checkpoint(path) for path in args.checkpoints])
        model_from_checkpoint(averaged)  # it must still load as a network
        save_checkpoint(args.output, averaged)
    except DemixError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: the mean of {len(args.checkpoints)} checkpoints "
          f"(steps {', '.join(str(step) for step in averaged['averaged_steps'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

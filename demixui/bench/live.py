"""Live input through the whole app on a JACK server (dummy driver, period = the block size), per model and
block size: the latency split (model / buffer / device), the inference time per hop against the hop's budget,
and app and device underruns. Each run is `python -m demixui.engine.xruns --client live` in its own process
(PortAudio finds a JACK server only when it starts): the engine separates the server's capture ports (the
dummy driver's silence: the compute does not depend on what the model hears) to its playback ports.

Before those, per model, the compute of each hop alone (`measure_hop_compute`: CPU time, one hop per call on
the bench audio; the issue-14 target is p99 at most 50 % of the hop's budget): the worker's wall-clock hop
times above also count the time other processes held the core.

The peer on latency is HS-TasNet, the best published real-time separator we know of: 23 ms of algorithmic
latency alone (its paper's figure, 1024-sample window at 44.1 kHz), before any buffer or device.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from demixui.bench.table import Row
from demixui.errors import DeviceError

SECTION = "Live input on a JACK dummy server"
TABLES = ("live", "live-compute")  # the tables of this section
HS_TASNET_MS = 23.2  # HS-TasNet's published algorithmic latency (1024 samples at 44.1 kHz)
WARMUP_SECONDS = 2.0


def bundled_models() -> list[Path]:
    """The shipped default and live models (the live one may be missing: its rows say so)."""
    from demixui.assets import DEFAULT_MODEL, LIVE_MODEL, asset_path

    return [asset_path(DEFAULT_MODEL), asset_path(LIVE_MODEL)]


def live_row(model: Path, blocksize: int, result: dict) -> Row:
    """One row from a live client's JSON (xruns.client_live), or one that says why it has none."""
    name = f"{model.name}, block {blocksize}"
    if "device_underruns" not in result:
        return Row("live", name, {}, reason=f"the live run failed: {result.get('error')}")
    budget = result["hop_budget_ms"]
    figures = {
        "model_ms": result["model_latency_ms"],
        "buffer_ms": result["buffer_latency_ms"],
        "model_buffer_ms": result["model_latency_ms"] + result["buffer_latency_ms"],
        "device_ms": result["device_latency_ms"],
        "hop_budget_ms": budget,
        "hop_p50_pct": 100 * result["inference_p50_ms"] / budget,
        "hop_p99_pct": 100 * result["inference_p99_ms"] / budget,
        "app_underruns": result["app_underruns"],
        "device_underruns": result["device_underruns"],
        "seconds": result["seconds"],
        "load_1min": result["load"][0],
    }
    row = Row("live", name, figures, raw=result)
    least = result.get("least_buffer_ms")
    if least is not None and result["buffer_latency_ms"] > least + 1e-6:
        row.notes.append(f"the buffer grew from its least, {least:.1f} ms, after app underruns (the worker "
                         "missed its time: a busy machine)")
    if result.get("error"):
        row.notes.append(f"engine error: {result['error']}")
    return row


def measure_hop_compute(models: list[Path], mix: np.ndarray, log: Callable[[str], None] = print) -> list[Row]:
    """Per model: the CPU time of each hop of `mix` `(nb_samples, 2)` fed one hop per call to the app's
    StreamingSeparator (onnxruntime with one thread), as a share of the hop's budget."""
    from demixui.bench.ours import hop_times
    from demixui.model.runtime import load_model

    rows = []
    for path in models:
        if not path.is_file():
            rows.append(Row("live-compute", path.name, {}, reason=f"{path} is missing"))
            continue
        log(f"live: {path.name}, compute per hop over {mix.shape[0]} samples of the bench audio ...")
        model = load_model(path, intra_op_threads=1)
        times = hop_times(model, mix)
        budget = model.info.hop / model.info.sample_rate
        rows.append(Row("live-compute", path.name, {
            "hop_budget_ms": 1000 * budget,
            "hop_p50_pct": 100 * float(np.percentile(times, 50)) / budget,
            "hop_p99_pct": 100 * float(np.percentile(times, 99)) / budget,
            "hop_max_pct": 100 * float(times.max()) / budget,
            "hops": times.size,
            "load_1min": os.getloadavg()[0],
        }))
    return rows


def peer_row() -> Row:
    return Row("live", "HS-TasNet (published)", {"model_ms": HS_TASNET_MS},
               reason="its paper's algorithmic latency alone (a 1024-sample window), not run live here")


def run_live_client(env: dict, model: Path, blocksize: int, seconds: float) -> dict:
    """One live run in its own process inside the server's environment; its JSON, or {"error": ...}."""
    command = [sys.executable, "-m", "demixui.engine.xruns", "--client", "live", "--blocks", str(blocksize),
               "--seconds", str(seconds), "--warmup", str(WARMUP_SECONDS), "--model", str(model)]
    from demixui.engine.xruns import run_client_process

    result = run_client_process(command, env, seconds + WARMUP_SECONDS + 180)
    return {**result, "seconds": seconds, "load": os.getloadavg()}


def measure_live(models: list[Path], blocksizes: list[int], seconds: float,
                 log: Callable[[str], None] = print) -> list[Row]:
    """A row per block size and model (rows that say why where a model is missing or JACK cannot start),
    then the peer's."""
    from demixui.engine.xruns import JackDummy

    rows = []
    for blocksize in blocksizes:
        try:
            server = JackDummy(blocksize)
        except DeviceError as error:
            rows += [Row("live", f"{m.name}, block {blocksize}", {}, reason=f"no JACK server: {error}")
                     for m in models]
            continue
        try:
            for model in models:
                if not model.is_file():
                    rows.append(Row("live", f"{model.name}, block {blocksize}", {},
                                    reason=f"{model} is missing"))
                    continue
                log(f"live: {model.name} at block {blocksize}, {seconds:g} s on a JACK dummy server ...")
                result = run_live_client(server.env, model, blocksize, seconds)
                rows.append(live_row(model, blocksize, result))
        finally:
            server.stop()
    return rows + [peer_row()]


METHOD = """\
How to read it: the app separates live input from a private JACK server with the dummy driver (44.1 kHz,
period = the block size), as `demixui play --live` does, each model and block size in its own process after
a 2-s warm-up. **Model** latency is the STFT's n_fft - hop; **buffer** the live input the engine holds ahead
of the play position (the least whole blocks with which every block's stems exist, n + hop - gcd(n, hop)
rounded up to blocks, and the least whole blocks more that give the worker 6 ms from a hop's last input to
the block that needs it, `demixui/engine/live.py`); **device** what PortAudio reports for the output and the
input stream. **Hop p50/p99** are the inference worker's times per model hop (STFT, onnxruntime with one
thread, mix-phase ISTFT) as a share of the hop's real-time budget, wall clock, so the machine's load (the
1-minute load average after each row) shows in them. **App underruns** are blocks the dry mix stood in for
late stems; **device underruns** PortAudio's output-underflow flags. After an app underrun the buffer grows a
block (up to 4 blocks or a hop more) and gives it back after 10 s without one, so a buffer above its least
(said under the table) means the worker could not separate a hop within its time on that machine at that
time. The model + buffer targets (issue 14): at most 20 ms at block 128 and 12 ms at block 64 with the live
model, with 0 app underruns; the least buffers are 17.4 ms at both (three blocks at 128; at 64 the same time
for the worker takes six blocks, so 12 ms is not met there); the load decides if they hold.
**Compute per model hop** is each model alone on the bench audio (`--seconds`), fed one hop per call to the
app's separator as the worker feeds live input (STFT, onnxruntime with one thread, mix-phase ISTFT), timed in
CPU time of the process, so other processes' load shows in it only through shared caches and memory; the
issue-14 target is p99 at most 50 % of the hop's budget for the live model."""


def render_section(rows: list[Row], machine_text: str, command: str) -> str:
    """The `## Live input on a JACK dummy server` section of BENCHMARKS.md."""
    from demixui.bench.table import render_markdown

    return "\n".join([f"## {SECTION}", "", f"- Command: `{command}`", f"- Machine: {machine_text}", "",
                      render_markdown(rows), "", METHOD])

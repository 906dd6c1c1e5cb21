"""Our model's figures: latency, inference time per hop against its budget, real-time factors and memory.

Everything runs through the app's own code path (`demixui.model.runtime`, onnxruntime with one intra-op
thread): hop by hop as the engine streams it, and offline (`separate_array`, many hops per onnxruntime call).
Times are compute seconds (see `timing.py`).

Memory, two figures: `peak_rss_mb` is the bench process's peak resident set (`resource.getrusage`, ru_maxrss)
right after our model ran and before any peer was built, so it includes the interpreter, numpy and
onnxruntime; `traced_peak_mb` is the peak of the memory Python and numpy allocated (`tracemalloc`) during one
offline separation of the bench audio, which excludes onnxruntime's own buffers.
"""

from __future__ import annotations

import resource
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from demixui.bench.peers import chunk_row
from demixui.bench.table import Row
from demixui.bench.timing import (
    compute_clock,
    doubling_ladder,
    smallest_realtime_chunk,
    step_timer,
    time_call,
)


def count_parameters(path: Path) -> int | None:
    """Number of weights in an ONNX file (initializers), or None without the onnx package."""
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path), load_external_data=False).graph
    return int(sum(np.prod(init.dims, dtype=np.int64) for init in graph.initializer))


def peak_rss_mb() -> float:
    """The process's peak resident set in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def hop_times(model, mix: np.ndarray) -> np.ndarray:
    """Compute seconds of each `stream.process(hop)` call over `mix` `(nb_samples, 2)`, one hop per call."""
    stream = model.new_stream()
    hop = stream.hop
    nb_hops = mix.shape[0] // hop
    blocks = np.ascontiguousarray(mix[:nb_hops * hop]).reshape(nb_hops, hop, mix.shape[1])
    stream.process(blocks[0])  # warm-up: first-call allocations in onnxruntime
    times = np.empty(nb_hops, dtype=np.float64)
    clock = compute_clock
    for i in range(nb_hops):
        start = clock()
        stream.process(blocks[i])
        times[i] = clock() - start
    return times


def measure_ours(model_path: Path | None, mix: np.ndarray, reps: int = 3) -> tuple[Row, Row]:
    """(speed-table row, detail row) for the model at `model_path` (None: the shipped default)."""
    from demixui.model.offline import separate_array
    from demixui.model.runtime import load_model

    model = load_model(model_path, intra_op_threads=1)
    info = model.info
    rate, hop = info.sample_rate, info.hop
    duration = mix.shape[0] / rate
    name = f"demixui ({Path(info.path).name})"
    budget = hop / rate

    times = hop_times(model, mix)
    offline_rtf = time_call(lambda: separate_array(model, mix)) / duration
    stream = model.new_stream()

    def make_step(chunk: int):
        block = np.ascontiguousarray(mix[:chunk])
        return lambda: stream.process(block)

    ladder = doubling_ladder(hop, 64 * hop)
    result = smallest_realtime_chunk(step_timer(make_step, reps), ladder, info.latency_samples, rate)
    rss = peak_rss_mb()
    tracemalloc.start()
    try:
        separate_array(model, mix)
        traced = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()

    params = count_parameters(Path(info.path))
    notes = [f"model_version {info.model_version or '?'}, training data: {info.training_data or '?'}",
             f"n_fft {info.n_fft}, hop {hop}; {times.size} hops timed one per call"]
    speed = chunk_row(name, {"params_m": params / 1e6 if params is not None else float("nan"),
                             "offline_rtf": offline_rtf}, result, notes)
    if params is None and speed.reason is None:
        speed.reason = "parameter count needs the onnx package (pip install -e .[train])"
    detail = Row("ours", name, {
        "latency_ms": 1000 * info.latency_samples / rate,
        "hop_budget_ms": 1000 * budget,
        "hop_p50_pct": 100 * float(np.percentile(times, 50)) / budget,
        "hop_p99_pct": 100 * float(np.percentile(times, 99)) / budget,
        "hop_max_pct": 100 * float(times.max()) / budget,
        "streamed_rtf": float(times.sum()) / (times.size * budget),
        "offline_rtf": offline_rtf,
        "peak_rss_mb": rss,
        "traced_peak_mb": traced,
    }, notes=[f"{times.size} hops of {hop} samples over {duration:.1f} s of audio; peak RSS is the whole "
              "bench process before any peer was built; traced peak is tracemalloc over one offline pass"])
    return speed, detail

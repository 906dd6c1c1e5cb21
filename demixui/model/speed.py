"""Speed of the separator, measured the way the app uses it (for `demixui bench` and the model card).

- per hop: one `StreamingSeparator.process` call per hop of new samples, on the calling thread with the
  model's session threads (1 for the real-time worker): the work the inference thread does for every hop.
  The budget is the hop's duration (11.6 ms at 512 / 44.1 kHz); the app wants it well under that.
- offline: `separate_array` over a signal, seconds of audio per second of work ("x real time").

Run `python -m demixui.model.speed [MODEL]` to print both for a model file (default: the bundled model).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from demixui.model.offline import separate_array
from demixui.model.runtime import SeparatorModel, load_model


@dataclass(frozen=True)
class HopTiming:
    """Milliseconds per `process` call of one hop: median, 90th and 99th percentile, max; hop in ms."""

    median_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    hop_ms: float
    nb_hops: int

    @property
    def real_time_factor(self) -> float:
        """Compute time over audio time at the median (0.1 = ten times faster than real time)."""
        return self.median_ms / self.hop_ms


def benchmark_signal(nb_samples: int, seed: int = 0) -> np.ndarray:
    """float32 `(nb_samples, 2)` of noise and tones: the model's cost does not depend on content."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / 44100
    tone = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None]
    return (tone + 0.05 * rng.standard_normal((nb_samples, 2))).astype(np.float32)


def time_per_hop(model: SeparatorModel, nb_hops: int = 500, warmup: int = 50) -> HopTiming:
    stream = model.new_stream()
    hop = stream.hop
    signal = benchmark_signal((nb_hops + warmup) * hop)
    times = np.empty(nb_hops)
    for i in range(warmup):
        stream.process(signal[i * hop:(i + 1) * hop])
    for i in range(nb_hops):
        block = signal[(warmup + i) * hop:(warmup + i + 1) * hop]
        start = time.perf_counter()
        stream.process(block)
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return HopTiming(float(np.median(ms)), float(np.percentile(ms, 90)), float(np.percentile(ms, 99)),
                     float(ms.max()), 1e3 * hop / model.info.sample_rate, nb_hops)


def offline_speed(model: SeparatorModel, seconds: float = 30.0) -> float:
    """Seconds of audio separated per second of wall time by `separate_array`."""
    signal = benchmark_signal(int(seconds * model.info.sample_rate))
    start = time.perf_counter()
    separate_array(model, signal)
    return seconds / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demixui.model.speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=None, help="ONNX model file (default: bundled)")
    parser.add_argument("--hops", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--offline-threads", type=int, default=1)
    args = parser.parse_args(argv)
    model = load_model(args.model, intra_op_threads=1)
    timing = time_per_hop(model, args.hops)
    print(f"{model.info.path} ({model.info.file_bytes / 1e6:.1f} MB), one onnxruntime thread:")
    print(f"  per hop ({timing.hop_ms:.1f} ms of audio): median {timing.median_ms:.2f} ms, "
          f"p90 {timing.p90_ms:.2f}, p99 {timing.p99_ms:.2f}, max {timing.max_ms:.2f} "
          f"({timing.real_time_factor:.3f}x real time)")
    offline_model = load_model(args.model, intra_op_threads=args.offline_threads)
    print(f"  offline, {args.offline_threads} thread(s): {offline_speed(offline_model, args.seconds):.1f}x "
          f"real time over {args.seconds:.0f} s")


if __name__ == "__main__":
    main()

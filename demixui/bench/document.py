"""BENCHMARKS.md: the tables from one bench run, with the command, the machine, the date and the rules."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from demixui.bench.machine import machine_line
from demixui.bench.table import Row, render_markdown

RULES = """\
How to read it:
- **Compute** is CPU time of the bench process: every system runs on one thread (onnxruntime with one
  intra-op thread for ours, `torch.set_num_threads(1)` for the peers), so its CPU time is its compute time,
  and unlike wall-clock time it does not count other processes on a shared machine.
- **RTF** (real-time factor): compute seconds per second of audio. Offline: the whole excerpt in one go,
  the way each system separates files (ours: the streaming separator with many hops per onnxruntime call;
  HTDemucs: `apply_model` with its default overlap 0.25 and one shift).
- **Min RT latency**: the smallest latency at which the system could run in real time here: chunk + overlap +
  compute. A chunked system can play the first sample of a chunk only when the whole chunk has arrived, plus
  whatever its algorithm needs beyond the chunk (the STFT window overlap n_fft - hop for spectrogram models,
  the encoder overlap for HS-TasNet; none for HTDemucs, whose chunk is its 7.8 s segment), plus the time to
  compute the chunk; it keeps up only if that compute time is at most the chunk. **RT chunk** is the smallest
  chunk on a ladder of sizes that keeps up (bisected; each size timed as the fastest of {reps} calls after a
  warm-up, HTDemucs' segment of 2 calls: the least disturbed call, generous to every system alike), **chunk
  compute** its compute time; the notes under the table list every size tried. For a bidirectional model
  this is a lower bound: cut that short it also loses its future context.
- **Peers** are built from their published code on PyPI with **random weights** (no pretrained weights are
  needed to time an architecture, and none can be downloaded here); speed does not depend on the weights.
- **Ours in detail**: inference time per hop (one hop per call, as the engine streams) as a share of the hop's
  real-time budget; peak RSS is the whole bench process after our model ran and before any peer was loaded
  (`resource.getrusage`), traced peak is what Python and numpy allocated during one offline pass
  (`tracemalloc`, onnxruntime's own buffers excluded).
- **Engine**: the whole app engine (inference worker, rings, audio callback) through the null backend, paced
  in real time by a clock with no sound device, the bench audio looped as live input; total latency = model
  latency + live buffer (no device). Its times are wall clock, so the machine's load shows in them. Each block
  size ran {engine_seconds:g} s (default 45 s rather than 5 minutes, so that the whole bench stays under 15
  minutes; `--engine-seconds 300` for 5 minutes each).
- **Quality**: challenge SDR (dB) from `demixui evaluate`'s code on the test set the table's notes name
  (`--test-set`: real music such as NI stem files, or our synthetic `data/test`): floor = the
  mixture as every stem's estimate, ceiling = the oracle ratio mask of our STFT with the mixture's phase.
"""


def render_document(report: dict, rows: list[Row], command: str) -> str:
    """The whole BENCHMARKS.md text."""
    audio = report["audio"]
    timing = report["timing"]
    lines = [
        "# Benchmarks",
        "",
        "Speed, latency and quality of demixui beside the systems people would otherwise use, measured side "
        "by side in one run of `demixui bench` on the machine below.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine_line(report['machine'])}",
        f"- Audio: {audio['seconds']:.0f} s from {audio['source']} "
        f"(peers: its first {audio['peer_seconds']:.0f} s)",
        f"- The run took {timing['wall_seconds'] / 60:.1f} min wall clock, "
        f"{timing['cpu_seconds'] / 60:.1f} min CPU",
        "",
    ]
    if report["headlines"]:
        lines += ["## Headline ratios", ""] + [f"- {item['text']}" for item in report["headlines"]] + [""]
    rules = RULES.format(engine_seconds=report["options"]["engine_seconds"], reps=report["options"]["reps"])
    lines += ["## Tables", "", render_markdown(rows), "", "## Method", "", rules]
    return "\n".join(lines)


BENCH_SECTIONS = ("Headline ratios", "Tables", "Method")


def kept_sections(previous: str, also: tuple[str, ...] = ()) -> str:
    """The `## ` sections of an earlier BENCHMARKS.md that `demixui bench` does not write (measured by other
    tools, such as `python -m demixui.engine.xruns`), so a new run keeps them; "" if none. `also`: more
    section titles this run writes anew."""
    kept, keep = [], False
    for line in previous.splitlines():
        if line.startswith("## "):
            keep = line[3:].strip() not in BENCH_SECTIONS + also
        if keep:
            kept.append(line)
    return "\n".join(kept).strip()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""Offline speed per number of cores: `demixui separate --jobs N` as a user runs it, on one long file (its
stages on threads) and on a batch of files (worker processes, two files per core), the process pinned to N
cores.

Unlike the rest of the bench these are wall-clock figures (the point is how many cores the work keeps busy),
so other processes on the machine slow them down: each row carries the 1-minute load average taken just before
it, and only rows measured on an idle machine (load well under one) tell the scaling. They include everything
the command does: loading the model, starting the workers, decoding, resampling, writing the WAV files.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from demixui.bench.table import Row

SECTION = "Offline speed per number of cores"


def allowed_cores() -> list[int]:
    """The CPUs this process may run on, in order (all of `os.cpu_count()` where affinity is unknown)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return list(range(os.cpu_count() or 1))


def core_counts(total: int) -> list[int]:
    """1, 2, 4, ... up to `total`, and `total` itself."""
    counts, n = [], 1
    while n < total:
        counts.append(n)
        n *= 2
    return counts + [total]


@contextlib.contextmanager
def pinned(cpus: list[int]) -> Iterator[bool]:
    """Run on `cpus` only (threads and worker processes started meanwhile inherit it); yields False where the
    system cannot pin (then the row says so)."""
    if not hasattr(os, "sched_setaffinity"):
        yield False
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield True
    finally:
        os.sched_setaffinity(0, before)


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _separate(files: list[Path], out: Path, jobs: int, model_path: Path | None) -> float:
    """Wall seconds of `demixui separate FILES -o OUT --jobs JOBS` run in this process (output discarded)."""
    from demixui.cli import main

    argv = ["separate", "--no-progress", "--jobs", str(jobs), *map(str, files), "-o", str(out)]
    if model_path is not None:
        argv += ["--model", str(model_path)]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"demixui {' '.join(argv)} failed with status {code}")
    shutil.rmtree(out)
    return seconds


def stage_cpu(model_path: Path | None, mix: np.ndarray) -> dict[str, float]:
    """CPU seconds of each stage of the stream (`StreamingSeparator.stages`) over `mix` `(nb_samples, 2)`,
    run in turn on one thread. Unlike wall clock, hardly touched by other processes: the slowest stage's
    share is what bounds one file's pipeline, whatever the number of cores."""
    from demixui.model.offline import PIPELINE_FRAMES
    from demixui.model.pipeline import run_aligned
    from demixui.model.runtime import load_model

    stream = load_model(model_path).new_stream(max_frames=PIPELINE_FRAMES)  # as `separate` runs it
    cpu: dict[str, float] = {}

    def timed(name: str, stage):
        def run(*args):
            start = time.thread_time()
            result = stage(*args)
            cpu[name] = cpu.get(name, 0.0) + time.thread_time() - start
            return result
        return run

    stages = [timed(name, stage) for name, stage in zip(("STFT", "model", "synthesis"), stream.stages(),
                                                           strict=True)]
    out = np.zeros((mix.shape[0], len(stream.stems), 2), np.float32)
    run_aligned(stages, [mix], out, stream.latency_samples, stream.hop, stream.max_frames * stream.hop,
                threaded=False)
    return cpu


def measure_cores(model_path: Path | None, mix: np.ndarray, rate: int, seconds: float,
                  log: Callable[[str], None] = print) -> list[Row]:
    """Rows of the cores table: one file of `seconds` (the bench audio looped) and a batch of two such files
    per core (at least 4: a worker's start-up, about half a second, is then a small part of its work, as
    in a real batch), each separated with --jobs 1, 2, 4, ... pinned to that many cores."""
    cpus = allowed_cores()
    nb_files = 2 * max(2, len(cpus))
    nb_samples = int(seconds * rate)
    audio = np.tile(mix, (int(np.ceil(nb_samples / mix.shape[0])), 1))[:nb_samples]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="demixui-bench-cores-") as tmp:
        files = [Path(tmp) / f"track{i}.wav" for i in range(nb_files)]
        sf.write(str(files[0]), audio, rate, subtype="FLOAT")
        for path in files[1:]:
            shutil.copyfile(files[0], path)
        for label, chosen in ((f"one file of {seconds:g} s", files[:1]),
                              (f"{nb_files} files of {seconds:g} s", files)):
            first: float | None = None
            for count in core_counts(len(cpus)):
                load = _load()
                log(f"cores: {label}, --jobs {count} ...")
                with pinned(cpus[:count]) as was_pinned:
                    wall = _separate(chosen, Path(tmp) / "out", count, model_path)
                audio_seconds = seconds * len(chosen)
                first = first or audio_seconds / wall
                notes = [] if was_pinned else ["not pinned: this system cannot restrict a process to N cores"]
                if count == 1 and len(chosen) == 1:
                    cpu = stage_cpu(model_path, audio)
                    split = ", ".join(f"{name} {value:.2f} s" for name, value in cpu.items())
                    notes.append(f"CPU per stage over {seconds:g} s, one thread: {split}; the slowest bounds "
                                 f"one file's pipeline at {sum(cpu.values()) / max(cpu.values()):.2f}x "
                                 "(decoding, resampling and writing, on threads of their own, not counted)")
                rows.append(Row("cores", f"{label}, --jobs {count}", {
                    "cores": count,
                    "speed_x": audio_seconds / wall,
                    "wall_rtf": wall / audio_seconds,
                    "scaling": (audio_seconds / wall) / first,
                    "load_1min": load,
                }, notes=notes))
    return rows


METHOD = """\
Wall-clock speed of `demixui separate --jobs N` (model loading, worker start-up, decoding and WAV writing
included) with the process pinned to N cores: one file goes through the pipeline of threads (reading and
STFT, the model, synthesis, writing), a batch through N worker processes. **x real time**: seconds of audio
per second of wall clock; **vs --jobs 1**: that speed over the same input's with one core. Wall clock counts
other processes too: the **load average** (1 minute, taken just before each row) says how busy the machine
was; scaling is only meaningful where it is well under one per core. (On Linux with autogroup scheduling,
`/proc/sys/kernel/sched_autogroup_enabled`, each session gets a share of a busy machine however many
threads or processes it runs: while another session keeps every core busy, --jobs 2 gets no more CPU than
--jobs 1.)"""


def render_section(rows: list[Row], machine_text: str, command: str) -> str:
    """The `## Offline speed per number of cores` section of BENCHMARKS.md."""
    from demixui.bench.table import render_markdown

    return "\n".join([f"## {SECTION}", "", f"- Command: `{command}`", f"- Machine: {machine_text}", "",
                      render_markdown(rows), "", METHOD])


def replace_section(document: str, section: str, title: str = SECTION) -> str:
    """`document` with its `## {title}` section replaced by `section` (appended where it has none)."""
    lines = document.rstrip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"## {title}"), None)
    if start is None:
        return ("\n".join(lines) + "\n\n" if lines else "") + section + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    after = lines[end:]
    return "\n".join(lines[:start] + section.splitlines() + ([""] + after if after else [])) + "\n"

"""Measure our latency and speed beside the peers' (Open-Unmix, HTDemucs, HS-TasNet) in one run here.

Prints tables to the terminal; --json writes every figure, --markdown writes BENCHMARKS.md. Every system runs
on one CPU thread on the same audio; the peers are built from their published code with random weights. The
default run takes about 15 minutes (engine: 45 s per block size, live input: 30 s per model and block size, in
real time); --quick takes under 2
minutes (short audio, 2 s per block size, only the quickest peer (HS-TasNet), one test track).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from demixui.errors import DemixError

HELP = "measure latency and speed, ours beside the peers'"

PEER_KEYS = ("umxl", "umx-uni", "htdemucs", "hs-tasnet")
QUICK = {"seconds": 5.0, "peer_seconds": 3.0, "engine_seconds": 2.0, "eval_tracks": 1, "reps": 2,
         "peers": ["hs-tasnet"], "cores_seconds": 5.0, "live_seconds": 2.0, "live_blocksizes": [128]}
DEFAULTS = {"seconds": 30.0, "peer_seconds": 10.0, "engine_seconds": 45.0, "eval_tracks": 8, "reps": 3,
            "peers": list(PEER_KEYS), "cores_seconds": 60.0, "live_seconds": 30.0,
            "live_blocksizes": [64, 128, 256]}


def _peer_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["none"]:
        return []
    unknown = [name for name in names if name not in PEER_KEYS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown peer {', '.join(unknown)} "
                                         f"(choose from {', '.join(PEER_KEYS)})")
    return names


def _blocksizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of block sizes: {text!r}") from None
    if any(size < 1 or size & (size - 1) for size in sizes):
        raise argparse.ArgumentTypeError(f"block sizes must be powers of two: {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, action="append", metavar="PATH",
                        help="model file to measure (repeatable; 'default' is the shipped model, which is "
                             "measured when no --model is given)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run for CI (under 2 minutes): 5 s of audio, only HS-TasNet as a peer")
    parser.add_argument("--audio", type=Path, metavar="FILE",
                        help="audio for every system (default: the shipped demo track)")
    parser.add_argument("--test-set", type=Path, metavar="DIR",
                        help="MUSDB18-HQ-layout folder for the quality rows (default: data/test)")
    parser.add_argument("--seconds", type=float, help="seconds of audio for our model (default 30; quick 5)")
    parser.add_argument("--peer-seconds", type=float, help="seconds of that audio for the peers (default 10)")
    parser.add_argument("--peers", type=_peer_list, metavar="LIST",
                        help=f"comma-separated peers, or 'none' (default: all of {','.join(PEER_KEYS)}; "
                             "quick: hs-tasnet)")
    parser.add_argument("--engine-seconds", type=float,
                        help="real-time seconds of the engine's null-backend run per block size (default 45)")
    parser.add_argument("--blocksizes", type=_blocksizes, default=[128, 256, 512, 1024], metavar="LIST",
                        help="engine block sizes (default 128,256,512,1024)")
    parser.add_argument("--eval-tracks", type=int, metavar="N",
                        help="test tracks for the quality rows (default 8; quick 1)")
    parser.add_argument("--cores-seconds", type=float, metavar="S",
                        help="seconds of audio per file in the per-core rows, `separate --jobs 1, 2, 4, ...` "
                             "on one file and on one file per core (default 60; quick 5)")
    parser.add_argument("--cores-only", action="store_true",
                        help="measure only the per-core rows; with --markdown, replace only their section of "
                             "the file (re-measure them on an idle machine)")
    parser.add_argument("--live-model", type=Path, action="append", metavar="PATH",
                        help="model for the live rows (repeatable; default: the bundled default and live "
                             "models)")
    parser.add_argument("--live-blocksizes", type=_blocksizes, metavar="LIST",
                        help="block sizes of the live rows, each on a JACK dummy server with that period "
                             "(default 64,128,256; quick 128)")
    parser.add_argument("--live-seconds", type=float, metavar="S",
                        help="real-time seconds of live input per model and block size (default 30; quick 2)")
    parser.add_argument("--live-only", action="store_true",
                        help="measure only the live rows; with --markdown, replace only their section")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH",
                        help="write the report as Markdown (BENCHMARKS.md)")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (the options given, paths as given)."""
    parts = ["demixui bench"]
    for model in args.model or []:
        parts.append(f"--model {model}")
    if args.quick:
        parts.append("--quick")
    if args.cores_only:
        parts.append("--cores-only")
    if args.live_only:
        parts.append("--live-only")
    for model in args.live_model or []:
        parts.append(f"--live-model {model}")
    for flag in ("audio", "test_set", "seconds", "peer_seconds", "engine_seconds", "eval_tracks",
                 "cores_seconds", "live_seconds", "json", "markdown"):
        value = getattr(args, flag)
        if value is not None:
            parts.append(f"--{flag.replace('_', '-')} {value:g}" if isinstance(value, float)
                         else f"--{flag.replace('_', '-')} {value}")
    if args.peers is not None:
        parts.append(f"--peers {','.join(args.peers) or 'none'}")
    if args.blocksizes != [128, 256, 512, 1024]:
        parts.append(f"--blocksizes {','.join(map(str, args.blocksizes))}")
    if args.live_blocksizes is not None:
        parts.append(f"--live-blocksizes {','.join(map(str, args.live_blocksizes))}")
    return " ".join(parts)


def build_options(args: argparse.Namespace):
    from demixui.bench.suite import DEFAULT_TEST_SET, BenchOptions

    chosen = QUICK if args.quick else DEFAULTS

    def pick(name: str):
        value = getattr(args, name)
        return chosen[name] if value is None else value

    if args.cores_only and args.live_only:
        raise DemixError("--cores-only and --live-only: choose one")
    for model in args.live_model or []:
        if not model.is_file():
            raise DemixError(f"--live-model {model}: no such file")
    for name in ("seconds", "peer_seconds", "engine_seconds", "cores_seconds", "live_seconds"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise DemixError(f"--{name.replace('_', '-')} must be positive")
    test_set = args.test_set
    if test_set is None and DEFAULT_TEST_SET.is_dir():
        test_set = DEFAULT_TEST_SET
    if args.audio is not None and not args.audio.is_file():
        raise DemixError(f"{args.audio}: no such file")
    models = [None if str(m) == "default" else m for m in args.model] if args.model else [None]
    return BenchOptions(models=models, audio=args.audio, test_set=test_set,
                        seconds=pick("seconds"), peer_seconds=pick("peer_seconds"), peers=pick("peers"),
                        engine_seconds=pick("engine_seconds"), blocksizes=args.blocksizes,
                        eval_tracks=pick("eval_tracks"), reps=chosen["reps"], quick=args.quick,
                        cores_seconds=pick("cores_seconds"), cores_only=args.cores_only,
                        live_models=args.live_model, live_blocksizes=pick("live_blocksizes"),
                        live_seconds=pick("live_seconds"), live_only=args.live_only)


def run(args: argparse.Namespace) -> int:
    from demixui.bench.cores import SECTION as CORES_SECTION
    from demixui.bench.cores import render_section, replace_section
    from demixui.bench.document import kept_sections, render_document, write_text_atomic
    from demixui.bench.live import SECTION as LIVE_SECTION
    from demixui.bench.live import TABLES as LIVE_TABLES
    from demixui.bench.live import render_section as render_live
    from demixui.bench.machine import machine_line
    from demixui.bench.suite import run_bench
    from demixui.bench.table import render_text

    options = build_options(args)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report, rows = run_bench(options, log)
    command = command_line(args)
    report["command"] = command
    print(f"\n{machine_line(report['machine'])}")
    if not (args.cores_only or args.live_only):
        print(f"audio: {report['audio']['seconds']:.0f} s from {report['audio']['source']}; compute = CPU "
              "time, one thread; peers built from their published code with random weights")
    print()
    print(render_text(rows))
    if report["headlines"]:
        print("\nHeadline ratios (peer / ours):")
        for item in report["headlines"]:
            print(f"  {item['text']}")
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    if args.markdown is not None:
        previous = Path(args.markdown).read_text(encoding="utf-8") if Path(args.markdown).is_file() else ""
        cores = render_section([row for row in rows if row.table == "cores"], machine_line(report["machine"]),
                               command)
        live = render_live([row for row in rows if row.table in LIVE_TABLES], machine_line(report["machine"]),
                           command)
        if args.cores_only:  # the rest of the file stays as it was
            write_text_atomic(args.markdown, replace_section(previous, cores))
        elif args.live_only:
            write_text_atomic(args.markdown, replace_section(previous, live, LIVE_SECTION))
        else:
            text = render_document(report, [row for row in rows if row.table not in ("cores", *LIVE_TABLES)],
                                   command)
            kept = kept_sections(previous, also=(CORES_SECTION, LIVE_SECTION))  # other tools' sections stay
            write_text_atomic(args.markdown, text + "\n\n" + live + "\n\n" + cores
                              + ("\n\n" + kept + "\n" if kept else "\n"))
    return 0


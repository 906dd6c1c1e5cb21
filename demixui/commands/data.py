"""Make procedural multitrack training data (`synth`), import real stems (`import`) and inspect a MUSDB18-HQ
style folder (`stats`).

`demixui data synth --out DIR --tracks N --seconds S --seed K [--jobs J]` composes and renders N songs into
DIR/<track>/{mixture,vocals,drums,bass,other}.wav plus meta.json.
The same seed gives the same bytes whatever J.

`demixui data import SRC --out DIR [--grouping TABLE.json]` turns SRC/<song>/<named stem files> into the same
layout: stems grouped by name, resampled to 44.1 kHz, mixture = their exact sum, silences trimmed or split.

`demixui data stats DIR [--strict] [--against REAL ...]` prints per-track loudness and the sum check, then
medians of spectral and dynamic statistics; with --against, DIR's medians beside each REAL folder's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from demixui.errors import DemixError

HELP = "make procedural multitrack training data (synth), import real stems (import), inspect them (stats)"
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = sub.add_parser(
        "synth",
        help="compose and render procedural multitrack songs",
        description="Compose and render procedural songs into MUSDB18-HQ's folder layout.",
    )
    synth.add_argument("--out", required=True, type=Path, help="output folder (new or empty)")
    synth.add_argument("--tracks", type=int, default=10, help="number of tracks (default 10)")
    synth.add_argument(
        "--seconds", type=float, default=30.0, help="length of each track in seconds (default 30)"
    )
    synth.add_argument("--seed", type=int, default=0, help="corpus seed: same seed, same bytes (default 0)")
    synth.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    synth.add_argument(
        "--soundfont",
        type=Path,
        default=Path(DEFAULT_SOUNDFONT),
        help=f"General MIDI SoundFont (default {DEFAULT_SOUNDFONT})",
    )
    synth.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)  # index of the first track
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    imp = sub.add_parser(
        "import",
        help="import a folder of song folders of named stems (e.g. real CC0 multitracks)",
        description="Group named stems into vocals/drums/bass/other by a table of name patterns, resample "
                    "to 44.1 kHz and write MUSDB18-HQ's layout, with a report of each stem's energy below "
                    "150 Hz.",
    )
    imp.add_argument("src", type=Path, help="a folder of song folders, each holding one audio file per stem")
    imp.add_argument("--out", required=True, type=Path, help="output folder (new or empty)")
    imp.add_argument("--grouping", type=Path,
                     help="JSON list of [name pattern, group] pairs, first match wins; groups: vocals, "
                          "drums, bass, other, skip (default: the built-in table for 'Everything is Free')")
    imp.add_argument("--min-silence-seconds", type=float, default=3.0,
                     help="a silence of every stem this long or longer splits the song (default 3)")
    imp.add_argument("--min-source-rate", type=int, default=0,
                     help="leave out stems read from files below this rate in Hz, e.g. 44100 (default: "
                          "keep all); a song that loses more than half its stems is left out")
    imp.add_argument("--exclude", action="append", default=[], metavar="SONG",
                     help="leave out song folders whose name matches this glob (repeatable)")
    stats = sub.add_parser(
        "stats",
        help="per-stem loudness, silence, mixture-equals-sum check and spectral/dynamic statistics",
        description="Per-stem loudness, share of silence, the mixture-equals-sum check, and medians over "
                    "tracks of spectral and dynamic statistics per stem and for the mix; with --against, "
                    "those medians beside a real folder's, with their differences.",
    )
    stats.add_argument("folder", type=Path,
                       help="a folder of tracks (MUSDB18-HQ layout or NI .stem.mp4 files)")
    stats.add_argument("--against", action="append", default=[], type=Path, metavar="REAL",
                       help="print FOLDER's medians beside this folder's, with differences (repeatable)")
    stats.add_argument("--strict", action="store_true",
                       help="exit 1 when a mixture is not the sum of its stems (else a warning: real "
                            "MUSDB18-HQ mixtures are not exact sums)")


def check_output_folder(out: Path) -> None:
    """The output folder must be new or empty, and writable: one clear line otherwise."""
    if out.exists() and not out.is_dir():
        raise DemixError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise DemixError(f"{out}: folder is not empty (choose a new or empty folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise DemixError(f"{out}: cannot write there ({error.strerror or error})") from None


def run_synth(args: argparse.Namespace) -> int:
    from demixui.data.corpus import synthesise_corpus

    if args.tracks < 1 or args.tracks > 100000:
        raise DemixError(f"--tracks must be between 1 and 100000, got {args.tracks}")
    if not (0.5 <= args.seconds <= 1200):
        raise DemixError(f"--seconds must be between 0.5 and 1200, got {args.seconds}")
    if args.jobs < 1 or args.jobs > (os.cpu_count() or 1) * 4:
        raise DemixError(f"--jobs must be between 1 and {(os.cpu_count() or 1) * 4}, got {args.jobs}")
    if args.seed < 0:
        raise DemixError(f"--seed must be 0 or more, got {args.seed}")
    if not args.soundfont.is_file():
        raise DemixError(
            f"{args.soundfont}: SoundFont not found (install fluid-soundfont-gm or pass --soundfont)"
        )
    check_output_folder(args.out)
    started = time.perf_counter()
    synthesise_corpus(
        args.out,
        args.tracks,
        args.seconds,
        args.seed,
        args.jobs,
        str(args.soundfont),
        first=args.first,
        progress=not args.quiet,
    )
    wall = time.perf_counter() - started
    audio = args.tracks * args.seconds
    print(
        f"wrote {args.tracks} tracks ({audio:.0f} s of four-stem audio) to {args.out} in {wall:.1f} s: "
        f"{audio / wall:.1f}x real time with --jobs {args.jobs}"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from demixui.data.importer import DEFAULT_GROUPING, import_folder, load_grouping
    from demixui.data.importreport import format_song, format_summary

    if not (0.2 <= args.min_silence_seconds <= 3600):
        raise DemixError(
            f"--min-silence-seconds must be between 0.2 and 3600, got {args.min_silence_seconds}")
    if args.min_source_rate < 0:
        raise DemixError(f"--min-source-rate must be 0 or more, got {args.min_source_rate}")
    grouping = load_grouping(args.grouping) if args.grouping else DEFAULT_GROUPING
    if not args.src.is_dir():
        raise DemixError(f"{args.src}: no such folder")
    check_output_folder(args.out)
    reports = import_folder(args.src, args.out, grouping, args.min_silence_seconds, args.min_source_rate,
                            tuple(args.exclude),
                            progress=lambda song: print(f"importing {song} ...", flush=True))
    for report in reports:
        print(format_song(report))
    print(format_summary(reports))
    if not any(report.tracks for report in reports):
        raise DemixError(f"{args.src}: no track was written (see the report above)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        return run_synth(args)
    if args.data_command == "import":
        return run_import(args)
    from demixui.data.stats import print_comparison, print_stats

    if args.against:
        return print_comparison([args.folder, *args.against])
    return print_stats(args.folder, strict=args.strict)

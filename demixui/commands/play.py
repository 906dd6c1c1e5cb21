"""Play a file (or live input) headless, separating it in real time, with a one-line live status.

Examples:
  demixui play song.flac --karaoke                     vocals muted
  demixui play song.wav --gain drums=+6 --mute bass --record remix.wav
  demixui play song.wav --backend null --seconds 30 --stats-json stats.json   no sound card needed
  demixui play --live --device "USB" --blocksize 128                  the live model: 8.7 ms + buffer
  demixui play song.wav --device "system JACK" --stem-outputs --cue vocals --mute vocals
        remix on outputs 1-2, the stems (post-fader) on 3-10, the muted vocals pre-listened on 11-12
  demixui play song.wav --midi-map decks.json --midi-port "nanoKONTROL2"
        a MIDI controller drives it, with the mapping learned in the window (MIDI > Save mapping as)
Ctrl+C (or SIGTERM, SIGHUP) stops playback cleanly (the recording and the statistics are still written).
An error that ends the session (a file that breaks partway) or that the session survives on the dry mix (a
failing model) is printed as it happens, and the exit status is then 1. The recording and the statistics
may not replace the input or the model file; both are checked before playback starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

from demixui.errors import DemixError
from demixui.outputs import check_writable_file, refuse_inputs, write_text_atomic

HELP = "play a file or live input headless, separating it in real time"
STEMS = ("vocals", "drums", "bass", "other")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("input", nargs="?", metavar="INPUT",
        help="audio file (WAV, FLAC, OGG, MP3); with --live and --backend null it is the input")
    add("--device", "-d", default=None, help="output device: index or part of its name")
    add("--input-device", default=None, help="input device for --live (default: the system's)")
    add("--blocksize", "-b", type=int, default=256,
        help="output block size in samples, a power of two from 64 to 4096 (default 256)")
    add("--gain", action="append", default=[], metavar="STEM=DB",
        help="stem gain in dB (-inf..+12), e.g. --gain vocals=-6; repeatable")
    add("--mute", action="append", default=[], choices=STEMS, metavar="STEM", help="mute a stem")
    add("--solo", action="append", default=[], choices=STEMS, metavar="STEM", help="solo a stem")
    add("--karaoke", nargs="?", type=float, const=math.inf, default=None, metavar="DB",
        help="reduce the vocals by DB decibels (no value: mute them)")
    add("--stem-outputs", action="store_true",
        help="also play each stem after its fader on its own output pair: vocals 3-4, drums 5-6, bass 7-8, "
             "other 9-10 (a device or JACK with enough channels)")
    add("--cue", action="append", default=[], choices=STEMS, metavar="STEM",
        help="put a stem on the cue bus, the next output pair (3-4, or 11-12 with --stem-outputs), "
             "before its fader: heard there even when muted; repeatable")
    add("--start", type=float, default=0.0, metavar="S", help="start at S seconds into the file")
    add("--seconds", type=float, default=None, metavar="S", help="stop after S seconds of the source")
    add("--loop", action="store_true", help="loop the file")
    add("--record", default=None, metavar="OUT.wav", help="record the remix as played (32-bit float WAV)")
    add("--stats-json", default=None, metavar="PATH", help="write the final telemetry as JSON")
    add("--backend", choices=("portaudio", "null", "null-fast"), default="portaudio",
        help="portaudio: a sound card; null: no device, paced by a clock; null-fast: no device, "
             "as fast as the model allows")
    add("--live", action="store_true", help="separate the input device instead of a file")
    add("--model", default=None, metavar="PATH",
        help="model file (default: the bundled default model for a file, the bundled live model for --live)")
    add("--midi-map", default=None, metavar="FILE",
        help="drive faders, mutes, solos, cues, karaoke and the transport from a MIDI controller with a "
             "mapping learned in the window and saved there (MIDI > Save mapping as)")
    add("--midi-port", default=None, metavar="NAME",
        help="the MIDI input port for --midi-map (default: every input port)")
    add("--quiet", "-q", action="store_true", help="no live status line")


def parse_gains(items: list[str]) -> dict[str, float]:
    gains = {}
    for item in items:
        stem, sep, value = item.partition("=")
        stem = stem.strip().lower()
        if not sep or stem not in STEMS:
            raise DemixError(f"--gain {item!r}: expected STEM=DB with STEM one of {', '.join(STEMS)}")
        try:
            gains[stem] = float(value)
        except ValueError:
            raise DemixError(f"--gain {item!r}: {value!r} is not a number of dB") from None
    return gains


def parse_device(device: str | None):
    if device is None:
        return None
    return int(device) if device.strip().isdigit() else device


def status_line(snap, midi: str | None = None) -> str:
    """The live status; `midi`: what a MIDI control did last."""
    duration = "live" if math.isinf(snap.duration_s) else _clock(snap.duration_s)
    return (f"{_clock(snap.position_s)} / {duration}  latency {snap.total_latency_ms:.0f} ms "
            f"(model {snap.model_latency_ms:.0f} + buffer {snap.buffer_latency_ms:.0f} + device "
            f"{snap.device_latency_ms:.0f})  inference p99 {snap.inference_p99_ms:.1f}/"
            f"{snap.hop_budget_ms:.1f} ms"
            f"  underruns app {snap.app_underruns} device {snap.device_underruns}  [{snap.state}]"
            + (f"  MIDI: {midi}" if midi else ""))


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def snapshot_json(snap, extra: dict) -> str:
    """The snapshot as JSON; non-finite floats (inf durations, -inf dB) become the strings "inf"/"-inf"."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data = {key: clean(value) for key, value in dataclasses.asdict(snap).items()}
    data.update(extra)
    return json.dumps(data, indent=2)


def check_outputs(args: argparse.Namespace, duration_s: float | None) -> None:
    """Before anything plays: the recording and the statistics file may not be (or hold) the input or the
    model, nor each other; the statistics file's folder must be writable; --start must be in the file."""
    from demixui.engine.models import bundled_live_model_path
    from demixui.model.runtime import default_model_path

    models = [args.model] if args.model else [default_model_path(), bundled_live_model_path()]
    inputs = [args.input, *models]
    if args.record:
        refuse_inputs(args.record, inputs, "recording")
    if args.stats_json:
        refuse_inputs(args.stats_json, inputs, "statistics file")
        if args.record and Path(args.record).resolve() == Path(args.stats_json).resolve():
            raise DemixError(f"{args.record}: --record and --stats-json name the same file")
        check_writable_file(args.stats_json, "statistics file")
    if args.start and args.live:
        raise DemixError("--start needs a file, not --live")
    if duration_s is not None and not (0.0 <= args.start < duration_s):
        raise DemixError(f"--start {args.start:g}: outside the file (0 to {duration_s:.1f} s)")


def run(args: argparse.Namespace) -> int:
    from demixui.engine import Engine, check_blocksize
    from demixui.engine.priority import raise_thread_priority
    from demixui.engine.routing import OutputLayout

    check_blocksize(args.blocksize)
    if args.input is None and not (args.live and args.backend == "portaudio"):
        raise DemixError("give an INPUT file (or --live to play an input device)")
    gains = parse_gains(args.gain)
    live_signal = None
    duration_s = None
    if args.live and args.backend != "portaudio" and args.input is not None:
        from demixui.audiofile import read_audio

        live_signal, _ = read_audio(args.input, 44100)
    elif not args.live:
        from demixui.engine.reader import probe_file

        duration_s = probe_file(args.input).duration_s  # a bad file fails before any device is opened
    check_outputs(args, duration_s)
    midi_map = None
    if args.midi_map is not None:
        from demixui.engine.midi_control import load_midi_map

        midi_map = load_midi_map(args.midi_map, STEMS)  # a bad file fails before any device is opened
    elif args.midi_port is not None:
        raise DemixError("--midi-port needs --midi-map FILE")
    outputs = OutputLayout(stem_outputs=args.stem_outputs, cue_bus=bool(args.cue))
    with Engine(args.model, backend=args.backend, output_device=parse_device(args.device),
                blocksize=args.blocksize, input_device=parse_device(args.input_device),
                outputs=outputs) as engine:
        if engine.model_note and args.live:
            print(f"demixui: note: {engine.model_note}", file=sys.stderr, flush=True)
        for stem, gain_db in gains.items():
            engine.set_gain_db(stem, gain_db)
        for stem in args.mute:
            engine.set_mute(stem, True)
        for stem in args.solo:
            engine.set_solo(stem, True)
        for stem in args.cue:
            engine.set_cue(stem, True)
        if args.karaoke is not None:
            engine.set_karaoke(True, args.karaoke)
        engine.set_loop(args.loop)
        if args.live:
            engine.open_live(live_signal if live_signal is not None else parse_device(args.input_device))
        else:
            engine.open_file(args.input)
            if args.start:
                engine.seek(args.start)
        if args.record:
            engine.start_recording(args.record)
        midi = _open_midi(engine, midi_map, args.midi_port) if midi_map is not None else None
        try:
            started = time.monotonic()
            raise_thread_priority()  # this thread polls the engine (holding the GIL briefly): keep it prompt
            engine.play()
            code = _play_until_done(engine, args, midi[0] if midi else None)
        finally:
            if midi is not None:
                midi[1].close()
        engine.pause()
        recorded = engine.stop_recording()
        snap = engine.snapshot()
        wall = time.monotonic() - started
    if not args.quiet:
        print(file=sys.stderr)
        if recorded is not None:
            print(f"recorded {recorded}", file=sys.stderr)
    if args.stats_json:
        write_text_atomic(Path(args.stats_json), snapshot_json(snap, {
            "wall_seconds": wall, "played_seconds": engine.played_seconds,
            "recording": None if recorded is None else str(recorded)}))
    if snap.error_count and code == 0:  # printed as it happened (_play_until_done)
        code = 1
    return code


def _open_midi(engine, midi_map, port: str | None):
    """(controller, input) with the mapping applied to the engine from the MIDI ports' threads. A named port
    that is missing is an error; with no port named and none there, a note, and playback goes on."""
    from demixui.engine.midi_control import EngineMidi
    from demixui.engine.midi_input import MidiInput

    controller = EngineMidi(engine, midi_map)
    midi_input = MidiInput(controller.handle)
    status = midi_input.open(port)
    if not midi_input.port_names:
        midi_input.close()
        if port is not None:
            raise DemixError(status)
        print(f"demixui: note: {status}; playing without MIDI", file=sys.stderr, flush=True)
    else:
        print(f"demixui: {status} ({len(midi_map.bindings)} controls mapped)", file=sys.stderr, flush=True)
    return controller, midi_input


def _play_until_done(engine, args, midi=None) -> int:
    """Poll the engine (10 Hz) until the end, --seconds, an engine error or Ctrl+C; returns the exit code.
    Every error the engine reports is printed on its own line as it comes (a broken source, a model that
    failed and left the dry mix playing); a fatal one (the device gone) also ends playback."""
    tty = sys.stderr.isatty()
    last_print = 0.0
    seconds = args.seconds
    errors_seen = 0
    try:
        while True:
            snap = engine.snapshot()
            if snap.error_count > errors_seen:
                errors_seen = snap.error_count
                print(f"{chr(10) if tty else ''}demixui: error: {snap.error}", file=sys.stderr, flush=True)
            if snap.state == "error":
                return 1
            if snap.state == "ended" or (seconds is not None and engine.played_seconds >= seconds):
                return 1 if errors_seen else 0
            now = time.monotonic()
            if not args.quiet and (tty or now - last_print >= 1.0):
                line = status_line(snap, midi.last if midi is not None else None)
                print(("\r" if tty else "") + line + ("\x1b[K" if tty else ""),
                      end="" if tty else "\n", file=sys.stderr, flush=True)
                last_print = now
            time.sleep(0.01 if args.backend == "null-fast" else 0.1)
    except KeyboardInterrupt as interrupt:  # Ctrl+C stops cleanly; SIGTERM/SIGHUP too (see cli.py)
        return getattr(interrupt, "exit_status", 0)

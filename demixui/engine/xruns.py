"""Device underruns (clicks) on a JACK dummy server: a silent client against the app, in four conditions.

    python -m demixui.engine.xruns [--seconds 60] [--blocks 64,128,256] [--model ONNX] [--json OUT]

For each block size a private JACK server runs the dummy driver (44.1 kHz, period = the block size; jackd
must be installed) and these clients play through it one after another, each in its own process:

- silent: a sounddevice stream whose Python callback only writes zeros: the floor that the machine (a VM's
  late cycles, other jobs) sets for any client;
- headless: `Engine` playing a looped file (`demixui play` without the status line);
- window: the main window shown (offscreen where there is no display) and playing, its 40 fps refresh on;
- busy thread: headless playback while a thread of the same process runs a pure-Python CPU-bound loop.
  With a Python audio callback this costs hundreds of underruns; with the native one it should cost none.
- busy process (not in the default set; `--scenarios silent,busy,busyproc`): the silent client while another
  process runs the same loop. It is the floor for the busy-thread row: the same CPU taken, but no shared GIL,
  so what the busy thread costs beyond it is what the GIL costs.
- live (not in the default set; `--scenarios live`): the server's capture ports separated live, as
  `demixui play --live` does, with its latency (model / buffer / device) and per-hop inference times.

With `--rounds R` every client runs R times for seconds / R, in turn, and the counts are summed: on a
machine whose load drifts (the silent client's floor moves with it) this weighs on every client alike. With
`--beside`, the silent client joins the server first in odd rounds and second in even ones: give an even R.
Each client plays `--warmup` seconds first (a JACK client's connection often costs one xrun; counted apart
as start-up) and then `--seconds`, and reports the device underruns (PortAudio's output-underflow flag),
the app underruns (blocks the dry mix stood in for late stems), callbacks and, for the window, UI frames per
second. The table gives the load average after each row: on a shared machine compare rows measured together.

Beside (the default; `--no-beside` turns it off): while each client plays, the silent client plays on the
same server (joining it first or second by round), and the server's log says which client was late whenever
a cycle failed ("client = NAME was not finished") or that the server's own thread woke late. Every client of a
JACK server sees every xrun, so a client's device underruns are not all its own; and a VM stalls in bursts, so
two clients measured one after the other meet different bursts (five-minute counts swapped between clients
from run to run). Played together, both meet the same machine, and each row gives the cycles each of them made
late over the client's span, the server's late wake-ups, and p: the chance that a client no more prone to
lateness than the silent one makes at least this many of the two's late cycles (an exact binomial test that
takes late cycles as independent; they come in bursts, so read p against the silent client's own row).
Target (issue 15): headless, window and busy at most the silent client's underruns plus one, app 0; with
`--beside`, the late cycles the client caused against those the silent client beside it caused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from demixui.engine.playback import CALLBACK_ENV
from demixui.errors import DeviceError

SR = 44100
JACK_DEVICE = "system JACK"  # matched against 'name, host API' by resolve_device
SCENARIOS = ("silent", "headless", "window", "busy")
LABELS = {"silent": "silent client", "headless": "headless playback", "window": "window shown",
          "busy": "headless + busy thread", "busyproc": "silent + busy process", "live": "live input"}
FLOORS = ("silent", "busyproc")  # rows that set a floor rather than meet a target


class JackDummy:
    """`jackd --realtime -d dummy -r RATE -p PERIOD -P PLAYBACK` under a private name (so parallel runs do not
    collide); `env` reaches it. Also the tests' JACK server (tests/jack_server.py). DeviceError if it cannot
    start. `playback`: its output ports (PortAudio's "system" device has that many output channels). Its log
    lines are kept with the time each came (`log_since`): they name the client that made a cycle late."""

    def __init__(self, period: int, rate: int = SR, playback: int = 2):
        jackd, wait = shutil.which("jackd"), shutil.which("jack_wait")
        if jackd is None or wait is None:
            raise DeviceError("jackd and jack_wait are needed (Debian: apt install jackd2)")
        name = f"demixui-jack-{uuid.uuid4().hex[:8]}"
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1",
                    "JACK_NO_START_SERVER": "1"}
        command = [jackd, "--realtime", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period), "-P",
                   str(playback)]
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace")
        self._log: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read_log, name="demixui-jackd-log", daemon=True)
        self._reader.start()
        if subprocess.run([wait, "-w", "-t", "10"], env=self.env, capture_output=True).returncode != 0:
            status = self.process.poll()
            self.stop()
            raise DeviceError(f"the JACK dummy server did not start (exit status {status})")

    def _read_log(self) -> None:
        for line in self.process.stdout:  # jackd writes its messages from a non-real-time thread, promptly
            self._log.append((time.monotonic(), line.rstrip()))

    def log_since(self, start: float, end: float) -> list[str]:
        """The server's log lines that came between the `time.monotonic()` times `start` and `end`."""
        time.sleep(0.2)  # lines of the span's last cycles still on their way
        return [line for stamp, line in list(self._log) if start <= stamp <= end]

    def wait_for_clients(self, count: int, timeout: float) -> list[str]:
        """`client_names()` once it lists `count` clients, or when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while len(names := self.client_names()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return names

    def client_names(self) -> list[str]:
        """The clients (other than the server's own ports) with ports on the server now."""
        listing = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True).stdout
        return sorted({port.split(":")[0] for port in listing.split() if not port.startswith("system:")})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        self.process.stdout.close()


# -- clients (each runs in its own process, started after the server) ----------------------------------------
def _measure(counters, warmup: float, seconds: float, tick=None) -> dict:
    """Sleep through the warm-up and the measured window (or run `tick(deadline)`); returns the counts and the
    window's span (`time.monotonic`, which every process on the machine shares)."""
    def wait(duration: float) -> None:
        if tick is None:
            time.sleep(duration)
        else:
            tick(time.monotonic() + duration)

    wait(warmup)
    start, begun = counters(), time.monotonic()
    wait(seconds)
    end, ended = counters(), time.monotonic()
    return {"startup_underruns": start[0], "device_underruns": end[0] - start[0],
            "app_underruns": end[1] - start[1], "callbacks": end[2] - start[2], "span": [begun, ended]}


@contextlib.contextmanager
def _silent_stream(blocksize: int):
    """A sounddevice stream on the JACK server whose Python callback only writes zeros; yields its counters
    (device underruns, 0, callbacks)."""
    import sounddevice as sd

    from demixui.engine.backends import resolve_device

    counts = [0, 0]

    def callback(outdata, frames, time_info, status) -> None:
        if status.output_underflow:
            counts[0] += 1
        counts[1] += 1
        outdata.fill(0.0)

    index, _ = resolve_device(JACK_DEVICE, "output")
    with sd.OutputStream(samplerate=SR, blocksize=blocksize, device=index, channels=2, dtype="float32",
                         callback=callback, latency=2 * blocksize / SR):
        yield lambda: (counts[0], 0, counts[1])


def client_silent(blocksize: int, warmup: float, seconds: float, busy_process: bool = False, **_) -> dict:
    busy = subprocess.Popen([sys.executable, "-c", BUSY_PROCESS]) if busy_process else None
    try:
        with _silent_stream(blocksize) as counters:
            result = _measure(counters, warmup, seconds)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    notes = "python (zeros)" + (", a busy process beside it" if busy_process else "")
    return {**result, "callback": notes, "app_underruns": None}


def client_beside(blocksize: int, warmup: float, **_) -> dict:
    """The silent client beside another client on the same server: it prints "ready" once it has played
    `warmup` seconds, then plays until its standard input closes. The server's log counts for it."""
    with _silent_stream(blocksize):
        time.sleep(warmup)
        print("ready", flush=True)
        sys.stdin.read()
    return {}


def _engine_counters(engine):
    playback = engine.playback
    return lambda: (playback.device_underruns, playback.app_underruns, playback.callbacks)


def _busy(stop: threading.Event) -> None:
    """Pure Python, CPU-bound, never sleeping: it holds the GIL except when the interpreter hands it over."""
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x = (x + i * i) % 1000003


# The busy-process floor runs `_busy` itself, in another interpreter, until it is killed.
BUSY_PROCESS = "import threading; from demixui.engine.xruns import _busy; _busy(threading.Event())"


def client_headless(blocksize: int, warmup: float, seconds: float, model: str | None, audio: str,
                    busy: bool = False, **_) -> dict:
    from demixui.engine import Engine

    stop = threading.Event()
    with Engine(model, backend="portaudio", output_device=JACK_DEVICE, blocksize=blocksize) as engine:
        engine.open_file(audio)
        engine.set_loop(True)
        engine.play()
        if busy:
            threading.Thread(target=_busy, args=(stop,), daemon=True).start()
        try:
            result = _measure(_engine_counters(engine), warmup, seconds)
        finally:
            stop.set()
        error = engine.snapshot().error
    return {**result, "callback": engine.audio_callback, "error": error}


def client_window(blocksize: int, warmup: float, seconds: float, model: str | None, audio: str, **_) -> dict:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # The engine package's one upward import, in this client process only: the window is what it measures.
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from demixui.engine import Engine
    from demixui.ui.app import application
    from demixui.ui.settings import AppSettings
    from demixui.ui.window import MainWindow

    app = application()
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
        engine = Engine(model, backend="portaudio", output_device=JACK_DEVICE, blocksize=blocksize)
        window = MainWindow(settings, engine=engine)
        window.resize(1280, 800)
        window.show()
        engine.open_file(audio)
        engine.set_loop(True)
        engine.play()
        frames = [0]
        window.timer.timeout.connect(lambda: frames.__setitem__(0, frames[0] + 1))

        def run_until(deadline: float) -> None:
            loop = QEventLoop()
            QTimer.singleShot(max(0, int((deadline - time.monotonic()) * 1000)), loop.quit)
            loop.exec()

        counters = _engine_counters(engine)
        run_until(time.monotonic() + warmup)
        frames[0] = 0
        result = _measure(counters, 0.0, seconds, tick=run_until)
        error = engine.snapshot().error
        window.close()
        app.processEvents()
    return {**result, "callback": engine.audio_callback, "ui_fps": frames[0] / seconds, "error": error}


def client_live(blocksize: int, warmup: float, seconds: float, model: str | None, **_) -> dict:
    """Live input from the server's capture ports (the dummy driver's silence: the model's compute does not
    depend on what it hears) through the engine to its playback ports."""
    from demixui.engine import Engine

    with Engine(model, backend="portaudio", output_device=JACK_DEVICE, input_device=JACK_DEVICE,
                blocksize=blocksize) as engine:
        engine.open_live()
        result = _measure(_engine_counters(engine), warmup, seconds)
        snap = engine.snapshot()
    return {**result, "callback": engine.audio_callback, "error": snap.error,
            "model": snap.model_name, "model_latency_ms": snap.model_latency_ms,
            "buffer_latency_ms": snap.buffer_latency_ms, "device_latency_ms": snap.device_latency_ms,
            "inference_p50_ms": snap.inference_p50_ms, "inference_p99_ms": snap.inference_p99_ms,
            "hop_budget_ms": snap.hop_budget_ms, "drift_corrections": snap.drift_corrections,
            "least_buffer_ms": 1000 * engine.playback.live_buffer / engine.sample_rate}


CLIENTS = {"silent": client_silent, "headless": client_headless, "window": client_window,
           "busy": lambda **kw: client_headless(busy=True, **kw),
           "busyproc": lambda **kw: client_silent(busy_process=True, **kw), "live": client_live,
           "beside": client_beside}


# -- the orchestrator ---------------------------------------------------------------------------------------
BESIDE_START_SECONDS = 10.0  # time for the silent client to start and warm up when it joins second


def run_client(server: JackDummy, scenario: str, blocksize: int, seconds: float, args, audio: str,
               beside_first: bool = True) -> dict:
    """One client's run on `server`; with `args.beside`, the silent client plays on the same server over the
    client's whole measured span, and the row gets the late cycles each caused in it (`late_counts`).
    `beside_first`: the silent client joins the server first (else the client does, and the silent client
    joins during the client's warm-up, lengthened by BESIDE_START_SECONDS). Rounds alternate the order: the
    client that joined second was the later one in most rounds (block 128: 240 late cycles against 30-73)."""
    command = [sys.executable, "-m", "demixui.engine.xruns", "--client", scenario, "--blocks", str(blocksize),
               "--seconds", str(seconds), "--warmup", str(args.warmup), "--audio", audio]
    if args.model:
        command += ["--model", args.model]
    env = {**server.env, CALLBACK_ENV: args.callback}
    limit = seconds + args.warmup + 180
    if not args.beside:
        return run_client_process(command, env, limit)
    if not beside_first:
        command[command.index("--warmup") + 1] = str(args.warmup + BESIDE_START_SECONDS)
    client = reference = None
    try:
        before = []
        if not beside_first:
            client = _start(command, env)
            before = server.wait_for_clients(1, 90.0)
            if len(before) != 1:
                return {"error": f"the client did not join the server in 90 s (clients: {before})"}
        # PortAudio's JACK host API fails to open a device when two clients start at the same moment, so one
        # starts only once the other's ports are on the server.
        reference = _start([sys.executable, "-m", "demixui.engine.xruns", "--client", "beside", "--blocks",
                            str(blocksize), "--warmup", str(args.warmup)], server.env, stdin=True)
        ready, _, _ = select.select([reference.stdout], [], [], args.warmup + 60)
        if not ready or reference.stdout.readline().strip() != "ready":
            return {"error": "the silent client beside it did not start: " + _last_error(reference)}
        ready_at = time.monotonic()
        names = [name for name in server.client_names() if name not in before]
        if beside_first:
            client = _start(command, env)
        result = _answer(client, limit)
        reference.communicate(input="", timeout=60)  # its standard input closes: it stops
    finally:
        for process in (client, reference):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    if "span" not in result:
        return result
    if reference.returncode != 0 or len(names) != 1:
        return {**result, "error": f"the silent client beside it failed (exit status {reference.returncode}, "
                                   f"its clients {names})"}
    if ready_at > result["span"][0]:
        return {**result, "error": "the silent client beside it was not playing when the span began"}
    return {**result, "beside_first": beside_first,
            **late_counts(server.log_since(result["span"][0], result["span"][1]), names[0])}


def _start(command: list[str], env: dict, stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _last_error(process: subprocess.Popen, err: str | None = None) -> str:
    """The last line a client process wrote to standard error (killing it first if it runs), or its exit
    status; `err`: what it wrote, when that is already read."""
    if err is None:
        if process.poll() is None:
            process.kill()
        err = process.communicate()[1]
    return (err.strip().splitlines() or [f"exit status {process.returncode}"])[-1]


def _answer(process: subprocess.Popen, limit: float) -> dict:
    """The JSON of a client process's last output line, or {"error": its last error line}."""
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer in {limit:.0f} s"}
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"error": _last_error(process, err)}
    return json.loads(lines[-1])


LATE_CLIENT = re.compile(r"client = (.+) was not finished")
LATE_SERVER = "JackTimedDriver::Process XRun"


def late_counts(lines: list[str], beside: str) -> dict:
    """From the server's log lines over a span: the cycles a client was late in (not finished when the next
    began: the client's own; `beside`'s apart) and the server's own late wake-ups."""
    late = [match.group(1) for match in map(LATE_CLIENT.search, lines) if match]
    return {"late_own": sum(name != beside for name in late), "late_beside": late.count(beside),
            "late_server": sum(LATE_SERVER in line for line in lines)}


def more_than_beside_p(own: int, beside: int) -> float:
    """How likely a client no more prone to lateness than the silent one beside it (the same span, the same
    server) would make at least `own` of the two's `own + beside` late cycles: the exact one-sided test for
    two Poisson counts over equal time (given the total, the client's count is binomial with p = 1/2)."""
    total = own + beside
    return sum(math.comb(total, k) for k in range(own, total + 1)) / 2**total


def run_client_process(command: list[str], env: dict, limit: float) -> dict:
    """Run one client process; the JSON of its last output line, or {"error": its last error line}."""
    process = _start(command, env)
    try:
        return _answer(process, limit)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def combine(parts: list[dict]) -> dict:
    """One row from a client's rounds: counts summed, the load and UI frame rate averaged."""
    if any("device_underruns" not in part for part in parts):
        return next(part for part in parts if "device_underruns" not in part)
    row = dict(parts[-1])
    row.pop("span", None)
    for key in ("device_underruns", "startup_underruns", "callbacks", "seconds", "late_own", "late_beside",
                "late_server"):
        if all(key in part for part in parts):
            row[key] = sum(part[key] for part in parts)
        else:
            row.pop(key, None)
    apps = [part["app_underruns"] for part in parts]
    row["app_underruns"] = None if apps[0] is None else sum(apps)
    row["load"] = [sum(part["load"][i] for part in parts) / len(parts) for i in range(3)]
    if "ui_fps" in row:
        row["ui_fps"] = sum(part["ui_fps"] for part in parts) / len(parts)
    row["error"] = "; ".join(part["error"] for part in parts if part.get("error")) or None
    row["rounds"] = len(parts)
    if "beside_first" in row:
        row["beside_first"] = sum(bool(part.get("beside_first")) for part in parts)  # rounds it joined first
    return row


def table(rows: list[dict], seconds: float, warmup: float, rounds: int = 1) -> str:
    """The rows as a text table. Rows measured beside the silent client (`--beside`) are read against it: the
    target is the issue's (late cycles the client caused at most the silent client's + 1, app underruns 0)
    and p is `more_than_beside_p`; other rows against the silent client's row of the same block."""
    split = f" in {rounds} alternating rounds" if rounds > 1 else ""
    paired = any("late_own" in row for row in rows)
    lines = [f"Device underruns in {seconds:g} s{split} (each after {warmup:g} s of warm-up) on a JACK dummy "
             f"server, 44.1 kHz, period = block; {os.cpu_count()} CPUs"
             + ("\nlate cycles (the server names the late client): own = the client's, beside = the "
                "silent client's beside it at the same time, server = the server woke late; p: chance of "
                "this many with no more lateness than the silent client's" if paired else ""),
             f"{'block':>5}  {'client':<23} {'device':>6} "
             + (f"{'own':>4} {'beside':>6} {'server':>6} {'p':>5} " if paired else "")
             + f"{'app':>4} {'start-up':>8} {'callbacks':>9} {'load 1/5 min':>12}  {'target':<6} "
               "callback / notes"]
    floor = {(row["blocksize"], row["scenario"]): row["device_underruns"] for row in rows
             if row["scenario"] in FLOORS and "device_underruns" in row}
    for row in rows:
        block, scenario = row["blocksize"], row["scenario"]
        if "device_underruns" not in row:
            lines.append(f"{block:>5}  {LABELS[scenario]:<23} failed: {row.get('error')}")
            continue
        device, app = row["device_underruns"], row["app_underruns"]
        own, beside = row.get("late_own"), row.get("late_beside")
        if scenario in FLOORS:
            target = ""
        elif own is not None:
            target = "met" if app == 0 and own <= beside + 1 else "missed"
        else:
            ok = app == 0 and device <= floor.get((block, "silent"), -2) + 1
            target = ("met" if ok else "missed") if (block, "silent") in floor else ""  # no silent row
        notes = row.get("callback", "")
        if scenario == "busy" and (block, "busyproc") in floor:
            within = device <= floor[(block, "busyproc")] + 1
            notes += f", {'within' if within else 'above'} the busy-process floor + 1"
        if "ui_fps" in row:
            notes += f", {row['ui_fps']:.1f} UI frames/s"
        if row.get("error"):
            notes += f", error: {row['error']}"
        pair = ""
        if paired:
            pair = (f"{own:>4} {beside:>6} {row['late_server']:>6} {more_than_beside_p(own, beside):>5.2f} "
                    if own is not None else f"{'-':>4} {'-':>6} {'-':>6} {'-':>5} ")
        load = row["load"]
        lines.append(f"{block:>5}  {LABELS[scenario]:<23} {device:>6} {pair}{'-' if app is None else app:>4} "
                     f"{row['startup_underruns']:>8} {row['callbacks']:>9} {load[0]:>6.2f} {load[1]:>5.2f}  "
                     f"{target:<6} {notes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per client (60)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds played before counting (2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="split the seconds into this many rounds of every client in turn, so that a "
                             "machine whose load drifts weighs on every client alike (1)")
    parser.add_argument("--blocks", default="64,128,256", help="block sizes, comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"any of {','.join(SCENARIOS)}")
    parser.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    parser.add_argument("--callback", choices=("native", "python"), default="native",
                        help="the app's audio callback (python: the fallback, for comparison)")
    parser.add_argument("--beside", action=argparse.BooleanOptionalAction, default=True,
                        help="play the silent client on the same server beside each client, and read the "
                             "late cycles the server names the client for against the silent client's")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--client", choices=tuple(CLIENTS), help=argparse.SUPPRESS)
    parser.add_argument("--audio", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    blocks = [int(b) for b in args.blocks.split(",")]
    if args.client:  # one client, inside the server's environment: one JSON line
        result = CLIENTS[args.client](blocksize=blocks[0], warmup=args.warmup, seconds=args.seconds,
                                      model=args.model, audio=args.audio)
        print(json.dumps(result))
        return 0
    import soundfile as sf

    from demixui.engine.benchmark import synthetic_music

    scenarios = [s for s in args.scenarios.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        audio = str(Path(folder) / "music.wav")
        sf.write(audio, synthetic_music(30.0), SR, subtype="FLOAT")
        for block in blocks:
            try:
                server = JackDummy(block)
            except DeviceError as error:
                raise SystemExit(f"xruns: {error}") from None
            parts: dict[str, list[dict]] = {scenario: [] for scenario in scenarios}
            try:
                for round_index in range(args.rounds):
                    for scenario in scenarios:
                        seconds = args.seconds / args.rounds
                        part = {"blocksize": block, "scenario": scenario, "seconds": seconds,
                                **run_client(server, scenario, block, seconds, args, audio,
                                             beside_first=round_index % 2 == 0),
                                "load": os.getloadavg()}
                        parts[scenario].append(part)
                        line = table([part], seconds, args.warmup).splitlines()[-1]
                        print(f"{line}  (round {round_index + 1}/{args.rounds})", flush=True)
            finally:
                server.stop()
            rows += [combine(parts[scenario]) for scenario in scenarios]
    print()
    print(table(rows, args.seconds, args.warmup, args.rounds))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

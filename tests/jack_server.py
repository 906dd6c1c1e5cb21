"""A private JACK server with the dummy driver, for tests that need real PortAudio without a sound card.

Debian's libportaudio2 (which sounddevice loads) is built with JACK support: with a JACK server running,
`sounddevice.query_hostapis()` lists "JACK Audio Connection Kit" with one device, "system". The server gets a
unique name and the clients find it through JACK_DEFAULT_SERVER, so parallel runs do not collide. PortAudio
scans host APIs when it initialises, so the clients run as subprocesses started after the server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

from conftest import missing_tool, require_executable

JACK_DEVICE = "system JACK"  # sounddevice matches every word against 'name, host API'


class JackServer:
    """A running dummy server: `env` for its clients, `stop()` to end it (also to pull the device away)."""

    def __init__(self, process: subprocess.Popen, env: dict[str, str]):
        self.process, self.env = process, env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def jack_server(rate: int = 44100, period: int = 256) -> Iterator[JackServer]:
    """Start `jackd -R -d dummy -r rate -p period` (real-time scheduling where allowed; jackd carries on
    without it otherwise); yields the running server. Stops it afterwards."""
    jackd = require_executable("jackd")
    require_executable("jack_wait")
    name = f"demixui-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1",
           "JACK_NO_START_SERVER": "1"}
    process = subprocess.Popen([jackd, "--realtime", "-n", name, "-d", "dummy", "-r", str(rate),
                                "-p", str(period)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    server = JackServer(process, env)
    try:
        if subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True).returncode != 0:
            missing_tool(f"the JACK dummy server did not start (exit status {process.poll()})")
        probe = "import sounddevice as sd; print([h['name'] for h in sd.query_hostapis()])"
        hostapis = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                  timeout=60)
        if "JACK" not in hostapis.stdout:
            missing_tool(f"PortAudio lists no JACK host API ({hostapis.stdout.strip()} "
                         f"{hostapis.stderr[-200:]})")
        yield server
    finally:
        server.stop()
        time.sleep(0.1)

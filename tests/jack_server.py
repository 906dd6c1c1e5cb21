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


@contextlib.contextmanager
def jack_server(rate: int = 44100, period: int = 256) -> Iterator[dict[str, str]]:
    """Start `jackd -R -d dummy -r rate -p period` (real-time scheduling where allowed; jackd carries on
    without it otherwise); yields the environment clients need. Stops it afterwards."""
    jackd = require_executable("jackd")
    require_executable("jack_wait")
    name = f"demixui-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1",
           "JACK_NO_START_SERVER": "1"}
    server = subprocess.Popen([jackd, "--realtime", "-n", name, "-d", "dummy", "-r", str(rate),
                               "-p", str(period)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True).returncode != 0:
            output = server.stdout.read1(4096).decode(errors="replace") if server.poll() is not None else ""
            missing_tool(f"the JACK dummy server did not start: {output.strip()[:300]}")
        probe = "import sounddevice as sd; print([h['name'] for h in sd.query_hostapis()])"
        hostapis = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                  timeout=60)
        if "JACK" not in hostapis.stdout:
            missing_tool(f"PortAudio lists no JACK host API ({hostapis.stdout.strip()} "
                         f"{hostapis.stderr[-200:]})")
        yield env
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        server.stdout.close()
        time.sleep(0.1)

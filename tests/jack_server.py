"""A private JACK server with the dummy driver, for tests that need real PortAudio without a sound card.

Debian's libportaudio2 (which sounddevice loads) is built with JACK support: with a JACK server running,
`sounddevice.query_hostapis()` lists "JACK Audio Connection Kit" with one device, "system". The server gets a
unique name and the clients find it through JACK_DEFAULT_SERVER, so parallel runs do not collide. PortAudio
scans host APIs when it initialises, so the clients run as subprocesses started after the server.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

from conftest import missing_tool, require_executable

from demixui.engine.xruns import JackDummy
from demixui.errors import DeviceError

JACK_DEVICE = "system JACK"  # sounddevice matches every word against 'name, host API'


@contextlib.contextmanager
def jack_server(rate: int = 44100, period: int = 256, playback: int = 2) -> Iterator[JackDummy]:
    """Start `jackd -R -d dummy -r rate -p period -P playback` (real-time scheduling where allowed; jackd
    carries on without it otherwise) with the app's own `JackDummy`; yields the running server. Stops it
    afterwards. `playback`: output ports, the channels of PortAudio's "system" device."""
    require_executable("jackd")
    require_executable("jack_wait")
    try:
        server = JackDummy(period, rate, playback)
    except DeviceError as error:
        missing_tool(str(error))
    env = server.env
    try:
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


def playback_ports(env: dict, count: int, timeout: float = 90.0) -> list[str]:
    """The ports connected to system:playback_1..count (the player's outputs, in channel order), once the
    player's stream has connected all of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = subprocess.run(["jack_lsp", "-c"], env=env, capture_output=True, text=True).stdout
        sources, current = {}, None
        for line in listing.splitlines():
            if not line.startswith((" ", "\t")):
                current = line.strip()
            elif current and current.startswith("system:playback_"):
                sources[int(current.rsplit("_", 1)[1])] = line.strip()
        if all(k in sources for k in range(1, count + 1)):
            return [sources[k] for k in range(1, count + 1)]
        time.sleep(0.1)
    raise AssertionError(f"the player's {count} output ports did not appear: {listing}")

"""MIDI input ports through mido and python-rtmidi (no Qt).

`MidiInput.open(port)` opens one named input port, or every input port when `port` is None; each message then
reaches `callback(message)` on the MIDI backend's own thread (the caller posts it to wherever it is handled).
Nothing here raises for a missing backend, a system without MIDI or a port that is gone: `open` returns one
line saying so and the app carries on without MIDI.

The backend is mido's default (rtmidi with the system's API: ALSA on Linux, CoreMIDI, Windows MM), which the
environment variable MIDO_BACKEND changes, e.g. `mido.backends.rtmidi/UNIX_JACK` for JACK MIDI.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
# ALSA appends the client:port numbers, which change when a device is plugged in again
_ALSA_NUMBERS = re.compile(r"\s+\d+:\d+$")


def _backend(name: str | None):
    import mido  # imported here: a missing package is a note, not a crash at start-up

    return mido.Backend(name, load=True) if name else mido.backend


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{type(error).__name__}: {text}" if isinstance(error, ImportError) else text


def list_input_ports(backend: str | None = None) -> list[str]:
    """The MIDI input port names the backend sees; empty when there is no MIDI at all."""
    try:
        return list(_backend(backend).get_input_names())
    except Exception:  # noqa: BLE001 - no mido, no rtmidi or no MIDI system: simply no ports
        return []


def same_port(saved: str, name: str) -> bool:
    return saved == name or _ALSA_NUMBERS.sub("", saved) == _ALSA_NUMBERS.sub("", name)


class MidiInput:
    """Open MIDI input ports that deliver each message to `callback(message)` (on the backend's thread)."""

    def __init__(self, callback: Callable[[object], None], backend: str | None = None):
        self.callback = callback
        self.backend = backend
        self.ports: list = []
        self.port_names: list[str] = []
        self._lock = threading.Lock()

    def open(self, port: str | None = None) -> str:
        """Close what is open, then open `port` (None: every input port). Returns a one-line status."""
        self.close()
        try:
            backend = _backend(self.backend)
            names = list(backend.get_input_names())
        except Exception as error:  # noqa: BLE001 - no MIDI here: say so once and carry on
            return f"MIDI input unavailable ({_brief(error)})"
        if port is not None:
            chosen = [n for n in names if same_port(port, n)][:1]
            if not chosen:
                return f"MIDI input {port!r} not found (ports: {', '.join(names) or 'none'})"
            names = chosen
        if not names:
            return "no MIDI input ports"
        opened, failed = [], []
        for name in names:
            try:
                handle = backend.open_input(name, callback=self._receive)
            except Exception as error:  # noqa: BLE001 - a port busy or gone: open the others
                failed.append(f"{name}: {_brief(error)}")
                continue
            opened.append(handle)
            self.port_names.append(name)
        with self._lock:
            self.ports = opened
        status = f"MIDI input: {', '.join(self.port_names)}" if opened else "no MIDI input port opened"
        if failed:
            status += f" (failed: {'; '.join(failed)})"
        log.info(status)
        return status

    def _receive(self, message) -> None:
        try:
            self.callback(message)
        except Exception:  # noqa: BLE001 - never let an exception unwind into the backend's thread
            log.exception("MIDI message handler failed")

    def close(self) -> None:
        with self._lock:
            ports, self.ports = self.ports, []
        self.port_names = []
        for handle in ports:
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - closing a port that went away
                log.debug("closing a MIDI port failed", exc_info=True)

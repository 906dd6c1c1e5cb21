"""Best-effort scheduling priority for the engine's threads.

The audio callback needs the GIL, so a thread that holds the GIL and is then descheduled by a busy machine
stalls the callback (priority inversion). Audio programs therefore raise the priority of every thread that
feeds the audio path. We ask the OS for a higher priority (a lower nice value) for the calling thread and
carry on quietly where that is not allowed (an unprivileged user on Linux without CAP_SYS_NICE, or other
systems). The PortAudio callback thread itself gets its priority from the audio system (JACK, ALSA, ...).
"""

from __future__ import annotations

import os
import sys
import threading

ENGINE_NICE = -10


def raise_thread_priority(nice: int = ENGINE_NICE) -> bool:
    """Give the calling thread the nice value `nice` if the OS allows it; returns whether it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)  # per thread on Linux
    except (OSError, AttributeError):
        return False
    return True

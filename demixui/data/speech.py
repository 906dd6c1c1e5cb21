"""Spoken words from espeak-ng, the raw material the singing voice is made from.

One `espeak-ng` process per word: the library keeps state (and libc `rand()`) across utterances, so only a
fresh process gives the same samples for the same word every time. Words are cached per process, and a song
uses a small vocabulary (as real lyrics repeat), so a song costs a dozen calls.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

import numpy as np

from demixui.errors import DemixError

SPEECH_RATE = 22050


def espeak_path() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise DemixError("espeak-ng is not installed (the data generator's singing voice needs it)")
    return path


@functools.lru_cache(maxsize=512)
def speak(text: str, voice: str = "en", rate_wpm: int = 140) -> np.ndarray:
    """Speech for `text` in espeak-ng voice `voice` (e.g. "en+f3"): float32 `(nb_samples,)` at SPEECH_RATE."""
    result = subprocess.run(
        [espeak_path(), "-v", voice, "-s", str(rate_wpm), "-p", "50", "-z", "--stdout", text],
        capture_output=True,
        check=False,
        timeout=30,
    )
    data = result.stdout
    if result.returncode != 0 or len(data) < 44 or data[:4] != b"RIFF":
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise DemixError(f"espeak-ng failed for voice {voice!r}: {message[0] if message else 'no audio'}")
    # --stdout writes a 44-byte header whose sizes are placeholders; the rest is 16-bit mono PCM
    pcm = np.frombuffer(data[44 : 44 + (len(data) - 44) // 2 * 2], dtype="<i2")
    audio = pcm.astype(np.float32) / 32768.0
    audio.setflags(write=False)
    return audio

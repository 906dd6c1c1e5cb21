"""The scale of the mixer's controls, shared by the window's widgets and headless MIDI control (no Qt):
a fader is an integer position of 0.5 dB steps, the karaoke amount an integer reduction in dB."""

from __future__ import annotations

import math

# Fader: integer steps of 0.5 dB from -60 dB (the bottom position means -inf, silence) to +12 dB.
FADER_STEPS_PER_DB = 2
FADER_MIN_DB = -60.0
FADER_MAX_DB = 12.0
# Karaoke amount: vocal reduction in dB; the top position means full removal (-inf).
KARAOKE_MIN_DB = 3
KARAOKE_FULL = 48


def fader_to_db(value: int) -> float:
    db = value / FADER_STEPS_PER_DB
    return -math.inf if db <= FADER_MIN_DB else db


def db_to_fader(db: float) -> int:
    if not math.isfinite(db) or db <= FADER_MIN_DB:
        return int(FADER_MIN_DB * FADER_STEPS_PER_DB)
    return int(round(min(db, FADER_MAX_DB) * FADER_STEPS_PER_DB))


def karaoke_to_db(value: int) -> float:
    return math.inf if value >= KARAOKE_FULL else float(value)


def db_to_karaoke(db: float) -> int:
    return KARAOKE_FULL if not math.isfinite(db) else int(min(max(db, KARAOKE_MIN_DB), KARAOKE_FULL))

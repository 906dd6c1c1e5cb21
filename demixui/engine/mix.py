"""The remix settings as on a mixing desk: gain per stem, mute, solo, karaoke, and the gains they add up to.

Rules: a muted stem is silent, even when soloed (mute wins); while any stem is soloed, the others are silent;
karaoke lowers the vocals by `karaoke_db` (inf: silent) on top of their own gain, soloed or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from demixui.errors import DemixError

STEMS = ("vocals", "drums", "bass", "other")
MAX_GAIN_DB = 12.0


@dataclass
class MixSettings:
    """Per-stem settings in `STEMS` order; `gains()` turns them into linear gains."""

    gains_db: list[float] = field(default_factory=lambda: [0.0] * len(STEMS))
    muted: list[bool] = field(default_factory=lambda: [False] * len(STEMS))
    soloed: list[bool] = field(default_factory=lambda: [False] * len(STEMS))
    karaoke: bool = False
    karaoke_db: float = math.inf

    @staticmethod
    def index(stem: str) -> int:
        try:
            return STEMS.index(stem)
        except ValueError:
            raise DemixError(f"unknown stem {stem!r}; one of {', '.join(STEMS)}") from None

    def set_gain_db(self, stem: str, gain_db: float) -> None:
        gain_db = float(gain_db)
        if math.isnan(gain_db) or gain_db > MAX_GAIN_DB:
            raise DemixError(f"gain {gain_db} dB for {stem} is outside -inf..+{MAX_GAIN_DB:g} dB")
        self.gains_db[self.index(stem)] = gain_db

    def set_karaoke(self, on: bool, reduction_db: float) -> None:
        reduction_db = float(reduction_db)
        if math.isnan(reduction_db) or reduction_db < 0:
            raise DemixError(f"karaoke reduction must be a positive number of dB, got {reduction_db}")
        self.karaoke, self.karaoke_db = bool(on), reduction_db

    def gains(self) -> np.ndarray:
        """Linear gain per stem, float32 `(nb_stems,)`, by the rules above."""
        any_solo = any(self.soloed)
        gains = np.zeros(len(STEMS), np.float32)
        for i, stem in enumerate(STEMS):
            if self.muted[i] or (any_solo and not self.soloed[i]):
                continue
            gain_db = self.gains_db[i]
            if stem == "vocals" and self.karaoke:
                gain_db -= self.karaoke_db
            gains[i] = 0.0 if gain_db == -math.inf else 10.0 ** (gain_db / 20.0)
        return gains

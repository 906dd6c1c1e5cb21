"""One procedural track written in MUSDB18-HQ's layout: `<track>/{mixture,vocals,drums,bass,other}.wav` and
`meta.json`, into a temporary folder renamed into place only when complete.

The track's seed comes from the corpus seed and the track index only, so `--jobs` never changes a track.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from demixui.audiofile import write_wav_atomic
from demixui.data.composer import track_seed
from demixui.data.mixdown import mix_to_int16, render_stems
from demixui.data.render import SAMPLE_RATE


def write_track(out_dir: Path, index: int, corpus_seed: int, seconds: float, soundfont: str) -> dict:
    """Render track `index` into `out_dir/<name>/` (temporary folder, then rename). Returns its metadata."""
    seed = track_seed(corpus_seed, index)
    stems, meta = render_stems(seed, seconds, soundfont)
    rng = np.random.default_rng
    int_stems, master = mix_to_int16(stems, rng([seed, 2]), master_rng=rng([seed, 4]))
    meta["master"] = master
    meta["index"] = index
    meta["corpus_seed"] = corpus_seed
    name = f"{index:04d}_{meta['genre']}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=out_dir))
    try:
        for stem, audio in int_stems.items():
            write_wav_atomic(tmp / f"{stem}.wav", audio, SAMPLE_RATE)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        os.replace(tmp, out_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta

"""Quality references beside our score: the floor and ceiling of `demixui evaluate` on a test set.

Reuses `demixui.model.evaluation` (the code behind `demixui evaluate`): per track the model, the floor (the
mixture as every stem's estimate) and the ceiling (the oracle ratio mask of our STFT with the mixture's
phase), averaged over the first `max_tracks` tracks of a MUSDB18-HQ-layout folder.
"""

from __future__ import annotations

from pathlib import Path

from demixui.bench.table import Row
from demixui.errors import DemixError

LABELS = {
    "floor": "floor: mixture as every stem",
    "model": "demixui ({})",
    "ceiling": "ceiling: oracle ratio mask",
}
STEM_KEYS = ("vocals", "drums", "bass", "other")
ESTIMATES = ("floor", "model", "ceiling")


def _missing(reason: str) -> list[Row]:
    return [Row("quality", LABELS[e].format("model"), {}, reason=reason) for e in ESTIMATES]


def measure_quality(model_path: Path | None, test_set: Path | None, max_tracks: int | None,
                    beside: bool = False) -> list[Row]:
    """Rows floor, model, ceiling (challenge SDR in dB per stem and their mean), or rows saying why not.

    `beside`: a further model (the live one) under the first: its row and the ceiling at its own STFT (a
    shorter window has a lower ceiling), not the floor again, which is the same for every model."""
    if beside and not Path(model_path).is_file():
        name = LABELS["model"].format(Path(model_path).name)
        return [Row("quality", name, {}, reason="no such model file")]
    if test_set is None:
        return _missing("no test set given and none at the default place (pass --test-set DIR)")
    try:
        from demixui.model.evaluation import evaluate_track, mean_scores
    except ImportError as error:
        return _missing(f"the evaluation module is not in this build ({error})")
    from demixui.data.musdb import list_tracks
    from demixui.model.runtime import load_model

    try:
        tracks = list_tracks(test_set)
    except DemixError as error:
        return _missing(f"test set unusable: {error}")
    if max_tracks is not None:
        tracks = tracks[:max_tracks]
    if not tracks:
        return _missing(f"no tracks under {test_set}")
    model = load_model(model_path, intra_op_threads=1)
    results = [evaluate_track(model, track) for track in tracks]
    means = mean_scores(results)
    seconds = sum(result["seconds"] for result in results)
    note = f"{len(results)} track(s), {seconds:.0f} s in all, from {test_set}"
    rows = []
    for estimate in ESTIMATES[1:] if beside else ESTIMATES:
        figures = {stem: means[estimate][stem]["sdr"] for stem in STEM_KEYS}
        figures["mean"] = means[estimate]["all"]["sdr"]
        name = LABELS[estimate].format(Path(model.info.path).name)
        if beside and estimate == "ceiling":
            name += f" at {Path(model.info.path).name}'s STFT ({model.info.n_fft}/{model.info.hop})"
        row = Row("quality", name, figures, notes=[note])
        if len(row.figures) < len(figures):
            row.reason = "a stem is silent in every test track, so its SDR is undefined"
        rows.append(row)
    return rows

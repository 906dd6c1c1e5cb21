"""The table `demixui data import` prints: where each stem went and how much of its energy is below 150 Hz.

A stem whose energy sits mostly below 150 Hz but is not grouped as bass (a sub-bass synth called "SINE", an
808 inside a "BEAT") carries the song's bass line into another stem; the table flags such stems with `!`, and
drum stems of that kind with `?` (a kick is also mostly below 150 Hz: listen to tell it from an 808).
"""

from __future__ import annotations

from demixui.data.importer import LOW_BAND_HZ, SongReport
from demixui.data.musdb import STEMS

SUSPECT_LOW_SHARE = 0.5  # a non-bass stem with at least this share of its energy below LOW_BAND_HZ ...
SUSPECT_SONG_SHARE = 0.05  # ... holding at least this share of the song's energy there is flagged


def format_song(report: SongReport) -> str:
    """One song: a row per stem (group, source, level, low-band figures) and the group totals."""
    used = [s for s in report.stems if not s.note]
    song_low = sum(s.low_energy for s in used) or 1.0
    if report.note:
        head = f"{report.song}: {report.note}"
    else:
        head = (f"{report.song}: {len(used)} stems, {report.kept_seconds / 60:.1f} of "
                f"{report.total_seconds / 60:.1f} min kept in {len(report.tracks)} part(s), "
                f"song gain {report.gain_db:+.1f} dB")
    lines = [head, f"  {'stem':<24} {'group':<7} {'source':<14} {'RMS dB':>7} {'<150Hz':>7} {'of song':>8}"]
    for stem in report.stems:
        rate = f"{stem.source_rate // 1000} kHz" if stem.source_rate else "? kHz"
        source = rate + (" mobile" if stem.mobile else "")
        if stem.note:
            lines.append(f"  {stem.name:<24} {stem.group:<7} {source:<14} {stem.note}")
            continue
        song_share = stem.low_energy / song_low
        flag = ""
        low_heavy = stem.low_share >= SUSPECT_LOW_SHARE and song_share >= SUSPECT_SONG_SHARE
        if low_heavy and stem.group == "drums":
            flag = "  ? kick, or an 808 bass line: listen"  # the energy alone cannot tell them apart
        elif low_heavy and stem.group != "bass":
            flag = "  ! low-band energy outside bass"
        elif stem.group == "bass" and stem.low_share < 1 - SUSPECT_LOW_SHARE:
            flag = "  ! bass stem mostly above the low band"
        lines.append(f"  {stem.name:<24} {stem.group:<7} {source:<14} {stem.rms_db:7.1f} "
                     f"{100 * stem.low_share:6.0f}% {100 * song_share:7.0f}%{flag}")
    if report.group_low_share:
        shares = ", ".join(f"{g} {100 * report.group_low_share[g]:.0f}%" for g in STEMS)
        lines.append(f"  energy below {LOW_BAND_HZ:.0f} Hz per group: {shares}")
    return "\n".join(lines)


def format_summary(reports: list[SongReport]) -> str:
    """Totals over the songs: tracks written, minutes kept, audible minutes per stem, songs left out."""
    kept = [r for r in reports if not r.note]
    tracks = sum(len(r.tracks) for r in kept)
    minutes = sum(r.kept_seconds for r in kept) / 60
    active = ", ".join(f"{g} {sum(r.group_active_seconds.get(g, 0) for r in kept) / 60:.1f}" for g in STEMS)
    mobile = sorted(f"{r.song}/{s.name}" for r in kept for s in r.stems if s.mobile and not s.note)
    lines = [f"imported {len(kept)} of {len(reports)} songs: {tracks} tracks, {minutes:.1f} min; "
             f"audible minutes per stem: {active}"]
    if mobile:
        lines.append(f"from _mobile copies ({len(mobile)}): {', '.join(mobile)}")
    for report in reports:
        if report.note:
            lines.append(f"{report.song}: {report.note}")
    return "\n".join(lines)

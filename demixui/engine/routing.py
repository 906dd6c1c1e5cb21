"""Where the audio goes: the stereo remix, optional per-stem direct outputs and a cue bus, on one device.

Channel layout (1-based, as a DAW or a patchbay numbers them), always in this order on the one output stream:
- 1-2: the remix (what the window's faders make; the only output unless more are asked for);
- with stem outputs: 3-4 vocals, 5-6 drums, 7-8 bass, 9-10 other, each post-fader (its gain, mute, solo and
  karaoke apply, so the app's faders and a MIDI controller act on the DAW's, OBS's or the hardware mixer's
  channels too, and the direct outputs add up to the remix); a clean unity stem is `demixui separate`'s job;
- with the cue bus: the next pair (3-4 alone, 11-12 after the stem outputs): the cued stems at unity,
  pre-fader: a fader, mute, solo or karaoke does not reach it, so a DJ can pre-listen to a muted stem in the
  headphones before bringing it in. Cueing a stem on or off fades over the gain ramp (no click).
Everything follows the transport (pause, seek and play fade every channel alike). While the stems run short
(an app underrun) the remix plays the dry mix; an output that is not every stem at one weight cannot be made
from the dry mix, so a stem output (and a cue of fewer than all stems) fades to silence for that time, by the
same rule as the remix: the stand-in is the dry mix times the smallest weight.

Why one device and not a second one for the cue: two devices run on two clocks that drift apart, which needs
resampling in the callback; a device with enough channels (a multichannel card, an aggregate device, JACK,
whose ports can be routed to any card) does not. JACK users connect the ports wherever they like.
"""

from __future__ import annotations

from dataclasses import dataclass

from demixui.errors import DemixError, DeviceError

STEM_NAMES = ("vocals", "drums", "bass", "other")


class ChannelCountError(DeviceError):
    """The output device has fewer channels than the chosen outputs need (it plays the remix alone)."""


@dataclass(frozen=True)
class OutputLayout:
    """Which outputs the stream carries besides the remix; `channels` is the device channels it needs."""

    stem_outputs: bool = False
    cue_bus: bool = False

    @property
    def channels(self) -> int:
        return 2 + 2 * len(STEM_NAMES) * self.stem_outputs + 2 * self.cue_bus

    @property
    def stem_channel(self) -> int:
        """0-based index of the first stem output channel (vocals left), 0 when there are none."""
        return 2 if self.stem_outputs else 0

    @property
    def cue_channel(self) -> int:
        """0-based index of the cue bus's left channel, 0 when there is none."""
        return self.channels - 2 if self.cue_bus else 0

    def describe(self) -> str:
        """E.g. 'remix 1-2, vocals 3-4, drums 5-6, bass 7-8, other 9-10, cue 11-12'."""
        parts = ["remix 1-2"]
        if self.stem_outputs:
            parts += [f"{name} {3 + 2 * i}-{4 + 2 * i}" for i, name in enumerate(STEM_NAMES)]
        if self.cue_bus:
            parts.append(f"cue {self.cue_channel + 1}-{self.cue_channel + 2}")
        return ", ".join(parts)

    def check_device(self, device_name: str, device_channels: int) -> None:
        """ChannelCountError in one line when the device has too few output channels for this layout."""
        if device_channels < self.channels:
            raise ChannelCountError(f"output device {device_name} has {device_channels} output channels; "
                             f"{self.describe()} need {self.channels} (choose a device with more channels, "
                             f"or fewer outputs)")


def parse_cue(stems: list[str]) -> tuple[str, ...]:
    """Cued stem names, checked, in STEM_NAMES order."""
    unknown = [s for s in stems if s not in STEM_NAMES]
    if unknown:
        raise DemixError(f"cannot cue {unknown[0]!r}: one of {', '.join(STEM_NAMES)}")
    return tuple(s for s in STEM_NAMES if s in stems)

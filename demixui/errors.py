"""Errors that end as one clear line for the user (CLI) or a message box (GUI), never a traceback."""


class DemixError(Exception):
    """A problem the user can act on: bad input, missing device, wrong model file. The message is one line."""


class AudioFileError(DemixError):
    """An audio file that is missing, unreadable, empty, truncated or holds NaN/inf samples."""


class ModelFileError(DemixError):
    """A model file that is missing, corrupt or incompatible with this version of demixui."""


class ModelOutputError(ModelFileError):
    """A model whose output is NaN or infinite: a broken model file (e.g. from a diverged training run)."""


class DeviceError(DemixError):
    """An audio device that does not exist, disappeared, or refuses the requested settings."""

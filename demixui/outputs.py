"""Rules for every file or folder the app writes, replaces or removes (all commands share them).

- An output may not be, or hold, one of the command's inputs: checked before anything is written or removed.
- A write that fails names the file and the cause (no space left on device, permission denied, read-only
  file system) in one line.
- Temporary files and folders carry the writer's process id, `.NAME.PID.XXXX.part`, so a later run can
  tell its own stale ones (left by a process that no longer exists, e.g. after SIGKILL) and remove them.
- Files get the permissions a plain `open` gives under the user's umask (not mkstemp's private 0600).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from demixui.audiofile import current_umask
from demixui.errors import DemixError

# `.NAME.PID.RANDOM.part` (or `.old`, a replaced output folder on its way out); RANDOM is mkstemp's.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.(part|old)$")


def refuse_inputs(output: str | Path, inputs: Iterable[str | Path | None], what: str) -> None:
    """Raise DemixError when `output` (a file or folder about to be written, replaced or removed) is one of
    `inputs`, or a folder that holds one. Symbolic links and hard links count as the file they point to."""
    output = Path(output)
    resolved = output.resolve()
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        inside = source.resolve().is_relative_to(resolved)
        if inside or _same_file(output, source):
            relation = "holds" if inside and source.resolve() != resolved else "is"
            raise DemixError(f"{output}: the {what} {relation} the input {source}; "
                             "not writing there (choose another path)")


def check_writable_file(path: str | Path, what: str) -> None:
    """Fail now, not after the work, if `path` cannot be written: it is a folder, or its folder cannot be
    created or written (probed by creating and removing a temporary file there)."""
    path = Path(path)
    if path.is_dir():
        raise DemixError(f"{path}: the {what} is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".part", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise DemixError(f"{path}: cannot write the {what} there ({os_cause(error)})") from None


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` via a temporary file beside `path`, then rename: never a half-written file under the final
    name. The file gets the usual permissions; a failure is one line naming the file and the cause."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as error:
        raise DemixError(f"{path}: could not write ({os_cause(error)})") from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def temporary_prefix(name: str) -> str:
    """Prefix for mkstemp/mkdtemp of a temporary beside the output `name`: `.NAME.PID.` (see `tidy`)."""
    return f".{name}.{os.getpid()}."


def tidy_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove this app's temporaries in `folder` left by processes that no longer exist; returns them."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or _process_exists(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass  # someone else's, or already gone: not ours to insist on
    return removed


def os_cause(error: OSError) -> str:
    """The cause of an OSError in words ("No space left on device"), without the "[Errno N]" prefix."""
    return error.strerror or str(error)


def usual_permissions(path: str | Path, folder: bool = False) -> None:
    """Give `path` what a plain open (0666) or mkdir (0777) gives under the umask."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    except (OverflowError, OSError):
        return False
    return True

"""Importing the peers' published model code without their audio I/O stacks.

The peers' packages import torchaudio (and HS-TasNet also torchcodec, librosa and matplotlib) at module
level, for reading, writing and plotting audio files only; their networks are plain torch. torchaudio has no
CPU-only build on the package index we install from (it pulls a CUDA torch), so while a peer's module is
imported we put a placeholder module in `sys.modules` for each such package that is not installed. The
placeholder raises a clear error if any of its functions is ever called (the bench never calls them: it feeds
tensors directly), and it leaves `sys.modules` right after the import, so nothing else in the process sees it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path


class _Unavailable:
    """A stand-in for any attribute of a missing package: using it raises with the reason."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> _Unavailable:
        return _Unavailable(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name} is not installed (the bench only times networks, never calls it)")


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Unavailable(f"{self.__name__}.{attr}")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def placeholders_for(module_names: list[str]) -> Iterator[list[str]]:
    """Within the block, every name in `module_names` (dotted submodules included) that is not installed
    imports as a placeholder; yields the top-level names that were replaced."""
    replaced: list[str] = []
    added: list[str] = []
    for name in module_names:
        top = name.split(".")[0]
        if _installed(top):
            continue
        if top not in replaced:
            replaced.append(top)
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            dotted = ".".join(parts[:depth])
            if dotted not in sys.modules:
                sys.modules[dotted] = _PlaceholderModule(dotted)
                added.append(dotted)
            if depth > 1:  # `import a.b as c` and `from a import b` read the attribute on the parent
                setattr(sys.modules[".".join(parts[:depth - 1])], parts[depth - 1], sys.modules[dotted])
    try:
        yield replaced
    finally:
        for dotted in added:
            sys.modules.pop(dotted, None)


def distribution_version(name: str) -> str:
    """`name==version` of an installed distribution (raises PackageNotFoundError)."""
    return f"{name}=={importlib.metadata.version(name)}"


def load_module_file(package: str, relative: str, module_name: str) -> types.ModuleType:
    """Execute one file of an installed package as a standalone module, skipping the package's `__init__`
    (HS-TasNet's imports its trainer, which needs accelerate, musdb and more that the network does not)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"No module named '{package}'")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    file_spec = importlib.util.spec_from_file_location(module_name, path)
    assert file_spec is not None and file_spec.loader is not None, path
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module

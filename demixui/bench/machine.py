"""A description of the machine the bench ran on: CPU model, cores, memory, OS, library versions, load."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict:
    """JSON-ready facts about this machine and the moment (UTC date; load average, as it may be shared)."""
    memory = _memory_gib()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory is not None else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("demixui", "numpy", "onnxruntime", "torch")},
        "load_average_at_start": load,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(machine: dict) -> str:
    """One line for the terminal and BENCHMARKS.md."""
    memory = f"{machine['memory_gib']:.0f} GiB RAM" if machine.get("memory_gib") else "RAM unknown"
    load = machine.get("load_average_at_start")
    load_text = f", load average {load[0]:.1f} at start" if load else ""
    return (f"{machine['cpu']}, {machine['cores']} cores, {memory}, {machine['os']}, "
            f"Python {machine['python']}{load_text}; {machine['date_utc']}")

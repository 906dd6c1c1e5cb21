"""Shared test fixtures and the rule that a missing system tool is a skip locally but a failure in CI."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("DEMIXUI_REQUIRE_ALL") == "1"


def missing_tool(reason: str) -> None:
    """Skip the test because a system tool is missing, or fail it when DEMIXUI_REQUIRE_ALL=1 (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"required system tool missing (DEMIXUI_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} is not installed")
    return path
